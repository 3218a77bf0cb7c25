#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small app for granary-grain's tests, listening on 127.0.0.1:PORT like a grain's app.

A connection whose first line is "HALF" is read to EOF and answered with "<bytes> <sha256>\n" (so the
answer comes only if the client's half-close reached the app); "HOLD" echoes lines until EOF (a
long-lived connection, like a WebSocket). Anything else is an HTTP/1.1 request:

  GET /hello        "hello\n" with an X-App header       GET /env      the app's environment
  GET /file         the file given by --file              GET /pid      the app's pid
  POST /sha256      the body's sha256                      POST /echo    the body, streamed back
  GET /exit/N       answers, then exits with status N      GET /kill/N   answers, then raises signal N
  GET /peer         "<address> <port>\n" of the connection's other end
"""

import argparse
import hashlib
import os
import signal
import socket
import sys
import threading
import time


def respond(conn, status, body, extra=b""):
    head = b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n" % (
        status, len(body), extra)
    conn.sendall(head + body)


def read_line(conn, buf):
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line, rest


def serve_half(conn, rest):
    h = hashlib.sha256(rest)
    n = len(rest)
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    conn.sendall(b"%d %s\n" % (n, h.hexdigest().encode()))


def serve_hold(conn, rest):
    buf = rest
    while True:
        line, buf = read_line(conn, buf)
        if line is None:
            return
        conn.sendall(b"echo " + line + b"\n")


def serve_http(conn, first, rest, args):
    buf = rest
    headers = {}
    while True:
        line, buf = read_line(conn, buf)
        if line is None:
            return
        line = line.rstrip(b"\r")
        if not line:
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    method, path, _ = first.rstrip(b"\r").split(b" ", 2)
    length = int(headers.get(b"content-length", b"0"))

    def body_chunks():
        nonlocal buf
        left = length
        if buf:
            take = buf[:left]
            buf = buf[left:]
            left -= len(take)
            yield take
        while left > 0:
            chunk = conn.recv(min(65536, left))
            if not chunk:
                raise ConnectionError("short body")
            left -= len(chunk)
            yield chunk

    if method == b"GET" and path == b"/hello":
        respond(conn, b"200 OK", b"hello\n", b"X-App: granary-test\r\n")
    elif method == b"GET" and path == b"/env":
        body = "".join("%s=%s\n" % kv for kv in sorted(os.environ.items())).encode()
        respond(conn, b"200 OK", body)
    elif method == b"GET" and path == b"/peer":
        host, port = conn.getpeername()[:2]
        respond(conn, b"200 OK", b"%s %d\n" % (host.encode(), port))
    elif method == b"GET" and path == b"/pid":
        respond(conn, b"200 OK", b"%d\n" % os.getpid())
    elif method == b"GET" and path == b"/file":
        size = os.path.getsize(args.file)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % size)
        with open(args.file, "rb") as f:
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                conn.sendall(chunk)
    elif method == b"POST" and path == b"/sha256":
        h = hashlib.sha256()
        for chunk in body_chunks():
            h.update(chunk)
        respond(conn, b"200 OK", h.hexdigest().encode() + b"\n")
    elif method == b"POST" and path == b"/echo":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % length)
        for chunk in body_chunks():
            conn.sendall(chunk)
    elif method == b"GET" and path.startswith(b"/exit/"):
        respond(conn, b"200 OK", b"bye\n")
        conn.close()
        sys.stdout.flush()
        os._exit(int(path[6:]))
    elif method == b"GET" and path.startswith(b"/kill/"):
        respond(conn, b"200 OK", b"bye\n")
        conn.close()
        os.kill(os.getpid(), int(path[6:]))
        time.sleep(10)
    else:
        respond(conn, b"404 Not Found", b"no such thing\n")


def handle(conn, args):
    try:
        first, rest = read_line(conn, b"")
        if first is None:
            return
        if first == b"HALF":
            serve_half(conn, rest)
        elif first == b"HOLD":
            serve_hold(conn, rest)
        else:
            serve_http(conn, first, rest, args)
    except (ConnectionError, OSError) as e:
        print("app: connection error: %s" % e, file=sys.stderr, flush=True)
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--file")
    p.add_argument("--ignore-term", action="store_true")
    args = p.parse_args()

    # What the bridge left open for us: fd 3 was its listening socket.
    try:
        os.fstat(3)
        print("app: fd 3 is open", file=sys.stderr, flush=True)
    except OSError:
        print("app: fd 3 is closed", file=sys.stderr, flush=True)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    print("app: starting on stdout", flush=True)
    time.sleep(args.delay)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", args.port))
    s.listen(128)
    print("app: listening on stderr", file=sys.stderr, flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
