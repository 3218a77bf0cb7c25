#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Clients for granary-grain's tests, talking to the bridge (or its notify socket) on this machine only.

  client.py freeport                       print a free TCP port on 127.0.0.1
  client.py half PORT BYTES                send "HALF", BYTES bytes, half-close; check app.py's answer
  client.py hold PORT SECONDS              keep a "HOLD" connection open, echoing a line every 0.2 s
  client.py sizes PORT SIZE...             on one "HOLD" connection, echo a line of each SIZE bytes in turn
  client.py idle PORT N OUT                open N "HOLD" connections, echo a line on each, touch OUT, keep
                                           them open until stdin closes, then echo a line on each again
  client.py notify ADDRESS OUT SECONDS     receive sd_notify datagrams on ADDRESS (a path or @abstract)
                                           into OUT until one says READY=1; touch OUT.bound once bound
  client.py handover-get SOCKET PORT PATH  on the Unix SOCKET, ask for the hand-over as granaryd does; check
                                           what comes back (one NUL byte with one TCP socket connected to
                                           127.0.0.1:PORT); GET PATH on that socket and print the body
  client.py handover-hold SOCKET PORT SECONDS  a hand-over, then "HOLD" on the app's socket, echoing a line
                                           every 0.2 s for SECONDS with the lease open; then close both
"""

import hashlib
import os
import socket
import sys
import time


def freeport():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def half(port, nbytes):
    data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(nbytes))
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"HALF\n" + data)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    want = b"%d %s\n" % (nbytes, hashlib.sha256(data).hexdigest().encode())
    if reply != want:
        print("got %r, want %r" % (reply, want))
        sys.exit(1)


def hold(port, seconds):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"HOLD\n")
    end = time.monotonic() + seconds
    i = 0
    buf = b""
    while time.monotonic() < end:
        line = b"tick %d\n" % i
        s.sendall(line)
        while b"\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                print("connection closed after %d ticks" % i)
                sys.exit(1)
            buf += chunk
        got, _, buf = buf.partition(b"\n")
        if got + b"\n" != b"echo " + line:
            print("got %r for %r" % (got, line))
            sys.exit(1)
        i += 1
        time.sleep(0.2)
    s.close()


def echo_line(s, line, buf):
    """Sends line (ending in a newline) and checks that "echo " + line comes back; returns what is left."""
    s.sendall(line)
    want = b"echo " + line
    while len(buf) < len(want):
        chunk = s.recv(65536)
        if not chunk:
            print("connection closed after %d of %d bytes" % (len(buf), len(want)))
            sys.exit(1)
        buf += chunk
    if buf[:len(want)] != want:
        print("a %d-byte line came back altered" % len(line))
        sys.exit(1)
    return buf[len(want):]


def sizes(port, lengths):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"HOLD\n")
    buf = b""
    for i, n in enumerate(lengths):
        body = bytes(97 + (i + j) % 26 for j in range(n - 1)) + b"\n"
        buf = echo_line(s, body, buf)
    s.close()


def idle(port, n, out):
    conns = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"HOLD\n")
        echo_line(s, b"first %d\n" % i, b"")
        conns.append(s)
    open(out, "w").close()
    sys.stdin.read()
    for i, s in enumerate(conns):
        echo_line(s, b"again %d\n" % i, b"")
        s.close()


def handover(path, port):
    """Returns (lease, app): the Unix connection, kept open, and the TCP socket the bridge handed over."""
    lease = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lease.settimeout(30)
    lease.connect(path)
    lease.sendall(b"\0")
    msg, fds, flags, _ = socket.recv_fds(lease, 16, 8)
    if msg != b"\0" or len(fds) != 1 or flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC):
        print("hand-over: got %r with %d descriptors, flags %#x" % (msg, len(fds), flags))
        sys.exit(1)
    app = socket.socket(fileno=fds[0])
    app.settimeout(30)
    peer = app.getpeername()
    if app.family != socket.AF_INET or app.type != socket.SOCK_STREAM or peer != ("127.0.0.1", port):
        print("hand-over: a socket of family %s, type %s, connected to %r" % (app.family, app.type, peer))
        sys.exit(1)
    return lease, app


def handover_get(path, port, target):
    lease, app = handover(path, port)
    app.sendall(b"GET %s HTTP/1.1\r\nHost: grain\r\n\r\n" % target.encode())
    reply = b""
    while True:
        chunk = app.recv(65536)
        if not chunk:
            break
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        print("got %r" % reply[:200])
        sys.exit(1)
    sys.stdout.buffer.write(body)
    app.close()
    lease.close()


def handover_hold(path, port, seconds):
    lease, app = handover(path, port)
    app.sendall(b"HOLD\n")
    end = time.monotonic() + seconds
    buf = b""
    i = 0
    while time.monotonic() < end:
        buf = echo_line(app, b"tick %d\n" % i, buf)
        i += 1
        time.sleep(0.2)
    app.close()
    lease.close()


def notify(address, out, seconds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + address[1:] if address.startswith("@") else address)
    open(out + ".bound", "w").close()
    s.settimeout(seconds)
    with open(out, "w") as f:
        while True:
            try:
                msg = s.recv(4096).decode()
            except socket.timeout:
                sys.exit(1)
            f.write(msg + "\n--\n")
            f.flush()
            if "READY=1" in msg.split("\n"):
                return


def main():
    cmd = sys.argv[1]
    if cmd == "freeport":
        freeport()
    elif cmd == "half":
        half(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "hold":
        hold(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "sizes":
        sizes(int(sys.argv[2]), [int(a) for a in sys.argv[3:]])
    elif cmd == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif cmd == "handover-get":
        handover_get(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "handover-hold":
        handover_hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "notify":
        notify(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
