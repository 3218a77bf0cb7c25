/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The shell's static files. A site is built once by static_site_load() and never changes afterwards; a
 * request only reads it.
 *
 * (1) the entries are sorted by name (bytes, then length) and unique; a name is the path below the top
 *     directory with '/' between components, no leading '/', and each component passed the checks of
 *     entry_name_is_servable();
 * (2) every file entry has data (non-NULL, also when empty), an ETag, and a gzip copy only when that copy
 *     is at most 90% of the bytes; a directory entry has its redirect target and nothing else;
 * (3) a request reaches an entry only through a name decoded and checked by path_decode(), looked up in
 *     the entries: no request byte ever reaches the filesystem;
 * (4) a 206 or 416 is always about the identity bytes, so a range never cuts a gzip stream.
 */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>
#include <zlib.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "front/static.h"

#define ETAG_HASH_SIZE 16
/* '"', the hash in hex, '"', NUL; the gzip copy's tag has "-gz" before the closing quote. */
#define ETAG_SIZE (1 + ETAG_HASH_SIZE * 2 + 1 + 1)
#define ETAG_GZ_SIZE (ETAG_SIZE + 3)

typedef struct ContentType {
        const char *extension;
        const char *type;
        bool compressible;
} ContentType;

static const ContentType content_types[] = {
        {"css", "text/css; charset=utf-8", true},
        {"gif", "image/gif", false},
        {"htm", "text/html; charset=utf-8", true},
        {"html", "text/html; charset=utf-8", true},
        {"ico", "image/x-icon", false},
        {"jpeg", "image/jpeg", false},
        {"jpg", "image/jpeg", false},
        {"js", "text/javascript; charset=utf-8", true},
        {"json", "application/json", true},
        {"map", "application/json", true},
        {"mjs", "text/javascript; charset=utf-8", true},
        {"png", "image/png", false},
        {"svg", "image/svg+xml", true},
        {"txt", "text/plain; charset=utf-8", true},
        {"wasm", "application/wasm", true},
        {"webmanifest", "application/manifest+json", true},
        {"webp", "image/webp", false},
        {"woff", "font/woff", false},
        {"woff2", "font/woff2", false},
        {"xml", "application/xml", true},
};

static const ContentType content_type_unknown = {NULL, "application/octet-stream", false};

typedef struct StaticEntry {
        char *name; /* (1) */
        size_t name_len;
        bool is_dir;
        char *location; /* directories: "/" + the name percent-encoded + "/" */
        uint8_t *data;
        size_t size;
        uint8_t *gz;
        size_t gz_size;
        const ContentType *type;
        const char *cache_control;
        time_t mtime;
        bool has_last_modified;
        char last_modified[HTTP_DATE_SIZE];
        char etag[ETAG_SIZE];
        char etag_gz[ETAG_GZ_SIZE];
} StaticEntry;

struct StaticSite {
        unsigned n_ref;
        StaticEntry *entries;
        size_t n_entries;
        size_t allocated;
        size_t total_size;
};

static void entry_done(StaticEntry *e) {
        free(e->name);
        free(e->location);
        free(e->data);
        free(e->gz);
}

static StaticSite *static_site_free(StaticSite *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_entries; i++)
                entry_done(s->entries + i);
        free(s->entries);
        free(s);
        return NULL;
}

StaticSite *static_site_ref(StaticSite *s) {
        if (!s)
                return NULL;
        assert(s->n_ref > 0);
        s->n_ref++;
        return s;
}

StaticSite *static_site_unref(StaticSite *s) {
        if (!s)
                return NULL;
        assert(s->n_ref > 0);
        if (--s->n_ref > 0)
                return NULL;
        return static_site_free(s);
}

