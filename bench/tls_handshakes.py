#!/usr/bin/python3
"""CPU the edge spends per TLS handshake, full and resumed, next to a
plain TCP connect + REGISTER measured the same way (issue 11 §6).

One epsipd a round (benchlib.Edge: its defaults, pooled children) with a
TLS listener beside its TCP one, the certificate an ECDSA P-256 one of a
test CA (tests/integration/wsclient.py's Pki).  Each pass opens K
connections, at most --window at a time from 127.0.0.2 .. --sources,
and on every one of them a phone connects, does the TLS handshake (not
on TCP), sends an outbound REGISTER, waits for its 200 and resets the
connection (RST: no TIME_WAIT, so the ports last the whole run).
Phones start at --rate a second in every pass, so that TCP and TLS
passes find the edge's IPC batching alike (unpaced, TCP runs several
times faster and its REGISTERs share wake-ups that TLS's do not):

  tcp            connect + REGISTER
  tlsV-full      connect + full handshake + REGISTER (no session offered)
  tlsV-resumed   the same, each phone offering the session (ticket) its
                 connection of the full pass just before got; counted
                 only if every one resumed (ssl's session_reused and the
                 edge's tls.handshakes.resumed agree)

for TLS 1.3 and 1.2 (--tls-versions).  The edge's CPU over a pass is
utime + stime from /proc/PID/stat of every flow-manager process (the
parent and its children: the handshake happens in the child that owns
the flow), also the on-CPU nanoseconds of schedstat as a check, and of
the whole edge by role; it is read when the pass is done and the edge
has reported every flow closed.  What the flow-manager spends idle over
the same time (measured for 2 s before each pass) is subtracted, and
likewise for the whole edge.  The
pass's CPU divided by K is the cost of one connection; a TLS pass minus
the TCP pass of the same round is the cost of the handshake and of
carrying the REGISTER and its 200 in TLS records.

Passes take turns at going first, round by round.  One JSON record per
pass (--out, appended); --markdown FILE... prints the medians [min-max]
over rounds and the per-round ratios to TCP.
"""
import argparse
import errno
import json
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import wsclient  # noqa: E402  (tests/integration, on benchlib's path)

IP_BIND_ADDRESS_NO_PORT = 24
RST = struct.pack("ii", 1, 0)
CLK_TCK = os.sysconf("SC_CLK_TCK")
VERSIONS = {"1.3": ssl.TLSVersion.TLSv1_3, "1.2": ssl.TLSVersion.TLSv1_2}


