/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * granary — the admin CLI: `granary [--socket PATH | --dev STATE_DIR] <command> [options]`.
 *
 * Owns only its command line. Every command is one or two calls of granaryd's JSON API (/api/v1, the
 * same API as the web shell) over the control socket, where the caller's Unix credentials make it an
 * admin: no cookies, no CSRF token. Program code: each failure is reported once, as one line
 * "granary: …" on stderr (the journal under systemd), and the exit status is 1; success is 0.
 *
 * Which socket: --socket PATH, else STATE_DIR/control.sock for --dev STATE_DIR, else
 * $GRANARY_CONTROL_SOCKET, else /run/granary/control.sock. Command-line options come before the
 * environment, as everywhere else.
 *
 * Passwords are read from the terminal (echo off, asked twice) or, with --password-stdin, as one line
 * from standard input; never from the command line, where every local user could read them in /proc.
 * Packages are streamed from their file to POST /api/v1/apps, never read into memory whole.
 * Text that comes from the server (names, messages) is printed with control characters replaced, so a
 * display name cannot send escape sequences to an admin's terminal.
 */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "basic/control-socket.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"

#define API_URL_PREFIX "http://localhost/api/v1"
/* granaryd answers with small JSON objects; anything bigger is not our server. */
#define REPLY_MAX (16u * 1024u * 1024u)
/* Password hashing runs in granaryd's workers, which may be busy: be patient, but not forever. */
#define API_TIMEOUT_SEC 120L
#define API_CONNECT_TIMEOUT_SEC 10L
/* The API refuses longer passwords; reading stops here. */
#define PASSWORD_MAX 1024u
/* Uploading a package and installing it (granaryd gives an install 10 minutes). */
#define APP_INSTALL_TIMEOUT_SEC (30L * 60L)
/* How long curl waits for "100 Continue" before it sends a package anyway. */
#define EXPECT_100_TIMEOUT_MSEC 10000L

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

static const char *arg_socket = NULL;
static const char *arg_dev = NULL;

/* ---- options ---- */

enum {
        ARG_SOCKET = 0x100,
        ARG_DEV,
        ARG_VERSION,
        ARG_JSON,
        ARG_ADMIN,
        ARG_DISPLAY_NAME,
        ARG_PASSWORD_STDIN,
        ARG_NO_PASSWORD,
        ARG_FORCE,
};

/* Every command takes these besides its own. */
#define COMMON_OPTIONS                                                                                       \
        { "socket", required_argument, NULL, ARG_SOCKET },                                                   \
        { "dev", required_argument, NULL, ARG_DEV },                                                         \
        { "help", no_argument, NULL, 'h' }

/* Handles an option of COMMON_OPTIONS other than --help; false if c is not one of them. */
static bool common_option(int c) {
        switch (c) {
        case ARG_SOCKET:
                arg_socket = optarg;
                return true;
        case ARG_DEV:
                arg_dev = optarg;
                return true;
        default:
                return false;
        }
}

/* Reports getopt_long's complaint (c is ':' for a missing argument, '?' for an unknown option) as one
 * line naming the command, as spk does; returns the exit status 1. */
static int option_error(int c, char *const argv[], const char *command) {
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        if (c == ':')
                log_error("%s: option '%s' needs an argument", command, arg);
        else if (optopt > 0)
                log_error("%s: unknown option '-%c'; see 'granary %s --help'", command, optopt, command);
        else
                log_error("%s: unknown option '%s'; see 'granary %s --help'", command, arg, command);
        return 1;
}

/* After getopt: exactly n_args positional arguments into args[] (what[i] names the i-th for the complaint;
 * with nonempty, none may be empty). 0, or -EINVAL when the command line is wrong (already reported). */
static int take_arguments(int argc, char *argv[], const char *command, size_t n_args, const char *const *what,
                          bool nonempty, char **args) {
        for (size_t i = 0; i < n_args; i++) {
                if (optind >= argc) {
                        log_error("Missing %s; see 'granary %s --help'.", what[i], command);
                        return -EINVAL;
                }
                args[i] = argv[optind++];
                if (nonempty && isempty(args[i])) {
                        log_error("The %s is empty.", what[i]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s'; see 'granary %s --help'.", argv[optind], command);
                return -EINVAL;
        }
        return 0;
}

/* ---- text from the server ---- */

/* A copy of s fit for a terminal: control characters (C0, DEL, C1) become '?', and so does every non-ASCII
 * byte when s is not valid UTF-8. */
static char *terminal_text(const char *s) {
        size_t n = strlen(s);
        bool utf8 = utf8_is_valid(s, n);
        char *t, *o;

        t = o = malloc(n + 1);
        if (!t)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80))
                        *o++ = '?';
                else if (utf8 && c == 0xc2 && (unsigned char) s[i + 1] >= 0x80 &&
                         (unsigned char) s[i + 1] <= 0x9f) {
                        /* U+0080..U+009F, the C1 controls (CSI among them). */
                        *o++ = '?';
                        i++;
                } else
                        *o++ = (char) c;
        }
        *o = 0;
        return t;
}

/* Columns taken by terminal_text() output: one per code point, which is right for the names people use. */
static size_t text_width(const char *s) {
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        w++;
        return w;
}

/* Prints v as indented JSON. The exit status: 0, or 1. */
static int print_json(const json_t *v) {
        _cleanup_free_ char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        if (!text)
                return log_oom(), 1;
        printf("%s\n", text);
        return fflush(stdout) == 0 ? 0 : 1;
}

/* Prints cells, n_columns to a row (the first row the header), in columns two spaces apart. The exit
 * status: 0, or 1 when stdout failed. */
static int print_table(char **cells, size_t n_columns) {
        size_t n_rows = strv_length(cells) / n_columns;
        _cleanup_free_ size_t *width = calloc(n_columns, sizeof(size_t));

        if (!width)
                return log_oom(), 1;
        for (size_t row = 0; row < n_rows; row++)
                for (size_t k = 0; k < n_columns; k++)
                        width[k] = MAX(width[k], text_width(cells[row * n_columns + k]));
        for (size_t row = 0; row < n_rows; row++)
                for (size_t k = 0; k < n_columns; k++) {
                        const char *cell = cells[row * n_columns + k];

                        if (k == n_columns - 1)
                                printf("%s\n", cell);
                        else
                                printf("%s%*s", cell, (int) (width[k] - text_width(cell) + 2), "");
                }
        return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the control socket ---- */


/* curl only says that connecting failed: connect() once more to tell "not running" from "not allowed". */
static int log_unreachable(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        size_t l = strlen(path);
        int r = -ECONNREFUSED;

        if (l > 0 && l < sizeof(sa.sun_path)) {
                memcpy(sa.sun_path, path, l);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                        r = negative_errno();
        }
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "permission denied on %s: run this as root or as a member of the "
                                          "granary group",
                                       path);
        return log_error_errno(r, "cannot reach granaryd at %s: is it running?", path);
}

static size_t on_reply_data(char *p, size_t size, size_t n, void *userdata) {
        StrBuf *b = userdata;
        size_t len;

        /* Returning less than given makes curl fail the transfer with CURLE_WRITE_ERROR. */
        if (!MUL_SAFE(&len, size, n) || len > REPLY_MAX - b->len)
                return 0;
        if (strbuf_append(b, p, len) < 0)
                return 0;
        return len;
}

/* Frees a string that may hold a password, wiping it first. */
static void erase_and_free(char *s) {
        if (s) {
                explicit_bzero_safe(s, strlen(s));
                free(s);
        }
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char *, erase_and_free);

/* Logs why an API call failed: the API's own message ({"error": "…"}) when there is one. */
static int log_api_error(long status, json_t *reply) {
        _cleanup_free_ char *text = NULL;
        const char *message = json_string_value(json_object_get(reply, "error"));

        if (isempty(message))
                return log_error_errno(-EPROTO, "granaryd answered with HTTP status %ld.", status);
        text = terminal_text(message);
        if (!text)
                return log_oom();
        return log_error_errno(status == 403 || status == 401 ? -EPERM : -EPROTO, "%s", text);
}

/* A request body streamed from a file. */
typedef struct Upload {
        int fd;
        uint64_t size;
        const char *content_type;
        const char *label;  /* what the progress line names */
        bool progress;      /* show it (standard error is a terminal) */
        int last_percent;   /* of the progress line shown last; -1: none yet */
        bool installing;    /* the last byte is sent: the server installs */
} Upload;