static const ContentType *content_type_for(const char *name, size_t n) {
        const char *dot = NULL, *slash;

        /* The extension is what follows the last '.' of the last component. */
        slash = memrchr(name, '/', n);
        if (slash) {
                n -= (size_t) (slash + 1 - name);
                name = slash + 1;
        }
        dot = memrchr(name, '.', n);
        if (!dot)
                return &content_type_unknown;
        dot++;
        n -= (size_t) (dot - name);
        for (size_t i = 0; i < ELEMENTSOF(content_types); i++)
                if (strlen(content_types[i].extension) == n &&
                        strncasecmp(content_types[i].extension, dot, n) == 0)
                        return content_types + i;
        return &content_type_unknown;
}

/* Whether a request could ever name this component: path_decode() refuses these bytes. */
static bool entry_name_is_servable(const char *name, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((uint8_t) name[i] < 0x20 || name[i] == 0x7f || name[i] == '\\')
                        return false;
        return utf8_is_valid(name, n);
}

static bool char_is_unreserved(uint8_t c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == '_' || c == '~';
}

/* "/" + name with everything but unreserved characters and '/' percent-encoded + "/". */
static char *location_for(const char *name, size_t n) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;

        if (strbuf_append_char(&b, '/') < 0)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) name[i];
                int r;

                if (char_is_unreserved(c) || c == '/')
                        r = strbuf_append_char(&b, (char) c);
                else
                        r = strbuf_printf(&b, "%%%02X", c);
                if (r < 0)
                        return NULL;
        }
        if (strbuf_append_char(&b, '/') < 0)
                return NULL;
        return strbuf_steal(&b, NULL);
}

/* A gzip stream (RFC 1952) of p, at level 9. */
static int gzip_compress(const uint8_t *p, size_t n, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        z_stream z = {};
        uLong bound;
        int r;

        if (n > UINT_MAX)
                return -EFBIG;
        if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        bound = deflateBound(&z, (uLong) n);
        buf = malloc(bound);
        if (!buf) {
                (void) deflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *) p;
        z.avail_in = (uInt) n;
        z.next_out = buf;
        z.avail_out = (uInt) bound;
        r = deflate(&z, Z_FINISH);
        *ret_size = z.total_out;
        (void) deflateEnd(&z);
        if (r != Z_STREAM_END)
                return -EIO;
        *ret = TAKE_PTR(buf);
        return 0;
}

static void etag_make(
        const uint8_t *p, size_t n, char etag[static ETAG_SIZE], char etag_gz[static ETAG_GZ_SIZE]) {
        uint8_t hash[ETAG_HASH_SIZE];
        char hex[ETAG_HASH_SIZE * 2 + 1];

        /* BLAKE2b with a 16-byte digest: collisions would need 2^64 tries, far beyond any site. */
        (void) crypto_generichash(hash, sizeof(hash), p, n, NULL, 0);
        hex_encode(hash, sizeof(hash), hex);
        (void) snprintf(etag, ETAG_SIZE, "\"%s\"", hex);
        (void) snprintf(etag_gz, ETAG_GZ_SIZE, "\"%s-gz\"", hex);
}

static int site_add(StaticSite *s, StaticEntry **ret) {
        if (s->n_entries >= STATIC_FILES_MAX)
                return -E2BIG;
        if (s->n_entries >= s->allocated) {
                size_t a = s->allocated ? s->allocated * 2 : 64;
                StaticEntry *e = reallocarray(s->entries, a, sizeof(StaticEntry));

                if (!e)
                        return -ENOMEM;
                s->entries = e;
                s->allocated = a;
        }
        /* Counted at once, so that a half-built entry is freed with the site. */
        *ret = memset(s->entries + s->n_entries++, 0, sizeof(StaticEntry));
        return 0;
}

