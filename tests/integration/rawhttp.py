#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A raw HTTP client for the integration tests: it sends exactly the bytes it is given, over plain TCP or
# TLS, and reports what the server did with them, one "key=value" line each, so that a shell script can
# assert exact statuses and whether the connection was closed. Nothing here repairs a request: that is
# the point. The modes:
#
#   rawhttp.py [OPTIONS] h1 [--responses N] [--trickle SEC] [--no-body] DATA...
#       Sends each DATA in turn, then reads until the server closes the connection, N responses are in
#       (and --after seconds pass without a close), or --timeout seconds pass. DATA is text with the
#       escapes \r \n \t \0 \\ \xHH, or one of
#           @sleep=SEC          pause
#           @file=PATH          the bytes of a file
#           @repeat=N:TEXT      TEXT (with escapes) N times
#           @shut               shut down our sending side (a half-close: FIN; over TLS without
#                               close_notify)
#       --trickle SEC sends one byte every SEC seconds (slowloris), stopping when the server closes.
#       --no-read SEC reads nothing for SEC seconds after sending (a client that never reads), then reads.
#       --no-body: the responses have no body whatever their fields say (answers to HEAD).
#       Reports:
#           status=400              the first response's status ("none" if no response came)
#           statuses=200 200        every complete response, in order
#           closed=yes|no           the server closed (FIN or RST) before we stopped watching
#           reset=yes|no            the close was a RST
#           elapsed=1.234           seconds from connect to the close (or to giving up)
#           first_byte=0.003        seconds from connect to the first byte received ("none")
#           sent=123                bytes the server accepted before it closed
#           received=456            bytes received in all
#           head_clean=yes|no       every response head had CRLF line ends, no bare CR or LF, no NUL or
#                                   other control character but HTAB, and a well-formed status line
#           truncated=yes|no        the last response's body ended before its Content-Length
#           leftover=N              bytes after the last complete response that start none
#           alpn=h2|http/1.1|none   what ALPN chose (TLS)
#           body_len=N              bytes of the first response's body
#           tunnel_len=N            after a 101: the bytes that followed its head (the new protocol's)
#           tunnel=TEXT             those bytes (the first 1000), printable ASCII as is, others as \xHH
#           h.NAME=VALUE            the first response's fields (NAME lowercased; repeated NAMEs repeated)
#       --out FILE gets every byte received, --body-out FILE the first response's body.
#
#   rawhttp.py [OPTIONS] h2 [--responses N] STEP...
#       Speaks HTTP/2 by hand (prior knowledge on a plain port, or ALPN h2 with --tls): sends the client
#       preface and a SETTINGS frame (SETTINGS_HEADER_TABLE_SIZE 0, ENABLE_PUSH 0) unless --no-preface,
#       then the STEPs, each a JSON array:
#           ["get", PATH, AUTHORITY]                      a valid GET on the next stream id
#           ["gets", COUNT, PATH, AUTHORITY]              COUNT of those in one write
#           ["headers", SID, FLAGS, [[NAME, VALUE], ...]] a HEADERS frame; every field is a literal without
#                                                         indexing, names and values sent as given
#           ["headers_raw", SID, FLAGS, HEX]              a HEADERS frame with this header block
#           ["continuation", SID, FLAGS, HEX]
#           ["data", SID, FLAGS, TEXT]
#           ["rst", SID, CODE]
#           ["settings", [[ID, VALUE], ...]]
#           ["settings_flood", COUNT]                     COUNT empty SETTINGS frames in one write
#           ["ping", COUNT]                               COUNT PINGs in one write
#           ["window_update", SID, INCREMENT]
#           ["rapid_reset", COUNT, AUTHORITY]             COUNT × (GET + RST_STREAM CANCEL), one write
#           ["continuation_flood", COUNT, AUTHORITY]      a GET's HEADERS without END_HEADERS, then COUNT
#                                                         CONTINUATIONs of one harmless field each
#           ["hpack_bomb", SIZE, COUNT, AUTHORITY]        a field of SIZE bytes added to the dynamic table,
#                                                         then referenced COUNT times in the same block
#           ["sleep", SEC]
#       FLAGS is a number or a '|'-list of END_STREAM, END_HEADERS, PADDED, PRIORITY. Frames are read
#       until the server closes, GOAWAY arrives, every stream opened got its end (END_STREAM or
#       RST_STREAM) and --after seconds pass, N streams answered (--responses), or --timeout.
#       Reports closed=, elapsed=, alpn=, goaway=CODE_NAME|none, goaway_last=SID, settings.ID=VALUE (the
#       server's first SETTINGS, each value as first given), streams=ID ID…, and per stream
#       sID.status=, sID.rst=CODE_NAME, sID.end=yes|no, sID.data_len=N, sID.data=TEXT (as tunnel= above),
#       sID.h.NAME=VALUE. An extended CONNECT (RFC 8441) is a "headers" step with :protocol and no
#       END_STREAM, then "data" steps; the server's SETTINGS_ENABLE_CONNECT_PROTOCOL is settings.8. Only the
#       Huffman codes of digits are known here (statuses and lengths are numbers): other Huffman-coded
#       values read "?", and fields whose name is Huffman-coded are left out.
#
#   rawhttp.py --port 0 batch --dir DIR COUNT
#       Runs COUNT cases at the same time, case N's arguments (common options included) NUL-terminated in
#       DIR/N.args, its report written to DIR/N.
#
#   rawhttp.py [OPTIONS] idle --count N [--request DATA] [--hold SEC] [--ready-file FILE]
#       Opens N connections at once (each sends DATA, default a GET / for --host-header, and reads its
#       answer), reports opened=, answered=, refused=, closed_early=, writes FILE when they are all
#       answered, and holds them for SEC seconds (default: until SIGTERM/SIGINT or --stop-file exists),
#       then reports still_open=.
#
# Common options: --port P (required), --addr A (127.0.0.1), --source A (bind to this local address),
# --tls, --sni NAME (no SNI unless given), --alpn LIST, --tls-max 1.2|1.3, --timeout SEC (5), --after SEC
# (0.3), --rcvbuf BYTES, --host-header NAME (for the built-in requests).