static size_t on_upload_read(char *buf, size_t size, size_t n, void *userdata) {
        Upload *u = userdata;
        size_t len;
        ssize_t k;

        if (!MUL_SAFE(&len, size, n))
                return CURL_READFUNC_ABORT;
        k = loop_read(u->fd, buf, len);
        return k < 0 ? CURL_READFUNC_ABORT : (size_t) k;
}

static int on_upload_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                              curl_off_t ulnow) {
        Upload *u = userdata;
        int percent;

        if (!u->progress || u->size == 0)
                return 0;
        if (ulnow >= (curl_off_t) u->size) {
                if (!u->installing)
                        fprintf(stderr, "\rInstalling %s...%20s\r", u->label, "");
                u->installing = true;
                return 0;
        }
        percent = (int) (ulnow * 100 / (curl_off_t) u->size);
        if (percent != u->last_percent) {
                fprintf(stderr, "\rUploading %s: %3d%% of %.1f MiB", u->label, percent,
                        (double) u->size / (1024.0 * 1024.0));
                u->last_percent = percent;
        }
        return 0;
}

/* Wipes the progress line. */
static void upload_progress_clear(Upload *u) {
        if (u && u->progress && (u->last_percent >= 0 || u->installing))
                fprintf(stderr, "\r%*s\r", (int) (strlen(u->label) + 40), "");
}

/*
 * Sends one API request: method, path below /api/v1 (already escaped), and an optional body: JSON, or a
 * file (upload). Any HTTP answer is success: *ret_status gets its status and *ret_reply (may be NULL) its
 * JSON object, or NULL when it had none. With ret_text (may be NULL), a 2xx reply is not parsed but handed
 * over as it is (GET /grains/ID/log is text). Logs the failures to get an answer: the socket cannot be
 * reached, the transfer broke, a 2xx reply is not JSON.
 */
static int api_request_full(const char *method, const char *path, json_t *body, Upload *upload,
                            StrBuf *ret_text, long *ret_status, json_t **ret_reply) {
        _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        _cleanup_(erase_and_freep) char *request = NULL;
        _cleanup_free_ char *socket_path = NULL, *url = NULL;
        _cleanup_strbuf_ StrBuf data = STRBUF_INIT;
        _cleanup_(json_decrefp) json_t *reply = NULL;
        char curl_error[CURL_ERROR_SIZE] = "";
        struct curl_slist *l;
        long status = 0;
        CURLcode c;

        socket_path = control_socket_path(arg_socket, arg_dev);
        url = strjoin(API_URL_PREFIX, path);
        if (!socket_path || !url)
                return log_oom();
        if (strlen(socket_path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return log_error_errno(-ENAMETOOLONG, "The socket path '%s' is too long.", socket_path);

        curl = curl_easy_init();
        if (!curl)
                return log_oom();

        l = curl_slist_append(NULL, "Accept: application/json");
        if (!l)
                return log_oom();
        headers = l;
        if (body) {
                request = json_dumps(body, JSON_COMPACT);
                if (!request)
                        return log_oom();
                /* An empty "Expect:" keeps curl from waiting for 100-continue on a larger body. */
                if (!(l = curl_slist_append(headers, "Content-Type: application/json")) ||
                    !(l = curl_slist_append(headers, "Expect:")))
                        return log_oom();
        }
        if (upload) {
                _cleanup_free_ char *ct = strjoin("Content-Type: ", upload->content_type);

                /* "Expect: 100-continue" whatever the size: a refusal (403, 413) comes before the body. */
                if (!ct || !(l = curl_slist_append(headers, ct)) ||
                    !(l = curl_slist_append(headers, "Expect: 100-continue")))
                        return log_oom();
        }

        if (curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
            /* The user name in the path is sent as it is: "." or ".." must not be resolved away. */
            curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_USERAGENT, "granary/" PACKAGE_VERSION) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_TIMEOUT, upload ? APP_INSTALL_TIMEOUT_SEC : API_TIMEOUT_SEC) !=
                    CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, API_CONNECT_TIMEOUT_SEC) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_reply_data) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_WRITEDATA, &data) != CURLE_OK)
                return log_error_errno(-EINVAL, "Failed to set up the HTTP client.");
        if (request &&
            (curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(request)) != CURLE_OK))
                return log_error_errno(-EINVAL, "Failed to set up the HTTP client.");
        if (upload &&
            (curl_easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload_read) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_READDATA, upload) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) upload->size) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, EXPECT_100_TIMEOUT_MSEC) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_NOPROGRESS, upload->progress ? 0L : 1L) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_upload_progress) != CURLE_OK ||
             curl_easy_setopt(curl, CURLOPT_XFERINFODATA, upload) != CURLE_OK))
                return log_error_errno(-EINVAL, "Failed to set up the HTTP client.");

        c = curl_easy_perform(curl);
        upload_progress_clear(upload);
        if (c == CURLE_COULDNT_CONNECT)
                return log_unreachable(socket_path);
        if (c == CURLE_OPERATION_TIMEDOUT)
                return log_error_errno(-ETIMEDOUT, "granaryd at %s did not answer in time.", socket_path);
        if (c != CURLE_OK)
                return log_error_errno(-EIO, "Talking to granaryd at %s failed: %s", socket_path,
                                       curl_error[0] ? curl_error : curl_easy_strerror(c));
        (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

        if (ret_text && status >= 200 && status < 300) {
                /* Not JSON: the body as it is. */
                *ret_text = data;
                data = STRBUF_INIT;
        } else if (data.len > 0) {
                reply = json_loadb(data.data, data.len, JSON_REJECT_DUPLICATES, NULL);
                if (!reply || !json_is_object(reply)) {
                        if (status >= 200 && status < 300)
                                return log_error_errno(-EBADMSG, "granaryd sent a reply that is not JSON.");
                        json_decref(reply);
                        reply = NULL;
                }
        }

        *ret_status = status;
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return 0;
}

static int api_request(const char *method, const char *path, json_t *body, long *ret_status,
                       json_t **ret_reply) {
        return api_request_full(method, path, body, NULL, NULL, ret_status, ret_reply);
}

/* api_request() that also logs a refusal (any status but 2xx) with the API's message. */
static int api_call(const char *method, const char *path, json_t *body, json_t **ret_reply) {
        _cleanup_(json_decrefp) json_t *reply = NULL;
        long status;
        int r;

        r = api_request(method, path, body, &status, &reply);
        if (r < 0)
                return r;
        if (status < 200 || status >= 300)
                return log_api_error(status, reply);
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return 0;
}

/* "/users/NAME" and the like, with name percent-encoded. */
static char *user_path(const char *name, const char *suffix) {
        _cleanup_free_ char *escaped = NULL;

        escaped = curl_easy_escape(NULL, name, 0);
        if (!escaped)
                return NULL;
        return strjoin("/users/", escaped, suffix ?: "");
}

static int log_unexpected_reply(void) {
        return log_error_errno(-EBADMSG, "granaryd sent an unexpected reply.");
}

/* ---- passwords ---- */

typedef struct Password {
        char text[PASSWORD_MAX + 1];
        size_t len;
} Password;

static void password_erase(Password *p) {
        explicit_bzero_safe(p, sizeof(*p));
}

/* The terminal whose echo is off, so that a signal can turn it back on before the process dies. */
static int tty_fd = -EBADF;
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off = 0;

static void tty_restore(void) {
        if (tty_echo_off) {
                (void) tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
                tty_echo_off = 0;
        }
}