/* Loads the regular file name in dir_fd as the entry *path, taking *path when it adds the entry. */
static int file_load(StaticSite *s, int dir_fd, const char *name, char **path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        StaticEntry *e;
        struct stat st;
        size_t size;
        int r;

        /* O_NONBLOCK: if a FIFO took the file's place since the fstatat(), opening it must not block. */
        fd = openat_beneath(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd == -ELOOP || fd == -ENOENT) /* replaced by a symlink, or gone, since we looked */
                return 0;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return 0;

        r = read_full_fd(fd, STATIC_FILE_SIZE_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (!ADD_SAFE(&s->total_size, s->total_size, size) || s->total_size > STATIC_TOTAL_SIZE_MAX)
                return -EFBIG;

        r = site_add(s, &e);
        if (r < 0)
                return r;
        e->name = TAKE_PTR(*path);
        e->name_len = strlen(e->name);
        e->data = (uint8_t *) TAKE_PTR(buf);
        e->size = size;
        e->type = content_type_for(e->name, e->name_len);
        /* HTML names the other files and must be checked every time; the rest may be cached a while. */
        e->cache_control = startswith(e->type->type, "text/html") ? "no-cache" : "public, max-age=3600";
        e->mtime = st.st_mtim.tv_sec;
        e->has_last_modified = http_date_format(e->mtime, e->last_modified) >= 0;
        etag_make(e->data, e->size, e->etag, e->etag_gz);

        if (e->type->compressible && e->size >= STATIC_GZIP_MIN_SIZE) {
                _cleanup_free_ uint8_t *gz = NULL;
                size_t gz_size;

                r = gzip_compress(e->data, e->size, &gz, &gz_size);
                if (r < 0)
                        return r;
                /* Worth a second representation only when it saves at least 10% (sizes are at most
                 * STATIC_FILE_SIZE_MAX: no overflow). */
                if (gz_size * 10 <= e->size * 9) {
                        e->gz = TAKE_PTR(gz);
                        e->gz_size = gz_size;
                }
        }
        return 0;
}

static int dir_load(StaticSite *s, int dir_fd, const char *prefix, unsigned depth);

/* Adds the directory name in dir_fd as the entry *path (taken when added), and what it holds. */
static int subdir_load(StaticSite *s, int dir_fd, const char *name, char **path, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        StaticEntry *e;
        struct stat st;
        const char *p;
        int r;

        if (depth > STATIC_DEPTH_MAX)
                return -ELOOP;
        fd = openat_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ELOOP || fd == -ENOENT || fd == -ENOTDIR) /* changed since we looked */
                return 0;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return 0;

        r = site_add(s, &e);
        if (r < 0)
                return r;
        e->is_dir = true;
        e->name = TAKE_PTR(*path);
        e->name_len = strlen(e->name);
        e->location = location_for(e->name, e->name_len);
        if (!e->location)
                return -ENOMEM;

        /* e moves when the array grows; its name does not. */
        p = e->name;
        return dir_load(s, fd, p, depth);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* Loads what dir_fd (the directory prefix, at depth below the top) holds. */
static int dir_load(StaticSite *s, int dir_fd, const char *prefix, unsigned depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        int fd, r;

        /* fdopendir() takes the descriptor it is given; dir_fd stays the caller's. */
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }

        for (;;) {
                _cleanup_free_ char *path = NULL;
                struct dirent *de;
                struct stat st;
                size_t l;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        return 0;
                }
                if (de->d_name[0] == '.')
                        continue;
                l = strlen(de->d_name);
                if (l > STATIC_NAME_MAX)
                        return -E2BIG;
                if (!entry_name_is_servable(de->d_name, l))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return negative_errno();
                }
                if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                        continue;
                if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > STATIC_FILE_SIZE_MAX)
                        return -EFBIG;

                path = *prefix ? strjoin(prefix, "/", de->d_name) : strdup(de->d_name);
                if (!path)
                        return -ENOMEM;
                if (S_ISREG(st.st_mode))
                        r = file_load(s, dirfd(d), de->d_name, &path);
                else
                        r = subdir_load(s, dirfd(d), de->d_name, &path, depth + 1);
                if (r < 0)
                        return r;
        }
}

static int name_compare(const char *a, size_t a_len, const char *b, size_t b_len) {
        int c = memcmp(a, b, MIN(a_len, b_len));

        if (c != 0)
                return c;
        return a_len < b_len ? -1 : a_len > b_len;
}

