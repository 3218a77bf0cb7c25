/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Where a message goes is decided once, at the first message that is not filtered out: the journal
 * if log_open_journal() was called or if stderr is the journal's stream (JOURNAL_STREAM names the
 * device and inode of our fd 2), and journald's socket (or the one log_set_journal_socket() names)
 * exists; stderr otherwise. When the journal refuses a message, it goes to stderr instead, so nothing
 * is lost silently.
 */

#include <errno.h>
#include <printf.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <wchar.h>

/* Our callers' CODE_FILE= and friends, not this file's. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"

/* Messages that fit are formatted without touching the heap. */
#define LOG_STACK_BUFFER 1024
/* log_struct() fields beyond this many arguments per format are refused. */
#define LOG_FORMAT_ARGS_MAX 64
/* journald's own socket, the only one sd_journal_sendv() talks to. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int log_max_level = -1; /* -1: not decided yet; GRANARY_LOG_LEVEL or LOG_INFO */
static const char *log_program;
static bool log_journal_requested;
static int log_target_journal = -1; /* -1: not decided yet */
static const char *log_journal_socket; /* NULL: JOURNAL_SOCKET */

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "err",         [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
        };

        if (!s)
                return -EINVAL;
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return i;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

void log_set_max_level(int level) {
        assert(level >= 0 && level <= LOG_DEBUG);
        log_max_level = level;
}

int log_get_max_level(void) {
        if (_unlikely_(log_max_level < 0)) {
                int l = log_level_from_string(getenv("GRANARY_LOG_LEVEL"));

                log_max_level = l >= 0 ? l : LOG_INFO;
        }
        return log_max_level;
}

void log_set_program(const char *name) {
        log_program = name;
}

void log_open_journal(void) {
        log_journal_requested = true;
        log_target_journal = -1;
}

void log_set_journal_socket(const char *path) {
        log_journal_socket = path;
        log_target_journal = -1;
}

static const char *program_name(void) {
        return log_program ?: program_invocation_short_name;
}

/* JOURNAL_STREAM="<dev>:<inode>" is set by systemd when stdout or stderr is connected to the journal. */
static bool stderr_is_journal(void) {
        unsigned long long dev, ino;
        const char *e;
        char *end;
        struct stat st;

        e = getenv("JOURNAL_STREAM");
        if (!e || !(e[0] >= '0' && e[0] <= '9'))
                return false;
        errno = 0;
        dev = strtoull(e, &end, 10);
        if (errno != 0 || *end != ':' || !(end[1] >= '0' && end[1] <= '9'))
                return false;
        ino = strtoull(end + 1, &end, 10);
        if (errno != 0 || *end != '\0')
                return false;

        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

/* sd_journal_sendv() reports success when journald's socket does not exist at all. */
static bool journal_socket_exists(void) {
        return access(log_journal_socket ?: JOURNAL_SOCKET, F_OK) >= 0;
}

static bool use_journal(void) {
        if (log_target_journal < 0)
                log_target_journal = (log_journal_requested || stderr_is_journal()) &&
                                     journal_socket_exists();
        return log_target_journal;
}

static void log_to_stderr(const char *message) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        const char *prog = program_name();

        if (strbuf_printf(&b, "%s%s%s\n", prog ?: "", prog ? ": " : "", message) >= 0)
                (void) loop_write(STDERR_FILENO, b.data, b.len);
        else {
                /* Out of memory: still say something. */
                (void) loop_write(STDERR_FILENO, message, strlen(message));
                (void) loop_write(STDERR_FILENO, "\n", 1);
        }
}

/* journald's native protocol, as sd_journal_sendv() writes it: "FIELD=value\n" per field, or, when the
 * value holds a newline, "FIELD\n", the value's size as 64-bit little endian, the value and "\n". Like
 * sd_journal_sendv(), refuses a field without a name before its '='. */
