/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk dev [-I DIR]... [-p FILE[:CONST]] [-s|--socket PATH | --dev STATE_DIR] [-m DIR] [-c]
 *
 * Serves the package view of a pkgdef over FUSE (spk/devfs.h) and registers it with the local
 * granaryd as a development app over the control socket, for as long as one HTTP/1.1 connection
 * lives: POST /api/v1/dev-apps answers 200 with a chunked body that never ends, whose first line is
 * "dev <appId> <devPackageId> <title>" and whose other lines are the console of the app's grains.
 * Closing the connection unregisters, whatever ends this process. With -m DIR nothing is registered:
 * the view is mounted at DIR for inspection.
 *
 *   LOCKED --mount--> MOUNTED --POST sent--> REGISTERING --200--> RUNNING --signal--> STOPPING
 *                                               \--4xx, EOF--> FAILED     \--EOF--> FAILED
 *   (-m: MOUNTED --signal--> STOPPING)
 *   STOPPING/FAILED: close the connection, unmount, unblock the signals (a second one now kills at
 *   once), then merge the used paths into the file list (a signal alone exits 0).
 *
 * (1) <base>/<appId>/lock is flock()ed before anything is mounted or registered, and held to the end;
 * (2) this process never looks inside its own mount (it serves it: it would wait on itself);
 * (3) only a run that mounted (and, without -m, was registered) writes the file list.
 */

#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>
#include <sodium.h>
#include <systemd/sd-event.h>

#include "basic/control-socket.h"
#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "spk/devfs.h"
#include "spk/pkgdef.h"
#include "spk/spk-tool.h"

/* An error answer of granaryd is a small JSON object. */
#define ERROR_BODY_MAX (64u * 1024u)
/* The first line of the stream: "dev <appId> <devPackageId> <title>". */
#define FIRST_LINE_MAX (16u * 1024u)
#define STATUS_TIMEOUT_MSEC 5000
#define NSEC_PER_SEC INT64_C(1000000000)

static void dev_help(void) {
        printf("Usage: spk dev [options]\n"
               "\n"
               "Serves the package a package definition describes, live from its source tree, to the local\n"
               "granary as a development app: every grain of the app runs from it until Ctrl+C, and their\n"
               "console is printed here. Then the files the app used are merged into the pkgdef's fileList.\n"
               "\n"
               "  -I, --import-path=DIR    search DIR for absolute imports and embeds (repeatable)\n"
               "  -p, --pkg-def=FILE[:CONST]\n"
               "                           the package definition (default sandstorm-pkgdef.capnp:pkgdef)\n"
               "  -s, --socket=PATH        granaryd's control socket (default $GRANARY_CONTROL_SOCKET,\n"
               "                           else " CONTROL_SOCKET_DEFAULT ")\n"
               "      --dev=STATE_DIR      the control socket of 'granaryd --dev STATE_DIR'\n"
               "  -m, --mount=DIR          only mount the package at DIR for inspection, without granary\n"
               "  -c, --cache-forever      let the kernel cache names and attributes for good (faster; changes\n"
               "                           to the source tree may then go unseen)\n"
               "  -h, --help               show this help\n"
               "\n"
               "The package is mounted at $XDG_RUNTIME_DIR/granary-spk-dev/APPID/root (/run/granary-spk-dev\n"
               "for root, /tmp/granary-spk-dev-UID for others without XDG_RUNTIME_DIR).\n"
               "Environment: SPK_BRIDGE_PATH (the sandstorm-http-bridge to serve).\n");
}

/* ---- where things are ---- */

static char *base_dir(void) {
        const char *x = getenv("XDG_RUNTIME_DIR");
        char *p;

        if (!isempty(x))
                return path_join(x, "granary-spk-dev");
        if (geteuid() == 0)
                return strdup("/run/granary-spk-dev");
        if (asprintf(&p, "/tmp/granary-spk-dev-%u", (unsigned) geteuid()) < 0)
                return NULL;
        return p;
}