def stat_cpu_s(pid):
    """utime + stime of pid (all its threads), in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return 0.0
    w = s[s.rindex(")") + 2:].split()
    return (int(w[11]) + int(w[12])) / float(CLK_TCK)


class Cpu:
    """The edge's CPU at one moment: stat and schedstat of every
    flow-manager process, and schedstat by role."""

    def __init__(self, edge):
        self.fm = set(edge.fm_pids())
        self.stat = {p: stat_cpu_s(p) for p in self.fm}
        self.ns = {p: benchlib.cpu_ns(p) for p in self.fm}
        self.roles = edge.roles()
        self.by_pid = benchlib.cpu_snapshot(self.roles)

    def since(self, before):
        """Seconds of CPU from before to self: (fm stat, fm schedstat,
        {role: schedstat}); a process born meanwhile counts whole."""
        stat = sum(v - before.stat.get(p, 0.0) for p, v in self.stat.items())
        ns = sum(v - before.ns.get(p, 0) for p, v in self.ns.items())
        roles = {}
        for pid, role in self.roles.items():
            d = self.by_pid.get(pid, 0) - before.by_pid.get(pid, 0)
            roles[role] = roles.get(role, 0.0) + max(0, d) / 1e9
        return stat, ns / 1e9, roles


class Phone:
    __slots__ = ("i", "sock", "state", "t0", "t_conn", "t_hs", "buf")


class Pass:
    """K phones through connect [+ handshake] + REGISTER + 200 + RST, at
    most `window` at a time, in one epoll loop."""

    def __init__(self, mode, dest, ctx, sessions, k, window, sources, tag,
                 rate=0.0, timeout=15.0):
        self.mode, self.dest, self.ctx = mode, dest, ctx
        self.sessions = sessions    # index -> SSLSession (resumed: read)
        self.k, self.window, self.sources = k, window, sources
        self.tag, self.timeout, self.rate = tag, timeout, rate
        self.resume = mode.endswith("-resumed")
        self.ep = select.epoll()
        self.live = {}
        self.next = 0
        self.ok = 0
        self.reused = 0
        self.fail = {}
        self.handshake_ms = []
        self.total_ms = []

    def count_fail(self, what):
        self.fail[what] = self.fail.get(what, 0) + 1

    def start_one(self):
        p = Phone()
        p.i = self.next
        self.next += 1
        p.buf = b""
        p.t0 = time.monotonic()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        try:
            s.bind((self.sources[p.i % len(self.sources)], 0))
            rc = s.connect_ex(self.dest)
        except OSError as e:
            rc = e.errno
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.count_fail("connect:" + errno.errorcode.get(rc, str(rc)))
            return
        p.sock, p.state = s, "connect"
        self.live[s.fileno()] = p
        self.ep.register(s.fileno(), select.EPOLLOUT)

    def end(self, fd, p, failure=None):
        if failure:
            self.count_fail(failure)
        try:
            self.ep.unregister(fd)
        except OSError:
            pass
        try:
            p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        except OSError:
            pass
        p.sock.close()
        del self.live[fd]

    def step(self, fd, p):
        now = time.monotonic()
        if p.state == "connect":
            err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.end(fd, p, "connect:%s" % errno.errorcode.get(
                    err, err))
            p.t_conn = now
            if self.ctx is None:
                return self.register(fd, p)
            try:
                p.sock = self.ctx.wrap_socket(
                    p.sock, server_hostname=self.dest[0],
                    do_handshake_on_connect=False,
                    session=self.sessions.get(p.i) if self.resume else None)
            except (OSError, ValueError) as e:
                return self.end(fd, p, "tls_wrap:%s" % e)
            p.state = "handshake"
        if p.state == "handshake":
            try:
                p.sock.do_handshake()
            except ssl.SSLWantReadError:
                return self.ep.modify(fd, select.EPOLLIN)
            except ssl.SSLWantWriteError:
                return self.ep.modify(fd, select.EPOLLOUT)
            except OSError as e:
                return self.end(fd, p, "handshake:%s" % e)
            # Now, not when this step began: on 2 busy cores the edge
            # may answer while the client is still in its first call.
            p.t_hs = time.monotonic()
            self.handshake_ms.append(1000 * (p.t_hs - p.t_conn))
            self.reused += bool(p.sock.session_reused)
            return self.register(fd, p)
        # "register": the 200, then the reset.
        while True:
            try:
                d = p.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                return None
            except OSError as e:
                return self.end(fd, p, "recv:%s" % e)
            if not d:
                return self.end(fd, p, "closed_by_edge")
            p.buf += d
            end = p.buf.find(b"\r\n\r\n")
            if end >= 0 and p.buf.startswith(b"SIP/2.0 "):
                code = p.buf[8:11]
                if code != b"200":
                    return self.end(fd, p, "register:%s" % code.decode())
                self.ok += 1
                self.total_ms.append(1000 * (now - p.t0))
                if self.ctx is not None and not self.resume:
                    self.sessions[p.i] = p.sock.session
                return self.end(fd, p)
            if self.ctx is None:
                return None

    def register(self, fd, p):
        host = "%s:%d" % p.sock.getsockname()
        msg = benchlib.outbound_register(
            "tcp" if self.ctx is None else "tls", host,
            "%s-%d" % (self.tag, p.i), "h%d" % p.i, p.i)
        try:
            n = p.sock.send(msg)    # < 1 KiB into an empty socket
        except OSError as e:
            return self.end(fd, p, "send:%s" % e)
        if n != len(msg):
            return self.end(fd, p, "send:short")
        p.state = "register"
        self.ep.modify(fd, select.EPOLLIN)

    def due(self, t0):
        """When the next phone may start (rate 0: as soon as the window
        has room)."""
        return t0 + self.next / self.rate if self.rate else 0.0

    def run(self):
        t0 = time.monotonic()
        while self.next < self.k or self.live:
            now = time.monotonic()
            while self.next < self.k and len(self.live) < self.window and \
                    self.due(t0) <= now:
                self.start_one()
            for fd, p in list(self.live.items()):
                if now - p.t0 > self.timeout:
                    self.end(fd, p, p.state + "_timeout")
            wait = 0.1
            if self.next < self.k and len(self.live) < self.window:
                wait = max(0.0, min(wait, self.due(t0) - now))
            for fd, _ in self.ep.poll(wait):
                p = self.live.get(fd)
                if p is not None:
                    self.step(fd, p)


def pct(vals, q):
    vals = sorted(vals)
    return round(vals[min(len(vals) - 1, int(q * len(vals)))], 2) \
        if vals else None


def counters(edge):
    """Every counter summed over every process of the edge (the TLS
    handshakes are counted in the children)."""
    return edge.stats().get("totals", {})


def settle(edge, opened0, n, limit=20.0):
    """Until the edge reports the n flows opened since opened0 and none
    open (children report to their parent and it to epsipd once a second
    each), then one more report."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c = counters(edge)
        if opened(c) - opened0 >= n and c.get("flows.open.tcp", 0) == 0 \
                and c.get("flows.open.tls", 0) == 0:
            break
        time.sleep(0.2)
    time.sleep(1.1)