static int journal_format_native(const struct iovec *iov, size_t n, StrBuf *out) {
        for (size_t i = 0; i < n; i++) {
                const char *field = iov[i].iov_base, *eq, *nl;
                size_t len = iov[i].iov_len;
                int r;

                eq = memchr(field, '=', len);
                if (!eq || eq == field)
                        return -EINVAL;
                nl = memchr(field, '\n', len);
                if (nl && nl < eq)
                        return -EINVAL;
                if (nl) {
                        size_t name = (size_t) (eq - field), value = len - name - 1;
                        uint8_t size[8];

                        unaligned_write_le64(size, value);
                        r = strbuf_append(out, field, name);
                        if (r >= 0)
                                r = strbuf_append_char(out, '\n');
                        if (r >= 0)
                                r = strbuf_append(out, size, sizeof(size));
                        if (r >= 0)
                                r = strbuf_append(out, eq + 1, value);
                } else
                        r = strbuf_append(out, field, len);
                if (r >= 0)
                        r = strbuf_append_char(out, '\n');
                if (r < 0)
                        return r;
        }
        return 0;
}

/* What sd_journal_sendv() does, for another socket than journald's. Unlike it, a missing socket is an
 * error (-ENOENT), and a message too big for one datagram is not passed in a memfd but refused. */
static int journal_send_native(const char *path, const struct iovec *iov, size_t n) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t l = strlen(path);
        int r;

        if (l >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, l);

        r = journal_format_native(iov, n, &b);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (sendto(fd, b.data, b.len, MSG_NOSIGNAL, (const struct sockaddr *) &sa,
                   (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l + 1)) < 0)
                return negative_errno();
        return 0;
}

/* Sends message, with the standard fields and the extra "FIELD=value" ones, to the journal; stderr
 * when that fails. */
static void log_dispatch(int level, int error, const char *file, int line, const char *func,
                         const char *message, char *const *extra) {
        _cleanup_free_ struct iovec *iov = NULL;
        _cleanup_free_ char *m = NULL, *f = NULL, *fn = NULL, *id = NULL;
        char prio[STRLEN("PRIORITY=") + 12], lin[STRLEN("CODE_LINE=") + 12], err[STRLEN("ERRNO=") + 12];
        size_t n = 0, n_extra;
        const char *prog;
        int r;

        if (!use_journal())
                return log_to_stderr(message);

        n_extra = strv_length(extra);
        iov = calloc(7 + n_extra, sizeof(struct iovec));
        m = strjoin("MESSAGE=", message);
        f = strjoin("CODE_FILE=", file ?: "");
        fn = strjoin("CODE_FUNC=", func ?: "");
        prog = program_name();
        if (prog)
                id = strjoin("SYSLOG_IDENTIFIER=", prog);
        if (!iov || !m || !f || !fn || (prog && !id))
                return log_to_stderr(message);

        (void) snprintf(prio, sizeof(prio), "PRIORITY=%i", LOG_PRI(level));
        (void) snprintf(lin, sizeof(lin), "CODE_LINE=%i", line);
        (void) snprintf(err, sizeof(err), "ERRNO=%i", error);

        iov[n++] = (struct iovec){ m, strlen(m) };
        iov[n++] = (struct iovec){ prio, strlen(prio) };
        iov[n++] = (struct iovec){ f, strlen(f) };
        iov[n++] = (struct iovec){ lin, strlen(lin) };
        iov[n++] = (struct iovec){ fn, strlen(fn) };
        if (error != 0)
                iov[n++] = (struct iovec){ err, strlen(err) };
        if (id)
                iov[n++] = (struct iovec){ id, strlen(id) };
        STRV_FOREACH(x, extra)
                iov[n++] = (struct iovec){ *x, strlen(*x) };

        r = log_journal_socket ? journal_send_native(log_journal_socket, iov, n)
                               : sd_journal_sendv(iov, (int) n);
        if (r < 0)
                log_to_stderr(message);
}

