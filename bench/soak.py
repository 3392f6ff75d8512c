#!/usr/bin/python3
"""The soak (issue 8 §4): a real EPSIP under a steady phone population for
--duration seconds, watching for anything that grows.

Load, all against one `epsipd` on its embedded defaults:
  flows    --flows TCP flows held by --workers epoll processes, each an
           RFC 5626 outbound phone: REGISTER (reg-id, +sip.instance,
           Supported: path, outbound), a CRLF keep-alive every 0.8-1.0 x
           --ka seconds (answered by a CRLF pong), a refreshing REGISTER
           every --flows / --reg-rate seconds (500/s by default), and the
           phone's side of calls: 200 to an INVITE that arrives over the
           flow, 200 to the BYE.
  churn    --churn flows a second are reset (RST) and their phone comes
           back on a new connection with a new REGISTER (a phone that
           lost its NAT binding): new flow tokens, old bindings replaced.
  calls    once every phone is registered, sipp on the core side places
           --cps calls a second to random registered users (bench/sipp/caller.xml: INVITE, 200, ACK,
           BYE, 200), delivered over the users' flows.

Every --sample seconds one JSON record (appended to --out): RSS and Pss
of every EPSIP process by role (the flow-manager's children summed),
their descriptors, the registrar's bindings, the open flows, the phones'
and the caller's counts.  At the end a summary record:
  rss_growth_pct  per role, the median RSS of the last tenth of the run
                  against the median of the tenth right after warm-up
                  (--warmup seconds); the target is <= 5 %
  fd_growth       descriptors, the same windows
  bindings        registrations.active against the phones registered;
                  then every flow is reset and the bindings must be gone
                  (0) within 10 s
and gnuplot draws RSS over time (--dir/soak-rss.png).
"""
import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import heapq
import multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIPP = "/usr/bin/sipp"
IP_BIND_ADDRESS_NO_PORT = 24
RST = struct.pack("ii", 1, 0)
PING = b"\r\n\r\n"
STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")

REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP {host};branch=z9hG4bK{user}r{cseq};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:{user}@example.com>;tag=t{user}\r\n"
    "To: <sip:{user}@example.com>\r\n"
    "Call-ID: {user}@soak\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "Supported: path, outbound\r\n"
    "Contact: <sip:{user}@{host};transport=tcp;ob>;reg-id=1;"
    "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-{inst:012d}>\"\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n")


def user_name(i):
    return "s%06d" % i


# ---- the phones: one epoll loop per worker process ----

class Flow:
    __slots__ = ("idx", "sock", "buf", "cseq", "registered", "host",
                 "connecting")

    def __init__(self, idx):
        self.idx = idx
        self.sock = None
        self.buf = b""
        self.cseq = 0
        self.registered = False
        self.host = ""
        self.connecting = False


def headers_of(msg):
    """(start line, [(lower name, raw line)]) of a SIP message head."""
    lines = msg.split(b"\r\n")
    out = []
    for ln in lines[1:]:
        name, _, _ = ln.partition(b":")
        out.append((name.strip().lower(), ln))
    return lines[0], out


def answer(msg, status, extra=b""):
    """A response to request `msg` from its own lines (RFC 3261 §8.2.6)."""
    start, hs = headers_of(msg)
    keep = (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i",
            b"cseq", b"record-route")
    out = [b"SIP/2.0 %d OK" % status]
    for name, line in hs:
        if name in keep:
            if name in (b"to", b"t") and b";tag=" not in line:
                line += b";tag=soak"
            out.append(line)
    out.append(extra + b"Content-Length: 0")
    return b"\r\n".join(out) + b"\r\n\r\n"