def opened(c):
    return c.get("flows.opened.tcp", 0) + c.get("flows.opened.tls", 0)


def run_pass(edge, mode, ctx, sessions, a, rnd, sources):
    dest = edge.tls_addr if ctx is not None else edge.sip_addr
    idle0 = Cpu(edge)
    time.sleep(2.0)
    idle1 = Cpu(edge)
    idle_stat, idle_ns, idle_roles = idle1.since(idle0)
    idle_s = 2.0
    c0 = counters(edge)
    before = Cpu(edge)
    ru0 = os.times()
    t0 = time.monotonic()
    p = Pass(mode, dest, ctx, sessions, a.connections, a.window, sources,
             "r%d%s%d" % (rnd, mode, os.getpid()), a.rate)
    p.run()
    t_run = time.monotonic() - t0
    settle(edge, opened(c0), p.next)
    after = Cpu(edge)
    dt = time.monotonic() - t0
    ru1 = os.times()
    stat, ns, roles = after.since(before)
    c1 = counters(edge)
    delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in (
        "tls.handshakes.full", "tls.handshakes.resumed",
        "tls.handshake_failures", "flows.opened.tcp", "flows.opened.tls")}
    k = p.ok or 1
    rec = {"bench": "tls_handshakes", "round": rnd, "mode": mode,
           "connections": a.connections, "window": a.window,
           "rate": a.rate,
           "ok_200": p.ok, "failures": p.fail,
           "client_resumed": p.reused, "edge_counters": delta,
           "pass_s": round(t_run, 3), "measured_s": round(dt, 3),
           "connections_per_s": round(p.ok / t_run, 1),
           "fm_idle_pct": round(100 * idle_stat / idle_s, 2),
           "fm_cpu_s_stat": round(stat, 3), "fm_cpu_s_schedstat":
           round(ns, 4),
           "us_per_conn_fm_stat": round(1e6 * (
               stat - idle_stat / idle_s * dt) / k, 1),
           "us_per_conn_fm_schedstat": round(1e6 * (
               ns - idle_ns / idle_s * dt) / k, 1),
           "us_per_conn_by_role": {r: round(1e6 * (
               v - idle_roles.get(r, 0.0) / idle_s * dt) / k, 1)
               for r, v in sorted(roles.items())},
           "us_per_conn_edge": round(1e6 * (
               sum(roles.values()) - sum(idle_roles.values()) / idle_s * dt)
               / k, 1),
           "edge_idle_pct": round(100 * sum(idle_roles.values()) / idle_s,
                                  2),
           "client_cpu_us_per_conn": round(1e6 * (
               (ru1[0] - ru0[0]) + (ru1[1] - ru0[1])) / k, 1),
           "handshake_ms_p50": pct(p.handshake_ms, 0.5),
           "handshake_ms_p99": pct(p.handshake_ms, 0.99),
           "total_ms_p50": pct(p.total_ms, 0.5),
           "total_ms_p99": pct(p.total_ms, 0.99),
           "loadavg": open("/proc/loadavg").read().strip()}
    # A pass counts only if every phone got its 200 and the edge did the
    # handshakes the pass says it did.
    want_full = a.connections if mode.endswith("-full") else 0
    want_res = a.connections if p.resume else 0
    rec["valid"] = (p.ok == a.connections and not p.fail and
                    delta["tls.handshakes.full"] == want_full and
                    delta["tls.handshakes.resumed"] == want_res and
                    (not p.resume or p.reused == a.connections))
    return rec


