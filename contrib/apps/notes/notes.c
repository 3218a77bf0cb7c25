/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * notes — an example app that keeps short notes as files, one file per note, in its data
 * directory: $NOTES_DIR, by default /var/notes (a grain's /var is its persistent storage).
 *
 *   GET  /                 the notes, newest first, and a form to add one
 *   POST /notes            adds one: application/x-www-form-urlencoded, field "text";
 *                          answers 303 See Other with Location: /notes/<id>
 *   GET  /notes/<id>       one note as a page
 *   GET  /notes/<id>.txt   one note as it was stored, text/plain
 *
 * Pages greet the user by the platform's X-Sandstorm-Username header ("Hello, NAME", the header
 * percent-decoded) when it is there. A note is the submitted text, UTF-8 with CRLF turned into LF,
 * stored under its id, a decimal number. It is written atomically: a temporary file is written and
 * fsync()ed, then renamed to its id without replacing anything, and the directory is fsync()ed; a
 * crash leaves either the whole note or none (temporary files are removed at the next start).
 *
 * It owns its data directory, and its connections through the shared server in
 * ../common/http-app.c, and logs to stderr: one line on start and stop, and one per request that
 * fails on our side. It listens on 127.0.0.1:PORT (argv[1], default 8000), speaks HTTP/1.1 with
 * keep-alive, pipelining and chunked request bodies, and is single-threaded; disk writes block it
 * briefly, which is fine for one user's notes. It is linked statically so the package needs
 * nothing from the host. SIGTERM and SIGINT end it with status 0.
 *
 * (1) every buffer is bounded: a form by BODY_MAX, a note by NOTE_MAX, the index page by LIST_MAX
 *     notes of at most PREVIEW_MAX bytes.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http-app.h"

#define BODY_MAX 65536                  /* a form, percent-encoded */
#define NOTE_MAX 16384                  /* a note, decoded */
#define NOTE_ID_MAX 999999999u
#define LIST_MAX 200                    /* notes on the index page; older ones are counted */
#define SCAN_MAX 100000                 /* directory entries looked at for the index */
#define PREVIEW_MAX 80                  /* bytes of a note's first line on the index page */
#define DEFAULT_NOTES_DIR "/var/notes"


/* ---- the notes ---- */

static struct {
        int dir_fd;
        uint32_t next_id;               /* ids are never reused while the app runs */
        unsigned tmp_counter;
} notes = { .dir_fd = -1, .next_id = 1 };

static int html_escape(HttpAppBuf *b, const char *s, size_t n) {
        size_t start = 0;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" :
                                s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;
                if (!e)
                        continue;
                r = http_app_buf_append(b, s + start, i - start);
                r = r < 0 ? r : http_app_buf_str(b, e);
                start = i + 1;
        }
        return r < 0 ? r : http_app_buf_append(b, s + start, n - start);
}

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
               c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Appends s decoded to *ret. A form (form == true) turns '+' into a space and refuses a broken
 * escape with -EBADMSG; a header value keeps a broken escape as it is, since it is only shown.
 */
static int percent_decode(const char *s, size_t n, bool form, HttpAppBuf *ret) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                char ch = s[i];

                if (ch == '%') {
                        int hi = i + 2 < n ? unhex(s[i + 1]) : -1;
                        int lo = i + 2 < n ? unhex(s[i + 2]) : -1;

                        if (hi >= 0 && lo >= 0) {
                                ch = (char) (hi << 4 | lo);
                                i += 2;
                        } else if (form)
                                return -EBADMSG;
                } else if (ch == '+' && form)
                        ch = ' ';
                r = http_app_buf_append(ret, &ch, 1);
        }
        return r;
}

/* Decodes the first field called name of an application/x-www-form-urlencoded body into *ret.
 * Returns 0, -ENOENT when there is none, or -EBADMSG. */