class Worker:
    def __init__(self, conn, idx, a, dest):
        self.conn = conn
        self.a = a
        self.dest = dest
        self.ep = select.epoll()
        self.by_fd = {}
        self.timers = []          # (when, seq, kind, flow idx)
        self.seq = 0
        self.flows = {}
        mine = [i for i in range(a.flows) if i % a.workers == idx]
        for i in mine:
            self.flows[i] = Flow(i)
        self.mine = mine
        self.sources = benchlib.source_addresses(a.sources)
        self.c = dict(reg_sent=0, reg_ok=0, reg_other=0, pongs=0,
                      pings=0, invites=0, byes=0, connect_errors=0,
                      closed_by_edge=0, churned=0, unknown=0)

    def at(self, when, kind, idx):
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, kind, idx))

    def open(self, f):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            self.c["connect_errors"] += 1     # EMFILE: --workers too few
            self.at(time.monotonic() + 1.0, "open", f.idx)
            return
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.setblocking(False)
        s.bind((self.sources[f.idx % len(self.sources)], 0))
        try:
            s.connect(self.dest)
        except BlockingIOError:
            pass
        except OSError:
            self.c["connect_errors"] += 1
            s.close()
            self.at(time.monotonic() + 1.0, "open", f.idx)
            return
        f.sock, f.buf, f.connecting = s, b"", True
        f.registered = False
        self.by_fd[s.fileno()] = f
        self.ep.register(s.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def close(self, f, rst):
        if f.sock is None:
            return
        fd = f.sock.fileno()
        self.ep.unregister(fd)
        del self.by_fd[fd]
        if rst:
            f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        f.sock.close()
        f.sock = None
        f.registered = False

    def send(self, f, data):
        try:
            f.sock.send(data)       # small: the window always has room
        except OSError:
            self.c["closed_by_edge"] += 1
            self.close(f, False)
            self.at(time.monotonic() + 1.0, "open", f.idx)

    def register(self, f):
        f.cseq += 1
        self.c["reg_sent"] += 1
        self.send(f, REGISTER.format(host=f.host, user=user_name(f.idx),
                                     cseq=f.cseq, inst=f.idx).encode())

    def on_connected(self, f):
        f.connecting = False
        host, port = f.sock.getsockname()
        f.host = "%s:%d" % (host, port)
        self.ep.modify(f.sock.fileno(), select.EPOLLIN)
        self.register(f)

    def on_message(self, f, msg):
        m = STATUS.match(msg)
        if m:
            if b"REGISTER" in msg.split(b"\r\ncseq:", 1)[-1][:40].upper() \
                    or b" REGISTER\r\n" in msg:
                if m.group(1) == b"200":
                    self.c["reg_ok"] += 1
                    f.registered = True
                else:
                    self.c["reg_other"] += 1
            return
        if msg.startswith(b"INVITE "):
            self.c["invites"] += 1
            self.send(f, answer(msg, 200, b"Contact: <sip:%s@%s;"
                                b"transport=tcp;ob>\r\n" % (
                                    user_name(f.idx).encode(),
                                    f.host.encode())))
        elif msg.startswith(b"BYE "):
            self.c["byes"] += 1
            self.send(f, answer(msg, 200))
        elif msg.startswith(b"ACK "):
            pass
        else:
            self.c["unknown"] += 1

    def on_readable(self, f):
        try:
            data = f.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.c["closed_by_edge"] += 1
            self.close(f, False)
            self.at(time.monotonic() + 1.0, "open", f.idx)
            return
        f.buf += data
        while f.buf:
            if f.buf.startswith(b"\r\n\r\n"):
                f.buf = f.buf[4:]
                continue
            if f.buf.startswith(b"\r\n"):
                self.c["pongs"] += 1
                f.buf = f.buf[2:]
                continue
            end = f.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = f.buf[:end]
            cl = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)",
                           head, re.I)
            n = end + 4 + (int(cl.group(1)) if cl else 0)
            if len(f.buf) < n:
                return
            msg, f.buf = f.buf[:n], f.buf[n:]
            self.on_message(f, msg)

    def run(self):
        a = self.a
        now = time.monotonic()
        period = a.flows / float(a.reg_rate)
        # Open at --open-rate flows a second over all workers.
        per_worker = a.open_rate / float(a.workers)
        for k, i in enumerate(self.mine):
            t = now + k / per_worker
            self.at(t, "open", i)
            self.at(t + a.ka * random.uniform(0.8, 1.0), "ka", i)
            self.at(t + period * random.uniform(0.5, 1.0), "refresh", i)
        churn_every = a.workers / a.churn if a.churn > 0 else None
        if churn_every:
            self.at(now + a.warmup / 2.0, "churn", -1)
        next_report = now + 1.0
        while True:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, kind, idx = heapq.heappop(self.timers)
                if kind == "churn":
                    f = self.flows[random.choice(self.mine)]
                    if f.sock is not None and not f.connecting:
                        self.c["churned"] += 1
                        self.close(f, True)
                        self.open(f)
                    self.at(now + churn_every, "churn", -1)
                    continue
                f = self.flows[idx]
                if kind == "open":
                    if f.sock is None:
                        self.open(f)
                elif kind == "ka":
                    if f.sock is not None and not f.connecting:
                        self.c["pings"] += 1
                        self.send(f, PING)
                    self.at(now + a.ka * random.uniform(0.8, 1.0), "ka",
                            idx)
                elif kind == "refresh":
                    if f.sock is not None and not f.connecting:
                        self.register(f)
                    self.at(now + period, "refresh", idx)
            if now >= next_report:
                next_report = now + 1.0
                c = dict(self.c)
                c["registered"] = sum(1 for f in self.flows.values()
                                      if f.registered)
                self.conn.send(c)
                if self.conn.poll():
                    if self.conn.recv() == "stop":
                        break
            wait = 0.2
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            for fd, ev in self.ep.poll(wait, 1024):
                f = self.by_fd.get(fd)
                if f is None:
                    continue
                if f.connecting:
                    err = f.sock.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_ERROR)
                    if err:
                        self.c["connect_errors"] += 1
                        self.close(f, False)
                        self.at(now + 1.0, "open", f.idx)
                        continue
                    self.on_connected(f)
                    if not ev & select.EPOLLIN:
                        continue
                self.on_readable(f)
        for f in self.flows.values():
            self.close(f, True)
        self.conn.send("closed")