static void on_fatal_signal(int sig) {
        /* Only async-signal-safe calls here: tcsetattr, write, signal, raise. */
        if (tty_echo_off) {
                tty_restore();
                (void) !write(tty_fd, "\n", 1);
        }
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

/* Reads one line from fd into p, without the line end ("\n", or "\r\n"). 0, or -ENODATA for an end of
 * file before anything was read, -EMSGSIZE beyond PASSWORD_MAX bytes. */
static int read_password_line(int fd, Password *p) {
        bool any = false;

        p->len = 0;
        for (;;) {
                char c;
                ssize_t n = read(fd, &c, 1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0) {
                        if (!any)
                                return -ENODATA;
                        break;
                }
                any = true;
                if (c == '\n')
                        break;
                if (p->len >= PASSWORD_MAX) {
                        /* Swallow the rest of the line so that it does not reach the shell. */
                        while ((n = read(fd, &c, 1)) > 0 || (n < 0 && errno == EINTR))
                                if (n > 0 && c == '\n')
                                        break;
                        return -EMSGSIZE;
                }
                p->text[p->len++] = c;
        }
        if (p->len > 0 && p->text[p->len - 1] == '\r')
                p->len--;
        p->text[p->len] = 0;
        return 0;
}

/* Asks on the terminal with echo off. */
static int ask_password_tty(int fd, const char *prompt, Password *p) {
        static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
        struct sigaction sa = { .sa_handler = on_fatal_signal }, old[ELEMENTSOF(signals)];
        struct termios t;
        int r;

        if (tcgetattr(fd, &tty_saved) < 0)
                return negative_errno();
        t = tty_saved;
        t.c_lflag &= ~(tcflag_t) ECHO;
        t.c_lflag |= ECHONL;

        tty_fd = fd;
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                (void) sigaction(signals[i], &sa, &old[i]);
        /* Echo goes off before the prompt shows, and what was typed ahead is dropped (TCSAFLUSH), so
         * nothing typed after the prompt is ever echoed. */
        tty_echo_off = 1;
        r = RET_NERRNO(tcsetattr(fd, TCSAFLUSH, &t));
        if (r >= 0)
                r = loop_write(fd, prompt, strlen(prompt));
        if (r >= 0) {
                r = read_password_line(fd, p);
                if (r == -ENODATA)
                        (void) loop_write(fd, "\n", 1);
        }
        tty_restore();
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                (void) sigaction(signals[i], &old[i], NULL);
        tty_fd = -EBADF;
        return r;
}

/* The new password for name: one line from stdin, or asked twice on the terminal. Logs its failures. */
static int get_new_password(const char *name, bool from_stdin, const char *hint, Password *ret) {
        _cleanup_(password_erase) Password first = {}, again = {};
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *prompt = NULL;
        int r;

        assert(ret);

        if (from_stdin) {
                r = read_password_line(STDIN_FILENO, &first);
                if (r == -ENODATA)
                        return log_error_errno(r, "No password on standard input.");
                if (r == -EMSGSIZE)
                        return log_error_errno(r, "The password is longer than %u bytes.", PASSWORD_MAX);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the password from standard input: %m");
                *ret = first;
                return 0;
        }

        fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || !isatty(fd))
                return log_error_errno(-ENOTTY, "No terminal to ask for the password on; %s.", hint);

        prompt = strjoin("New password for '", name, "': ");
        if (!prompt)
                return log_oom();
        r = ask_password_tty(fd, prompt, &first);
        if (r >= 0)
                r = ask_password_tty(fd, "Repeat the password: ", &again);
        if (r == -ENODATA)
                return log_error_errno(r, "No password given.");
        if (r == -EMSGSIZE)
                return log_error_errno(r, "The password is longer than %u bytes.", PASSWORD_MAX);
        if (r < 0)
                return log_error_errno(r, "Failed to read the password from the terminal: %m");
        if (first.len != again.len || memcmp(first.text, again.text, first.len) != 0)
                return log_error_errno(-EINVAL, "The passwords do not match.");
        *ret = first;
        return 0;
}

/* Sets body.password; logs its failures. */
static int json_set_password(json_t *body, const Password *p) {
        json_t *s;

        if (!utf8_is_valid(p->text, p->len) || memchr(p->text, 0, p->len))
                return log_error_errno(-EINVAL, "The password is not valid UTF-8 text.");
        s = json_stringn(p->text, p->len);
        if (!s || json_object_set_new(body, "password", s) < 0)
                return log_oom();
        return 0;
}

/* ---- granary status ---- */

static void status_help(void) {
        printf("Usage: granary status\n"
               "\n"
               "Shows granaryd's version, its URLs, whether it still needs its first admin account, how\n"
               "many accounts there are and how long it has been running.\n"
               "\n"
               "  -h, --help  show this help\n");
}

static int print_field(const char *label, const char *value) {
        _cleanup_free_ char *text = terminal_text(value);

        if (!text)
                return log_oom();
        printf("%-14s %s\n", label, text);
        return 0;
}

/* "45s", "3min 20s", "5h 2min", "12d 3h": the two largest units, as granaryd's uptime is read. */
static void format_duration(uint64_t sec, char *buf, size_t size) {
        static const struct {
                const char *suffix;
                uint64_t sec;
        } units[] = { { "d", 86400 }, { "h", 3600 }, { "min", 60 }, { "s", 1 } };

        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                uint64_t big = sec / units[i].sec, small;

                if (big == 0 && units[i].sec > 1)
                        continue;
                if (i + 1 == ELEMENTSOF(units)) {
                        snprintf(buf, size, "%" PRIu64 "%s", big, units[i].suffix);
                        return;
                }
                small = sec % units[i].sec / units[i + 1].sec;
                if (small == 0)
                        snprintf(buf, size, "%" PRIu64 "%s", big, units[i].suffix);
                else
                        snprintf(buf, size, "%" PRIu64 "%s %" PRIu64 "%s", big, units[i].suffix, small,
                                 units[i + 1].suffix);
                return;
        }
}

static int cmd_status(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        json_t *needs_setup, *users, *uptime;
        const char *version, *base_url, *wildcard;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                if (c == 'h') {
                        status_help();
                        return 0;
                } else if (!common_option(c))
                        return option_error(c, argv, "status");
        if (take_arguments(argc, argv, "status", 0, NULL, false, NULL) < 0)
                return 1;

        if (api_call("GET", "/status", NULL, &reply) < 0)
                return 1;
        version = json_string_value(json_object_get(reply, "version"));
        base_url = json_string_value(json_object_get(reply, "baseUrl"));
        wildcard = json_string_value(json_object_get(reply, "wildcardHost"));
        needs_setup = json_object_get(reply, "needsSetup");
        users = json_object_get(reply, "users");
        uptime = json_object_get(reply, "uptime");
        if (!version || !base_url || !wildcard || !json_is_boolean(needs_setup))
                return log_unexpected_reply(), 1;

        if (print_field("Version:", version) < 0 || print_field("Base URL:", base_url) < 0 ||
            print_field("Wildcard host:", wildcard) < 0 ||
            print_field("Setup needed:", json_is_true(needs_setup)
                                                 ? "yes (run 'granary admin-token' for the setup link)"
                                                 : "no") < 0)
                return 1;
        if (json_is_integer(users))
                printf("%-14s %lld\n", "Users:", (long long) json_integer_value(users));
        if (json_is_integer(uptime) && json_integer_value(uptime) >= 0) {
                char buf[64];

                format_duration((uint64_t) json_integer_value(uptime), buf, sizeof(buf));
                printf("%-14s %s\n", "Uptime:", buf);
        }
        return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- granary admin-token ---- */

static void admin_token_help(void) {
        printf("Usage: granary admin-token [-q]\n"
               "\n"
               "Makes a new one-time setup link and prints it. Whoever opens it can create an admin\n"
               "account: the first one on a new server, or another one when every admin is locked out.\n"
               "The link replaces any earlier one and expires after 15 minutes.\n"
               "\n"
               "  -q, --quiet  print only the token, not the link\n"
               "  -h, --help   show this help\n");
}

static int cmd_admin_token(int argc, char *argv[]) {
        static const struct option options[] = {
                { "quiet", no_argument, NULL, 'q' },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_free_ char *text = NULL;
        const char *value;
        bool quiet = false;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":qh", options, NULL)) >= 0)
                if (c == 'h') {
                        admin_token_help();
                        return 0;
                } else if (c == 'q')
                        quiet = true;
                else if (!common_option(c))
                        return option_error(c, argv, "admin-token");
        if (take_arguments(argc, argv, "admin-token", 0, NULL, false, NULL) < 0)
                return 1;

        if (api_call("POST", "/admin-token", NULL, &reply) < 0)
                return 1;
        value = json_string_value(json_object_get(reply, quiet ? "token" : "url"));
        if (isempty(value))
                return log_unexpected_reply(), 1;
        text = terminal_text(value);
        if (!text)
                return log_oom(), 1;
        printf("%s\n", text);
        return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- granary user … ---- */

static void user_help(void) {
        printf("Usage: granary user <command> [options]\n"
               "\n"
               "Manages the accounts of the server.\n"
               "\n"
               "Commands:\n"
               "  granary user list [--json]\n"
               "  granary user add NAME [--admin] [--display-name TEXT] [--password-stdin | --no-password]\n"
               "  granary user passwd NAME [--password-stdin]\n"
               "  granary user admin NAME yes|no\n"
               "  granary user delete NAME\n"
               "\n"
               "Each command has --help.\n");
}

typedef struct UserOptions {
        bool json;
        bool admin;
        const char *display_name;
        bool password_stdin;
        bool no_password;
} UserOptions;