static int form_field(const char *body, size_t n, const char *name, HttpAppBuf *ret) {
        size_t name_len = strlen(name), i = 0;

        while (i < n) {
                const char *amp = memchr(body + i, '&', n - i);
                size_t end = amp ? (size_t) (amp - body) : n;
                const char *eq = memchr(body + i, '=', end - i);
                size_t key_end = eq ? (size_t) (eq - body) : end;

                if (key_end - i == name_len && memcmp(body + i, name, name_len) == 0)
                        return eq ? percent_decode(eq + 1, end - key_end - 1, true, ret) : 0;
                i = end + 1;
        }
        return -ENOENT;
}

/* A note id: canonical decimal (no sign, no leading zero), 1 … NOTE_ID_MAX. */
static bool note_id_parse(const char *s, size_t n, uint32_t *ret) {
        uint32_t v = 0;

        if (n == 0 || n > 9 || s[0] == '0')
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint32_t) (s[i] - '0');
        }
        *ret = v;
        return true;
}

/* Reads at most max bytes of a note; with exact, a longer note is -EFBIG. -ENOENT when there is none. */
static int note_read(uint32_t id, size_t max, bool exact, HttpAppBuf *ret) {
        char name[16];
        struct stat st;
        HttpAppBuf b = {};
        int fd, r = 0;

        snprintf(name, sizeof(name), "%" PRIu32, id);
        fd = openat(notes.dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ELOOP ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -ENOENT;            /* not a note: something else someone put there */
        else if (exact && (uint64_t) st.st_size > max)
                r = -EFBIG;

        while (r >= 0 && b.len < max) {
                char chunk[4096];
                size_t want = max - b.len < sizeof(chunk) ? max - b.len : sizeof(chunk);
                ssize_t k = read(fd, chunk, want);

                if (k < 0)
                        r = errno == EINTR ? 0 : -errno;
                else if (k == 0)
                        break;
                else
                        r = http_app_buf_append(&b, chunk, (size_t) k);
        }
        close(fd);
        if (r < 0) {
                http_app_buf_done(&b);
                return r;
        }
        *ret = b;
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Stores a note under the next free id, atomically and durably (see the top of this file). */
static int note_write(const char *text, size_t n, uint32_t *ret_id) {
        char tmp[64], name[16];
        uint32_t id = notes.next_id;
        int fd, r;

        snprintf(tmp, sizeof(tmp), ".tmp-%ld-%u", (long) getpid(), notes.tmp_counter++);
        fd = openat(notes.dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, text, n);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;

        /* Never replace a note: one that appeared behind our back (another copy of the app on the
         * same directory) only moves this one to the next id. */
        for (unsigned tries = 0; r >= 0; tries++, id++) {
                if (id > NOTE_ID_MAX || tries >= 1000) {
                        r = -ENOSPC;
                        break;
                }
                snprintf(name, sizeof(name), "%" PRIu32, id);
                if (renameat2(notes.dir_fd, tmp, notes.dir_fd, name, RENAME_NOREPLACE) >= 0)
                        break;
                if (errno == EEXIST)
                        continue;
                if (errno != EINVAL && errno != ENOSYS) {
                        r = -errno;
                        break;
                }
                /* A file system without RENAME_NOREPLACE: a hard link never replaces either. */
                if (linkat(notes.dir_fd, tmp, notes.dir_fd, name, 0) >= 0) {
                        (void) unlinkat(notes.dir_fd, tmp, 0);
                        break;
                }
                if (errno != EEXIST)
                        r = -errno;
        }
        if (r < 0) {
                (void) unlinkat(notes.dir_fd, tmp, 0);
                return r;
        }
        notes.next_id = id + 1;
        if (fsync(notes.dir_fd) < 0)
                return -errno;
        *ret_id = id;
        return 0;
}

static int id_compare_desc(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? 1 : x > y ? -1 : 0;
}

/* The ids of the notes on disk, newest (highest) first; at most SCAN_MAX of them. With
 * remove_temporary, also deletes what an interrupted note_write() left behind. */
static int notes_scan(bool remove_temporary, uint32_t **ret_ids, size_t *ret_n) {
        uint32_t *ids = NULL;
        struct dirent *de;
        size_t n = 0, cap = 0;
        DIR *d;
        int fd;

        fd = openat(notes.dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        while ((de = readdir(d)) && n < SCAN_MAX) {
                uint32_t id;

                if (remove_temporary && strncmp(de->d_name, ".tmp-", 5) == 0) {
                        (void) unlinkat(notes.dir_fd, de->d_name, 0);
                        continue;
                }
                if (!note_id_parse(de->d_name, strlen(de->d_name), &id))
                        continue;
                if (n == cap) {
                        uint32_t *p = realloc(ids, (cap ? cap * 2 : 64) * sizeof(uint32_t));
                        if (!p) {
                                free(ids);
                                closedir(d);
                                return -ENOMEM;
                        }
                        ids = p;
                        cap = cap ? cap * 2 : 64;
                }
                ids[n++] = id;
        }
        closedir(d);
        if (n > 0)
                qsort(ids, n, sizeof(uint32_t), id_compare_desc);
        *ret_ids = ids;
        *ret_n = n;
        return 0;
}

static int notes_open(const char *dir) {
        uint32_t *ids = NULL;
        size_t n;
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        notes.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (notes.dir_fd < 0)
                return -errno;
        r = notes_scan(true, &ids, &n);
        if (r < 0)
                return r;
        notes.next_id = n > 0 && ids[0] < NOTE_ID_MAX ? ids[0] + 1 : n > 0 ? NOTE_ID_MAX + 1 : 1;
        free(ids);
        return 0;
}

/* ---- pages ---- */

static int page_begin(HttpAppBuf *b, const HttpAppRequest *req, const char *title) {
        const HttpAppHeader *user = http_app_request_header(req, "X-Sandstorm-Username", NULL);
        int r;

        r = http_app_buf_str(b, "<!DOCTYPE html>\n"
                       "<html lang=\"en\">\n"
                       "<head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width\">\n"
                       "<title>");
        r = r < 0 ? r : html_escape(b, title, strlen(title));
        r = r < 0 ? r : http_app_buf_str(b, "</title>\n"
                                   "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;"
                                   "padding:0 1em}textarea{width:100%;box-sizing:border-box}"
                                   "pre{white-space:pre-wrap}</style>\n"
                                   "</head>\n<body>\n");
        if (r >= 0 && user) {
                HttpAppBuf name = {};

                r = percent_decode(user->value, user->value_len, false, &name);
                r = r < 0 ? r : http_app_buf_str(b, "<p class=\"greeting\">Hello, ");
                r = r < 0 ? r : html_escape(b, name.data, name.len);
                r = r < 0 ? r : http_app_buf_str(b, "</p>\n");
                http_app_buf_done(&name);
        }
        return r;
}

static int page_end(HttpAppBuf *b) {
        return http_app_buf_str(b, "</body>\n</html>\n");
}

/* The first line of a note, cut to PREVIEW_MAX bytes on a character boundary. */
static int preview(HttpAppBuf *b, const char *s, size_t n) {
        const char *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t) (nl - s) : n;
        bool cut = len > PREVIEW_MAX || (nl && (size_t) (nl - s) + 1 < n);
        int r;

        if (len > PREVIEW_MAX) {
                len = PREVIEW_MAX;
                while (len > 0 && ((unsigned char) s[len] & 0xc0) == 0x80)
                        len--;
        }
        r = html_escape(b, s, len);
        return r < 0 || !cut ? r : http_app_buf_str(b, "…");
}

static int handle_index(HttpAppConn *c, const HttpAppRequest *req, bool send_body) {
        uint32_t *ids = NULL;
        HttpAppBuf b = {};
        size_t n = 0;
        int r;

        r = notes_scan(false, &ids, &n);
        r = r < 0 ? r : page_begin(&b, req, "Notes");
        r = r < 0 ? r : http_app_buf_str(&b, "<h1>Notes</h1>\n"
                                    "<form method=\"post\" action=\"/notes\">\n"
                                    "<p><textarea name=\"text\" rows=\"4\" required></textarea></p>\n"
                                    "<p><button type=\"submit\">Add note</button></p>\n"
                                    "</form>\n");
        if (r >= 0 && n == 0)
                r = http_app_buf_str(&b, "<p>No notes yet.</p>\n");
        else if (r >= 0) {
                r = http_app_buf_str(&b, "<ul>\n");
                for (size_t i = 0; r >= 0 && i < n && i < LIST_MAX; i++) {
                        char line[64];
                        HttpAppBuf text = {};

                        r = note_read(ids[i], PREVIEW_MAX + 64, false, &text);
                        if (r == -ENOENT) {     /* gone since the scan */
                                r = 0;
                                continue;
                        }
                        snprintf(line, sizeof(line), "<li><a href=\"/notes/%" PRIu32 "\">", ids[i]);
                        r = r < 0 ? r : http_app_buf_str(&b, line);
                        r = r < 0 ? r : preview(&b, text.data ?: "", text.len);
                        r = r < 0 ? r : http_app_buf_str(&b, "</a></li>\n");
                        http_app_buf_done(&text);
                }
                r = r < 0 ? r : http_app_buf_str(&b, "</ul>\n");
                if (r >= 0 && n > LIST_MAX) {
                        char more[64];

                        snprintf(more, sizeof(more), "<p>And %zu older notes.</p>\n", n - LIST_MAX);
                        r = http_app_buf_str(&b, more);
                }
        }
        r = r < 0 ? r : page_end(&b);
        r = r < 0 ? r : http_app_respond(c, 200, "text/html; charset=utf-8", NULL, b.data, b.len, send_body);
        free(ids);
        http_app_buf_done(&b);
        return r;
}

static int handle_show(HttpAppConn *c, const HttpAppRequest *req, uint32_t id, bool raw, bool send_body) {
        char title[32];
        HttpAppBuf text = {}, b = {};
        int r;

        r = note_read(id, NOTE_MAX, true, &text);
        if (r == -EFBIG)
                r = -ENOENT;            /* not one of ours */
        if (r >= 0 && raw)
                r = http_app_respond(c, 200, "text/plain; charset=utf-8", NULL, text.data, text.len,
                                     send_body);
        else if (r >= 0) {
                snprintf(title, sizeof(title), "Note %" PRIu32, id);
                r = page_begin(&b, req, title);
                r = r < 0 ? r : http_app_buf_str(&b, "<h1>");
                r = r < 0 ? r : http_app_buf_str(&b, title);
                r = r < 0 ? r : http_app_buf_str(&b, "</h1>\n<pre>");
                r = r < 0 ? r : html_escape(&b, text.data ?: "", text.len);
                r = r < 0 ? r : http_app_buf_str(&b, "</pre>\n<p><a href=\"/\">All notes</a></p>\n");
                r = r < 0 ? r : page_end(&b);
                r = r < 0 ? r : http_app_respond(c, 200, "text/html; charset=utf-8", NULL, b.data, b.len,
                                                 send_body);
        }
        http_app_buf_done(&text);
        http_app_buf_done(&b);
        return r;
}

static int handle_add(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len) {
        static const char form_type[] = "application/x-www-form-urlencoded";
        const HttpAppHeader *ct = http_app_request_header(req, "Content-Type", NULL);
        size_t n_type = strlen(form_type);
        char location[64], page[160];
        HttpAppBuf text = {};
        size_t j = 0;
        uint32_t id = 0;
        int r, n;

        /* The media type, ignoring parameters such as "; charset=UTF-8". */
        if (!ct || ct->value_len < n_type || strncasecmp(ct->value, form_type, n_type) != 0 ||
            (ct->value_len > n_type && !strchr("; \t", ct->value[n_type])))
                return -EMEDIUMTYPE;

        r = form_field(body, body_len, "text", &text);
        if (r >= 0 && text.len > NOTE_MAX)
                r = -EMSGSIZE;
        if (r >= 0 && (text.len == 0 || !http_app_utf8_valid(text.data, text.len)))
                r = -EBADMSG;
        if (r == -ENOENT)
                r = -EBADMSG;
        if (r < 0) {
                http_app_buf_done(&text);
                return r;
        }

        /* Browsers send a textarea's line breaks as CRLF; notes keep LF. */
        for (size_t i = 0; i < text.len; i++)
                if (!(text.data[i] == '\r' && i + 1 < text.len && text.data[i + 1] == '\n'))
                        text.data[j++] = text.data[i];
        text.len = j;

        r = note_write(text.data, text.len, &id);
        http_app_buf_done(&text);
        if (r < 0)
                return r;

        snprintf(location, sizeof(location), "Location: /notes/%" PRIu32 "\r\n", id);
        n = snprintf(page, sizeof(page), "<!DOCTYPE html>\n<p><a href=\"/notes/%" PRIu32 "\">Note %" PRIu32
                     "</a> added.</p>\n", id, id);
        return http_app_respond(c, 303, "text/html; charset=utf-8", location, page, (size_t) n, true);
}

static int handle(HttpAppConn *c, const HttpAppRequest *req, const char *body, size_t body_len) {
        const char *path = req->target;
        size_t path_len = req->path_len;
        bool get = http_app_mem_eq_ci(req->method, req->method_len, "GET");
        bool head = http_app_mem_eq_ci(req->method, req->method_len, "HEAD");
        int status, r = -ENOENT;
        uint32_t id;

        if (path_len == 1 && path[0] == '/') {
                if (!get && !head)
                        return http_app_respond_status(c, 405, "Allow: GET, HEAD\r\n", true);
                r = handle_index(c, req, get);
        } else if (path_len == 6 && memcmp(path, "/notes", 6) == 0) {
                if (!http_app_mem_eq_ci(req->method, req->method_len, "POST"))
                        return http_app_respond_status(c, 405, "Allow: POST\r\n", !head);
                r = handle_add(c, req, body, body_len);
        } else if (path_len > 7 && memcmp(path, "/notes/", 7) == 0) {
                bool raw = path_len > 11 && memcmp(path + path_len - 4, ".txt", 4) == 0;

                if (note_id_parse(path + 7, path_len - 7 - (raw ? 4 : 0), &id)) {
                        if (!get && !head)
                                return http_app_respond_status(c, 405, "Allow: GET, HEAD\r\n", true);
                        r = handle_show(c, req, id, raw, get);
                }
        }
        if (r >= 0 || r == -ENOMEM)
                return r;

        /* The one place a failed request is answered, and logged when it is our fault. */
        status = http_app_status_from_errno(r);
        if (status >= 500)
                fprintf(stderr, "notes: %.*s '%.*s' failed: %s\n", (int) req->method_len, req->method,
                        (int) path_len, path, strerror(-r));
        return http_app_respond_status(c, status, NULL, !head);
}

int main(int argc, char *argv[]) {
        static const HttpApp app = {
                .name = "notes",
                .body_max = BODY_MAX,
                .handle = handle,
        };
        const char *dir = getenv("NOTES_DIR");
        char detail[PATH_MAX + 32];
        int port, r;

        if (http_app_parse_args(&app, argc, argv, &port) < 0)
                return 2;

        if (!dir || !*dir)
                dir = DEFAULT_NOTES_DIR;
        r = notes_open(dir);
        if (r < 0) {
                fprintf(stderr, "notes: cannot use '%s' for notes: %s\n", dir, strerror(-r));
                return 1;
        }

        snprintf(detail, sizeof(detail), ", notes in '%s'", dir);
        r = http_app_serve(&app, port, detail);
        close(notes.dir_fd);
        return r;
}