/* The absolute form of path without resolving its last component (which may be a dead mount). */
static int absolute_path_keep_last(const char *path, char **ret) {
        _cleanup_free_ char *dir = NULL, *real = NULL;
        const char *base = path_basename(path);
        char *p;

        if (isempty(base) || streq(base, ".") || streq(base, ".."))
                return -EINVAL;
        dir = path_dirname(path);
        if (!dir)
                return -ENOMEM;
        real = realpath(isempty(dir) ? "." : dir, NULL);
        if (!real)
                return negative_errno();
        p = path_join(real, base);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* Undoes mountinfo's octal escapes (\040 and the like) in place. */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *r = s; *r;)
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        *w = '\0';
}

/* 1 if an spk dev file system is mounted at path (absolute), 0 if not. */
static int spk_mount_at(const char *path) {
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        FILE *f;
        int found = 0;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return negative_errno();
        while (getline(&line, &n, f) > 0) {
                char *fields[5], *sep, *fstype, *source, *save = NULL, *tok;
                size_t k = 0;

                sep = strstr(line, " - ");
                if (!sep)
                        continue;
                *sep = '\0';
                for (tok = strtok_r(line, " ", &save); tok && k < ELEMENTSOF(fields); tok = strtok_r(NULL, " ", &save))
                        fields[k++] = tok;
                if (k < 5)
                        continue;
                save = NULL;
                fstype = strtok_r(sep + 3, " ", &save);
                source = strtok_r(NULL, " \n", &save);
                unescape_octal(fields[4]);
                if (!streq(fields[4], path) || !fstype)
                        continue;
                if (streq(fstype, "fuse.spk-dev") || (source && streq(source, "spk-dev")))
                        found = 1;
        }
        fclose(f);
        return found;
}

static int detach_mount(const char *path) {
        pid_t pid;
        int status;

        if (geteuid() == 0)
                return RET_NERRNO(umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW));

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (null >= 0) {
                        (void) dup2(null, STDOUT_FILENO);
                        (void) dup2(null, STDERR_FILENO);
                }
                execlp("fusermount3", "fusermount3", "-u", "-z", "--", path, (char *) NULL);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return negative_errno();
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* A mount left at path by a killed run is detached, with a message. */
static int clean_stale_mount(const char *path) {
        int r;

        r = spk_mount_at(path);
        if (r < 0)
                return log_error_errno(r, "Failed to read /proc/self/mountinfo: %m");
        if (r == 0)
                return 0;
        r = detach_mount(path);
        if (r < 0)
                return log_error_errno(r, "A stale spk dev mount is at '%s' and could not be detached: %m", path);
        log_warning("Detached a stale mount at '%s' left by an earlier spk dev.", path);
        return 0;
}

/* ---- talking to granaryd ---- */


static int control_connect(const char *path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        size_t l = strlen(path);

        if (l == 0 || l >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, l);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int log_unreachable(int r, const char *path) {
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Permission denied on granaryd's control socket %s: run spk dev as root, "
                                          "as a member of the granary group, or as the user running granaryd --dev.",
                                       path);
        if (r == -ENAMETOOLONG)
                return log_error_errno(r, "The socket path '%s' is too long.", path);
        return log_error_errno(r, "Cannot reach granaryd at %s (%m): is it running? Use --dev STATE_DIR or "
                                  "--socket PATH for another one, or -m DIR to only mount the package.",
                               path);
}

/* What an HTTP/1.1 answer brought: its status, and its body as far as it was kept. */
typedef struct Reply {
        http_parser parser;
        unsigned status;
        bool headers_done;
        bool complete;
        StrBuf body;
        size_t body_max;
        /* Called with body bytes instead of keeping them, once the status is known; may be NULL. */
        int (*on_body)(struct Reply *r, const char *p, size_t n);
        void *userdata;
} Reply;