import argparse
import errno
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time

# ------------------------------------------------------------------------------------------------
# Plumbing


def decode_escapes(text):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out += c.encode("utf-8")
            i += 1
            continue
        n = text[i + 1]
        if n == "r":
            out += b"\r"
        elif n == "n":
            out += b"\n"
        elif n == "t":
            out += b"\t"
        elif n == "0":
            out += b"\0"
        elif n == "\\":
            out += b"\\"
        elif n == "x" and i + 3 < len(text) + 1 and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        else:
            out += b"\\" + n.encode("utf-8")
        i += 2
    return bytes(out)


def parse_data(args):
    """The DATA arguments as a list of bytes chunks and ("sleep", sec) pauses."""
    parts = []
    for a in args:
        if a.startswith("@sleep="):
            parts.append(("sleep", float(a[len("@sleep="):])))
        elif a.startswith("@file="):
            with open(a[len("@file="):], "rb") as f:
                parts.append(f.read())
        elif a.startswith("@repeat="):
            count, _, text = a[len("@repeat="):].partition(":")
            parts.append(decode_escapes(text) * int(count))
        elif a == "@shut":
            parts.append(("shut",))
        else:
            parts.append(decode_escapes(a))
    return parts


class Conn:
    """One client connection, plain or TLS, with non-blocking reads and blocking writes."""

    def __init__(self, opts):
        self.opts = opts
        self.t0 = time.monotonic()
        family = socket.AF_INET6 if ":" in opts.addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        if opts.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts.rcvbuf)
        if opts.source:
            s.bind((opts.source, 0))
        s.settimeout(opts.timeout)
        s.connect((opts.addr, opts.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.raw = s
        self.sock = s
        self.eof = False
        self.reset = False
        if opts.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if opts.tls_max:
                ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[opts.tls_max]
            if opts.alpn:
                ctx.set_alpn_protocols(opts.alpn.split(","))
            self.sock = ctx.wrap_socket(s, server_hostname=opts.sni or None, do_handshake_on_connect=False)
            self.sock.do_handshake()
            self.raw = self.sock  # wrap_socket() took the descriptor over
        self.sock.setblocking(False)

    def now(self):
        return time.monotonic() - self.t0

    def alpn(self):
        if isinstance(self.sock, ssl.SSLSocket):
            return self.sock.selected_alpn_protocol()
        return None

    def send(self, data):
        """Sends all of data; returns the number of bytes the server took (fewer if it closed)."""
        sent = 0
        while sent < len(data):
            try:
                k = self.sock.send(data[sent:sent + 65536])
                sent += k
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                select.select([], [self.raw], [], 1.0)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
                self.eof = True
                if isinstance(e, ConnectionResetError):
                    self.reset = True
                break
            except ssl.SSLError:
                self.eof = True
                break
        return sent

    def pending(self):
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def recv(self, wait):
        """Bytes available within wait seconds: b"" if none came, None at EOF (or after a reset)."""
        if self.eof:
            return None
        if not self.pending():
            r, _, _ = select.select([self.raw], [], [], max(wait, 0))
            if not r:
                return b""
        try:
            d = self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return b""
        except ConnectionResetError:
            self.eof = self.reset = True
            return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.eof = True
            return None
        except ssl.SSLError:
            self.eof = True
            return None
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                self.eof = self.reset = True
                return None
            raise
        if not d:
            self.eof = True
            return None
        return d


    def shut(self):
        """Half-closes: the server reads EOF, and we can still read."""
        try:
            self.raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def printable(data, limit=1000):
    """Bytes as one report value: printable ASCII as is, anything else (and backslash) as \\xHH."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else "\\x%02x" % b for b in data[:limit])


OUT = threading.local()  # where emit() writes: a file per case in batch mode, stdout otherwise


def emit(key, value):
    getattr(OUT, "file", sys.stdout).write("%s=%s\n" % (key, value))


# ------------------------------------------------------------------------------------------------
# HTTP/1.1


class H1Responses:
    """Splits what a server sent into responses, and checks each head strictly."""

    def __init__(self, no_body):
        self.buf = b""
        self.no_body = no_body
        self.responses = []  # (status, [(name, value)], body)
        self.head_clean = True
        self.truncated = False
        self.cur = None  # (status, fields, body_remaining or -1 for "until close", chunked state)
        self.tunnel = None  # after a 101: every byte that follows its head

    def feed(self, data):
        if self.tunnel is not None:
            self.tunnel += data
            return
        self.buf += data
        while self.step():
            pass

    def step(self):
        if self.tunnel is not None:
            return False
        if self.cur is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = self.buf[:end + 2]
            self.buf = self.buf[end + 4:]
            lines = head.split(b"\r\n")[:-1]
            for line in lines:
                if b"\r" in line or b"\n" in line or any((b < 32 and b != 9) or b == 127 for b in line):
                    self.head_clean = False
            m = re.fullmatch(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) [\x20-\x7e]*", lines[0]) if lines else None
            if not m:
                self.head_clean = False
                status = 0
            else:
                status = int(m.group(1))
            fields = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not re.fullmatch(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                    self.head_clean = False
                fields.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
            length = -1
            chunked = False
            for n, v in fields:
                if n == "content-length":
                    length = int(v) if v.isdigit() else -1
                if n == "transfer-encoding" and v.lower() == "chunked":
                    chunked = True
            if self.no_body or status in (204, 304) or 100 <= status < 200:
                length, chunked = 0, False
            self.cur = [status, fields, bytearray(), length, chunked]
            if status == 101:
                # the connection speaks another protocol from here on
                self.finish()
                self.tunnel, self.buf = bytearray(self.buf), b""
                return False
            if 100 <= status < 200:
                self.cur = None
            return True
        status, fields, body, length, chunked = self.cur
        if chunked:
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(self.buf[:line_end].split(b";")[0], 16)
            if size == 0:
                # the trailer section, possibly empty, ends with an empty line
                end = self.buf.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return False
                self.buf = self.buf[end + 4:]
                return self.finish()
            if len(self.buf) < line_end + 2 + size + 2:
                return False
            body += self.buf[line_end + 2:line_end + 2 + size]
            self.buf = self.buf[line_end + 2 + size + 2:]
            return True
        if length < 0:
            body += self.buf
            self.buf = b""
            return False
        take = min(length - len(body), len(self.buf))
        body += self.buf[:take]
        self.buf = self.buf[take:]
        if len(body) == length:
            return self.finish()
        return False

    def finish(self):
        status, fields, body, _, _ = self.cur
        self.responses.append((status, fields, bytes(body)))
        self.cur = None
        return True

    def at_eof(self):
        if self.cur is not None:
            status, fields, body, length, chunked = self.cur
            if length < 0 and not chunked:
                self.finish()
            else:
                self.truncated = True
                self.responses.append((status, fields, bytes(body)))
                self.cur = None


def run_h1(opts):
    parts = parse_data(opts.data)
    try:
        c = Conn(opts)
    except OSError as e:
        emit("connect", "failed: %s" % e.strerror)
        emit("status", "none")
        emit("closed", "yes")
        return
    parser = H1Responses(opts.no_body)
    received = bytearray()
    first_byte = None
    sent = 0
    closed_at = None

    def take(wait):
        nonlocal first_byte, closed_at
        d = c.recv(wait)
        if d is None:
            if closed_at is None:
                closed_at = c.now()
            return False
        if d:
            if first_byte is None:
                first_byte = c.now()
            received.extend(d)
            parser.feed(d)
        return True

    for p in parts:
        if c.eof:
            break
        if isinstance(p, tuple) and p[0] == "shut":
            c.shut()
            continue
        if isinstance(p, tuple):
            end = time.monotonic() + p[1]
            while time.monotonic() < end and take(end - time.monotonic()):
                pass
            continue
        if opts.trickle:
            for i in range(len(p)):
                k = c.send(p[i:i + 1])
                sent += k
                if not k or not take(opts.trickle):
                    break
        else:
            sent += c.send(p)
            if opts.no_read is None:
                take(0)
    if c.eof and closed_at is None:
        closed_at = c.now()

    if opts.no_read is not None and not c.eof:
        time.sleep(opts.no_read)
    deadline = time.monotonic() + opts.timeout
    settle = None
    while not c.eof and time.monotonic() < deadline:
        if opts.responses and len(parser.responses) >= opts.responses:
            if settle is None:
                settle = time.monotonic() + opts.after
            if time.monotonic() >= settle:
                break
            take(min(settle, deadline) - time.monotonic())
            continue
        take(min(0.5, max(deadline - time.monotonic(), 0)))
    if c.eof:
        parser.at_eof()
        if closed_at is None:
            closed_at = c.now()

    if opts.out:
        with open(opts.out, "wb") as f:
            f.write(received)
    statuses = [r[0] for r in parser.responses]
    emit("status", statuses[0] if statuses else "none")
    emit("statuses", " ".join(str(s) for s in statuses))
    emit("closed", "yes" if c.eof else "no")
    emit("reset", "yes" if c.reset else "no")
    emit("elapsed", "%.3f" % (closed_at if closed_at is not None else c.now()))
    emit("first_byte", "%.3f" % first_byte if first_byte is not None else "none")
    emit("sent", sent)
    emit("received", len(received))
    emit("head_clean", "yes" if parser.head_clean else "no")
    emit("leftover", len(parser.buf))
    emit("truncated", "yes" if parser.truncated else "no")
    emit("alpn", c.alpn() or "none")
    if parser.responses:
        status, fields, body = parser.responses[0]
        emit("body_len", len(body))
        for n, v in fields:
            emit("h." + n, v)
        if opts.body_out:
            with open(opts.body_out, "wb") as f:
                f.write(body)
    else:
        emit("body_len", 0)
    if parser.tunnel is not None:
        emit("tunnel_len", len(parser.tunnel))
        emit("tunnel", printable(parser.tunnel))


# ------------------------------------------------------------------------------------------------
# HTTP/2

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME = {"DATA": 0, "HEADERS": 1, "PRIORITY": 2, "RST_STREAM": 3, "SETTINGS": 4, "PUSH_PROMISE": 5,
         "PING": 6, "GOAWAY": 7, "WINDOW_UPDATE": 8, "CONTINUATION": 9}
FLAG = {"END_STREAM": 0x1, "ACK": 0x1, "END_HEADERS": 0x4, "PADDED": 0x8, "PRIORITY": 0x20}
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
          "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
          "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]


def error_name(code):
    return ERRORS[code] if code < len(ERRORS) else "0x%x" % code


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def flags_of(v):
    if isinstance(v, int):
        return v
    f = 0
    for name in str(v).split("|"):
        if name:
            f |= FLAG[name]
    return f


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(s):
    b = s if isinstance(s, bytes) else s.encode("latin-1")
    return hpack_int(len(b), 7) + b


def hpack_literal(name, value, indexing=False):
    """A literal field with a literal name: without indexing (0x00) or with incremental indexing (0x40)."""
    return (b"\x40" if indexing else b"\x00") + hpack_str(name) + hpack_str(value)


def request_block(tls, path, authority, extra=()):
    fields = [(":method", "GET"), (":scheme", "https" if tls else "http"), (":authority", authority),
              (":path", path)] + list(extra)
    return b"".join(hpack_literal(n, v) for n, v in fields)


# RFC 7541 Appendix A, the static table.
STATIC = [None, (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
          (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
          (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
          (":status", "404"), (":status", "500")] + [(n, "") for n in (
    "accept-charset", "accept-encoding", "accept-language", "accept-ranges", "accept",
    "access-control-allow-origin", "age", "allow", "authorization", "cache-control", "content-disposition",
    "content-encoding", "content-language", "content-length", "content-location", "content-range",
    "content-type", "cookie", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "link",
    "location", "max-forwards", "proxy-authenticate", "proxy-authorization", "range", "referer", "refresh",
    "retry-after", "server", "set-cookie", "strict-transport-security", "transfer-encoding", "user-agent",
    "vary", "via", "www-authenticate")]
STATIC[16] = ("accept-encoding", "gzip, deflate")

# RFC 7541 Appendix B, the codes of the bytes a status or a length is made of (digits), and of nothing else:
# the values this client needs to read are numbers, and other values are reported as "?".
HUFFMAN_DIGITS = {(0x0, 5): "0", (0x1, 5): "1", (0x2, 5): "2", (0x19, 6): "3", (0x1a, 6): "4",
                  (0x1b, 6): "5", (0x1c, 6): "6", (0x1d, 6): "7", (0x1e, 6): "8", (0x1f, 6): "9"}


def huffman_digits(data):
    out, code, bits = [], 0, 0
    for byte in data:
        for i in range(7, -1, -1):
            code = (code << 1) | ((byte >> i) & 1)
            bits += 1
            if (code, bits) in HUFFMAN_DIGITS:
                out.append(HUFFMAN_DIGITS[(code, bits)])
                code, bits = 0, 0
            elif bits > 6 and code != (1 << bits) - 1:
                return None
    if bits > 7 or code != (1 << bits) - 1:
        return None  # padding must be the all-ones prefix of EOS
    return "".join(out)


class HpackDecoder:
    def __init__(self):
        self.dynamic = []  # newest first: (name, value, size)
        self.max_size = 4096

    def get(self, index):
        if index <= 0:
            raise ValueError("index 0")
        if index < len(STATIC):
            return STATIC[index]
        n, v, _ = self.dynamic[index - len(STATIC)]
        return n, v

    def add(self, name, value, raw_len):
        self.dynamic.insert(0, (name, value, raw_len + 32))
        self.evict()

    def evict(self):
        while self.dynamic and sum(e[2] for e in self.dynamic) > self.max_size:
            self.dynamic.pop()

    @staticmethod
    def read_int(data, pos, prefix_bits):
        limit = (1 << prefix_bits) - 1
        v = data[pos] & limit
        pos += 1
        if v < limit:
            return v, pos
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            v += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v, pos

    def read_str(self, data, pos):
        huff = data[pos] & 0x80
        n, pos = self.read_int(data, pos, 7)
        raw = data[pos:pos + n]
        pos += n
        if not huff:
            return raw.decode("latin-1"), n, pos
        s = huffman_digits(raw)
        # the decoded length is what the table counts; a digit is at most 6 bits, so estimate others
        return (s if s is not None else "?"), (len(s) if s is not None else n * 8 // 5), pos

    def decode(self, data):
        fields, pos = [], 0
        while pos < len(data):
            b = data[pos]
            if b & 0x80:
                i, pos = self.read_int(data, pos, 7)
                fields.append(self.get(i))
            elif b & 0x40 or (b & 0xF0) in (0x00, 0x10):
                indexing = bool(b & 0x40)
                i, pos = self.read_int(data, pos, 6 if indexing else 4)
                if i:
                    name = self.get(i)[0]
                    name_len = len(name)
                else:
                    name, name_len, pos = self.read_str(data, pos)
                value, value_len, pos = self.read_str(data, pos)
                if indexing:
                    self.add(name, value, name_len + value_len)
                fields.append((name, value))
            elif (b & 0xE0) == 0x20:
                self.max_size, pos = self.read_int(data, pos, 5)
                self.evict()
            else:
                raise ValueError("bad HPACK byte 0x%02x" % b)
        return fields


class Stream:
    def __init__(self):
        self.status = None
        self.rst = None
        self.end = False
        self.data_len = 0
        self.data = bytearray()
        self.fields = []


def run_h2(opts):
    if opts.tls and not opts.alpn:
        opts.alpn = "h2"
    try:
        c = Conn(opts)
    except OSError as e:
        emit("connect", "failed: %s" % e.strerror)
        emit("closed", "yes")
        return
    if opts.tls and c.alpn() != "h2":
        emit("alpn", c.alpn() or "none")
        emit("closed", "no")
        emit("goaway", "none")
        return
    streams = {}
    next_sid = [1]
    opened = []
    hpack = HpackDecoder()
    inbuf = bytearray()
    block = {"sid": None, "data": bytearray(), "end_stream": False}
    goaway = {"code": None, "last": None}
    server_settings = {}
    closed_at = None

    def new_sid():
        sid = next_sid[0]
        next_sid[0] += 2
        opened.append(sid)
        return sid

    def note_sid(sid):
        if sid not in opened:
            opened.append(sid)
        next_sid[0] = max(next_sid[0], sid + 2)

    def handle(ftype, flags, sid, payload):
        if ftype == FRAME["SETTINGS"] and not flags & 1:
            for i in range(0, len(payload) - 5, 6):
                ident, value = struct.unpack(">HI", payload[i:i + 6])
                server_settings.setdefault(ident, value)
            c.send(frame(FRAME["SETTINGS"], 1, 0))
        elif ftype == FRAME["PING"] and not flags & 1:
            c.send(frame(FRAME["PING"], 1, 0, payload))
        elif ftype == FRAME["GOAWAY"]:
            goaway["last"] = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            goaway["code"] = struct.unpack(">I", payload[4:8])[0]
        elif ftype == FRAME["RST_STREAM"]:
            streams.setdefault(sid, Stream()).rst = struct.unpack(">I", payload[:4])[0]
        elif ftype in (FRAME["HEADERS"], FRAME["CONTINUATION"]):
            if ftype == FRAME["HEADERS"]:
                p = payload
                if flags & FLAG["PADDED"]:
                    p = p[1:len(p) - p[0]]
                if flags & FLAG["PRIORITY"]:
                    p = p[5:]
                block["sid"], block["data"], block["end_stream"] = sid, bytearray(p), bool(flags & 1)
            else:
                block["data"] += payload
            if flags & FLAG["END_HEADERS"]:
                st = streams.setdefault(block["sid"], Stream())
                for n, v in hpack.decode(bytes(block["data"])):
                    st.fields.append((n, v))
                    if n == ":status" and st.status is None:
                        st.status = v
                if block["end_stream"]:
                    st.end = True
        elif ftype == FRAME["DATA"]:
            st = streams.setdefault(sid, Stream())
            p = payload
            if flags & FLAG["PADDED"]:
                p = p[1:len(p) - p[0]]
            st.data_len += len(p)
            st.data += p[:max(0, 1000 - len(st.data))]
            if flags & 1:
                st.end = True
            if payload:
                inc = struct.pack(">I", len(payload))
                c.send(frame(FRAME["WINDOW_UPDATE"], 0, 0, inc) +
                       (frame(FRAME["WINDOW_UPDATE"], 0, sid, inc) if not flags & 1 else b""))

    def pump(wait):
        nonlocal closed_at
        d = c.recv(wait)
        if d is None:
            if closed_at is None:
                closed_at = c.now()
            return False
        inbuf.extend(d)
        while len(inbuf) >= 9:
            length = int.from_bytes(inbuf[:3], "big")
            if len(inbuf) < 9 + length:
                break
            ftype, flags = inbuf[3], inbuf[4]
            sid = int.from_bytes(inbuf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(inbuf[9:9 + length])
            del inbuf[:9 + length]
            handle(ftype, flags, sid, payload)
        return True

    if not opts.no_preface:
        c.send(PREFACE + frame(FRAME["SETTINGS"], 0, 0, struct.pack(">HI", 1, 0) + struct.pack(">HI", 2, 0)))
    for raw in opts.steps:
        step = json.loads(raw)
        kind = step[0]
        out = b""
        if kind == "get":
            sid = new_sid()
            extra = [tuple(f) for f in step[3]] if len(step) > 3 else []
            out = frame(FRAME["HEADERS"], FLAG["END_STREAM"] | FLAG["END_HEADERS"], sid,
                        request_block(opts.tls, step[1], step[2], extra))
        elif kind == "gets":
            for _ in range(step[1]):
                out += frame(FRAME["HEADERS"], FLAG["END_STREAM"] | FLAG["END_HEADERS"], new_sid(),
                             request_block(opts.tls, step[2], step[3]))
        elif kind == "headers":
            sid = step[1]
            note_sid(sid)
            out = frame(FRAME["HEADERS"], flags_of(step[2]), sid,
                        b"".join(hpack_literal(n, v) for n, v in step[3]))
        elif kind == "headers_raw":
            note_sid(step[1])
            out = frame(FRAME["HEADERS"], flags_of(step[2]), step[1], bytes.fromhex(step[3]))
        elif kind == "continuation":
            out = frame(FRAME["CONTINUATION"], flags_of(step[2]), step[1], bytes.fromhex(step[3]))
        elif kind == "data":
            out = frame(FRAME["DATA"], flags_of(step[2]), step[1], step[3].encode("latin-1"))
        elif kind == "rst":
            out = frame(FRAME["RST_STREAM"], 0, step[1], struct.pack(">I", step[2]))
        elif kind == "settings":
            out = frame(FRAME["SETTINGS"], 0, 0, b"".join(struct.pack(">HI", i, v) for i, v in step[1]))
        elif kind == "settings_flood":
            out = frame(FRAME["SETTINGS"], 0, 0) * step[1]
        elif kind == "ping":
            out = b"".join(frame(FRAME["PING"], 0, 0, struct.pack(">Q", i)) for i in range(step[1]))
        elif kind == "window_update":
            out = frame(FRAME["WINDOW_UPDATE"], 0, step[1], struct.pack(">I", step[2]))
        elif kind == "rapid_reset":
            for _ in range(step[1]):
                sid = new_sid()
                out += frame(FRAME["HEADERS"], FLAG["END_HEADERS"], sid, request_block(opts.tls, "/", step[2]))
                out += frame(FRAME["RST_STREAM"], 0, sid, struct.pack(">I", 8))
        elif kind == "continuation_flood":
            sid = new_sid()
            out = frame(FRAME["HEADERS"], FLAG["END_STREAM"], sid, request_block(opts.tls, "/", step[2]))
            for i in range(step[1]):
                last = FLAG["END_HEADERS"] if i == step[1] - 1 else 0
                out += frame(FRAME["CONTINUATION"], last, sid, hpack_literal("x-c%d" % i, "v"))
        elif kind == "hpack_bomb":
            sid = new_sid()
            blk = request_block(opts.tls, "/", step[3]) + hpack_literal("x-bomb", "a" * step[1], indexing=True)
            blk += bytes([0x80 | (len(STATIC))]) * step[2]  # index 62: the newest dynamic entry
            out = frame(FRAME["HEADERS"], FLAG["END_STREAM"] | FLAG["END_HEADERS"], sid, blk)
        elif kind == "sleep":
            end = time.monotonic() + step[1]
            while time.monotonic() < end and pump(end - time.monotonic()):
                pass
            continue
        else:
            raise SystemExit("rawhttp.py: unknown step %r" % kind)
        c.send(out)
        pump(0)

    deadline = time.monotonic() + opts.timeout
    settle = None
    while not c.eof and time.monotonic() < deadline:
        done = [s for s in opened if s in streams and (streams[s].end or streams[s].rst is not None)]
        answered = [s for s in opened if s in streams and streams[s].status is not None and streams[s].end]
        finished = (opts.responses and len(answered) >= opts.responses) or \
            (not opts.responses and opened and len(done) == len(opened))
        if finished:
            if settle is None:
                settle = time.monotonic() + opts.after
            if time.monotonic() >= settle:
                break
        pump(min(0.2, max(deadline - time.monotonic(), 0)))
    emit("closed", "yes" if c.eof else "no")
    emit("elapsed", "%.3f" % (closed_at if closed_at is not None else c.now()))
    emit("alpn", c.alpn() or "none")
    emit("goaway", error_name(goaway["code"]) if goaway["code"] is not None else "none")
    emit("goaway_last", goaway["last"] if goaway["last"] is not None else "none")
    for ident in sorted(server_settings):
        emit("settings.%d" % ident, server_settings[ident])
    emit("streams", " ".join(str(s) for s in sorted(streams) if s))
    for sid in sorted(streams):
        if not sid:
            continue
        st = streams[sid]
        emit("s%d.status" % sid, st.status or "none")
        emit("s%d.rst" % sid, error_name(st.rst) if st.rst is not None else "none")
        emit("s%d.end" % sid, "yes" if st.end else "no")
        emit("s%d.data_len" % sid, st.data_len)
        emit("s%d.data" % sid, printable(st.data))
        for n, v in st.fields:
            if not n.startswith(":") and n != "?":
                emit("s%d.h.%s" % (sid, n), v)


# ------------------------------------------------------------------------------------------------
# Many idle connections


def run_idle(opts):
    if opts.request is not None:
        request = b"".join(p for p in parse_data([opts.request]) if isinstance(p, bytes))
    else:
        request = ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % (opts.host_header or "localhost")).encode()
    stop = {"now": False}

    def on_signal(signum, frame_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    poller = select.epoll()
    conns = {}
    refused = 0
    family = socket.AF_INET6 if ":" in opts.addr else socket.AF_INET
    for _ in range(opts.count):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        if opts.source:
            s.bind((opts.source, 0))
        k = s.connect_ex((opts.addr, opts.port))
        if k not in (0, errno.EINPROGRESS):
            refused += 1
            s.close()
            continue
        conns[s.fileno()] = {"sock": s, "sent": False, "buf": b"", "answered": False, "closed": False}
        poller.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)
    opened = len(conns)
    answered = 0
    closed_early = 0
    deadline = time.monotonic() + opts.timeout
    while answered + closed_early < opened and time.monotonic() < deadline and not stop["now"]:
        for fd, ev in poller.poll(0.2):
            st = conns[fd]
            s = st["sock"]
            if not st["sent"] and ev & select.EPOLLOUT:
                try:
                    s.send(request)
                    st["sent"] = True
                    poller.modify(fd, select.EPOLLIN)
                except OSError:
                    st["closed"] = True
                    closed_early += 1
                    poller.unregister(fd)
                continue
            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    st["closed"] = True
                    closed_early += 1
                    poller.unregister(fd)
                    continue
                st["buf"] += d
                head_end = st["buf"].find(b"\r\n\r\n")
                if head_end >= 0 and not st["answered"]:
                    m = re.search(rb"\r\ncontent-length: *([0-9]+)", st["buf"][:head_end + 2], re.I)
                    if len(st["buf"]) >= head_end + 4 + (int(m.group(1)) if m else 0):
                        st["answered"] = True
                        st["buf"] = b""
                        answered += 1
    emit("opened", opened)
    emit("answered", answered)
    emit("refused", refused)
    emit("closed_early", closed_early)
    getattr(OUT, "file", sys.stdout).flush()
    if opts.ready_file:
        with open(opts.ready_file, "w") as f:
            f.write("%d\n" % answered)
    end = time.monotonic() + opts.hold if opts.hold is not None else None
    while not stop["now"] and (end is None or time.monotonic() < end):
        if opts.stop_file and os.path.exists(opts.stop_file):
            break
        for fd, ev in poller.poll(0.2):
            st = conns[fd]
            try:
                d = st["sock"].recv(65536)
            except OSError:
                d = b""
            if not d:
                st["closed"] = True
                poller.unregister(fd)
    emit("still_open", sum(1 for st in conns.values() if not st["closed"]))
    for st in conns.values():
        st["sock"].close()


# ------------------------------------------------------------------------------------------------

def run_batch(opts):
    """Runs the cases DIR/0.args … DIR/(COUNT-1).args (each the arguments of one run, NUL-terminated) at
    once, case N's report in DIR/N: many cases that each wait a little cost the longest wait, and one
    interpreter start."""
    cases = []
    for i in range(opts.count):
        with open(os.path.join(opts.dir, "%d.args" % i), "rb") as f:
            cases.append([a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0")[:-1]])

    def one(i, argv):
        with open(os.path.join(opts.dir, str(i)), "w") as out:
            OUT.file = out
            try:
                run(parser().parse_args(argv))
            except SystemExit as e:
                out.write("error=%s\n" % e)
            except Exception as e:  # a broken case must not take the others down
                out.write("error=%s: %s\n" % (type(e).__name__, e))

    threads = [threading.Thread(target=one, args=(i, argv)) for i, argv in enumerate(cases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def parser():
    ap = argparse.ArgumentParser(description="A raw HTTP client for granary's integration tests.")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--source")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--sni")
    ap.add_argument("--alpn")
    ap.add_argument("--tls-max", choices=["1.2", "1.3"])
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--after", type=float, default=0.3)
    ap.add_argument("--rcvbuf", type=int)
    ap.add_argument("--host-header")
    sub = ap.add_subparsers(dest="mode", required=True)
    h1 = sub.add_parser("h1")
    h1.add_argument("--responses", type=int, default=0)
    h1.add_argument("--trickle", type=float)
    h1.add_argument("--no-read", type=float)
    h1.add_argument("--no-body", action="store_true")
    h1.add_argument("--out")
    h1.add_argument("--body-out")
    h1.add_argument("data", nargs="*")
    h2 = sub.add_parser("h2")
    h2.add_argument("--responses", type=int, default=0)
    h2.add_argument("--no-preface", action="store_true")
    h2.add_argument("steps", nargs="*")
    idle = sub.add_parser("idle")
    idle.add_argument("--count", type=int, required=True)
    idle.add_argument("--request")
    idle.add_argument("--hold", type=float)
    idle.add_argument("--ready-file")
    idle.add_argument("--stop-file")
    batch = sub.add_parser("batch")
    batch.add_argument("--dir", required=True)
    batch.add_argument("count", type=int)
    return ap


def run(opts):
    {"h1": run_h1, "h2": run_h2, "idle": run_idle, "batch": run_batch}[opts.mode](opts)


def main():
    run(parser().parse_args())


if __name__ == "__main__":
    main()
