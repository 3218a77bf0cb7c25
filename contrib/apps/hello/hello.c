/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hello — the smallest granary app: an HTTP/1.1 server on 127.0.0.1:PORT (argv[1], default 8000)
 * that answers every request with one small HTML page and closes the connection.
 *
 * It is linked statically so the package needs nothing from the host: the grain's root is the
 * package alone. It serves one connection at a time, each with a read deadline, which is plenty
 * behind the platform's bridge. SIGTERM (what stopping a grain sends) and SIGINT end it with
 * status 0.
 */

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HELLO_DEFAULT_PORT 8000
#define HELLO_REQUEST_MAX 8192          /* request head bytes read before answering anyway */
#define HELLO_READ_TIMEOUT_SEC 5

static const char page[] =
        "<!DOCTYPE html>\n"
        "<html lang=\"en\">\n"
        "<head><meta charset=\"utf-8\"><title>Hello</title></head>\n"
        "<body><h1>Hello from granary!</h1>\n"
        "<p>This grain is running the example app <code>hello</code>.</p></body>\n"
        "</html>\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

static int parse_port(const char *s, int *ret_port) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
                return -EINVAL;
        *ret_port = (int) v;
        return 0;
}

static int listen_on(int port) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t) port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int fd, one = 1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int send_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR && !stop)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Reads until the end of the request head (or the limit, EOF, or the deadline). Returns whether
 * the method was HEAD, which gets the headers without the body. */
static bool read_request_head(int fd) {
        char buf[HELLO_REQUEST_MAX];
        size_t n = 0;

        while (n < sizeof(buf)) {
                ssize_t k = recv(fd, buf + n, sizeof(buf) - n, 0);
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (memmem(buf, n, "\r\n\r\n", 4) || memmem(buf, n, "\n\n", 2))
                        break;
        }
        return n >= 5 && memcmp(buf, "HEAD ", 5) == 0;
}

static void serve(int fd) {
        struct timeval tv = { .tv_sec = HELLO_READ_TIMEOUT_SEC };
        char head[256];
        bool is_head;
        int n;

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        is_head = read_request_head(fd);
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "\r\n",
                     sizeof(page) - 1);
        if (send_all(fd, head, (size_t) n) == 0 && !is_head)
                (void) send_all(fd, page, sizeof(page) - 1);
        (void) shutdown(fd, SHUT_WR);
}

int main(int argc, char *argv[]) {
        struct sigaction sa = { .sa_handler = on_signal };  /* no SA_RESTART: accept() must return */
        int port = HELLO_DEFAULT_PORT, lfd;

        if (argc > 2 || (argc == 2 && parse_port(argv[1], &port) < 0)) {
                fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
                return 2;
        }

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
                fprintf(stderr, "hello: sigaction: %s\n", strerror(errno));
                return 1;
        }

        lfd = listen_on(port);
        if (lfd < 0) {
                fprintf(stderr, "hello: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-lfd));
                return 1;
        }
        fprintf(stderr, "hello: listening on 127.0.0.1:%d\n", port);

        while (!stop) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                                continue;
                        fprintf(stderr, "hello: accept: %s\n", strerror(errno));
                        close(lfd);
                        return 1;
                }
                serve(fd);
                close(fd);
        }

        close(lfd);
        fprintf(stderr, "hello: stopping\n");
        return 0;
}