static int reply_headers_complete(http_parser *p) {
        Reply *r = p->data;

        r->status = p->status_code;
        r->headers_done = true;
        return 0;
}

static int reply_body(http_parser *p, const char *at, size_t n) {
        Reply *r = p->data;

        if (r->on_body && r->status == 200)
                return r->on_body(r, at, n) < 0 ? -1 : 0;
        if (r->body.len + n > r->body_max)
                n = r->body_max - r->body.len;
        return strbuf_append(&r->body, at, n) < 0 ? -1 : 0;
}

static int reply_complete(http_parser *p) {
        Reply *r = p->data;

        r->complete = true;
        return 0;
}

static const http_parser_settings reply_settings = {
        .on_headers_complete = reply_headers_complete,
        .on_body = reply_body,
        .on_message_complete = reply_complete,
};

static void reply_init(Reply *r, size_t body_max) {
        *r = (Reply) { .body_max = body_max };
        http_parser_init(&r->parser, HTTP_RESPONSE);
        r->parser.data = r;
}

/* Feeds bytes (n = 0: the end of the connection). -EBADMSG if they are not an HTTP answer. */
static int reply_feed(Reply *r, const char *p, size_t n) {
        size_t k = http_parser_execute(&r->parser, &reply_settings, p, n);

        if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || k != n)
                return -EBADMSG;
        return 0;
}

/* The "error" of a JSON error answer, or NULL. */
static char *reply_error_message(const Reply *r) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *m;

        if (r->body.len == 0)
                return NULL;
        j = json_loadb(r->body.data, r->body.len, 0, NULL);
        m = json_string_value(json_object_get(j, "error"));
        return m ? strdup(m) : NULL;
}

/* GET /api/v1/status, for the URL to show; NULL when it cannot be had (the caller goes on). */
static char *server_base_url(const char *socket_path) {
        static const char request[] = "GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n"
                                      "Accept: application/json\r\nConnection: close\r\n\r\n";
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_close_ int fd = -EBADF;
        Reply reply;
        char *url = NULL;
        const char *u;

        if (control_connect(socket_path, &fd) < 0)
                return NULL;
        if (loop_write(fd, request, STRLEN(request)) < 0)
                return NULL;
        reply_init(&reply, ERROR_BODY_MAX);
        while (!reply.complete) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                char buf[4096];
                ssize_t n;

                if (poll(&pfd, 1, STATUS_TIMEOUT_MSEC) <= 0)
                        break;
                n = read(fd, buf, sizeof(buf));
                if (n <= 0 || reply_feed(&reply, buf, (size_t) n) < 0)
                        break;
        }
        if (reply.complete && reply.status == 200) {
                j = json_loadb(reply.body.data ?: "", reply.body.len, 0, NULL);
                u = json_string_value(json_object_get(j, "baseUrl"));
                if (u)
                        url = strdup(u);
        }
        strbuf_done(&reply.body);
        return url;
}

/* ---- the run ---- */

typedef struct Dev {
        sd_event *event;
        SpkDevFs *fs;
        sd_event_source *fs_source;

        char *app_id;
        char *socket_path;
        char *base_url;
        int conn_fd;
        sd_event_source *conn_source;
        char *request; /* what is left to send */
        size_t request_size, request_sent;
        Reply reply;
        StrBuf first_line;
        bool registered;  /* the 200 answer's first line arrived */

        int exit_status;  /* what the run ends with once the loop exits */
        bool stopped_by_signal;
} Dev;

static void dev_stop(Dev *d, int status) {
        d->exit_status = status;
        (void) sd_event_exit(d->event, status);
}

static int on_fs(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Dev *d = userdata;
        int r;

        /* A few requests per wake-up, so that a busy file system does not starve the connection. */
        for (unsigned i = 0; i < 64; i++) {
                r = spk_devfs_process(d->fs);
                if (r == -ENODEV) {
                        log_error("The package view was unmounted from outside; stopping.");
                        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                        dev_stop(d, 1);
                        return 0;
                }
                if (r < 0) {
                        log_error_errno(r, "Serving the package view failed: %m");
                        dev_stop(d, 1);
                        return 0;
                }
                if (!(revents & EPOLLIN))
                        break;
                {
                        struct pollfd pfd = { .fd = fd, .events = POLLIN };

                        if (poll(&pfd, 1, 0) <= 0)
                                break;
                }
        }
        return 0;
}