/* Parses the options of a "user" command into o, then expects exactly n_args positional arguments, put in
 * args[] (missing[i] names the i-th for the complaint). Returns 1 after --help, 0 to go on, -EINVAL when
 * the command line is wrong (already reported). */
static int parse_user_options(int argc, char *argv[], const char *command, const struct option *options,
                              void (*help)(void), size_t n_args, const char *const *missing,
                              char **args, UserOptions *o) {
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_JSON:
                        o->json = true;
                        break;
                case ARG_ADMIN:
                        o->admin = true;
                        break;
                case ARG_DISPLAY_NAME:
                        o->display_name = optarg;
                        break;
                case ARG_PASSWORD_STDIN:
                        o->password_stdin = true;
                        break;
                case ARG_NO_PASSWORD:
                        o->no_password = true;
                        break;
                default:
                        if (!common_option(c)) {
                                (void) option_error(c, argv, command);
                                return -EINVAL;
                        }
                }

        if (take_arguments(argc, argv, command, n_args, missing, false, args) < 0)
                return -EINVAL;
        if (n_args > 0 && isempty(args[0])) {
                log_error("The user name is empty.");
                return -EINVAL;
        }
        return 0;
}

static void user_list_help(void) {
        printf("Usage: granary user list [--json]\n"
               "\n"
               "Lists the accounts: name, display name, whether they are an admin, whether they use a\n"
               "second factor (TOTP), and when they last logged in (local time).\n"
               "\n"
               "  --json      print the accounts as the API gives them, a JSON array\n"
               "  -h, --help  show this help\n");
}

/* "2024-05-01 13:45" in local time for milliseconds since the epoch, "never" for null. */
static int format_time(json_t *v, char **ret) {
        char buf[64];
        struct tm tm;
        time_t t;

        if (json_is_null(v) || !v)
                return (*ret = strdup("never")) ? 0 : -ENOMEM;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EBADMSG;
        t = (time_t) (json_integer_value(v) / 1000);
        if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm) == 0)
                return -ERANGE;
        return (*ret = strdup(buf)) ? 0 : -ENOMEM;
}

#define USER_COLUMNS 5

static const char *const NAME_ARG[] = { "user name" };
static const char *const NAME_YES_NO_ARGS[] = { "user name", "'yes' or 'no'" };

static int cmd_user_list(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, ARG_JSON },
                COMMON_OPTIONS,
                {},
        };
        static const char *const header[USER_COLUMNS] = { "NAME", "DISPLAY-NAME", "ADMIN", "TOTP",
                                                          "LAST-LOGIN" };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_strv_free_ char **cells = NULL;
        UserOptions o = {};
        json_t *users, *u;
        size_t i;
        int r;

        r = parse_user_options(argc, argv, "user list", options, user_list_help, 0, NULL, NULL, &o);
        if (r != 0)
                return r > 0 ? 0 : 1;

        if (api_call("GET", "/users", NULL, &reply) < 0)
                return 1;
        users = json_object_get(reply, "users");
        if (!json_is_array(users))
                return log_unexpected_reply(), 1;

        if (o.json)
                return print_json(users);

        for (size_t k = 0; k < USER_COLUMNS; k++)
                if (strv_extend(&cells, header[k]) < 0)
                        return log_oom(), 1;
        json_array_foreach(users, i, u) {
                const char *name = json_string_value(json_object_get(u, "name"));
                json_t *display = json_object_get(u, "displayName");
                json_t *admin = json_object_get(u, "admin"), *totp = json_object_get(u, "totp");
                char *last = NULL;

                if (!name || !(json_is_string(display) || json_is_null(display) || !display) ||
                    !json_is_boolean(admin) || !json_is_boolean(totp))
                        return log_unexpected_reply(), 1;
                r = format_time(json_object_get(u, "lastLogin"), &last);
                if (r == -ENOMEM)
                        return log_oom(), 1;
                if (r < 0)
                        return log_unexpected_reply(), 1;
                if (strv_consume(&cells, terminal_text(name)) < 0 ||
                    strv_consume(&cells, isempty(json_string_value(display))
                                                 ? strdup("-")
                                                 : terminal_text(json_string_value(display))) < 0 ||
                    strv_extend(&cells, json_is_true(admin) ? "yes" : "no") < 0 ||
                    strv_extend(&cells, json_is_true(totp) ? "yes" : "no") < 0 ||
                    strv_consume(&cells, last) < 0)
                        return log_oom(), 1;
        }

        return print_table(cells, USER_COLUMNS);
}

static void user_add_help(void) {
        printf("Usage: granary user add NAME [--admin] [--display-name TEXT]\n"
               "                        [--password-stdin | --no-password]\n"
               "\n"
               "Creates an account. The password is asked for twice on the terminal unless one of the\n"
               "password options says otherwise.\n"
               "\n"
               "  --admin              make the account an admin\n"
               "  --display-name=TEXT  the name shown to others (default: NAME)\n"
               "  --password-stdin     read the password as one line from standard input\n"
               "  --no-password        create the account without a password (it cannot log in until\n"
               "                       'granary user passwd' gives it one)\n"
               "  -h, --help           show this help\n");
}

