#!/usr/bin/python3
"""What one connect() costs as one source address fills its ports.

Opens --flows TCP connections from one source address
(IP_BIND_ADDRESS_NO_PORT, as bench/many_flows.py does) to one listener on
127.0.0.1, blocking, one at a time, and prints per step of 1,000 what the
connect() calls cost in CPU (user + system, and system alone).  The
accepting end closes each connection at once, so only the connecting ends
keep ports; they live in holder processes of --per-process connections each
(under the descriptor limit) and are closed with RST at the end.

This is the load generator's limit behind the "~72,000 flows" stall of
issue 8: past about half of ip_local_port_range per source address, each
connect() searches the used ports in the kernel.

usage: connect_cost.py [--flows 24000] [--src 127.0.0.60]
"""
import argparse
import os
import resource
import signal
import socket
import struct

IP_BIND_ADDRESS_NO_PORT = 24
RST = struct.pack("ii", 1, 0)
STEP = 1000


def acceptor(ls):
    """Accept and close at once: the client ends keep their ports."""
    ls.setblocking(True)
    while True:
        c, _ = ls.accept()
        c.close()


def holder(dest, src, first, n, done):
    """Open n connections from src one step at a time, print what each
    step's connect() calls cost, tell the parent, hold them until killed."""
    held = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    fails = 0
    for k in range(0, n, STEP):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        step_fails = 0
        for _ in range(min(STEP, n - k)):
            s = socket.socket()
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((src, 0))
            rc = s.connect_ex(dest)
            if rc != 0:
                s.close()
                step_fails += 1
                continue
            held.append(s)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
        sys_cpu = r1.ru_stime - r0.ru_stime
        fails += step_fails
        print("%11d  %12.1f  %12.1f  %8d" % (
            first + len(held), 1e6 * cpu / min(STEP, n - k),
            1e6 * sys_cpu / min(STEP, n - k), step_fails), flush=True)
    os.write(done, b"x")
    while not stop:
        signal.pause()
    for s in held:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        s.close()
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, default=24000)
    ap.add_argument("--src", default="127.0.0.60")
    ap.add_argument("--per-process", type=int, default=8000,
                    help="connections one holder process keeps (under the "
                         "descriptor limit)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lo, hi = map(int, open(
        "/proc/sys/net/ipv4/ip_local_port_range").read().split())
    print("ip_local_port_range %d-%d (%d ports, half %d)" % (
        lo, hi, hi - lo + 1, (hi - lo + 1) // 2))
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4096)
    dest = ls.getsockname()
    kids = []
    acc = os.fork()
    if acc == 0:
        acceptor(ls)
    kids.append(acc)
    print("connections  CPU us each   sys us each   failures")
    try:
        for first in range(0, a.flows, a.per_process):
            rd, wr = os.pipe()
            pid = os.fork()
            if pid == 0:
                holder(dest, a.src, first, min(a.per_process,
                                               a.flows - first), wr)
            kids.append(pid)
            os.read(rd, 1)
            os.close(rd)
            os.close(wr)
    finally:
        for pid in reversed(kids):
            os.kill(pid, signal.SIGTERM if pid != acc else signal.SIGKILL)
            os.waitpid(pid, 0)
        ls.close()


if __name__ == "__main__":
    main()