/* Body bytes of the 200 answer: the first line says what was registered, the rest is the console. */
static int on_stream(Reply *reply, const char *p, size_t n) {
        Dev *d = reply->userdata;

        if (!d->registered) {
                const char *nl = memchr(p, '\n', n);
                size_t k = nl ? (size_t) (nl - p) : n;
                _cleanup_free_ char *title = NULL;
                const char *rest;

                if (d->first_line.len + k > FIRST_LINE_MAX || strbuf_append(&d->first_line, p, k) < 0)
                        return -ENOMEM;
                if (!nl)
                        return 0;
                p += k + 1;
                n -= k + 1;
                d->registered = true;

                /* dev <appId> <devPackageId> <title> */
                rest = startswith(d->first_line.data ?: "", "dev ");
                rest = rest ? strchr(rest, ' ') : NULL;
                rest = rest ? strchr(rest + 1, ' ') : NULL;
                title = strdup(rest ? rest + 1 : d->app_id);
                if (!title)
                        return -ENOMEM;
                for (char *c = title; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                *c = '?';
                if (d->base_url)
                        log_info("App '%s' is in development on granary at %s; make a grain with "
                                 "'granary grain new %s' or open one of its grains there. Press Ctrl+C to stop.",
                                 title, d->base_url, d->app_id);
                else
                        log_info("App '%s' (%s) is in development on granary; make a grain with "
                                 "'granary grain new %s'. Press Ctrl+C to stop.",
                                 title, d->app_id, d->app_id);
        }
        if (n > 0)
                (void) loop_write(STDOUT_FILENO, p, n);
        return 0;
}

static void conn_close(Dev *d) {
        d->conn_source = sd_event_source_disable_unref(d->conn_source);
        d->conn_fd = safe_close(d->conn_fd);
}

static void conn_failed(Dev *d) {
        _cleanup_free_ char *message = NULL;

        if (d->registered) {
                log_error("granaryd ended the development session (did it stop?); stopping.");
                dev_stop(d, 1);
                return;
        }
        if (d->reply.headers_done && d->reply.status != 200) {
                message = reply_error_message(&d->reply);
                for (char *c = message; c && *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                *c = '?';
                if (message)
                        log_error("granaryd refused the development app: %s", message);
                else if (d->reply.status == 404)
                        log_error("granaryd at %s does not know development apps (HTTP status 404): it is too old.",
                                  d->socket_path);
                else
                        log_error("granaryd refused the development app with HTTP status %u.", d->reply.status);
        } else
                log_error("granaryd at %s closed the connection without an answer.", d->socket_path);
        dev_stop(d, 1);
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Dev *d = userdata;
        char buf[65536];
        ssize_t n;

        if ((revents & EPOLLOUT) && d->request_sent < d->request_size) {
                n = send(fd, d->request + d->request_sent, d->request_size - d->request_sent, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        log_error_errno(negative_errno(), "Sending the registration to granaryd failed: %m");
                        conn_close(d);
                        dev_stop(d, 1);
                        return 0;
                }
                if (n > 0)
                        d->request_sent += (size_t) n;
                if (d->request_sent == d->request_size)
                        (void) sd_event_source_set_io_events(s, EPOLLIN);
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;

        n = read(fd, buf, sizeof(buf));
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                n = 0; /* a reset: the end, as EOF */
        }
        if (reply_feed(&d->reply, buf, (size_t) n) < 0) {
                if (n == 0 || d->reply.complete) {
                        conn_close(d);
                        conn_failed(d);
                        return 0;
                }
                log_error("granaryd sent something that is not HTTP; stopping.");
                conn_close(d);
                dev_stop(d, 1);
                return 0;
        }
        if (n == 0 || d->reply.complete) {
                conn_close(d);
                conn_failed(d);
        }
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Dev *d = userdata;

        d->stopped_by_signal = true;
        dev_stop(d, 0);
        return 0;
}

static char *base64(const void *p, size_t n) {
        size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(len);

        if (!s)
                return NULL;
        sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
        return s;
}

static int build_request(const SpkPkgdef *pkgdef, const char *app_id, const char *root, char **ret,
                         size_t *ret_size) {
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *manifest = NULL, *config = NULL, *text = NULL;
        char *request;
        int k;

        manifest = base64(pkgdef->manifest, pkgdef->manifest_size);
        if (!manifest)
                return -ENOMEM;
        body = json_pack("{s:s, s:s, s:s}", "appId", app_id, "root", root, "manifest", manifest);
        if (!body)
                return -ENOMEM;
        if (pkgdef->has_bridge_config) {
                config = base64(pkgdef->bridge_config, pkgdef->bridge_config_size);
                if (!config || json_object_set_new(body, "bridgeConfig", json_string(config)) < 0)
                        return -ENOMEM;
        }
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        k = asprintf(&request,
                     "POST /api/v1/dev-apps HTTP/1.1\r\n"
                     "Host: localhost\r\n"
                     "User-Agent: spk/" PACKAGE_VERSION "\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s",
                     strlen(text), text);
        if (k < 0)
                return -ENOMEM;
        *ret = request;
        *ret_size = (size_t) k;
        return 0;
}

static int now_ns(int64_t *ret) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return negative_errno();
        *ret = (int64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
        return 0;
}

/* Merges what was used into the file list (spec §3.5), or prints it when there is no list. */
static int write_file_list(const SpkDevView *view, const SpkPkgdef *pkgdef, const SpkDevUsed *used) {
        _cleanup_free_ char *old = NULL, *text = NULL, *error = NULL;
        _cleanup_strv_free_ char **warnings = NULL, **list = NULL;
        size_t old_size = 0, count = 0;
        int r;

        if (!pkgdef->file_list) {
                if (pkgdef->always_include && strv_contains(pkgdef->always_include, "")) {
                        log_info("%zu files used; the package includes the whole tree (alwaysInclude \".\"), "
                                 "so no list is written.", used->n);
                        return 0;
                }
                r = spk_dev_used_list(used, &list);
                if (r < 0)
                        return log_oom();
                STRV_FOREACH(p, list)
                        printf("%s\n", *p);
                fflush(stdout);
                log_info("%zu files used; the pkgdef has no fileList, so they are printed above.", used->n);
                return 0;
        }

        r = read_full_file_at(AT_FDCWD, pkgdef->file_list, SPK_FILE_LIST_MAX_SIZE, &old, &old_size);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read '%s': %m", pkgdef->file_list);
        r = spk_dev_file_list_merge(view, pkgdef->file_list, r >= 0 ? old : NULL, old_size, used, &text, &count,
                                    &warnings, &error);
        if (r < 0) {
                if (error)
                        return log_error_errno(r, "%s", error);
                return log_error_errno(r, "Failed to merge the file list: %m");
        }
        STRV_FOREACH(w, warnings)
                log_warning("%s", *w);
        r = write_file_atomic_at(AT_FDCWD, pkgdef->file_list, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", pkgdef->file_list);
        log_info("%zu files used; wrote %s (%zu entries).", used->n, pkgdef->file_list, count);
        return 0;
}

int verb_dev(int argc, char *argv[]) {
        enum { ARG_DEV = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "import-path", required_argument, NULL, 'I' },
                { "pkg-def", required_argument, NULL, 'p' },
                { "socket", required_argument, NULL, 's' },
                { "dev", required_argument, NULL, ARG_DEV },
                { "mount", required_argument, NULL, 'm' },
                { "cache-forever", no_argument, NULL, 'c' },
                {}
        };
        _cleanup_strv_free_ char **import_path = NULL;
        _cleanup_free_ char *error = NULL, *base = NULL,
                            *app_dir = NULL, *lock_path = NULL, *mountpoint = NULL, *bridge = NULL;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef pkgdef = {};
        _cleanup_(spk_dev_view_done) SpkDevView view = {};
        _cleanup_(spk_dev_used_done) SpkDevUsed used = {};
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_close_ int lock_fd = -EBADF;
        const char *pkgdef_arg = NULL, *arg_socket = NULL, *arg_dev = NULL, *arg_mount = NULL;
        char app_id[APP_ID_TEXT_SIZE + 1];
        SpkDevFsOptions fs_opts = {};
        bool cache_forever = false, made_mountpoint = false;
        Dev d = { .conn_fd = -EBADF };
        int64_t start_ns;
        sigset_t mask;
        int c, r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGQUIT);

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hI:p:s:m:c", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        dev_help();
                        return 0;
                case 'I':
                        if (strv_extend(&import_path, optarg) < 0)
                                return log_oom(), 1;
                        break;
                case 'p':
                        pkgdef_arg = optarg;
                        break;
                case 's':
                        arg_socket = optarg;
                        break;
                case ARG_DEV:
                        arg_dev = optarg;
                        break;
                case 'm':
                        arg_mount = optarg;
                        break;
                case 'c':
                        cache_forever = true;
                        break;
                default:
                        return spk_option_error(c, argv);
                }
        if (optind < argc) {
                log_error("dev: unexpected argument '%s'; see 'spk dev --help'", argv[optind]);
                return 1;
        }
        if (arg_socket && arg_dev) {
                log_error("dev: --socket and --dev exclude each other");
                return 1;
        }
        if (arg_mount && (arg_socket || arg_dev)) {
                log_error("dev: -m mounts without granary; it excludes --socket and --dev");
                return 1;
        }

        if (spk_pkgdef_arg_load(pkgdef_arg, &import_path, &pkgdef) < 0)
                return 1;
        app_id_to_string(pkgdef.app_id, app_id);

        if (now_ns(&start_ns) < 0)
                return log_error("Failed to read the clock."), 1;
        bridge = spk_find_bridge();
        if (spk_dev_view_init(&view, &pkgdef, bridge, start_ns) < 0)
                return log_oom(), 1;

        /* (1): the lock first. */
        base = base_dir();
        app_dir = base ? path_join(base, app_id) : NULL;
        lock_path = app_dir ? path_join(app_dir, "lock") : NULL;
        if (!lock_path)
                return log_oom(), 1;
        r = mkdir_p(app_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", app_dir), 1;
        lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (lock_fd < 0)
                return log_error_errno(negative_errno(), "Failed to open '%s': %m", lock_path), 1;
        if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK) {
                        log_error("Another spk dev of app %s is running already (it holds %s); stop it first.",
                                  app_id, lock_path);
                        return 1;
                }
                return log_error_errno(negative_errno(), "Failed to lock '%s': %m", lock_path), 1;
        }

        if (arg_mount)
                r = absolute_path_keep_last(arg_mount, &mountpoint);
        else {
                _cleanup_free_ char *real = realpath(app_dir, NULL);

                r = real ? 0 : negative_errno();
                if (r >= 0) {
                        mountpoint = path_join(real, "root");
                        if (!mountpoint)
                                r = -ENOMEM;
                }
        }
        if (r < 0)
                return log_error_errno(r, "Invalid mount point '%s': %m", arg_mount ?: app_dir), 1;

        /* No server, no mount: find out before anything is mounted. */
        if (!arg_mount) {
                d.socket_path = control_socket_path(arg_socket, arg_dev);
                if (!d.socket_path) {
                        log_oom();
                        goto finish_early;
                }
                /* The URL first: a server that answers one connection at a time would otherwise wait
                 * for the registration's request before it took this one. */
                d.base_url = server_base_url(d.socket_path);
                r = control_connect(d.socket_path, &d.conn_fd);
                if (r < 0) {
                        log_unreachable(r, d.socket_path);
                        goto finish_early;
                }
                r = build_request(&pkgdef, app_id, mountpoint, &d.request, &d.request_size);
                if (r < 0) {
                        log_oom();
                        goto finish_early;
                }
        }

        if (clean_stale_mount(mountpoint) < 0)
                goto finish_early;
        if (mkdir(mountpoint, 0755) < 0) {
                if (errno != EEXIST) {
                        log_error_errno(negative_errno(), "Failed to create the mount point '%s': %m", mountpoint);
                        goto finish_early;
                }
        } else
                made_mountpoint = !arg_mount;

        /* Signals arrive through the loop from now on, until the end; then a second one kills at once. */
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        fs_opts = (SpkDevFsOptions) {
                .cache_forever = cache_forever,
                /* granaryd and the grains' users must read it; a user's own inspection needs no more. */
                .allow_other = !arg_mount || geteuid() == 0,
        };
        r = spk_devfs_new(&view, &used, mountpoint, &fs_opts, &d.fs, &error);
        if (r < 0) {
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "Failed to mount the package view at '%s': %m", mountpoint);
                goto finish_early;
        }

        r = sd_event_new(&event);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the event loop: %m");
                goto finish;
        }
        d.event = event;
        d.app_id = app_id;
        for (const int *s = (const int[]) { SIGINT, SIGTERM, SIGHUP, SIGQUIT, 0 }; *s; s++) {
                r = sd_event_add_signal(event, NULL, *s, on_signal, &d);
                if (r < 0) {
                        log_error_errno(r, "Failed to watch signals: %m");
                        goto finish;
                }
        }
        r = sd_event_add_io(event, &d.fs_source, spk_devfs_fd(d.fs), EPOLLIN, on_fs, &d);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the FUSE device: %m");
                goto finish;
        }

        if (!arg_mount) {
                reply_init(&d.reply, ERROR_BODY_MAX);
                d.reply.on_body = on_stream;
                d.reply.userdata = &d;
                r = fcntl(d.conn_fd, F_GETFL);
                if (r < 0 || fcntl(d.conn_fd, F_SETFL, r | O_NONBLOCK) < 0) {
                        log_error_errno(negative_errno(), "Failed to set up the connection: %m");
                        goto finish;
                }
                r = sd_event_add_io(event, &d.conn_source, d.conn_fd, EPOLLIN | EPOLLOUT, on_conn, &d);
                if (r < 0) {
                        log_error_errno(r, "Failed to watch the connection: %m");
                        goto finish;
                }
        } else
                log_info("The package of app %s is mounted at %s for inspection. Press Ctrl+C to stop.", app_id,
                         mountpoint);

        r = sd_event_loop(event);
        if (r < 0 && d.exit_status == 0) {
                log_error_errno(r, "The event loop failed: %m");
                d.exit_status = 1;
        }
        goto finish;

finish_early:
        d.exit_status = 1;
finish:
        /* Unregister, then unmount: both before a second signal can end the process. */
        conn_close(&d);
        d.fs_source = sd_event_source_disable_unref(d.fs_source);
        {
                bool mounted = d.fs != NULL, established = d.fs && (arg_mount || d.registered);

                d.fs = spk_devfs_free(d.fs);
                if (made_mountpoint)
                        (void) rmdir(mountpoint);
                (void) sigprocmask(SIG_UNBLOCK, &mask, NULL);

                if (mounted && established && write_file_list(&view, &pkgdef, &used) < 0)
                        d.exit_status = 1;
        }

        strbuf_done(&d.reply.body);
        strbuf_done(&d.first_line);
        free(d.request);
        free(d.socket_path);
        free(d.base_url);
        return d.exit_status;
}
