#!/usr/bin/python3
"""REGISTER throughput through a real EPSIP, with the embedded registrar or
(--upstream udp|tcp) in front of a real Kamailio registrar started for the
run (tests/kamailio/registrar.cfg; Kamailio's own CPU is not counted as
the edge's).

One run = one fresh edge.  --flows client flows (UDP sockets or TCP
connections from 127.0.0.<src_base..>), spread over --workers processes;
each flow keeps --window REGISTERs outstanding (closed loop) for
--duration seconds.  Every REGISTER is an RFC 5626 outbound REGISTER
(reg-id, +sip.instance, Supported: path, outbound) with its own Call-ID;
--users unique: a new AoR each time (the registrar inserts a binding),
--users refresh: a small pool of AoRs per flow registered again and again
(same instance and reg-id: the binding is replaced).

Before the timed part every flow registers once and waits for its 200, so
the flows exist (paper mode: their child processes are running).  A
request without a final answer after --timeout s counts as lost; it is not
retransmitted (its window slot is reused).

Prints (and appends to --out) one JSON record: ok_per_s (200 OKs per
second of the timed part), statuses, lost, latency p50/p99, the edge's CPU
(% of one core, all processes) and the client's CPU.
"""
import argparse
import multiprocessing as mp
import os
import re
import resource
import select
import socket
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]+)", re.I)
CONTENT_LENGTH = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)",
                            re.I)


class Flow:
    def __init__(self, transport, src_ip, dest, index, run_tag):
        self.transport = transport
        self.dest = dest
        self.index = index
        self.tag = "%s%d" % (run_tag, index)
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        self.sock.bind((src_ip, 0))
        if transport == "tcp":
            self.sock.connect(dest)
        self.sock.setblocking(False)
        h, p = self.sock.getsockname()
        self.host = "%s:%d" % (h, p)
        self.buf = b""
        self.out = b""
        self.seq = 0

    def register(self, user):
        self.seq += 1
        cid = "%s-%d" % (self.tag, self.seq)
        inst = zlib.crc32(user.encode())
        msg = benchlib.outbound_register(self.transport, self.host, cid,
                                         user, inst)
        if self.transport == "udp":
            try:
                self.sock.sendto(msg, self.dest)
            except BlockingIOError:
                return None
        else:
            self.out += msg
            self.flush()
        return cid.encode()

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            self.out = self.out[n:]

    def responses(self):
        """(status, call-id) of every complete message that arrived."""
        out = []
        if self.transport == "udp":
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    return out
                r = parse(data)
                if r:
                    out.append(r)
        while True:
            try:
                data = self.sock.recv(262144)
            except BlockingIOError:
                break
            if not data:
                raise ConnectionError("edge closed TCP flow %d" % self.index)
            self.buf += data
            if len(data) < 262144:
                break
        buf = self.buf
        while True:
            while buf.startswith(b"\r\n"):
                buf = buf[2:]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            m = CONTENT_LENGTH.search(buf, 0, end + 2)
            total = end + 4 + (int(m.group(1)) if m else 0)
            if len(buf) < total:
                break
            r = parse(buf[:total])
            if r:
                out.append(r)
            buf = buf[total:]
        self.buf = buf
        return out


def parse(msg):
    if not msg.startswith(b"SIP/2.0 "):
        return None
    m = CALL_ID.search(msg)
    return int(msg[8:11]), (m.group(1).strip() if m else b"")


