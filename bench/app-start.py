#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# An app's own start, as the grain benchmarks subtract it from a wake: posix_spawn of BINARY with a free
# loopback port as its argument, to the first connection it accepts there. The child runs on CPU 0 and the
# probe on CPU 1 (when there are two), so the probing does not slow the start. Prints one time in ms per
# start. Used by bench/run-grain.sh on the host and by tests/system/bench-wake.sh in the container.
#
# usage: app-start.py BINARY COUNT
import os, signal, socket, sys, time

hello, n, ncpu = sys.argv[1], int(sys.argv[2]), len(os.sched_getaffinity(0))
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
devnull = os.open(os.devnull, os.O_WRONLY)
for _ in range(n):
    if ncpu >= 2:
        os.sched_setaffinity(0, {0})
    t0 = time.perf_counter()
    pid = os.posix_spawn(hello, [hello, str(port)], {},
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    if ncpu >= 2:
        os.sched_setaffinity(0, {1})
    while True:
        c = socket.socket()
        try:
            c.connect(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            pass
        finally:
            c.close()
    t1 = time.perf_counter()
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
    print("%.3f" % ((t1 - t0) * 1000))