static int cmd_user_add(int argc, char *argv[]) {
        static const struct option options[] = {
                { "admin", no_argument, NULL, ARG_ADMIN },
                { "display-name", required_argument, NULL, ARG_DISPLAY_NAME },
                { "password-stdin", no_argument, NULL, ARG_PASSWORD_STDIN },
                { "no-password", no_argument, NULL, ARG_NO_PASSWORD },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(password_erase) Password password = {};
        _cleanup_(json_decrefp) json_t *body = NULL;
        UserOptions o = {};
        char *name;
        int r;

        r = parse_user_options(argc, argv, "user add", options, user_add_help, 1, NAME_ARG, &name, &o);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (o.password_stdin && o.no_password) {
                log_error("--password-stdin and --no-password exclude each other.");
                return 1;
        }

        body = json_object();
        if (!body || json_object_set_new(body, "name", json_string(name)) < 0)
                return log_oom(), 1;
        if (o.display_name && json_object_set_new(body, "displayName", json_string(o.display_name)) < 0) {
                log_error("The display name is not valid UTF-8 text.");
                return 1;
        }
        if (o.admin && json_object_set_new(body, "admin", json_true()) < 0)
                return log_oom(), 1;
        if (!o.no_password) {
                if (!o.password_stdin) {
                        /* Before anyone types a password twice: is the server there, the name free? The
                         * answer to the POST below stays the one that counts. */
                        _cleanup_(json_decrefp) json_t *reply = NULL;
                        _cleanup_free_ char *path = user_path(name, NULL);
                        long status;

                        if (!path)
                                return log_oom(), 1;
                        if (api_request("GET", path, NULL, &status, &reply) < 0)
                                return 1;
                        if (status == 200) {
                                log_error("The name '%s' is taken.", name);
                                return 1;
                        }
                        if (status != 404 && (status < 200 || status >= 300))
                                return log_api_error(status, reply), 1;
                }
                if (get_new_password(name, o.password_stdin, "use --password-stdin or --no-password",
                                     &password) < 0)
                        return 1;
                if (json_set_password(body, &password) < 0)
                        return 1;
        }

        if (api_call("POST", "/users", body, NULL) < 0)
                return 1;
        printf("Added %s '%s'%s.\n", o.admin ? "admin" : "user", name,
               o.no_password ? " without a password" : "");
        return fflush(stdout) == 0 ? 0 : 1;
}

static void user_passwd_help(void) {
        printf("Usage: granary user passwd NAME [--password-stdin]\n"
               "\n"
               "Sets a new password for an account and ends its sessions elsewhere. The password is asked\n"
               "for twice on the terminal.\n"
               "\n"
               "  --password-stdin  read the password as one line from standard input\n"
               "  -h, --help        show this help\n");
}

static int cmd_user_passwd(int argc, char *argv[]) {
        static const struct option options[] = {
                { "password-stdin", no_argument, NULL, ARG_PASSWORD_STDIN },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(password_erase) Password password = {};
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *path = NULL;
        UserOptions o = {};
        char *name;
        int r;

        r = parse_user_options(argc, argv, "user passwd", options, user_passwd_help, 1, NAME_ARG, &name,
                               &o);
        if (r != 0)
                return r > 0 ? 0 : 1;
        path = user_path(name, NULL);
        if (!path)
                return log_oom(), 1;

        /* A mistyped name fails before anyone types a password twice. */
        if (api_call("GET", path, NULL, NULL) < 0)
                return 1;
        if (get_new_password(name, o.password_stdin, "use --password-stdin", &password) < 0)
                return 1;
        body = json_object();
        if (!body)
                return log_oom(), 1;
        if (json_set_password(body, &password) < 0)
                return 1;

        if (api_call("PATCH", path, body, NULL) < 0)
                return 1;
        printf("Changed the password of '%s'.\n", name);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void user_admin_help(void) {
        printf("Usage: granary user admin NAME yes|no\n"
               "\n"
               "Makes an account an admin (yes) or an ordinary user (no). The last admin stays one.\n"
               "\n"
               "  -h, --help  show this help\n");
}

static int parse_yes_no(const char *s) {
        static const char *const yes[] = { "yes", "y", "true", "on", "1" };
        static const char *const no[] = { "no", "n", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

static int cmd_user_admin(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *path = NULL;
        UserOptions o = {};
        char *args[2];
        int r, admin;

        r = parse_user_options(argc, argv, "user admin", options, user_admin_help, 2, NAME_YES_NO_ARGS, args,
                               &o);
        if (r != 0)
                return r > 0 ? 0 : 1;
        admin = parse_yes_no(args[1]);
        if (admin < 0) {
                log_error("Expected 'yes' or 'no', not '%s'.", args[1]);
                return 1;
        }

        path = user_path(args[0], NULL);
        body = json_pack("{s:b}", "admin", admin);
        if (!path || !body)
                return log_oom(), 1;
        if (api_call("PATCH", path, body, NULL) < 0)
                return 1;
        printf(admin ? "'%s' is now an admin.\n" : "'%s' is no longer an admin.\n", args[0]);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void user_delete_help(void) {
        printf("Usage: granary user delete NAME\n"
               "\n"
               "Deletes an account and its sessions. An account that still owns grains is not deleted.\n"
               "\n"
               "  -h, --help  show this help\n");
}

static int cmd_user_delete(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_free_ char *path = NULL;
        UserOptions o = {};
        char *name;
        int r;

        r = parse_user_options(argc, argv, "user delete", options, user_delete_help, 1, NAME_ARG, &name,
                               &o);
        if (r != 0)
                return r > 0 ? 0 : 1;
        path = user_path(name, NULL);
        if (!path)
                return log_oom(), 1;
        if (api_call("DELETE", path, NULL, NULL) < 0)
                return 1;
        printf("Deleted user '%s'.\n", name);
        return fflush(stdout) == 0 ? 0 : 1;
}

typedef struct Command {
        const char *name;
        int (*run)(int argc, char *argv[]);
} Command;

/* "granary GROUP [OPTIONS] COMMAND …": the options before the command (only the common ones), then the
 * command of commands[] named, with its own arguments. */
static int run_group(const char *group, void (*help)(void), const Command *commands, size_t n_commands,
                     int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                if (c == 'h') {
                        help();
                        return 0;
                } else if (!common_option(c))
                        return option_error(c, argv, group);
        if (optind >= argc) {
                log_error("Missing %s command; see 'granary %s --help'.", group, group);
                return 1;
        }
        if (streq(argv[optind], "help")) {
                help();
                return 0;
        }
        for (size_t i = 0; i < n_commands; i++)
                if (streq(argv[optind], commands[i].name))
                        return commands[i].run(argc - optind, argv + optind);
        log_error("Unknown %s command '%s'; see 'granary %s --help'.", group, argv[optind], group);
        return 1;
}

static const Command user_commands[] = {
        { "list", cmd_user_list },     { "add", cmd_user_add },       { "passwd", cmd_user_passwd },
        { "admin", cmd_user_admin },   { "delete", cmd_user_delete },
};

static int cmd_user(int argc, char *argv[]) {
        return run_group("user", user_help, user_commands, ELEMENTSOF(user_commands), argc, argv);
}

/* ---- granary app … ---- */

static void app_help(void) {
        printf("Usage: granary app <command> [options]\n"
               "\n"
               "Manages the apps installed on the server.\n"
               "\n"
               "Commands:\n"
               "  granary app install FILE.spk\n"
               "  granary app list [--json]\n"
               "  granary app remove APP_ID [--force]\n"
               "\n"
               "Each command has --help.\n");
}

/* Parses a command's options (the common ones, --json, --force), then expects exactly n_args arguments.
 * Returns 1 after --help, 0 to go on, -EINVAL when the command line is wrong (already reported). */
static int parse_app_options(int argc, char *argv[], const char *command, const struct option *options,
                             void (*help)(void), size_t n_args, const char *missing, char **args,
                             bool *ret_flag) {
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_JSON:
                case ARG_FORCE:
                        *ret_flag = true;
                        break;
                default:
                        if (!common_option(c)) {
                                (void) option_error(c, argv, command);
                                return -EINVAL;
                        }
                }
        assert(n_args <= 1);
        return take_arguments(argc, argv, command, n_args, &missing, false, args);
}

/* "1.2.0", or "version 3" when the package has no marketing version. */
static char *version_text(json_t *marketing, json_t *version) {
        const char *m = json_string_value(marketing);
        char *s;

        if (!isempty(m))
                return terminal_text(m);
        if (asprintf(&s, "version %lld", (long long) json_integer_value(version)) < 0)
                return NULL;
        return s;
}

static void app_install_help(void) {
        printf("Usage: granary app install FILE.spk\n"
               "\n"
               "Uploads a Sandstorm package to granaryd, which verifies its signature, unpacks it and\n"
               "records its app. A package of a known app with a higher version upgrades that app; its\n"
               "grains move to the new version at their next start. On a terminal, the upload's progress\n"
               "is shown.\n"
               "\n"
               "  -h, --help  show this help\n");
}

static int cmd_app_install(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_free_ char *title = NULL, *version = NULL, *latest = NULL, *id = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_t *app, *package;
        const char *outcome;
        struct stat st;
        Upload upload;
        char *path;
        bool unused = false;
        long status;
        int r;

        r = parse_app_options(argc, argv, "app install", options, app_install_help, 1, "package file", &path,
                              &unused);
        if (r != 0)
                return r > 0 ? 0 : 1;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to open '%s': %m", path), 1;
        if (fstat(fd, &st) < 0)
                return log_error_errno(-errno, "Failed to look at '%s': %m", path), 1;
        if (!S_ISREG(st.st_mode)) {
                log_error("'%s' is not a file.", path);
                return 1;
        }
        upload = (Upload) {
                .fd = fd,
                .size = (uint64_t) st.st_size,
                .content_type = "application/x-sandstorm-package",
                .label = path_basename(path),
                .progress = isatty(STDERR_FILENO),
                .last_percent = -1,
        };

        r = api_request_full("POST", "/apps", NULL, &upload, NULL, &status, &reply);
        if (r < 0)
                return 1;
        if (status < 200 || status >= 300)
                return log_api_error(status, reply), 1;

        app = json_object_get(reply, "app");
        package = json_object_get(reply, "package");
        outcome = json_string_value(json_object_get(reply, "outcome"));
        if (!json_is_string(json_object_get(app, "id")) || !json_is_string(json_object_get(app, "title")) ||
            !json_is_integer(json_object_get(package, "version")) || !outcome)
                return log_unexpected_reply(), 1;
        id = terminal_text(json_string_value(json_object_get(app, "id")));
        title = terminal_text(json_string_value(json_object_get(app, "title")));
        version = version_text(json_object_get(package, "marketingVersion"),
                               json_object_get(package, "version"));
        latest = version_text(json_object_get(app, "marketingVersion"), json_object_get(app, "version"));
        if (!id || !title || !version || !latest)
                return log_oom(), 1;

        if (streq(outcome, "new"))
                printf("Installed '%s' %s (app %s).\n", title, version, id);
        else if (streq(outcome, "upgrade"))
                printf("Upgraded '%s' to %s (app %s).\n", title, version, id);
        else if (streq(outcome, "older"))
                printf("Added %s of '%s' (app %s); %s stays the version in use.\n", version, title, id,
                       latest);
        else if (streq(outcome, "restored"))
                printf("Restored the files of '%s' %s (app %s).\n", title, version, id);
        else
                return log_unexpected_reply(), 1;
        return fflush(stdout) == 0 ? 0 : 1;
}

static void app_list_help(void) {
        printf("Usage: granary app list [--json]\n"
               "\n"
               "Lists the installed apps: app ID, title, the version in use, and when it was installed\n"
               "(local time).\n"
               "\n"
               "  --json      print the apps as the API gives them, a JSON array\n"
               "  -h, --help  show this help\n");
}

#define APP_COLUMNS 4

static int cmd_app_list(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, ARG_JSON },
                COMMON_OPTIONS,
                {},
        };
        static const char *const header[APP_COLUMNS] = { "APP-ID", "TITLE", "VERSION", "INSTALLED" };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_strv_free_ char **cells = NULL;
        size_t i;
        json_t *apps, *a;
        bool json = false;
        int r;

        r = parse_app_options(argc, argv, "app list", options, app_list_help, 0, NULL, NULL, &json);
        if (r != 0)
                return r > 0 ? 0 : 1;

        if (api_call("GET", "/apps", NULL, &reply) < 0)
                return 1;
        apps = json_object_get(reply, "apps");
        if (!json_is_array(apps))
                return log_unexpected_reply(), 1;

        if (json)
                return print_json(apps);
        if (json_array_size(apps) == 0) {
                printf("No apps are installed.\n");
                return fflush(stdout) == 0 ? 0 : 1;
        }

        for (size_t k = 0; k < APP_COLUMNS; k++)
                if (strv_extend(&cells, header[k]) < 0)
                        return log_oom(), 1;
        json_array_foreach(apps, i, a) {
                const char *id = json_string_value(json_object_get(a, "id"));
                const char *title = json_string_value(json_object_get(a, "title"));
                json_t *version = json_object_get(a, "version");
                char *installed = NULL, *v;

                if (!id || !title)
                        return log_unexpected_reply(), 1;
                if (json_is_integer(version)) {
                        _cleanup_free_ char *m = version_text(json_object_get(a, "marketingVersion"),
                                                              version);

                        /* An app in development (spk dev) says so beside its version. */
                        if (!m || asprintf(&v, "%s (%lld)%s", m, (long long) json_integer_value(version),
                                           json_is_true(json_object_get(a, "dev")) ? " dev" : "") < 0)
                                return log_oom(), 1;
                } else if (!(v = strdup("-")))
                        return log_oom(), 1;
                r = format_time(json_object_get(a, "installed"), &installed);
                if (r == -ENOMEM) {
                        free(v);
                        return log_oom(), 1;
                }
                if (r < 0) {
                        free(v);
                        return log_unexpected_reply(), 1;
                }
                if (strv_consume(&cells, terminal_text(id)) < 0 ||
                    strv_consume(&cells, terminal_text(title)) < 0 || strv_consume(&cells, v) < 0 ||
                    strv_consume(&cells, installed) < 0)
                        return log_oom(), 1;
        }

        return print_table(cells, APP_COLUMNS);
}

static void app_remove_help(void) {
        printf("Usage: granary app remove APP_ID [--force]\n"
               "\n"
               "Removes an app with all its versions and their files. An app that grains still use is not\n"
               "removed, unless --force says so.\n"
               "\n"
               "  --force     remove it anyway, and the grains that use it with it (their data stays\n"
               "              on disk)\n"
               "  -h, --help  show this help\n");
}

static int cmd_app_remove(int argc, char *argv[]) {
        static const struct option options[] = {
                { "force", no_argument, NULL, ARG_FORCE },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_free_ char *escaped = NULL, *path = NULL, *title = NULL, *id = NULL;
        json_t *app, *grains;
        bool force = false;
        char *app_id;
        int r;

        r = parse_app_options(argc, argv, "app remove", options, app_remove_help, 1, "app ID", &app_id,
                              &force);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (isempty(app_id)) {
                log_error("The app ID is empty.");
                return 1;
        }

        escaped = curl_easy_escape(NULL, app_id, 0);
        if (!escaped)
                return log_oom(), 1;
        path = strjoin("/apps/", escaped, force ? "?force=1" : "");
        if (!path)
                return log_oom(), 1;
        if (api_call("DELETE", path, NULL, &reply) < 0)
                return 1;

        app = json_object_get(reply, "app");
        grains = json_object_get(reply, "deletedGrains");
        if (!json_is_string(json_object_get(app, "id")) || !json_is_string(json_object_get(app, "title")) ||
            !json_is_array(grains))
                return log_unexpected_reply(), 1;
        id = terminal_text(json_string_value(json_object_get(app, "id")));
        title = terminal_text(json_string_value(json_object_get(app, "title")));
        if (!id || !title)
                return log_oom(), 1;
        if (json_array_size(grains) > 0)
                printf("Removed '%s' (app %s) and the %zu grain%s that used it.\n", title, id,
                       json_array_size(grains), json_array_size(grains) == 1 ? "" : "s");
        else
                printf("Removed '%s' (app %s).\n", title, id);
        return fflush(stdout) == 0 ? 0 : 1;
}

static const Command app_commands[] = {
        { "install", cmd_app_install },
        { "list", cmd_app_list },
        { "remove", cmd_app_remove },
};

static int cmd_app(int argc, char *argv[]) {
        return run_group("app", app_help, app_commands, ELEMENTSOF(app_commands), argc, argv);
}

/* ---- granary grain … ---- */

static void grain_help(void) {
        printf("Usage: granary grain <command> [options]\n"
               "\n"
               "Manages grains, the instances of apps.\n"
               "\n"
               "Commands:\n"
               "  granary grain new APP_ID [--title TITLE] [--action N] [--user NAME] [-q]\n"
               "  granary grain list [--all] [--json]\n"
               "  granary grain open GRAIN_ID [--user NAME] [--path PATH]\n"
               "  granary grain rename GRAIN_ID TITLE\n"
               "  granary grain stop GRAIN_ID\n"
               "  granary grain log GRAIN_ID [--bytes N]\n"
               "  granary grain delete GRAIN_ID [--yes]\n"
               "\n"
               "Each command has --help.\n");
}

typedef struct GrainArgs {
        const char *title;
        const char *user;
        const char *path;
        const char *action; /* digits */
        const char *bytes;  /* digits */
        bool quiet, all, json, yes;
} GrainArgs;

enum {
        ARG_TITLE = 0x200,
        ARG_ACTION,
        ARG_USER,
        ARG_PATH,
        ARG_BYTES,
        ARG_ALL,
        ARG_YES,
};

/* Parses a grain command's options into *a, then expects exactly n_args arguments (named by what, for the
 * message). Returns 1 after --help, 0 to go on, -EINVAL when the command line is wrong (reported). */
static int parse_grain_options(int argc, char *argv[], const char *command, const struct option *options,
                               void (*help)(void), size_t n_args, const char *const *what, char **args,
                               GrainArgs *a) {
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'q':
                        a->quiet = true;
                        break;
                case ARG_TITLE:
                        a->title = optarg;
                        break;
                case ARG_ACTION:
                        a->action = optarg;
                        break;
                case ARG_USER:
                        a->user = optarg;
                        break;
                case ARG_PATH:
                        a->path = optarg;
                        break;
                case ARG_BYTES:
                        a->bytes = optarg;
                        break;
                case ARG_ALL:
                        a->all = true;
                        break;
                case ARG_JSON:
                        a->json = true;
                        break;
                case ARG_YES:
                        a->yes = true;
                        break;
                default:
                        if (!common_option(c)) {
                                (void) option_error(c, argv, command);
                                return -EINVAL;
                        }
                }
        return take_arguments(argc, argv, command, n_args, what, true, args);
}

/* "/grains/ID" and the like, with id percent-encoded. */
static char *grain_path(const char *id, const char *suffix) {
        _cleanup_free_ char *escaped = NULL;

        escaped = curl_easy_escape(NULL, id, 0);
        if (!escaped)
                return NULL;
        return strjoin("/grains/", escaped, suffix ?: "");
}

static const char *const GRAIN_ID_ARG[] = { "grain ID" };

static void grain_new_help(void) {
        printf("Usage: granary grain new APP_ID [--title TITLE] [--action N] [--user NAME] [-q]\n"
               "\n"
               "Creates a grain of the app's version in use and prints its ID. Its first start runs the\n"
               "app's first action (or action N, counted from 0); it starts when it is first opened.\n"
               "\n"
               "  --title=TITLE  the grain's title (default: the app's title)\n"
               "  --action=N     which of the app's actions makes the grain (default 0)\n"
               "  --user=NAME    who owns it (default: the only admin, when there is exactly one)\n"
               "  -q, --quiet    print only the grain's ID\n"
               "  -h, --help     show this help\n");
}

static int cmd_grain_new(int argc, char *argv[]) {
        static const struct option options[] = {
                { "title", required_argument, NULL, ARG_TITLE },
                { "action", required_argument, NULL, ARG_ACTION },
                { "user", required_argument, NULL, ARG_USER },
                { "quiet", no_argument, NULL, 'q' },
                COMMON_OPTIONS,
                {},
        };
        static const char *const what[] = { "app ID" };
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        _cleanup_free_ char *id = NULL, *title = NULL;
        GrainArgs a = {};
        json_t *grain;
        char *app_id;
        int r;

        r = parse_grain_options(argc, argv, "grain new", options, grain_new_help, 1, what, &app_id, &a);
        if (r != 0)
                return r > 0 ? 0 : 1;

        body = json_pack("{s:s}", "appId", app_id);
        if (!body)
                return log_oom(), 1;
        if (a.action) {
                uint64_t n;

                if (parse_uint64(a.action, 1000000, &n) < 0) {
                        log_error("Invalid action '%s': a number from 0.", a.action);
                        return 1;
                }
                if (json_object_set_new(body, "action", json_integer((json_int_t) n)) < 0)
                        return log_oom(), 1;
        }
        if ((a.title && json_object_set_new(body, "title", json_string(a.title)) < 0) ||
            (a.user && json_object_set_new(body, "user", json_string(a.user)) < 0))
                return log_oom(), 1;
        if (a.title && !json_object_get(body, "title")) {
                log_error("The title is not UTF-8 text.");
                return 1;
        }

        if (api_call("POST", "/grains", body, &reply) < 0)
                return 1;
        grain = json_object_get(reply, "grain");
        if (!json_is_string(json_object_get(grain, "id")) || !json_is_string(json_object_get(grain, "title")))
                return log_unexpected_reply(), 1;
        id = terminal_text(json_string_value(json_object_get(grain, "id")));
        title = terminal_text(json_string_value(json_object_get(grain, "title")));
        if (!id || !title)
                return log_oom(), 1;
        if (a.quiet)
                printf("%s\n", id);
        else
                printf("Created grain %s ('%s').\n", id, title);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void grain_list_help(void) {
        printf("Usage: granary grain list [--all] [--json]\n"
               "\n"
               "Lists the grains: ID, title, app, owner, state, and for a running grain its memory and (under\n"
               "the systemd backend) the CPU time since it started. The control socket sees every user's\n"
               "grains.\n"
               "\n"
               "  --all       every user's grains (the default here; for symmetry with the web API)\n"
               "  --json      print the grains as the API gives them, a JSON array\n"
               "  -h, --help  show this help\n");
}

/* "0.4s", "12.0s": the CPU time a running grain used (under the systemd backend), or "-". */
static char *cpu_text(json_t *v) {
        char *s;

        if (!json_is_integer(v))
                return strdup("-");
        if (asprintf(&s, "%.1fs", (double) json_integer_value(v) / 1000.0) < 0)
                return NULL;
        return s;
}

/* "512K", "1.5M", "2.0G": what a running grain's memory takes, in powers of 1024. */
static char *memory_text(json_t *v) {
        static const char units[] = "KMGT";
        double x;
        char *s;

        if (!json_is_integer(v))
                return strdup("-");
        x = (double) json_integer_value(v);
        if (x < 1024) {
                if (asprintf(&s, "%lldB", (long long) json_integer_value(v)) < 0)
                        return NULL;
                return s;
        }
        for (size_t i = 0; i < strlen(units); i++) {
                x /= 1024;
                if (x < 1024 || i + 1 == strlen(units)) {
                        if (asprintf(&s, x < 10 ? "%.1f%c" : "%.0f%c", x, units[i]) < 0)
                                return NULL;
                        return s;
                }
        }
        return NULL;
}

#define GRAIN_COLUMNS 7

static int cmd_grain_list(int argc, char *argv[]) {
        static const struct option options[] = {
                { "all", no_argument, NULL, ARG_ALL },
                { "json", no_argument, NULL, ARG_JSON },
                COMMON_OPTIONS,
                {},
        };
        static const char *const header[GRAIN_COLUMNS] = { "ID", "TITLE", "APP", "OWNER", "STATE", "MEMORY", "CPU" };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_strv_free_ char **cells = NULL;
        size_t i;
        GrainArgs a = {};
        json_t *grains, *g;
        int r;

        r = parse_grain_options(argc, argv, "grain list", options, grain_list_help, 0, NULL, NULL, &a);
        if (r != 0)
                return r > 0 ? 0 : 1;

        if (api_call("GET", a.all ? "/grains?all=1" : "/grains", NULL, &reply) < 0)
                return 1;
        grains = json_object_get(reply, "grains");
        if (!json_is_array(grains))
                return log_unexpected_reply(), 1;

        if (a.json)
                return print_json(grains);
        if (json_array_size(grains) == 0) {
                printf("No grains.\n");
                return fflush(stdout) == 0 ? 0 : 1;
        }

        for (size_t k = 0; k < GRAIN_COLUMNS; k++)
                if (strv_extend(&cells, header[k]) < 0)
                        return log_oom(), 1;
        json_array_foreach(grains, i, g) {
                const char *id = json_string_value(json_object_get(g, "id"));
                const char *title = json_string_value(json_object_get(g, "title"));
                const char *app = json_string_value(json_object_get(g, "appTitle")) ?:
                                  json_string_value(json_object_get(g, "appId")) ?: "-";
                const char *owner = json_string_value(json_object_get(g, "owner")) ?: "-";
                const char *state = json_string_value(json_object_get(g, "state"));

                if (!id || !title || !state)
                        return log_unexpected_reply(), 1;
                if (strv_consume(&cells, terminal_text(id)) < 0 || strv_consume(&cells, terminal_text(title)) < 0 ||
                    strv_consume(&cells, terminal_text(app)) < 0 || strv_consume(&cells, terminal_text(owner)) < 0 ||
                    strv_consume(&cells, terminal_text(state)) < 0 ||
                    strv_consume(&cells, memory_text(json_object_get(g, "memory"))) < 0 ||
                    strv_consume(&cells, cpu_text(json_object_get(g, "cpuMs"))) < 0)
                        return log_oom(), 1;
        }

        return print_table(cells, GRAIN_COLUMNS);
}

static void grain_open_help(void) {
        printf("Usage: granary grain open GRAIN_ID [--user NAME] [--path PATH]\n"
               "\n"
               "Opens a session on the grain and prints its URL. The URL works once in a browser, or with\n"
               "curl -L -c JAR -b JAR URL: it sets the session's cookie and leads to PATH. Whoever has the\n"
               "URL and the cookie acts as the user, so keep it to yourself.\n"
               "\n"
               "  --user=NAME  for whom (default: the grain's owner; only the owner may open it for now)\n"
               "  --path=PATH  where in the app to go (default /)\n"
               "  -h, --help   show this help\n");
}

static int cmd_grain_open(int argc, char *argv[]) {
        static const struct option options[] = {
                { "user", required_argument, NULL, ARG_USER },
                { "path", required_argument, NULL, ARG_PATH },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *url = NULL;
        GrainArgs a = {};
        char *id;
        int r;

        r = parse_grain_options(argc, argv, "grain open", options, grain_open_help, 1, GRAIN_ID_ARG, &id, &a);
        if (r != 0)
                return r > 0 ? 0 : 1;
        body = json_object();
        if (!body || (a.user && json_object_set_new(body, "user", json_string(a.user)) < 0) ||
            (a.path && json_object_set_new(body, "path", json_string(a.path)) < 0))
                return log_oom(), 1;
        path = grain_path(id, "/session");
        if (!path)
                return log_oom(), 1;
        if (api_call("POST", path, body, &reply) < 0)
                return 1;
        if (!json_is_string(json_object_get(reply, "url")))
                return log_unexpected_reply(), 1;
        url = terminal_text(json_string_value(json_object_get(reply, "url")));
        if (!url)
                return log_oom(), 1;
        printf("%s\n", url);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void grain_rename_help(void) {
        printf("Usage: granary grain rename GRAIN_ID TITLE\n"
               "\n"
               "Gives the grain a new title.\n"
               "\n"
               "  -h, --help  show this help\n");
}

static int cmd_grain_rename(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        static const char *const what[] = { "grain ID", "title" };
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *title = NULL;
        GrainArgs a = {};
        char *args[2];
        int r;

        r = parse_grain_options(argc, argv, "grain rename", options, grain_rename_help, 2, what, args, &a);
        if (r != 0)
                return r > 0 ? 0 : 1;
        body = json_pack("{s:s}", "title", args[1]);
        path = grain_path(args[0], NULL);
        if (!path)
                return log_oom(), 1;
        if (!body) {
                log_error("The title is not UTF-8 text.");
                return 1;
        }
        if (api_call("PATCH", path, body, &reply) < 0)
                return 1;
        if (!json_is_string(json_object_get(json_object_get(reply, "grain"), "title")))
                return log_unexpected_reply(), 1;
        title = terminal_text(json_string_value(json_object_get(json_object_get(reply, "grain"), "title")));
        if (!title)
                return log_oom(), 1;
        printf("Renamed grain %s to '%s'.\n", args[0], title);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void grain_stop_help(void) {
        printf("Usage: granary grain stop GRAIN_ID\n"
               "\n"
               "Stops the grain if it runs (SIGTERM, then SIGKILL after GRAIN_STOP_TIMEOUT_SEC). The next\n"
               "request to it starts it again.\n"
               "\n"
               "  -h, --help  show this help\n");
}

static int cmd_grain_stop(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_free_ char *path = NULL;
        GrainArgs a = {};
        char *id;
        int r;

        r = parse_grain_options(argc, argv, "grain stop", options, grain_stop_help, 1, GRAIN_ID_ARG, &id, &a);
        if (r != 0)
                return r > 0 ? 0 : 1;
        path = grain_path(id, "/stop");
        if (!path)
                return log_oom(), 1;
        if (api_call("POST", path, NULL, NULL) < 0)
                return 1;
        printf("Stopped grain %s.\n", id);
        return fflush(stdout) == 0 ? 0 : 1;
}

static void grain_log_help(void) {
        printf("Usage: granary grain log GRAIN_ID [--bytes N]\n"
               "\n"
               "Prints the end of the grain's console: what its app and bridge wrote to standard output\n"
               "and standard error, as it is.\n"
               "\n"
               "  --bytes=N   how much (default 65536, at most 1048576)\n"
               "  -h, --help  show this help\n");
}

static int cmd_grain_log(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bytes", required_argument, NULL, ARG_BYTES },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_strbuf_ StrBuf text = STRBUF_INIT;
        _cleanup_free_ char *path = NULL, *query = NULL;
        GrainArgs a = {};
        long status;
        uint64_t n = 0;
        char *id;
        int r;

        r = parse_grain_options(argc, argv, "grain log", options, grain_log_help, 1, GRAIN_ID_ARG, &id, &a);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (a.bytes && (parse_uint64(a.bytes, 1024 * 1024, &n) < 0 || n == 0)) {
                log_error("Invalid --bytes '%s': a number from 1 to 1048576.", a.bytes);
                return 1;
        }
        if (a.bytes && asprintf(&query, "/log?bytes=%" PRIu64, n) < 0)
                return log_oom(), 1;
        path = grain_path(id, query ?: "/log");
        if (!path)
                return log_oom(), 1;
        r = api_request_full("GET", path, NULL, NULL, &text, &status, &reply);
        if (r < 0)
                return 1;
        if (status < 200 || status >= 300)
                return log_api_error(status, reply), 1;
        /* The console as it is: the app's bytes are for whoever reads them, as with journalctl -o cat. */
        if (text.len > 0 && fwrite(text.data, 1, text.len, stdout) != text.len)
                return 1;
        return fflush(stdout) == 0 ? 0 : 1;
}

static void grain_delete_help(void) {
        printf("Usage: granary grain delete GRAIN_ID [--yes]\n"
               "\n"
               "Stops the grain and deletes it with all its data. On a terminal it asks first; otherwise\n"
               "--yes is needed.\n"
               "\n"
               "  --yes       do not ask\n"
               "  -h, --help  show this help\n");
}

static int cmd_grain_delete(int argc, char *argv[]) {
        static const struct option options[] = {
                { "yes", no_argument, NULL, ARG_YES },
                COMMON_OPTIONS,
                {},
        };
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_free_ char *path = NULL, *title = NULL;
        GrainArgs a = {};
        char *id;
        int r;

        r = parse_grain_options(argc, argv, "grain delete", options, grain_delete_help, 1, GRAIN_ID_ARG, &id,
                                &a);
        if (r != 0)
                return r > 0 ? 0 : 1;
        path = grain_path(id, NULL);
        if (!path)
                return log_oom(), 1;

        if (!a.yes) {
                char answer[16] = "";

                if (!isatty(STDIN_FILENO)) {
                        log_error("Deleting a grain destroys its data: say --yes (standard input is not a "
                                  "terminal to ask).");
                        return 1;
                }
                if (api_call("GET", path, NULL, &reply) < 0)
                        return 1;
                title = terminal_text(json_string_value(json_object_get(json_object_get(reply, "grain"), "title")) ?: "");
                if (!title)
                        return log_oom(), 1;
                fprintf(stderr, "Delete grain %s ('%s') and all its data? [y/N] ", id, title);
                if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
                        log_error("Not deleted.");
                        return 1;
                }
        }
        if (api_call("DELETE", path, NULL, NULL) < 0)
                return 1;
        printf("Deleted grain %s.\n", id);
        return fflush(stdout) == 0 ? 0 : 1;
}

static const Command grain_commands[] = {
        { "new", cmd_grain_new },
        { "list", cmd_grain_list },
        { "open", cmd_grain_open },
        { "rename", cmd_grain_rename },
        { "stop", cmd_grain_stop },
        { "log", cmd_grain_log },
        { "delete", cmd_grain_delete },
};

static int cmd_grain(int argc, char *argv[]) {
        return run_group("grain", grain_help, grain_commands, ELEMENTSOF(grain_commands), argc, argv);
}

/* ---- main ---- */

static const Command commands[] = {
        { "status", cmd_status },
        { "admin-token", cmd_admin_token },
        { "user", cmd_user },
        { "app", cmd_app },
        { "grain", cmd_grain },
};

static void help(void) {
        printf("Usage: granary [--socket PATH | --dev STATE_DIR] <command> [options]\n"
               "\n"
               "Administers a running granaryd through its control socket.\n"
               "\n"
               "Commands:\n"
               "  granary status                 show the version, URLs and whether setup is needed\n"
               "  granary admin-token [-q]       print a one-time link that creates an admin account\n"
               "  granary user list [--json]     list the accounts\n"
               "  granary user add NAME [--admin] [--display-name TEXT] [--password-stdin | --no-password]\n"
               "  granary user passwd NAME [--password-stdin]\n"
               "  granary user admin NAME yes|no\n"
               "  granary user delete NAME\n"
               "  granary app install FILE.spk   install an app, or a new version of one\n"
               "  granary app list [--json]      list the installed apps\n"
               "  granary app remove APP_ID [--force]\n"
               "  granary grain new APP_ID [--title TITLE] [--action N] [--user NAME] [-q]\n"
               "  granary grain list [--all] [--json]\n"
               "  granary grain open GRAIN_ID [--user NAME] [--path PATH]   print a session URL\n"
               "  granary grain rename GRAIN_ID TITLE\n"
               "  granary grain stop GRAIN_ID\n"
               "  granary grain log GRAIN_ID [--bytes N]\n"
               "  granary grain delete GRAIN_ID [--yes]\n"
               "\n"
               "Options for every command:\n"
               "  --socket=PATH     granaryd's control socket (default: $GRANARY_CONTROL_SOCKET,\n"
               "                    else " CONTROL_SOCKET_DEFAULT ")\n"
               "  --dev=STATE_DIR   talk to 'granaryd --dev STATE_DIR' (STATE_DIR/control.sock)\n"
               "  -h, --help        show the command's help\n"
               "\n"
               "Only root, members of the granary group, and in dev mode the user running granaryd may use\n"
               "the control socket. granary --version prints the version.\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "version", no_argument, NULL, ARG_VERSION },
                COMMON_OPTIONS,
                {},
        };
        int c, r;

        log_set_program("granary");

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("granary %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        if (!common_option(c)) {
                                const char *arg = optind > 0 ? argv[optind - 1] : "";

                                if (c == ':')
                                        log_error("Option '%s' needs an argument.", arg);
                                else
                                        log_error("Unknown option '%s'; see 'granary --help'.", arg);
                                return 1;
                        }
                }

        if (optind >= argc) {
                log_error("Missing command; see 'granary --help'.");
                return 1;
        }
        if (streq(argv[optind], "help")) {
                help();
                return 0;
        }

        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(argv[optind], commands[i].name)) {
                        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                                log_error("Failed to initialize libcurl.");
                                return 1;
                        }
                        r = commands[i].run(argc - optind, argv + optind);
                        curl_global_cleanup();
                        return r;
                }

        log_error("Unknown command '%s'; see 'granary --help'.", argv[optind]);
        return 1;
}