static int entry_compare(const void *a, const void *b) {
        const StaticEntry *x = a, *y = b;

        return name_compare(x->name, x->name_len, y->name, y->name_len);
}

int static_site_load(int dir_fd, StaticSite **ret) {
        _cleanup_(static_site_unrefp) StaticSite *s = NULL;
        int r;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(ret);

        if (sodium_init() < 0)
                return -EIO;

        s = calloc(1, sizeof(StaticSite));
        if (!s)
                return -ENOMEM;
        s->n_ref = 1;

        r = dir_load(s, dir_fd, "", 0);
        if (r < 0)
                return r;
        if (s->n_entries > 0)
                qsort(s->entries, s->n_entries, sizeof(StaticEntry), entry_compare);

        *ret = TAKE_PTR(s);
        return 0;
}

static const StaticEntry *site_find(const StaticSite *s, const char *name, size_t n) {
        size_t lo = 0, hi = s->n_entries;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = name_compare(name, n, s->entries[mid].name, s->entries[mid].name_len);

                if (c == 0)
                        return s->entries + mid;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

/*
 * The request path, query dropped and percent-escapes decoded once, into out (STATIC_PATH_MAX bytes), with
 * its leading '/'. -ENOENT for everything static_site_serve() answers 404 to before any lookup.
 */
static int path_decode(const char *p, size_t n, char *out, size_t *ret_len) {
        const char *q;
        size_t len = 0, start;

        q = memchr(p, '?', n);
        if (q)
                n = (size_t) (q - p);
        if (n == 0 || n > STATIC_PATH_MAX || p[0] != '/')
                return -ENOENT;

        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) p[i];

                if (c == '%') {
                        int hi, lo;

                        if (n - i < 3 || (hi = hex_digit_value(p[i + 1])) < 0 || (lo = hex_digit_value(p[i + 2])) < 0)
                                return -ENOENT;
                        c = (uint8_t) (hi << 4 | lo);
                        if (c == '/')
                                return -ENOENT;
                        i += 2;
                }
                if (c < 0x20 || c == 0x7f || c == '\\')
                        return -ENOENT;
                out[len++] = (char) c;
        }
        if (!utf8_is_valid(out, len))
                return -ENOENT;

        /* Segments between the '/'s: none empty (but the last, which means "directory"), "." or "..". */
        start = 1;
        for (size_t i = 1; i <= len; i++) {
                size_t l;

                if (i < len && out[i] != '/')
                        continue;
                l = i - start;
                if (l == 0 && i < len)
                        return -ENOENT;
                if ((l == 1 && out[start] == '.') || (l == 2 && out[start] == '.' && out[start + 1] == '.'))
                        return -ENOENT;
                start = i + 1;
        }

        *ret_len = len;
        return 0;
}

/* The entry a decoded path names: a file, or a directory named without its trailing '/'. */
static const StaticEntry *site_resolve(const StaticSite *s, const char *path, size_t len) {
        static const char index_name[] = "index.html";
        char key[STATIC_PATH_MAX + STRLEN(index_name)];
        const StaticEntry *e;
        const char *rel = path + 1, *last;
        size_t rel_len;

        if (len == 0 || len > STATIC_PATH_MAX) /* path_decode() gives neither */
                return NULL;
        rel_len = len - 1;
        if (rel_len == 0 || rel[rel_len - 1] == '/') {
                memcpy(key, rel, rel_len);
                memcpy(key + rel_len, index_name, STRLEN(index_name));
                e = site_find(s, key, rel_len + STRLEN(index_name));
                return e && !e->is_dir ? e : NULL;
        }

        e = site_find(s, rel, rel_len);
        if (e)
                return e;

        last = memrchr(rel, '/', rel_len);
        last = last ? last + 1 : rel;
        if (memchr(last, '.', (size_t) (rel + rel_len - last)))
                return NULL;
        memcpy(key, rel, rel_len);
        memcpy(key + rel_len, ".html", STRLEN(".html"));
        e = site_find(s, key, rel_len + STRLEN(".html"));
        return e && !e->is_dir ? e : NULL;
}