def worker_main(conn, idx, a, dest):
    benchlib.install_signal_handlers()
    benchlib.raise_nofile()
    try:
        Worker(conn, idx, a, dest).run()
    except benchlib.Interrupted:
        pass


# ---- measuring ----

RSS_PARTS = ("anon", "file", "shmem")


def rss_parts_kib(pid):
    """{'rss','anon','file','shmem'} in KiB from /proc/PID/status: a creep
    in 'file' or 'shmem' is mapped files (SQLite's -shm), in 'anon' the
    heap."""
    keys = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file",
            "RssShmem:": "shmem"}
    out = dict.fromkeys(keys.values(), 0)
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k = line.split(None, 1)[0] if line.strip() else ""
                if k in keys:
                    out[keys[k]] = int(line.split()[1])
    except OSError:
        pass
    return out


def sample(edge, t0, phones, caller_stats):
    roles = edge.roles()
    rss, pss, fds, parts = {}, {}, {}, {}
    for pid, role in roles.items():
        p = rss_parts_kib(pid)
        rss[role] = rss.get(role, 0) + p["rss"]
        mine = parts.setdefault(role, dict.fromkeys(RSS_PARTS, 0))
        for k in RSS_PARTS:
            mine[k] += p[k]
        roll = benchlib.smaps_rollup(pid) or {}
        pss[role] = pss.get(role, 0) + roll.get("pss", 0)
        fds[role] = fds.get(role, 0) + (benchlib.nfds(pid) or 0)
    st = edge.stats()
    totals = st.get("totals", {})
    return {"bench": "soak-sample", "t": round(time.monotonic() - t0, 1),
            "rss_kib": rss, "rss_parts_kib": parts, "pss_kib": pss,
            "fds": fds,
            "children": sum(1 for r in roles.values() if r == "fm-child"),
            "registrations_active": totals.get("registrations.active", 0),
            "flows_open_tcp": totals.get("flows.open.tcp", 0),
            "ipc_backlog": totals.get("ipc.backlog", 0),
            "ipc_send_dropped": totals.get("ipc.send_dropped", 0),
            "db_cache_bytes": totals.get("registrar.db_cache_bytes", 0),
            "sqlite_heap_bytes": totals.get("registrar.sqlite_heap_bytes", 0),
            "phones": phones, "caller": caller_stats}