def client_context(pki, version):
    ctx = wsclient.Pki.client_context(pki)
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    return ctx


def warm_up(edge, pki, a, sources):
    """Page in both paths (and let the pool's child start) unmeasured."""
    for ctx in (None, client_context(pki, "1.3")):
        dest = edge.tls_addr if ctx is not None else edge.sip_addr
        c0 = counters(edge)
        Pass("warm", dest, ctx, {}, 100, a.window, sources, "warm").run()
        settle(edge, opened(c0), 100)


def one_round(a, pki, rnd, out, sources):
    tls_port = benchlib.free_port()
    edge = benchlib.Edge(a.bin, ["--listen-tls", "127.0.0.1:%d" % tls_port,
                                 "--tls-cert", pki.cert,
                                 "--tls-key", pki.key] + a.epsip_args.split())
    edge.tls_addr = ("127.0.0.1", tls_port)
    groups = [["tcp"]] + [["tls%s-full" % v, "tls%s-resumed" % v]
                          for v in a.tls_versions.split(",")]
    k = rnd % len(groups)
    order = [m for g in groups[k:] + groups[:k] for m in g]
    try:
        edge.start()
        warm_up(edge, pki, a, sources)
        # A session resumes only with the context that made it.
        ctxs = {v: client_context(pki, v) for v in VERSIONS}
        sessions = {}
        for mode in order:
            ctx = None
            if mode != "tcp":
                ctx = ctxs[mode[3:6]]
                if mode.endswith("-full"):
                    sessions = {}
            rec = run_pass(edge, mode, ctx, sessions, a, rnd, sources)
            rec["commit"] = a.commit
            benchlib.emit(out, rec)
            print("round %d %-15s %s ok %d/%d, fm %.0f us/conn (schedstat "
                  "%.0f), edge %.0f us/conn, %.0f conn/s" % (
                      rnd, mode, "valid" if rec["valid"] else "INVALID",
                      rec["ok_200"], a.connections,
                      rec["us_per_conn_fm_stat"],
                      rec["us_per_conn_fm_schedstat"],
                      rec["us_per_conn_edge"], rec["connections_per_s"]),
                  file=sys.stderr, flush=True)
    finally:
        benchlib.teardown(edge, [])


# ---- the table ----