def worker(conn, transport, dest, src_ip, first_index, nflows, window,
           users, timeout, run_tag):
    benchlib.install_signal_handlers()
    flows = []
    try:
        flows = [Flow(transport, src_ip, dest, first_index + i, run_tag)
                 for i in range(nflows)]
        byfd = {f.sock.fileno(): f for f in flows}
        ep = select.epoll()
        for f in flows:
            ep.register(f.sock.fileno(), select.EPOLLIN)
        outstanding = {}            # call-id -> (flow, t_sent)
        pool_i = {f: 0 for f in flows}

        def user_for(f):
            if users == "unique":
                return "u%s-%d" % (f.tag, f.seq + 1)
            pool_i[f] = (pool_i[f] + 1) % window
            return "r%s-%d" % (f.tag, pool_i[f])

        # Warm-up: one REGISTER per flow, answered, so the flows exist.
        for f in flows:
            cid = f.register(user_for(f))
            outstanding[cid] = (f, time.monotonic())
        deadline = time.monotonic() + 20
        while outstanding and time.monotonic() < deadline:
            for fd, ev in ep.poll(0.1):
                for st, cid in byfd[fd].responses():
                    if st >= 200:
                        outstanding.pop(cid, None)
        warm_lost = len(outstanding)
        outstanding.clear()
        conn.send(("ready", warm_lost))
        msg = conn.recv()           # ("go", t0, duration)
        t0, duration = msg[1], msg[2]
        while time.monotonic() < t0:
            pass
        t_stop = t0 + duration
        statuses = {}
        lat = []
        lost = 0
        inflight = {f: 0 for f in flows}

        def send_register(f):
            # In flight until answered or swept as lost.
            cid = f.register(user_for(f))
            if cid:
                outstanding[cid] = (f, time.monotonic())
                inflight[f] += 1

        for f in flows:
            for _ in range(window):
                send_register(f)
            if f.out:
                ep.modify(f.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)
        t_last = t0
        last_sweep = t0
        while outstanding:
            now = time.monotonic()
            if now > t_stop + timeout + 1:
                break
            for fd, ev in ep.poll(0.05):
                f = byfd[fd]
                if ev & select.EPOLLOUT:
                    f.flush()
                    if not f.out:
                        ep.modify(fd, select.EPOLLIN)
                if not ev & select.EPOLLIN:
                    continue
                for st, cid in f.responses():
                    if st < 200:
                        continue
                    ent = outstanding.pop(cid, None)
                    if ent is None:
                        continue
                    t = time.monotonic()
                    statuses[st] = statuses.get(st, 0) + 1
                    lat.append(t - ent[1])
                    t_last = t
                    inflight[f] -= 1
                    if t < t_stop:
                        send_register(f)
                if f.out:
                    ep.modify(fd, select.EPOLLIN | select.EPOLLOUT)
            now = time.monotonic()
            if now - last_sweep > 0.25:
                last_sweep = now
                for cid, (f, ts) in list(outstanding.items()):
                    if now - ts > timeout:
                        del outstanding[cid]
                        lost += 1
                        inflight[f] -= 1
                        if now < t_stop:
                            send_register(f)
        lost += len(outstanding)
        lat.sort()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        conn.send({"statuses": statuses, "lost": lost, "warm_lost": warm_lost,
                   "t_last": t_last, "lat": lat[::max(1, len(lat) // 2000)],
                   "client_cpu_s": ru.ru_utime + ru.ru_stime})
    except (benchlib.Interrupted, EOFError, BrokenPipeError):
        pass
    except Exception as e:          # report, do not hang the coordinator
        try:
            conn.send({"error": repr(e)})
        except Exception:
            pass
    finally:
        for f in flows:
            f.sock.close()


def pct(sorted_list, q):
    if not sorted_list:
        return None
    return sorted_list[min(len(sorted_list) - 1, int(len(sorted_list) * q))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--flows-per-child", type=int, required=True)
    ap.add_argument("--transport", choices=("udp", "tcp"), required=True)
    ap.add_argument("--flows", type=int, default=8)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--users", choices=("unique", "refresh"),
                    default="unique")
    ap.add_argument("--src-base", type=int, default=50)
    ap.add_argument("--upstream", choices=("none", "udp", "tcp"),
                    default="none", help="registrar: embedded, or a "
                    "Kamailio reached over this transport")
    ap.add_argument("--perf", metavar="FILE",
                    help="also `perf record -g` the edge's processes "
                    "(not epsipd) into FILE during the timed part")
    benchlib.round_args(ap)
    a, rec = benchlib.parse_round(ap, "register")
    rec.update({"flows_per_child": a.flows_per_child,
                "transport": a.transport, "flows": a.flows,
                "window": a.window, "workers": a.workers,
                "duration": a.duration, "users": a.users,
                "upstream": a.upstream})
    per = benchlib.shares(a.flows, a.workers)
    ctx = mp.get_context("fork")
    edge_args = ["--flows-per-child", str(a.flows_per_child),
                 "--domain", "example.com"]
    kam = None
    if a.upstream != "none":
        kam = start_kamailio()
        edge_args += ["--upstream", "sip:127.0.0.1:%d;transport=%s" % (
            kam.port, a.upstream), "--core-listen",
            "127.0.0.1:%d" % benchlib.free_port()]
    edge = benchlib.Edge(a.bin, edge_args)
    workers = []
    run_tag = "%x" % (int(time.time() * 1000) & 0xffffffff)
    try:
        edge.start()
        first = 0
        for i in range(a.workers):
            pe, ce = ctx.Pipe()
            p = ctx.Process(target=worker, args=(
                ce, a.transport, edge.sip_addr, "127.0.0.%d" % (
                    a.src_base + i), first, per[i], a.window, a.users,
                a.timeout, run_tag + "w%d-" % i), daemon=True)
            p.start()
            first += per[i]
            workers.append((p, pe))
        warm_lost = 0
        for p, c in workers:
            if not c.poll(40):
                raise RuntimeError("worker not ready")
            m = c.recv()
            if isinstance(m, dict):
                raise RuntimeError("worker: %s" % m.get("error"))
            warm_lost += m[1]
        rec["warmup_lost"] = warm_lost
        time.sleep(1.0)
        fm = benchlib.account(edge.fm_pids())
        rec["fm_processes"] = fm["processes"]
        rec["fm_threads"] = fm["threads"]
        roles = edge.roles()
        pids = list(roles)
        ns0 = benchlib.cpu_snapshot(pids)
        sw0 = sum(benchlib.sched_slices(p) for p in pids)
        t0 = time.monotonic() + 0.05
        for _, c in workers:
            c.send(("go", t0, a.duration))
        if a.perf:
            # Skip the first second (ramp), stop a second before the end.
            time.sleep(1.0)
            prof = [p for p, r in roles.items() if r != "supervisor"]
            subprocess.run(
                ["perf", "record", "-q", "-F", "999", "-g", "-o", a.perf,
                 "-p", ",".join(map(str, prof)), "--", "sleep",
                 str(max(1.0, a.duration - 2.0))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=a.duration + 30)
        res = []
        for p, c in workers:
            if not c.poll(a.duration + a.timeout + 20):
                raise RuntimeError("worker did not report")
            r = c.recv()
            if "error" in r:
                raise RuntimeError("worker: %s" % r["error"])
            res.append(r)
        t_cpu = time.monotonic()
        by_role = benchlib.cpu_by_role(roles, ns0)     # ns
        switches = sum(benchlib.sched_slices(p) for p in pids) - sw0
        used = sum(by_role.values())
        statuses = {}
        lat = []
        for r in res:
            for k, v in r["statuses"].items():
                statuses[str(k)] = statuses.get(str(k), 0) + v
            lat += r["lat"]
        lat.sort()
        t_last = max(r["t_last"] for r in res)
        elapsed = max(t_last - t0, 1e-6)
        ok = statuses.get("200", 0)
        rec.update({
            "statuses": statuses, "ok": ok,
            "lost": sum(r["lost"] for r in res),
            "elapsed_s": elapsed, "ok_per_s": ok / elapsed,
            "lat_p50_ms": 1000 * pct(lat, 0.5) if lat else None,
            "lat_p99_ms": 1000 * pct(lat, 0.99) if lat else None,
            "edge_cpu_pct": 100.0 * used / 1e9 / (t_cpu - t0),
            "edge_cpu_us_per_register": (used / 1e3 / ok) if ok else None,
            "edge_switches_per_register": (switches / ok) if ok else None,
            "edge_cpu_us_per_register_by_process": {
                k: round(v / 1e3 / ok, 1) if ok else None
                for k, v in sorted(by_role.items())},
            "client_cpu_s": sum(r["client_cpu_s"] for r in res)})
        benchlib.finish_record(edge, rec)
        benchlib.emit(a.out, rec)
    finally:
        benchlib.teardown(edge, workers)
        if kam is not None:
            kam.stop()


def start_kamailio():
    """The registrar the tests use, with room for a bench's bindings."""
    import kamailio     # tests/integration, on the path through benchlib
    if not kamailio.available():
        raise SystemExit("bench: " + kamailio.why_unavailable())
    k = kamailio.Kamailio()
    k.shm_mb = 256
    return k.start()


if __name__ == "__main__":
    main()