def sipp_stats(path):
    """The last line of sipp's -trace_stat file as {column: value}."""
    try:
        with open(path) as f:
            lines = [ln for ln in f.read().split("\n") if ln.strip()]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    out = {}
    for k, v in zip(head, last):
        if k in ("SuccessfulCall(C)", "FailedCall(C)", "TotalCallCreated",
                 "Retransmissions(C)", "CurrentCall"):
            try:
                out[k] = int(v)
            except ValueError:
                pass
    return out


def median(vals):
    vals = sorted(vals)
    return vals[len(vals) // 2] if vals else None


def growth(samples, key, warmup, duration):
    """{role: (median after warm-up, median at the end, growth %)}."""
    end = samples[-1]["t"] if samples else duration
    tenth = max(1.0, (end - warmup) / 10.0)
    early = [s for s in samples if warmup <= s["t"] < warmup + tenth]
    late = [s for s in samples if s["t"] >= end - tenth]
    out = {}
    for role in (samples[-1][key] if samples else {}):
        e = median([s[key].get(role, 0) for s in early])
        l_ = median([s[key].get(role, 0) for s in late])
        if e:
            out[role] = {"after_warmup": e, "at_end": l_,
                         "growth_pct": round(100.0 * (l_ - e) / e, 2)}
    return out


def plot(samples, d):
    if not shutil.which("gnuplot") or not samples:
        return None
    dat = os.path.join(d, "soak-rss.dat")
    roles = sorted(samples[-1]["rss_kib"])
    with open(dat, "w") as f:
        f.write("# t_s " + " ".join(roles) + "\n")
        for s in samples:
            f.write("%s %s\n" % (s["t"], " ".join(
                "%.1f" % (s["rss_kib"].get(r, 0) / 1024.0) for r in roles)))
    png = os.path.join(d, "soak-rss.png")
    script = ("set terminal pngcairo size 900,480\n"
              "set output '%s'\nset title 'EPSIP soak: RSS per role'\n"
              "set xlabel 'seconds'\nset ylabel 'MiB'\nset key outside\n"
              "plot " % png + ", ".join(
                  "'%s' using 1:%d with lines title '%s'" % (dat, i + 2, r)
                  for i, r in enumerate(roles)) + "\n")
    subprocess.run(["gnuplot"], input=script.encode(), check=False)
    return png


def start_caller(a, edge, tmp, seconds):
    callees = os.path.join(tmp, "callees.csv")
    with open(callees, "w") as f:
        f.write("RANDOM\n")
        for i in range(a.flows):
            f.write(user_name(i) + "\n")
    n = int(a.cps * seconds)
    cmd = [SIPP, "%s:%d" % edge.sip_addr, "-sf",
           os.path.join(HERE, "sipp", "caller.xml"), "-inf", callees,
           "-i", "127.0.0.1", "-p", str(benchlib.free_port()), "-t", "u1",
           "-r", str(a.cps), "-m", str(n), "-nostdin",
           "-trace_stat", "-stf", "stat.csv", "-fd", "5",
           "-timeout", str(int(a.duration + 30))]
    out = open(os.path.join(tmp, "caller.out"), "wb")
    return subprocess.Popen(cmd, cwd=tmp, stdout=out,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--warmup", type=float, default=300,
                    help="seconds before RSS counts (flows opened by then)")
    ap.add_argument("--flows", type=int, default=50000)
    ap.add_argument("--open-rate", type=float, default=1000)
    ap.add_argument("--reg-rate", type=float, default=500,
                    help="refreshing REGISTERs per second")
    ap.add_argument("--ka", type=float, default=30.0)
    ap.add_argument("--cps", type=float, default=50)
    ap.add_argument("--churn", type=float, default=5,
                    help="flows reset and reopened per second")
    benchlib.generator_args(ap, "one per 15,000 flows, below the hard "
                            "descriptor limit")
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--out", help="JSONL to append to")
    ap.add_argument("--dir", required=True, help="results (plot)")
    a = ap.parse_args()
    a.warmup = min(a.warmup, a.duration / 2)
    a.workers = a.workers or max(1, -(-a.flows // 15000))
    a.sources = a.sources or benchlib.sources_for(a.flows)
    benchlib.install_signal_handlers()
    benchlib.raise_nofile()
    os.makedirs(a.dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="epsip-soak-")
    edge = benchlib.Edge(a.bin, ["--domain", "example.com"])
    procs, samples, caller = [], [], None
    rec = {"bench": "soak", "args": vars(a)}
    try:
        edge.start()
        t0 = time.monotonic()
        for w in range(a.workers):
            mine, theirs = mp.Pipe()
            p = mp.Process(target=worker_main,
                           args=(theirs, w, a, edge.sip_addr))
            p.start()
            procs.append((p, mine))
        last = [{} for _ in procs]
        next_sample = t0 + a.sample
        while time.monotonic() - t0 < a.duration:
            for k, (p, conn) in enumerate(procs):
                while conn.poll():
                    last[k] = conn.recv()
            # Calls start once every phone is registered (or half-way
            # through the warm-up), so the warm-up covers every kind of
            # load: RSS after it is compared with RSS at the end.
            registered = sum(c.get("registered", 0) for c in last)
            if caller is None and (registered >= a.flows or
                                   time.monotonic() - t0 >= a.warmup / 2):
                t_calls = time.monotonic() - t0
                caller = start_caller(a, edge, tmp, a.duration - t_calls)
            if time.monotonic() >= next_sample:
                next_sample += a.sample
                phones = {}
                for c in last:
                    for key, v in c.items():
                        phones[key] = phones.get(key, 0) + v
                s = sample(edge, t0, phones,
                           sipp_stats(os.path.join(tmp, "stat.csv")))
                samples.append(s)
                benchlib.emit(a.out, s)
            time.sleep(0.2)
        phones_registered = samples[-1]["phones"].get("registered", 0)
        bindings = samples[-1]["registrations_active"]
        if caller is not None:
            caller.send_signal(signal.SIGUSR1)   # sipp: stop calling
            try:
                caller.wait(15)
            except subprocess.TimeoutExpired:
                caller.kill()
                caller.wait()
        # Every phone goes at once (RST): no binding may stay behind.
        for p, conn in procs:
            conn.send("stop")
        t_close = time.monotonic()
        for p, conn in procs:
            p.join(60)
        cleared = None
        while time.monotonic() - t_close < 10:
            if edge.stats().get("totals", {}).get(
                    "registrations.active", -1) == 0:
                cleared = round(time.monotonic() - t_close, 1)
                break
            time.sleep(0.25)
        final = edge.stats().get("totals", {})
        rec.update({
            "rss": growth(samples, "rss_kib", a.warmup, a.duration),
            "pss": growth(samples, "pss_kib", a.warmup, a.duration),
            "fds": growth(samples, "fds", a.warmup, a.duration),
            "phones_registered_at_end": phones_registered,
            "bindings_at_end": bindings,
            "bindings_cleared_after_close_s": cleared,
            "bindings_left_after_close": final.get("registrations.active"),
            "phones": samples[-1]["phones"] if samples else {},
            "caller": sipp_stats(os.path.join(tmp, "stat.csv")),
            "drops": {k: v for k, v in final.items() if v and (
                k.startswith("ipc.dropped") or k in (
                    "ipc.send_dropped", "router.flow_closed_dropped"))},
            "plot": plot(samples, a.dir)})
        worst = max([v["growth_pct"] for v in rec["rss"].values()] or [0])
        rec["rss_worst_growth_pct"] = worst
        rec["rss_target_met"] = worst <= 5.0
        benchlib.emit(a.out, rec)
        print(json.dumps(rec, indent=1))
    finally:
        for p, conn in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
        if caller is not None and caller.poll() is None:
            caller.kill()
            caller.wait()
        edge.stop()
        edge.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