/* Exactly n digits, as a number; -1 otherwise. */
static int digits_parse(const char *p, size_t n) {
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return -1;
                v = v * 10 + (p[i] - '0');
        }
        return v;
}

static int month_parse(const char *p) {
        static const char months[12][4] = {
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

        for (int i = 0; i < 12; i++)
                if (memcmp(p, months[i], 3) == 0)
                        return i;
        return -1;
}

static bool day_name_is(const char *p, size_t n, bool long_form) {
        static const char *const short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
        static const char *const long_days[] = {
                "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

        for (size_t i = 0; i < 7; i++) {
                const char *d = long_form ? long_days[i] : short_days[i];

                if (strlen(d) == n && memcmp(p, d, n) == 0)
                        return true;
        }
        return false;
}

/* "HH:MM:SS" */
static bool time_parse(const char *p, struct tm *tm) {
        if (p[2] != ':' || p[5] != ':')
                return false;
        tm->tm_hour = digits_parse(p, 2);
        tm->tm_min = digits_parse(p + 3, 2);
        tm->tm_sec = digits_parse(p + 6, 2);
        return tm->tm_hour >= 0 && tm->tm_hour <= 23 && tm->tm_min >= 0 && tm->tm_min <= 59 &&
               tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

/*
 * HTTP-date (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994" that recipients must accept. A
 * two-digit year below 70 is 20xx. -EINVAL for anything else, an impossible date included.
 */
static int http_date_parse(const char *p, size_t n, time_t *ret) {
        struct tm tm = {}, check;
        const char *comma;
        time_t t;
        int year;

        comma = memchr(p, ',', n);
        if (n == 29 && comma == p + 3) {
                if (!day_name_is(p, 3, false) || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
                        p[16] != ' ' || memcmp(p + 25, " GMT", 4) != 0)
                        return -EINVAL;
                tm.tm_mday = digits_parse(p + 5, 2);
                tm.tm_mon = month_parse(p + 8);
                year = digits_parse(p + 12, 4);
                if (!time_parse(p + 17, &tm))
                        return -EINVAL;
        } else if (comma && n - (size_t) (comma - p) == 24) {
                const char *d = comma + 2;

                if (!day_name_is(p, (size_t) (comma - p), true) || comma[1] != ' ' || d[2] != '-' ||
                        d[6] != '-' || d[9] != ' ' || memcmp(d + 18, " GMT", 4) != 0)
                        return -EINVAL;
                tm.tm_mday = digits_parse(d, 2);
                tm.tm_mon = month_parse(d + 3);
                year = digits_parse(d + 7, 2);
                if (year >= 0)
                        year += year < 70 ? 2000 : 1900;
                if (!time_parse(d + 10, &tm))
                        return -EINVAL;
        } else if (n == 24 && !comma) {
                if (!day_name_is(p, 3, false) || p[3] != ' ' || p[7] != ' ' || p[10] != ' ' || p[19] != ' ')
                        return -EINVAL;
                tm.tm_mon = month_parse(p + 4);
                tm.tm_mday = p[8] == ' ' ? digits_parse(p + 9, 1) : digits_parse(p + 8, 2);
                year = digits_parse(p + 20, 4);
                if (!time_parse(p + 11, &tm))
                        return -EINVAL;
        } else
                return -EINVAL;

        if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || year < 0)
                return -EINVAL;
        tm.tm_year = year - 1900;
        check = tm;
        t = timegm(&tm);
        /* timegm() moves 31 Feb to March: such a date is no date. */
        if (t == (time_t) -1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
                return -EINVAL;
        *ret = t;
        return 0;
}

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

/* The next element of a comma-separated list, OWS trimmed, empty ones skipped; false at the end. */
static bool list_next(const char *p, size_t n, size_t *i, const char **ret, size_t *ret_len) {
        while (*i < n) {
                size_t start, end;

                while (*i < n && (is_ows(p[*i]) || p[*i] == ','))
                        (*i)++;
                start = *i;
                while (*i < n && p[*i] != ',')
                        (*i)++;
                end = *i;
                while (end > start && is_ows(p[end - 1]))
                        end--;
                if (end > start) {
                        *ret = p + start;
                        *ret_len = end - start;
                        return true;
                }
        }
        return false;
}

/* Weak comparison (RFC 9110 §8.8.3.2) of If-None-Match's tags with ours: 1 for the first, 2 for the second
 * (may be NULL), 0 for none. "*" matches the first. A malformed member ends the list. */
static int if_none_match(const HttpHeader *h, const char *etag, const char *etag2) {
        for (size_t i = 0; i < h->value_len;) {
                const char *p = h->value + i, *end;
                size_t rest = h->value_len - i;

                if (is_ows(*p) || *p == ',') {
                        i++;
                        continue;
                }
                if (*p == '*')
                        return 1;
                if (rest >= 2 && p[0] == 'W' && p[1] == '/') {
                        p += 2;
                        rest -= 2;
                }
                if (rest < 2 || *p != '"')
                        return 0;
                end = memchr(p + 1, '"', rest - 1);
                if (!end)
                        return 0;
                end++;
                if ((size_t) (end - p) == strlen(etag) && memcmp(p, etag, (size_t) (end - p)) == 0)
                        return 1;
                if (etag2 && (size_t) (end - p) == strlen(etag2) &&
                        memcmp(p, etag2, (size_t) (end - p)) == 0)
                        return 2;
                i = (size_t) (end - h->value);
        }
        return 0;
}

/* "0", "0.5", "1.000": thousandths, or -1. */
static int qvalue_parse(const char *p, size_t n) {
        int v;

        if (n == 0 || (p[0] != '0' && p[0] != '1'))
                return -1;
        v = (p[0] - '0') * 1000;
        if (n == 1)
                return v;
        if (p[1] != '.' || n > 5)
                return -1;
        for (size_t i = 2, scale = 100; i < n; i++, scale /= 10) {
                if (p[i] < '0' || p[i] > '9')
                        return -1;
                v += (p[i] - '0') * (int) scale;
        }
        return v <= 1000 ? v : -1;
}

/* Whether the client takes gzip: an explicit "gzip" (or "x-gzip") decides, else "*"; a weight that is not a
 * qvalue counts as 0. */
static bool accepts_gzip(const HttpHeader *headers, size_t n_headers) {
        int gzip_q = -1, star_q = -1;

        for (size_t h = 0; h < n_headers; h++) {
                const char *el;
                size_t el_len, i = 0;

                if (!http_strcaseeq(headers[h].name, headers[h].name_len, "Accept-Encoding",
                            STRLEN("Accept-Encoding")))
                        continue;
                while (list_next(headers[h].value, headers[h].value_len, &i, &el, &el_len)) {
                        const char *semi = memchr(el, ';', el_len);
                        size_t coding_len = semi ? (size_t) (semi - el) : el_len;
                        int q = 1000;

                        while (coding_len > 0 && is_ows(el[coding_len - 1]))
                                coding_len--;
                        /* Parameters: only "q" means something here. */
                        while (semi) {
                                const char *param = semi + 1, *next;
                                size_t param_len;

                                next = memchr(param, ';', (size_t) (el + el_len - param));
                                param_len = (size_t) ((next ?: el + el_len) - param);
                                while (param_len > 0 && is_ows(*param)) {
                                        param++;
                                        param_len--;
                                }
                                while (param_len > 0 && is_ows(param[param_len - 1]))
                                        param_len--;
                                if (param_len >= 2 && (param[0] == 'q' || param[0] == 'Q') &&
                                        param[1] == '=')
                                        q = MAX(qvalue_parse(param + 2, param_len - 2), 0);
                                semi = next;
                        }

                        if (http_strcaseeq(el, coding_len, "gzip", 4) ||
                                http_strcaseeq(el, coding_len, "x-gzip", 6)) {
                                if (gzip_q < 0)
                                        gzip_q = q;
                        } else if (coding_len == 1 && el[0] == '*') {
                                if (star_q < 0)
                                        star_q = q;
                        }
                }
        }
        return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

typedef enum RangeResult {
        RANGE_NONE,          /* no Range, or one to ignore: the whole representation */
        RANGE_SATISFIABLE,   /* 206 */
        RANGE_UNSATISFIABLE, /* 416 */
} RangeResult;

/* Digits, saturating at UINT64_MAX (a first byte past any file is just as unsatisfiable). */
static bool position_parse(const char *p, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return false;
                if (!MUL_SAFE(&v, v, 10) || !ADD_SAFE(&v, v, (uint64_t) (p[i] - '0')))
                        v = UINT64_MAX;
        }
        *ret = v;
        return true;
}

/* One "bytes=" range of a size-byte representation (RFC 9110 §14.1.2) into [*ret_first, *ret_last]. */
static RangeResult range_parse(const char *p, size_t n, size_t size, size_t *ret_first, size_t *ret_last) {
        const char *el, *other, *dash;
        size_t el_len, other_len, i;
        uint64_t first, last;

        if (n < STRLEN("bytes=") || strncasecmp(p, "bytes=", STRLEN("bytes=")) != 0)
                return RANGE_NONE;
        i = STRLEN("bytes=");
        if (!list_next(p, n, &i, &el, &el_len))
                return RANGE_NONE;
        if (list_next(p, n, &i, &other, &other_len))
                return RANGE_NONE; /* several ranges: not worth a multipart answer */

        dash = memchr(el, '-', el_len);
        if (!dash)
                return RANGE_NONE;
        if (dash == el) {
                if (!position_parse(dash + 1, el_len - 1, &last))
                        return RANGE_NONE;
                if (last == 0 || size == 0)
                        return RANGE_UNSATISFIABLE;
                *ret_first = size - (size_t) MIN(last, (uint64_t) size);
                *ret_last = size - 1;
                return RANGE_SATISFIABLE;
        }

        if (!position_parse(el, (size_t) (dash - el), &first))
                return RANGE_NONE;
        if (dash + 1 == el + el_len)
                last = UINT64_MAX;
        else if (!position_parse(dash + 1, (size_t) (el + el_len - dash - 1), &last) || last < first)
                return RANGE_NONE;
        if (first >= size)
                return RANGE_UNSATISFIABLE;
        *ret_first = (size_t) first;
        *ret_last = (size_t) MIN(last, (uint64_t) size - 1);
        return RANGE_SATISFIABLE;
}

/* If-Range (RFC 9110 §13.1.5): a strong match of the identity ETag, or exactly its Last-Modified. */
static bool if_range_holds(const StaticEntry *e, const HttpHeader *h) {
        time_t t;

        if (h->value_len > 0 &&
                (h->value[0] == '"' || (h->value_len > 1 && h->value[0] == 'W' && h->value[1] == '/')))
                return h->value_len == strlen(e->etag) && memcmp(h->value, e->etag, h->value_len) == 0;
        return e->has_last_modified && http_date_parse(h->value, h->value_len, &t) >= 0 && t == e->mtime;
}

static void header_add(StaticResult *r, const char *name, const char *value) {
        assert(r->n_headers < STATIC_HEADERS_MAX);
        r->headers[r->n_headers++] = (HttpHeader){
                .name = name,
                .name_len = strlen(name),
                .value = value,
                .value_len = strlen(value),
        };
}

int static_site_serve(StaticSite *s, HttpMethod method, const char *path, size_t n,
        const HttpHeader *headers, size_t n_headers, StaticResult *ret) {
        char decoded[STATIC_PATH_MAX];
        const HttpHeader *h;
        const StaticEntry *e;
        const char *etag;
        RangeResult range = RANGE_NONE;
        size_t len, first = 0, last = 0;
        bool gzip_ok, use_gz;
        int m = 0;

        assert(s);
        assert(path || n == 0);
        assert(headers || n_headers == 0);
        assert(ret);

        ret->status = 404;
        ret->n_headers = 0;
        ret->body = NULL;
        ret->body_size = 0;
        ret->buf[0] = '\0';

        if (method != HTTP_METHOD_GET && method != HTTP_METHOD_HEAD) {
                ret->status = 405;
                header_add(ret, "Allow", "GET, HEAD");
                return 0;
        }

        if (path_decode(path, n, decoded, &len) < 0)
                return 0;
        e = site_resolve(s, decoded, len);
        if (!e)
                return 0;
        if (e->is_dir) {
                ret->status = 303;
                header_add(ret, "Location", e->location);
                return 0;
        }

        gzip_ok = e->gz && accepts_gzip(headers, n_headers);

        /* (4): a range is served from the identity bytes, so it decides the representation first. */
        if (method == HTTP_METHOD_GET && http_headers_count(headers, n_headers, "Range") == 1) {
                h = http_headers_find(headers, n_headers, "Range");
                range = range_parse(h->value, h->value_len, e->size, &first, &last);
                if (range != RANGE_NONE && (h = http_headers_find(headers, n_headers, "If-Range")) &&
                        !if_range_holds(e, h))
                        range = RANGE_NONE;
        }
        use_gz = range == RANGE_NONE && gzip_ok;
        etag = use_gz ? e->etag_gz : e->etag;

        /* If-None-Match may name either representation the client could take (the identity always, the
         * gzip copy when it takes gzip); the 304 names the one it has. */
        if (http_headers_find(headers, n_headers, "If-None-Match")) {
                const char *other = use_gz ? e->etag : gzip_ok ? e->etag_gz : NULL;

                for (size_t i = 0; i < n_headers && m == 0; i++)
                        if (http_strcaseeq(headers[i].name, headers[i].name_len, "If-None-Match",
                                    STRLEN("If-None-Match")))
                                m = if_none_match(headers + i, etag, other);
                if (m == 2)
                        etag = other;
        } else if ((h = http_headers_find(headers, n_headers, "If-Modified-Since")) &&
                   e->has_last_modified) {
                time_t t;

                if (http_date_parse(h->value, h->value_len, &t) >= 0 && e->mtime <= t)
                        m = 1;
        }
        if (m > 0) {
                ret->status = 304;
                header_add(ret, "ETag", etag);
                header_add(ret, "Cache-Control", e->cache_control);
                if (e->gz)
                        header_add(ret, "Vary", "Accept-Encoding");
                return 0;
        }

        if (range == RANGE_UNSATISFIABLE) {
                ret->status = 416;
                (void) snprintf(ret->buf, sizeof(ret->buf), "bytes */%zu", e->size);
                header_add(ret, "Content-Range", ret->buf);
                if (e->gz)
                        header_add(ret, "Vary", "Accept-Encoding");
                return 0;
        }

        header_add(ret, "Content-Type", e->type->type);
        header_add(ret, "ETag", etag);
        if (e->has_last_modified)
                header_add(ret, "Last-Modified", e->last_modified);
        header_add(ret, "Cache-Control", e->cache_control);
        if (use_gz)
                header_add(ret, "Content-Encoding", "gzip");
        else
                header_add(ret, "Accept-Ranges", "bytes");
        if (e->gz)
                header_add(ret, "Vary", "Accept-Encoding");

        if (range == RANGE_SATISFIABLE) {
                ret->status = 206;
                (void) snprintf(ret->buf, sizeof(ret->buf), "bytes %zu-%zu/%zu", first, last, e->size);
                header_add(ret, "Content-Range", ret->buf);
                ret->body = e->data + first;
                ret->body_size = last - first + 1;
                return 0;
        }

        ret->status = 200;
        ret->body_size = use_gz ? e->gz_size : e->size;
        if (method == HTTP_METHOD_GET)
                ret->body = use_gz ? e->gz : e->data;
        return 0;
}