/* Formats into stack (when it fits) or into *ret_heap; the result is never NULL. On OOM, truncates. */
_printf_(3, 0) static const char *format_message(char stack[static LOG_STACK_BUFFER], char **ret_heap,
                                                 const char *fmt, va_list ap) {
        va_list aq;
        int k;

        *ret_heap = NULL;
        va_copy(aq, ap);
        k = vsnprintf(stack, LOG_STACK_BUFFER, fmt, aq);
        va_end(aq);
        if (k < 0)
                return "(unformattable message)";
        if (k < LOG_STACK_BUFFER)
                return stack;
        va_copy(aq, ap);
        if (vasprintf(ret_heap, fmt, aq) < 0)
                *ret_heap = NULL;
        va_end(aq);
        return *ret_heap ?: stack;
}

int log_internalv(int level, int error, const char *file, int line, const char *func, const char *fmt,
                  va_list ap) {
        _cleanup_free_ char *heap = NULL;
        char stack[LOG_STACK_BUFFER];
        const char *message;
        int saved_errno = errno;

        error = abs(error);
        if (LOG_PRI(level) > log_get_max_level())
                return -error;

        /* glibc expands %m from errno. */
        errno = error;
        message = format_message(stack, &heap, fmt, ap);
        log_dispatch(level, error, file, line, func, message, NULL);

        errno = saved_errno;
        return -error;
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_internalv(level, error, file, line, func, fmt, ap);
        va_end(ap);
        return r;
}

/* Steps *ap over the arguments fmt consumes, so that the next va_arg() gives what follows them. */
static int va_skip_format_args(const char *fmt, va_list *ap) {
        int types[LOG_FORMAT_ARGS_MAX];
        size_t n;

        n = parse_printf_format(fmt, ELEMENTSOF(types), types);
        if (n > ELEMENTSOF(types))
                return -E2BIG;

        for (size_t i = 0; i < n; i++) {
                if (types[i] & PA_FLAG_PTR) {
                        (void) va_arg(*ap, void *);
                        continue;
                }
                switch (types[i] & ~PA_FLAG_MASK) {
                case PA_INT:
                        if (types[i] & PA_FLAG_LONG_LONG)
                                (void) va_arg(*ap, long long);
                        else if (types[i] & PA_FLAG_LONG)
                                (void) va_arg(*ap, long);
                        else
                                (void) va_arg(*ap, int);
                        break;
                case PA_CHAR:
                        (void) va_arg(*ap, int);
                        break;
                case PA_WCHAR:
                        (void) va_arg(*ap, wint_t);
                        break;
                case PA_STRING:
                case PA_WSTRING:
                case PA_POINTER:
                        (void) va_arg(*ap, void *);
                        break;
                case PA_FLOAT:
                case PA_DOUBLE:
                        if (types[i] & PA_FLAG_LONG_DOUBLE)
                                (void) va_arg(*ap, long double);
                        else
                                (void) va_arg(*ap, double);
                        break;
                default:
                        return -EINVAL;
                }
        }
        return 0;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *format, ...) {
        _cleanup_strv_free_ char **fields = NULL;
        _cleanup_free_ char *heap = NULL;
        char stack[LOG_STACK_BUFFER];
        const char *message;
        int saved_errno = errno;
        va_list ap, aq;

        assert(format);

        error = abs(error);
        if (LOG_PRI(level) > log_get_max_level())
                return -error;

        va_start(ap, format);

        errno = error;
        va_copy(aq, ap);
        message = format_message(stack, &heap, format, aq);
        va_end(aq);

        if (va_skip_format_args(format, &ap) >= 0)
                for (const char *field = va_arg(ap, const char *); field; field = va_arg(ap, const char *)) {
                        char *s = NULL;

                        errno = error;
                        va_copy(aq, ap);
                        if (vasprintf(&s, field, aq) < 0)
                                s = NULL;
                        va_end(aq);
                        if (strv_consume(&fields, s) < 0)
                                break;
                        if (va_skip_format_args(field, &ap) < 0)
                                break;
                }
        va_end(ap);

        log_dispatch(level, error, file, line, func, message, fields);

        errno = saved_errno;
        return -error;
}
#pragma GCC diagnostic pop