def median(vals):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def cell(vals, fmt="%.0f"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    text = fmt % median(vals)
    if len(vals) > 1:
        text += (" [" + fmt + "–" + fmt + "]") % (min(vals), max(vals))
    return text


def markdown(paths):
    recs = []
    for path in paths:
        with open(path) as f:
            recs += [json.loads(ln) for ln in f
                     if '"bench": "tls_handshakes"' in ln]
    modes = []
    for r in recs:
        if r["mode"] not in modes:
            modes.append(r["mode"])
    modes.sort(key=lambda m: (m != "tcp", m))
    by = {m: [r for r in recs if r["mode"] == m and r["valid"]]
          for m in modes}
    tcp = {r["round"]: r for r in by.get("tcp", [])}
    rows = [
        ("passes (valid / run)", lambda m: "%d / %d" % (
            len(by[m]), sum(1 for r in recs if r["mode"] == m))),
        ("flow-manager CPU µs per connection (stat)", lambda m: cell(
            [r["us_per_conn_fm_stat"] for r in by[m]])),
        ("flow-manager CPU µs per connection (schedstat)", lambda m: cell(
            [r["us_per_conn_fm_schedstat"] for r in by[m]])),
        ("minus TCP of the same round, µs", lambda m: cell(
            [r["us_per_conn_fm_stat"] - tcp[r["round"]]["us_per_conn_fm_stat"]
             for r in by[m] if r["round"] in tcp]) if m != "tcp" else "-"),
        ("÷ TCP of the same round", lambda m: cell(
            [r["us_per_conn_fm_stat"] / tcp[r["round"]]["us_per_conn_fm_stat"]
             for r in by[m] if r["round"] in tcp], "%.1f")
         if m != "tcp" else "-"),
        ("whole edge CPU µs per connection", lambda m: cell(
            [r["us_per_conn_edge"] for r in by[m]])),
        ("connections/s (%s, window %s)" % (
            "paced at %g/s" % recs[0]["rate"] if recs and recs[0]["rate"]
            else "unpaced", recs[0]["window"] if recs else "-"),
         lambda m: cell([r["connections_per_s"] for r in by[m]])),
        ("handshake p50 / p99 ms", lambda m: "-" if m == "tcp" else
         "%s / %s" % (cell([r["handshake_ms_p50"] for r in by[m]], "%.2f"),
                      cell([r["handshake_ms_p99"] for r in by[m]], "%.1f"))),
        ("client CPU µs per connection", lambda m: cell(
            [r["client_cpu_us_per_conn"] for r in by[m]])),
    ]
    lines = ["| measure | " + " | ".join(modes) + " |",
             "|---|" + "---|" * len(modes)]
    for name, get in rows:
        lines.append("| %s | %s |" % (name, " | ".join(get(m)
                                                       for m in modes)))
    return "\n".join(lines)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--markdown":
        print(markdown(sys.argv[2:]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="build/bin")
    ap.add_argument("--connections", type=int, default=2000,
                    help="K: connections per pass")
    ap.add_argument("--window", type=int, default=32,
                    help="connections in flight at most")
    ap.add_argument("--rate", type=float, default=250.0,
                    help="new connections per second, the same in every "
                    "pass, so that every pass finds the edge's batching "
                    "alike (0: as fast as the window allows)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tls-versions", default="1.3,1.2")
    ap.add_argument("--sources", type=int, default=5,
                    help="source addresses 127.0.0.2 ..")
    ap.add_argument("--epsip-args", default="")
    ap.add_argument("--out", help="append JSON records here")
    a = ap.parse_args()
    benchlib.install_signal_handlers()
    benchlib.raise_nofile()
    for v in a.tls_versions.split(","):
        if v not in VERSIONS:
            ap.error("--tls-versions: %r is not 1.3 or 1.2" % v)
    out = a.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results",
        "tls_handshakes-%s.jsonl" % time.strftime("%Y%m%dT%H%M%SZ",
                                                  time.gmtime()))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        a.commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, cwd=os.path.dirname(os.path.abspath(__file__))
        ).stdout.strip()
    except OSError:
        a.commit = None
    sources = benchlib.source_addresses(a.sources)
    # A private copy of the executables (as bench/run.sh does) and the
    # test PKI beside it.
    private = tempfile.mkdtemp(prefix="epsip-tls-handshakes-")
    try:
        for exe in ("epsipd", "epsip-flow-manager", "epsip-sip-router",
                    "epsip-registrar-bridge"):
            shutil.copy2(os.path.join(a.bin, exe), private)
        a.bin = private
        pki = wsclient.Pki(private)
        print("tls_handshakes.py: %d rounds, K = %d, window %d; records "
              "-> %s" % (a.rounds, a.connections, a.window, out),
              file=sys.stderr)
        for rnd in range(a.rounds):
            one_round(a, pki, rnd, out, sources)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    print(markdown([out]))


if __name__ == "__main__":
    main()
