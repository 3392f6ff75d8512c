#!/usr/bin/python3
"""Many TCP, TLS or WSS flows held like phones hold them, EPSIP next to a
trivial edge (TCP) or next to itself over TCP (TLS, WSS).

Each flow is an RFC 5626 outbound phone: it connects, sends one REGISTER
(Contact ...;ob;reg-id=1;+sip.instance, Supported: path, outbound), waits
for the 200 (checked for Require: outbound, Flow-Timer and a Path with
;ob), then sends a CRLF keep-alive "\\r\\n\\r\\n" every 0.8-1.0 x --ka-interval
seconds (RFC 5626 §4.4.1 jitter) and expects the "\\r\\n" pong.  New flows
are opened at --rate per second until --flows are open, then held for
--hold seconds, then closed with RST.

--transport tls: the same inside TLS (Python's ssl, trusting a test CA
made for the run, ECDSA P-256; the edge listens with --listen-tls).
--transport wss: TLS, then the WebSocket upgrade (Sec-WebSocket-Protocol:
sip), then the REGISTER in a masked text frame from a browser-like phone
(.invalid Via and Contact host); it sends no keep-alive of its own, as
JsSIP does not, and answers the edge's Pings (ws-ping-interval) with
Pongs; --ws-crlf adds SIP.js's CRLF keep-alive in a message.  A list
(tcp,tls,wss) runs each in turn within a round, so the memory of a TLS
or WSS flow is read next to a TCP flow's measured the same way.

The load comes from --workers processes (each an epoll loop, below the
hard descriptor limit), flows spread over source addresses 127.0.0.2 ..
127.0.0.(1+--sources) with IP_BIND_ADDRESS_NO_PORT, so the ephemeral port
range (about 28,000 ports) limits each source address, not the run.

The same load runs against each of --systems in one invocation (default:
the trivial edge first, then EPSIP): bench/trivial_edge.c, 6 processes
sharing the port with SO_REUSEPORT and answering REGISTER with a canned 200
and CRLF with CRLF, is the floor; EPSIP is a real epsipd started as
bench/benchlib.py's Edge starts it.  For each system one JSON record:

  latency  connect, REGISTER and pong p50/p99/p99.9/max in ms, separately
           for the ramp (sample started before the last flow registered)
           and the hold, and pong over the whole run
  failures connect/REGISTER timeouts and errors, edge closes, missing pongs
  memory   user-space Pss of every process of the system (KiB, at 0 flows
           and holding; per flow); kernel: /proc/meminfo Slab, SUnreclaim,
           /proc/net/sockstat TCP mem pages (deltas per flow: both ends of
           each loopback connection are on this box); skmem of the
           server-side sockets (ss -tm) summed
  cpu      per process (role) during the ramp and the hold; the generator's
  stats    EPSIP's /stats counters of every service at the end of the hold

and a summary with the ratios EPSIP / trivial edge.
`many_flows.py --markdown FILE.jsonl...` prints the medians [min-max] of
the records as the table in docs/performance.md.  Latency on a shared
2-core machine is noisy: compare the two systems of the same run.
"""
import argparse
import array
import base64
import errno
import heapq
import json
import math
import multiprocessing as mp
import os
import random
import re
import resource
import select
import shutil
import signal
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
PING = b"\r\n\r\n"
STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")
REQUIRE_OB = re.compile(rb"\r\nrequire[ \t]*:[^\r]*\boutbound\b", re.I)
FLOW_TIMER = re.compile(rb"\r\nflow-timer[ \t]*:[ \t]*\d+", re.I)
PATH_OB = re.compile(rb"\r\npath[ \t]*:[^\r]*;ob\b", re.I)

TRANSPORTS = ("tcp", "tls", "wss")
CONNECTING, HANDSHAKING, UPGRADING, REGISTERING, HELD, DEAD, REREG = range(7)
# A flow on its way to its first 200: counted in Worker.pending, and
# failed as "<phase>_timeout" when a phase takes longer than --timeout.
SETUP = {CONNECTING: "connect", HANDSHAKING: "handshake",
         UPGRADING: "upgrade", REGISTERING: "register"}
SAMPLE_KINDS = ("connect", "handshake", "upgrade", "register", "pong",
                "reregister", "ws_ping_silence")


def ephemeral_ports():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
    return hi - lo + 1


def client_tls_context(ca_file):
    """A phone's TLS: trusts the test CA only, checks the edge's address
    (no SNI to an IP address), TLS 1.2 or later."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def errname(e):
    if isinstance(e, ssl.SSLError):
        return "ssl:" + (e.reason or type(e).__name__)
    return errno.errorcode.get(e.errno, str(e.errno))


class Flow:
    __slots__ = ("sock", "state", "t", "buf", "ping_t", "g", "fbuf",
                 "ws_key", "last_tx", "events")

    def __init__(self, sock, g, t):
        self.sock = sock
        self.state = CONNECTING
        self.t = t
        self.buf = b""
        self.ping_t = 0.0
        self.g = g
        self.fbuf = b""         # WebSocket bytes not yet a whole frame
        self.ws_key = None
        self.last_tx = t
        self.events = select.EPOLLOUT


class Worker:
    """One generator process: opens its share of the flows and keeps them.

    Over TLS (and WSS) the socket is wrapped once connected and the
    handshake is driven by epoll (SSLWantRead/WriteError say which way);
    a read takes every record TLS can give, since epoll cannot see what
    OpenSSL has already decrypted.  Over WSS the flow then upgrades, as
    a browser does, and every SIP message is one masked text frame; a
    WSS phone sends no keep-alive of its own unless --ws-crlf (JsSIP
    sends none), and answers the edge's Pings with Pongs."""

    def __init__(self, idx, nworkers, dest, sources, n, rate, ka, timeout,
                 run_tag, transport="tcp", ca_file=None, ws_crlf=False):
        self.idx, self.nw, self.dest, self.sources = idx, nworkers, dest, \
            sources
        self.n, self.rate, self.ka, self.timeout = n, rate, ka, timeout
        self.tag = run_tag
        self.transport = transport
        self.ws = transport == "wss"
        self.ctx = client_tls_context(ca_file) if transport != "tcp" \
            else None
        self.keepalive = not self.ws or ws_crlf
        self.ep = select.epoll()
        self.flows = {}             # fd -> Flow
        self.timers = []            # (due, fd, kind, flow t at arming)
        self.samples = {k: array.array("d") for k in SAMPLE_KINDS}
        self.burst = {"sent": 0, "ok": 0}
        self.fail = {}
        self.notes = {}
        self.registered = 0
        self.pending = 0            # connecting ... registering
        self.started = 0
        self.ws_pings = 0
        self.t_ramped = None

    def count(self, d, k, n=1):
        d[k] = d.get(k, 0) + n

    def sample(self, kind, t_start, t_end):
        a = self.samples[kind]
        a.append(t_start)
        a.append(t_end - t_start)

    def open_one(self, j, now):
        g = j * self.nw + self.idx
        src = self.sources[g % len(self.sources)]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        try:
            s.bind((src, 0))
            rc = s.connect_ex(self.dest)
        except OSError as e:
            rc = e.errno
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.count(self.fail, "connect:" + errno.errorcode.get(rc, str(rc)))
            return
        f = Flow(s, g, now)
        self.pending += 1
        fd = s.fileno()
        self.flows[fd] = f
        self.ep.register(fd, select.EPOLLOUT)
        self.deadline(fd, f, now)

    def deadline(self, fd, f, now):
        """The phase the flow just entered must end within --timeout."""
        f.t = now
        heapq.heappush(self.timers, (now + self.timeout, fd, "deadline", now))

    def want(self, fd, f, events):
        if f.events != events:
            self.ep.modify(fd, events)
            f.events = events

    def kill(self, fd, f, reason):
        if reason:
            self.count(self.fail, reason)
        if f.state in SETUP:
            self.pending -= 1
        f.state = DEAD
        try:
            self.ep.unregister(fd)
        except OSError:
            pass
        try:
            f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        except OSError:
            pass
        f.sock.close()
        del self.flows[fd]

    def send(self, fd, f, data, what, now, opcode=None):
        """data to the edge, in a text frame (or opcode's) on WSS; False
        when the flow failed.  A message is < 1 KiB into a socket with
        nothing queued: it goes whole or it is a failure."""
        if self.ws:
            data = wsclient.frame(opcode or wsclient.OP_TEXT, data)
        try:
            n = f.sock.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            n = -1
        except OSError as e:
            self.kill(fd, f, what + ":" + errname(e))
            return False
        if n != len(data):
            self.kill(fd, f, what + ":short_write")
            return False
        f.last_tx = now
        return True

    def read(self, fd, f):
        """(bytes, eof) the edge sent, or None when the flow failed.
        Plain TCP: one recv, epoll says when there is more.  TLS: every
        record until it wants the socket again."""
        chunks, eof = [], False
        while True:
            try:
                d = f.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                break
            except ssl.SSLZeroReturnError:
                d = b""
            except OSError as e:
                self.kill(fd, f, "recv:" + errname(e) + ":" +
                          SETUP.get(f.state, "held"))
                return None
            if not d:
                eof = True
                break
            chunks.append(d)
            if self.ctx is None:
                break
        return b"".join(chunks), eof

    def on_connected(self, fd, f, now):
        err = f.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.kill(fd, f, "connect:" + errno.errorcode.get(err, str(err)))
            return
        self.sample("connect", f.t, now)
        if self.ctx is None:
            self.start_register(fd, f, now)
            return
        try:
            f.sock = self.ctx.wrap_socket(f.sock, server_hostname=self.dest[0],
                                          do_handshake_on_connect=False)
        except (OSError, ValueError) as e:
            self.kill(fd, f, "tls_wrap:%s" % e)
            return
        f.state = HANDSHAKING
        self.deadline(fd, f, now)
        self.on_handshake(fd, f, now)

    def on_handshake(self, fd, f, now):
        try:
            f.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.want(fd, f, select.EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self.want(fd, f, select.EPOLLOUT)
            return
        except OSError as e:
            self.kill(fd, f, "handshake:" + errname(e))
            return
        # The time now, not the event's: on 2 busy cores the edge may
        # answer while this worker is still in its first call.
        now = time.monotonic()
        self.sample("handshake", f.t, now)
        self.count(self.notes, "tls_" + f.sock.version())
        self.want(fd, f, select.EPOLLIN)
        if not self.ws:
            self.start_register(fd, f, now)
            return
        f.ws_key = base64.b64encode(os.urandom(16)).decode()
        req = wsclient.upgrade_request("%s:%d" % self.dest, f.ws_key)
        try:
            f.sock.send(req)    # < 1 KiB: goes whole
        except OSError as e:
            self.kill(fd, f, "send:" + errname(e))
            return
        f.state = UPGRADING
        self.deadline(fd, f, now)

    def on_upgrade_answer(self, fd, f, data, now):
        f.buf += data
        head = wsclient.parse_http_response(f.buf)
        if head is None:
            return True
        status, headers, rest = head
        if status != 101:
            self.kill(fd, f, "upgrade:%d" % status)
            return False
        if headers.get("sec-websocket-protocol") != "sip" or \
                headers.get("sec-websocket-accept") != \
                wsclient.expected_accept(f.ws_key):
            self.count(self.notes, "101_without_sip_or_accept")
        self.sample("upgrade", f.t, now)
        f.buf, f.fbuf = b"", rest
        if not self.start_register(fd, f, now):
            return False
        return self.on_ws_bytes(fd, f, b"", now)

    def start_register(self, fd, f, now):
        host = "%s:%d" % f.sock.getsockname()
        cid = "%s-%d" % (self.tag, f.g)
        msg = benchlib.outbound_register(self.transport, host, cid,
                                         "u%d" % f.g, f.g)
        if not self.send(fd, f, msg, "send", now):
            return False
        f.state = REGISTERING
        self.want(fd, f, select.EPOLLIN)
        self.deadline(fd, f, now)
        return True

    def on_readable(self, fd, f, now):
        got = self.read(fd, f)
        if got is None:
            return
        data, eof = got
        if data:
            if f.state == UPGRADING:
                alive = self.on_upgrade_answer(fd, f, data, now)
            elif self.ws:
                alive = self.on_ws_bytes(fd, f, data, now)
            else:
                alive = self.on_sip_bytes(fd, f, data, now)
            if not alive:
                return
        if eof:
            self.kill(fd, f, "closed_by_edge:" + SETUP.get(f.state, "held"))

    def on_ws_bytes(self, fd, f, data, now):
        """The edge's WebSocket frames: a text (or binary) message is one
        SIP message (or the \\r\\n pong), a Ping gets its Pong."""
        f.fbuf += data
        try:
            frames, f.fbuf = wsclient.parse_frames(f.fbuf)
        except AssertionError:
            self.kill(fd, f, "ws:masked_frame_from_edge")
            return False
        for fin, opcode, payload in frames:
            if not fin:
                self.count(self.notes, "ws_fragment_from_edge")
            if opcode == wsclient.OP_PING:
                self.ws_pings += 1
                self.sample("ws_ping_silence", f.last_tx, now)
                if not self.send(fd, f, payload, "pong", now,
                                 opcode=wsclient.OP_PONG):
                    return False
            elif opcode == wsclient.OP_CLOSE:
                self.kill(fd, f, "closed_by_edge:ws_close_%s" %
                          wsclient.close_code(payload))
                return False
            elif opcode in (wsclient.OP_TEXT, wsclient.OP_BINARY):
                if not self.on_sip_bytes(fd, f, payload, now):
                    return False
            else:
                self.count(self.notes, "ws_opcode_%d_from_edge" % opcode)
        return True

    def on_sip_bytes(self, fd, f, data, now):
        """SIP bytes from the edge (a stream, or one WebSocket message);
        False when the flow failed."""
        if f.state == REREG:
            return self.on_reregister_answer(fd, f, data, now)
        if f.state == HELD:
            if f.ping_t and b"\r\n" in data:
                self.sample("pong", f.ping_t, now)
                f.ping_t = 0.0
            elif not f.ping_t:
                self.count(self.notes, "unexpected_bytes_while_held")
            return True
        f.buf += data
        while True:
            b = f.buf.lstrip(b"\r\n")
            end = b.find(b"\r\n\r\n")
            if end < 0:
                f.buf = b
                return True
            head, f.buf = b[:end + 2], b[end + 4:]
            m = STATUS.match(head)
            if m is None:
                self.count(self.notes, "unparsed_message")
                continue
            code = int(m.group(1))
            if code < 200:
                continue
            if code != 200:
                self.kill(fd, f, "register:%d" % code)
                return False
            for what, rx in (("require_outbound", REQUIRE_OB),
                             ("flow_timer", FLOW_TIMER), ("path_ob", PATH_OB)):
                if not rx.search(head):
                    self.count(self.notes, "200_without_" + what)
            self.sample("register", f.t, now)
            self.registered += 1
            self.pending -= 1
            f.state = HELD
            f.buf = b""
            self.arm_ping(fd, now)
            return True

    def reregister_all(self, now):
        """Every held flow refreshes its registration at once (CSeq 2)."""
        for fd, f in list(self.flows.items()):
            if f.state != HELD:
                continue
            host = "%s:%d" % f.sock.getsockname()
            cid = "%s-%d" % (self.tag, f.g)
            msg = benchlib.outbound_register(self.transport, host, cid,
                                             "u%d" % f.g, f.g, cseq=2)
            if not self.send(fd, f, msg, "reregister", now):
                continue
            f.state, f.t, f.ping_t, f.buf = REREG, now, 0.0, b""
            self.burst["sent"] += 1
            heapq.heappush(self.timers, (now + self.timeout, fd, "deadline",
                                         now))

    def on_reregister_answer(self, fd, f, data, now):
        f.buf += data
        b = f.buf.lstrip(b"\r\n")     # a pong to a ping before the burst
        end = b.find(b"\r\n\r\n")
        if end < 0:
            f.buf = b
            return True
        m = STATUS.match(b[:end + 2])
        if m is None or int(m.group(1)) < 200:
            f.buf = b[end + 4:]
            return True
        if int(m.group(1)) == 200:
            self.burst["ok"] += 1
            self.sample("reregister", f.t, now)
        else:
            self.count(self.fail, "reregister:%s" % m.group(1).decode())
        f.state, f.buf = HELD, b""
        self.arm_ping(fd, now)
        return True

    def burst_pending(self):
        return sum(1 for f in self.flows.values() if f.state == REREG)

    def arm_ping(self, fd, now):
        if not self.keepalive:
            return
        due = now + self.ka * random.uniform(0.8, 1.0)
        heapq.heappush(self.timers, (due, fd, "ping", 0.0))

    def on_timer(self, fd, kind, armed, now):
        f = self.flows.get(fd)
        if f is None:
            return
        if kind == "deadline":
            if f.state in SETUP and f.t == armed:
                self.kill(fd, f, SETUP[f.state] + "_timeout")
            elif f.state == REREG and f.t == armed:
                self.count(self.fail, "reregister_timeout")
                f.state = HELD
                self.arm_ping(fd, now)
            return
        if f.state != HELD:
            return
        if f.ping_t:
            self.count(self.fail, "pong_overdue")
        if not self.send(fd, f, PING, "ping", now):
            return
        f.ping_t = now
        self.arm_ping(fd, now)

    def settled(self):
        """Every flow of this worker registered or failed."""
        return self.started == self.n and self.pending == 0

    def run(self, conn, t0):
        """Ramp, then hold until the parent says stop; "burst": every held
        flow re-registers at once, and says "burst_done" when all are
        answered or timed out."""
        cfd = conn.fileno()
        burst_open = False
        self.ep.register(cfd, select.EPOLLIN)
        per_s = self.rate / self.nw
        while True:
            now = time.monotonic()
            while self.started < self.n and \
                    t0 + self.started / per_s <= now:
                self.open_one(self.started, now)
                self.started += 1
            while self.timers and self.timers[0][0] <= now:
                _, fd, kind, armed = heapq.heappop(self.timers)
                self.on_timer(fd, kind, armed, now)
            if self.t_ramped is None and self.settled():
                self.t_ramped = now
                conn.send(("ramped", now, self.registered))
            if burst_open and self.burst_pending() == 0:
                burst_open = False
                conn.send(("burst_done", now, dict(self.burst)))
            nxt = now + 0.05
            if self.started < self.n:
                nxt = min(nxt, t0 + self.started / per_s)
            if self.timers:
                nxt = min(nxt, self.timers[0][0])
            for fd, ev in self.ep.poll(max(0.0, nxt - now)):
                if fd == cfd:
                    msg = conn.recv()
                    if msg == "stop":
                        return
                    if msg == "burst":
                        self.reregister_all(now)
                        burst_open = True
                    continue
                f = self.flows.get(fd)
                if f is None:
                    continue
                now = time.monotonic()
                if f.state == CONNECTING:
                    self.on_connected(fd, f, now)
                elif f.state == HANDSHAKING:
                    self.on_handshake(fd, f, now)
                else:
                    self.on_readable(fd, f, now)

    def report(self):
        held = sum(1 for f in self.flows.values() if f.state == HELD)
        missing = sum(1 for f in self.flows.values() if f.ping_t)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"worker": self.idx, "held": held,
                "registered": self.registered,
                "pong_outstanding_at_stop": missing,
                "ws_pings_answered": self.ws_pings,
                "failures": self.fail, "notes": self.notes,
                "cpu_user_s": ru.ru_utime, "cpu_sys_s": ru.ru_stime,
                "samples": {k: v.tobytes() for k, v in self.samples.items()}}

    def close_all(self):
        for fd, f in list(self.flows.items()):
            try:
                f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
            except OSError:
                pass
            f.sock.close()
        self.flows = {}


def worker_main(conn, idx, nworkers, dest, sources, n, rate, ka, timeout,
                run_tag, transport, ca_file, ws_crlf):
    benchlib.install_signal_handlers()
    benchlib.raise_nofile()
    random.seed(idx * 7919 + os.getpid())
    w = Worker(idx, nworkers, dest, sources, n, rate, ka, timeout, run_tag,
               transport, ca_file, ws_crlf)
    try:
        msg = conn.recv()
        w.run(conn, msg[1])
        conn.send(w.report())
        w.close_all()
        conn.send("closed")
    except (benchlib.Interrupted, EOFError, BrokenPipeError):
        pass
    finally:
        w.close_all()

# ---- the systems under test ----

class TrivialEdge:
    """bench/trivial_edge.c: N processes, SO_REUSEPORT, canned answers."""

    name = "trivial"

    def __init__(self, bin_dir, processes):
        self.exe = os.path.join(bin_dir, "trivial_edge")
        self.processes = processes
        self.proc = None
        self.counts = []

    def start(self):
        if not os.access(self.exe, os.X_OK):
            sys.exit("many_flows.py: %s missing (make build/bin/trivial_edge)"
                     % self.exe)
        port = benchlib.free_port()
        self.sip_addr = ("127.0.0.1", port)
        self.proc = subprocess.Popen(
            [self.exe, "127.0.0.1", str(port), str(self.processes)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("trivial_edge did not start")

    def all_pids(self):
        return benchlib.descendants(self.proc.pid)

    def roles(self):
        return {p: ("trivial-parent" if p == self.proc.pid else
                    "trivial-worker") for p in self.all_pids()}

    def stats(self):
        return None

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        for line in out.decode().splitlines():
            if line.startswith("{"):
                self.counts.append(json.loads(line))
        self.proc = None

    def final(self):
        tot = {}
        for c in self.counts:
            for k, v in c.items():
                if k != "process":
                    tot[k] = tot.get(k, 0) + v
        return {"answered": tot, "per_process_accepted": [
            c["accepted"] for c in self.counts]}


class Epsip:
    """A real epsipd with its defaults (pooled children, 4096 flows each);
    for TLS or WSS it also listens there, with the test PKI's
    certificate, and the phones connect to that listener."""

    name = "epsip"

    def __init__(self, bin_dir, args, transport="tcp", pki=None):
        self.edge = benchlib.Edge(bin_dir, args)
        self.transport = transport
        self.pki = pki

    def start(self):
        addr = None
        if self.transport != "tcp":
            addr = ("127.0.0.1", benchlib.free_port())
            self.edge.args += ["--listen-" + self.transport,
                               "%s:%d" % addr, "--tls-cert", self.pki.cert,
                               "--tls-key", self.pki.key]
        self.edge.start()
        self.sip_addr = addr or self.edge.sip_addr

    def all_pids(self):
        return self.edge.all_pids()

    def roles(self):
        return self.edge.roles()

    def stats(self):
        """Each service's counters, and "totals": every counter summed
        over every process (the children count TLS handshakes, Pings)."""
        s = self.edge.stats()
        out = {k: v.get("counters", {}) for k, v in
               s.get("services", {}).items()}
        out["totals"] = {k: v for k, v in s.get("totals", {}).items()
                         if not k.startswith("bytes.")}
        return out

    def stop(self):
        if self.edge.proc is not None:
            self.final_stats = self.stats()
            self.edge.stop()
        warn = benchlib.warn_lines(self.edge.logs())
        self.warn = {"count": len(warn), "first": warn[:5]}
        self.edge.cleanup()

    def final(self):
        return {"stats_after_close": getattr(self, "final_stats", None),
                "log_warn": getattr(self, "warn", None)}


# ---- measurement ----

def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1,
                           int(math.ceil(q * len(sorted_vals))) - 1)]


def summarize(lat_ms):
    lat_ms.sort()
    return {"n": len(lat_ms), "p50_ms": pct(lat_ms, 0.5),
            "p99_ms": pct(lat_ms, 0.99), "p999_ms": pct(lat_ms, 0.999),
            "max_ms": lat_ms[-1] if lat_ms else None}


def split_samples(reports, t_ramp_end, t_meas0, t_meas1):
    """{kind: {ramp, hold, all, measuring}} latency summaries, by when the
    sample started; "all" is ramp + hold, without the memory measurement."""
    out = {}
    for kind in SAMPLE_KINDS:
        ramp, hold, meas = [], [], []
        for r in reports:
            a = array.array("d")
            a.frombytes(r["samples"][kind])
            for i in range(0, len(a), 2):
                t = a[i]
                (ramp if t < t_ramp_end else hold if t < t_meas0 else
                 meas if t <= t_meas1 else hold).append(1000 * a[i + 1])
        out[kind] = {"ramp": summarize(list(ramp)),
                     "hold": summarize(list(hold)),
                     "measuring": summarize(meas),
                     "all": summarize(ramp + hold)}
    return out


def timeline(reports, t0, step):
    """Per step seconds of the run: samples started, and their p99 (ms)."""
    out = {}
    for kind in ("connect", "handshake", "register", "pong"):
        bins = {}
        for r in reports:
            a = array.array("d")
            a.frombytes(r["samples"][kind])
            for i in range(0, len(a), 2):
                bins.setdefault(int((a[i] - t0) // step), []).append(
                    1000 * a[i + 1])
        out[kind] = [[b * step, len(v), round(pct(sorted(v), 0.99), 1)]
                     for b, v in sorted(bins.items())]
    return out


def box_cpu():
    """The machine's CPU time so far, all cores (/proc/stat jiffies)."""
    with open("/proc/stat") as f:
        w = [int(x) for x in f.readline().split()[1:9]]
    return {"busy": sum(w) - w[3] - w[4], "steal": w[7], "total": sum(w)}


def box_busy(b0, b1):
    """Busy and stolen, in % of all the machine's cores, between two
    box_cpu() readings: near 100 busy, everyone (edge, generator and
    whatever else runs here) waits for a CPU."""
    t = max(1, b1["total"] - b0["total"])
    return {"busy": round(100.0 * (b1["busy"] - b0["busy"]) / t, 1),
            "steal": round(100.0 * (b1["steal"] - b0["steal"]) / t, 1)}


def kernel_mem():
    m = benchlib.meminfo()
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("sockets:"):
                m["sockets_used"] = int(line.split()[2])
    return m


def slabinfo():
    """{cache: bytes} from /proc/slabinfo (root only; {} otherwise)."""
    out = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f.readlines()[2:]:
                w = line.split()
                out[w[0]] = int(w[1]) * int(w[3])  # active_objs * objsize
    except (OSError, ValueError, IndexError):
        pass
    return out


def slab_per_flow(s0, s1, n, top=12):
    """The caches that grew most, in bytes per flow (both ends)."""
    d = {k: (s1.get(k, 0) - s0.get(k, 0)) / n for k in s1}
    return dict(sorted(((k, round(v)) for k, v in d.items() if v >= 1),
                       key=lambda kv: -kv[1])[:top])


def skmem(port):
    """Sum of the server-side sockets' skmem fields (ss -tm), and count."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "established", "( sport = :%d )" % port],
        capture_output=True, text=True, timeout=120).stdout
    tot = {"sockets": 0}
    for m in re.finditer(r"skmem:\(([^)]*)\)", out):
        tot["sockets"] += 1
        for part in m.group(1).split(","):
            k = part.rstrip("0123456789")
            tot[k] = tot.get(k, 0) + int(part[len(k):])
    return tot


def pss(system):
    a = benchlib.account(system.all_pids())
    return {"pss_kib": a["pss_kib"], "private_kib": a["private_kib"],
            "rss_kib": a["rss_kib"], "processes": a["processes"],
            "threads": a["threads"]}


def sockstat_snapshot():
    try:
        return subprocess.run(["ss", "-s"], capture_output=True, text=True,
                              timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def dmesg_tail():
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    keep = ("TCP:", "SYN flooding", "conntrack", "Out of memory", "oom")
    return [ln for ln in out.splitlines()[-400:] if any(k in ln for k in keep)]


def registrations_active(system):
    return system.stats().get("registrar-bridge", {}).get(
        "registrations.active")


def bindings_cleared(system, t_close, limit=10.0):
    """Issue 8 §2: every flow closed at t_close; seconds until the
    registrar holds no binding (None: not within `limit`), and how many
    it still held then."""
    while time.monotonic() - t_close < limit:
        n = registrations_active(system)
        if n == 0:
            return {"cleared_s": round(time.monotonic() - t_close, 2),
                    "left": 0}
        time.sleep(0.2)
    return {"cleared_s": None, "left": registrations_active(system)}


def reregister_burst(workers, a):
    """Every held flow re-registers at once: all must get a final answer."""
    t0 = time.monotonic()
    for _, c in workers:
        c.send("burst")
    done = []
    while len(done) < len(workers) and \
            time.monotonic() - t0 < a.timeout + 30:
        for _, c in workers:
            if c.poll(0.05):
                msg = c.recv()
                if isinstance(msg, tuple) and msg[0] == "burst_done":
                    done.append(msg)
    sent = sum(m[2]["sent"] for m in done)
    ok = sum(m[2]["ok"] for m in done)
    return {"sent": sent, "ok_200": ok, "workers_done": len(done),
            "all_answered_s": round(max([m[1] for m in done] + [t0]) - t0,
                                    2) if len(done) == len(workers)
            else None}


def run_system(system, a, run_tag, transport="tcp"):
    """One system, one full ramp + hold + close; returns its record."""
    rec = {"system": system.name, "flows": a.flows, "rate": a.rate,
           "hold_s": a.hold, "workers": a.workers, "sources": a.sources,
           "ka_interval_s": a.ka_interval, "transport": transport,
           "ws_crlf": a.ws_crlf, "epsip_args": a.epsip_args}
    sources = benchlib.source_addresses(a.sources)
    per = benchlib.shares(a.flows, a.workers)
    ctx = mp.get_context("fork")
    workers = []
    dmesg0 = set(dmesg_tail())
    ld0 = benchlib.listen_drops()
    try:
        system.start()
        time.sleep(1.5)
        rec["mem_before"] = pss(system)
        k0 = kernel_mem()
        slab0 = slabinfo()
        for i in range(a.workers):
            pe, ce = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(
                ce, i, a.workers, system.sip_addr, sources, per[i], a.rate,
                a.ka_interval, a.timeout, run_tag, transport, a.ca_file,
                a.ws_crlf), daemon=True)
            p.start()
            workers.append((p, pe))
        time.sleep(0.5)
        roles = system.roles()
        cpu0 = benchlib.cpu_snapshot(roles)
        box0 = box_cpu()
        t0 = time.monotonic() + 0.1
        for _, c in workers:
            c.send(("go", t0))
        # Ramp: until every worker has every flow registered or failed.
        ramped = {}
        limit = t0 + a.flows / a.rate + 2 * a.timeout + 30
        progress_t = time.monotonic()
        while len(ramped) < len(workers) and time.monotonic() < limit:
            for i, (_, c) in enumerate(workers):
                if i not in ramped and c.poll(0.05):
                    ramped[i] = c.recv()
            if time.monotonic() - progress_t >= 10:
                progress_t = time.monotonic()
                st = system.stats()
                print("  %s t=%.0fs workers ramped %d/%d%s" % (
                    system.name, progress_t - t0, len(ramped), len(workers),
                    (" flows.open.%s=%s" % (transport, st.get(
                        "flow-manager", {}).get("flows.open." + transport)))
                    if st else ""),
                    file=sys.stderr, flush=True)
        t_ramp_end = max([m[1] for m in ramped.values()] +
                         [time.monotonic()] * (len(ramped) < len(workers)))
        rec["ramp_s"] = t_ramp_end - t0
        rec["ramp_complete"] = len(ramped) == len(workers)
        roles = system.roles()
        rec["cpu_ramp_s_by_role"] = {
            k: round(v / 1e9, 2) for k, v in
            sorted(benchlib.cpu_by_role(roles, cpu0).items())}
        # Hold: keep-alives only; CPU per role over the hold.
        cpu1 = benchlib.cpu_snapshot(roles)
        box1 = box_cpu()
        th = time.monotonic()
        time.sleep(a.hold)
        dt = time.monotonic() - th
        rec["cpu_hold_pct_by_role"] = {
            k: round(100.0 * v / 1e9 / dt, 2) for k, v in
            sorted(benchlib.cpu_by_role(roles, cpu1).items())}
        box2 = box_cpu()
        rec["box_cpu_pct"] = {"ramp": box_busy(box0, box1),
                              "hold": box_busy(box1, box2)}
        rec["stats_hold"] = system.stats()
        # Memory last: reading every process's smaps and dumping 200,000
        # sockets (ss) stalls the processes and the kernel for a moment;
        # pings started meanwhile are kept out of hold and all.
        t_meas0 = time.monotonic()
        rec["mem_hold"] = pss(system)
        k1 = kernel_mem()
        slab1 = slabinfo()
        rec["kernel_before"], rec["kernel_hold"] = k0, k1
        rec["skmem_server_sockets"] = skmem(system.sip_addr[1])
        rec["ss_s_hold"] = sockstat_snapshot()
        t_meas1 = time.monotonic()
        rec["measuring_s"] = t_meas1 - t_meas0
        if a.reregister_burst:
            rec["reregister_burst"] = reregister_burst(workers, a)
        if a.close == "kill-children" and system.name == "epsip":
            killed = [pid for pid, role in system.roles().items()
                      if role == "fm-child"]
            t_close = time.monotonic()
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            rec["children_killed"] = len(killed)
            rec["bindings_after_close"] = bindings_cleared(system, t_close)
        for _, c in workers:
            c.send("stop")
        reports = []
        for _, c in workers:
            if c.poll(60):
                reports.append(c.recv())
        t_close = time.monotonic()
        for _, c in workers:
            if c.poll(60):
                c.recv()    # "closed": RSTs sent
        rec["t_end_s"] = time.monotonic() - t0
        if system.name == "epsip" and "bindings_after_close" not in rec:
            rec["bindings_after_close"] = bindings_cleared(system, t_close)
        held = sum(r["held"] for r in reports)
        rec["registered"] = sum(r["registered"] for r in reports)
        rec["held_at_stop"] = held
        fails, notes = {}, {}
        for r in reports:
            for src, dst in ((r["failures"], fails), (r["notes"], notes)):
                for k, v in src.items():
                    dst[k] = dst.get(k, 0) + v
        rec["failures"] = fails
        rec["notes"] = notes
        rec["pong_outstanding_at_stop"] = sum(
            r["pong_outstanding_at_stop"] for r in reports)
        rec["ws_pings_answered"] = sum(r["ws_pings_answered"]
                                       for r in reports)
        rec["generator_cpu_s"] = {
            "user": round(sum(r["cpu_user_s"] for r in reports), 1),
            "sys": round(sum(r["cpu_sys_s"] for r in reports), 1)}
        rec["latency"] = split_samples(reports, t_ramp_end, t_meas0,
                                       t_meas1)
        rec["timeline_10s"] = timeline(reports, t0, 10)
        rec["generator_cpu_s_by_worker"] = [
            [round(r["cpu_user_s"], 1), round(r["cpu_sys_s"], 1)]
            for r in reports]
        n = rec["registered"] or 1
        # The kernel figures are system-wide: valid only if nobody else
        # opened or closed sockets meanwhile (both ends of each flow here).
        rec["kernel_deltas_valid"] = kernel_valid(k0, k1, held)
        rec["per_flow"] = {
            "user_pss_kib": (rec["mem_hold"]["pss_kib"] -
                             rec["mem_before"]["pss_kib"]) / n,
            "user_private_kib": (rec["mem_hold"]["private_kib"] -
                                 rec["mem_before"]["private_kib"]) / n,
            "user_rss_kib": (rec["mem_hold"]["rss_kib"] -
                             rec["mem_before"]["rss_kib"]) / n,
            "kernel_slab_kib_both_ends": (k1["Slab"] - k0["Slab"]) / n,
            "kernel_sunreclaim_kib_both_ends": (
                k1["SUnreclaim"] - k0["SUnreclaim"]) / n,
            "kernel_tcp_mem_kib_both_ends": 4 * (
                k1["tcp_mem_pages"] - k0["tcp_mem_pages"]) / n,
            "slab_bytes_by_cache_both_ends": slab_per_flow(slab0, slab1, n),
            "server_skmem_bytes": {
                k: v / max(1, rec["skmem_server_sockets"]["sockets"])
                for k, v in rec["skmem_server_sockets"].items()
                if k != "sockets"}}
        time.sleep(3)
    finally:
        for p, _ in workers:
            if p.is_alive():
                p.terminate()
                p.join(5)
        system.stop()
    ld1 = benchlib.listen_drops()
    rec["listen_overflows"] = ld1.get("ListenOverflows", 0) - \
        ld0.get("ListenOverflows", 0)
    rec["listen_drops"] = ld1.get("ListenDrops", 0) - ld0.get("ListenDrops", 0)
    rec["dmesg_new"] = [ln for ln in dmesg_tail() if ln not in dmesg0]
    rec.update(system.final())
    return rec


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return round(a / b, 2)


def summary_line(r):
    lat = r["latency"]
    return ("%-8s %-3s registered %d/%d fail %s | REGISTER p99 ramp %s ms | "
            "pong p99 ramp %s hold %s all %s ms | Pss %.2f KiB/flow | "
            "slab %.2f KiB/flow (both ends)" % (
                r["system"], r.get("transport", "tcp"), r["registered"],
                r["flows"], sum(r["failures"].values()),
                fmt(lat["register"]["ramp"]["p99_ms"]),
                fmt(lat["pong"]["ramp"]["p99_ms"]),
                fmt(lat["pong"]["hold"]["p99_ms"]),
                fmt(lat["pong"]["all"]["p99_ms"]),
                r["per_flow"]["user_pss_kib"],
                r["per_flow"]["kernel_slab_kib_both_ends"]))


def fmt(v):
    return "-" if v is None else "%.1f" % v


def kernel(r, key):
    """A kernel figure, unless other sockets came or went meanwhile."""
    ok = kernel_valid(r["kernel_before"], r["kernel_hold"], r["held_at_stop"])
    return r["per_flow"][key] if ok else None


def kernel_valid(k0, k1, held):
    """Slab is counted in pages: someone else's many sockets, now or just
    freed, blur it.  Valid when the box had few other TCP sockets and the
    count grew by exactly both ends of our flows."""
    slack = 0.01 * held + 50
    return (k0["tcp_inuse"] <= slack and
            abs(k1["tcp_inuse"] - k0["tcp_inuse"] - 2 * held) <= slack)


def lat(r, kind, part, q):
    """A latency percentile of a record (None: not measured there)."""
    return r["latency"].get(kind, {}).get(part, {}).get(q)


def socket_buffers(r):
    """Bytes of socket buffer per edge-side socket: receive and send
    queues, forward allocation, queued writes (ss -tm skmem r, t, f, w)."""
    sk = r["per_flow"].get("server_skmem_bytes", {})
    if not sk:
        return None
    return sum(sk.get(k, 0) for k in ("r", "t", "f", "w"))


TABLE_ROWS = (
    ("registered", lambda r: r["registered"]),
    ("failures", lambda r: sum(r["failures"].values())),
    ("connect p99 ms (ramp)", lambda r: r["latency"]["connect"]["ramp"]["p99_ms"]),
    ("TLS handshake p50 ms (ramp)",
     lambda r: lat(r, "handshake", "ramp", "p50_ms")),
    ("TLS handshake p99 ms (ramp)",
     lambda r: lat(r, "handshake", "ramp", "p99_ms")),
    ("REGISTER p50 ms (ramp)", lambda r: r["latency"]["register"]["ramp"]["p50_ms"]),
    ("REGISTER p99 ms (ramp)", lambda r: r["latency"]["register"]["ramp"]["p99_ms"]),
    ("pong p50 ms (hold)", lambda r: r["latency"]["pong"]["hold"]["p50_ms"]),
    ("pong p99 ms (ramp)", lambda r: r["latency"]["pong"]["ramp"]["p99_ms"]),
    ("pong p99 ms (hold)", lambda r: r["latency"]["pong"]["hold"]["p99_ms"]),
    ("pong p99 ms (whole run)", lambda r: r["latency"]["pong"]["all"]["p99_ms"]),
    ("edge's Pings answered (WSS)",
     lambda r: r.get("ws_pings_answered") if r.get("transport") == "wss"
     else None),
    ("user-space Pss KiB per flow", lambda r: r["per_flow"]["user_pss_kib"]),
    ("user-space RSS KiB per flow",
     lambda r: r["per_flow"].get("user_rss_kib")),
    ("edge socket buffers, bytes per flow (skmem r+t+f+w)", socket_buffers),
    ("kernel Slab KiB per flow (both ends)",
     lambda r: kernel(r, "kernel_slab_kib_both_ends")),
    ("kernel SUnreclaim KiB per flow (both ends)",
     lambda r: kernel(r, "kernel_sunreclaim_kib_both_ends")),
    ("machine busy %, ramp (all cores, everyone)",
     lambda r: r.get("box_cpu_pct", {}).get("ramp", {}).get("busy")),
    ("machine busy %, hold", lambda r: r.get("box_cpu_pct", {}).get(
        "hold", {}).get("busy")),
    ("server CPU s, ramp", lambda r: sum(r["cpu_ramp_s_by_role"].values())),
    ("server CPU %, hold", lambda r: sum(r["cpu_hold_pct_by_role"].values())),
    ("generator CPU s (user / sys)", lambda r: "%.0f / %.0f" % (
        r["generator_cpu_s"]["user"], r["generator_cpu_s"]["sys"])),
)


def median(vals):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    return vals[len(vals) // 2] if len(vals) % 2 else \
        (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2


def num(v):
    if isinstance(v, int) or (float(v).is_integer() and abs(v) >= 100):
        return "%d" % v
    return "%.2f" % v if abs(v) < 100 else "%.0f" % v


def cell(vals):
    if any(isinstance(v, str) for v in vals):
        return ", ".join(vals)
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = median(vals)
    if all(isinstance(v, int) for v in vals) and float(m).is_integer():
        m = int(m)
    text = num(m)
    if len(vals) > 1:
        text += " [%s–%s]" % (num(min(vals)), num(max(vals)))
    return text


def markdown(paths):
    """Medians [min-max] per (flows, rate, system, transport) of the given
    records; then TLS and WSS against TCP round by round, if any."""
    groups = {}
    rounds = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if "system" in r and "latency" in r and \
                        r["system"] == "epsip":
                    rounds.setdefault((path, r["round"]), {})[
                        r.get("transport", "tcp")] = r
                if "system" in r and "latency" in r:
                    groups.setdefault((r["flows"], r["rate"], r["sources"],
                                       r["system"],
                                       r.get("transport", "tcp")),
                                      []).append(r)
    keys = sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3] != "epsip",
                                         TRANSPORTS.index(k[4])))
    head = ["measure"] + ["%s%s, %d flows, %g/s, %d sources (%d run%s)" % (
        k[3], "" if k[4] == "tcp" and k[3] == "trivial" else " " + k[4],
        k[0], k[1], k[2], len(groups[k]),
        "s" * (len(groups[k]) > 1)) for k in keys]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for name, get in TABLE_ROWS:
        lines.append("| " + " | ".join(
            [name] + [cell([get(r) for r in groups[k]]) for k in keys]) +
            " |")
    return "\n".join(lines + over_tcp(rounds))


OVER_TCP_ROWS = (
    ("Pss KiB per flow, minus TCP's", lambda r, t: (
        r["per_flow"]["user_pss_kib"] - t["per_flow"]["user_pss_kib"])),
    ("RSS KiB per flow, minus TCP's", lambda r, t: (
        r["per_flow"]["user_rss_kib"] - t["per_flow"]["user_rss_kib"])),
    ("Pss per flow ÷ TCP's", lambda r, t: ratio(
        r["per_flow"]["user_pss_kib"], t["per_flow"]["user_pss_kib"])),
    ("server CPU, ramp ÷ TCP's", lambda r, t: ratio(
        sum(r["cpu_ramp_s_by_role"].values()),
        sum(t["cpu_ramp_s_by_role"].values()))),
    ("server CPU, hold ÷ TCP's", lambda r, t: ratio(
        sum(r["cpu_hold_pct_by_role"].values()),
        sum(t["cpu_hold_pct_by_role"].values()))),
)


def over_tcp(rounds):
    """EPSIP over TLS or WSS against EPSIP over TCP in the same round:
    medians [min-max] over rounds, one column per (flows, transport)."""
    pairs = {}
    for runs in rounds.values():
        t = runs.get("tcp")
        for transport, r in runs.items():
            if t is not None and transport != "tcp":
                pairs.setdefault((r["flows"], transport), []).append((r, t))
    if not pairs:
        return []
    keys = sorted(pairs, key=lambda k: (k[0], TRANSPORTS.index(k[1])))
    head = ["same round as TCP"] + ["%s, %d flows (%d rounds)" % (
        k[1], k[0], len(pairs[k])) for k in keys]
    lines = ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, get in OVER_TCP_ROWS:
        lines.append("| " + " | ".join([name] + [
            cell([get(r, t) for r, t in pairs[k]]) for k in keys]) + " |")
    return lines


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--markdown":
        print(markdown(sys.argv[2:]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="build/bin")
    ap.add_argument("--flows", type=int, default=100000)
    ap.add_argument("--rate", type=float, default=1000.0,
                    help="new flows per second (all workers)")
    ap.add_argument("--hold", type=float, default=60.0,
                    help="seconds to hold every flow after the ramp")
    ap.add_argument("--ka-interval", type=float, default=30.0,
                    help="keep-alive every 0.8-1.0 x this many seconds")
    ap.add_argument("--timeout", type=float, default=15.0,
                    help="seconds a connect or REGISTER may take")
    benchlib.generator_args(ap, "6, or more if the descriptor limit "
                            "needs it")
    ap.add_argument("--systems", default="trivial,epsip")
    ap.add_argument("--transport", default="tcp",
                    help="how the phones connect: tcp, tls, wss, or a list "
                    "(tcp,tls,wss: one run of each per round, side by side; "
                    "the trivial edge runs with tcp only)")
    ap.add_argument("--ws-crlf", action="store_true",
                    help="WSS phones also send CRLF keep-alives in a "
                    "message (SIP.js); without it they only answer the "
                    "edge's Pings (JsSIP)")
    ap.add_argument("--trivial-processes", type=int, default=6)
    ap.add_argument("--epsip-args", default="",
                    help="extra epsipd flags, e.g. '--flows-per-child 8192'")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--reregister-burst", action="store_true",
                    help="after the hold, every flow re-registers at once "
                    "(issue 8 §2: all must get a final answer)")
    ap.add_argument("--close", choices=("rst", "kill-children"),
                    default="rst", help="how EPSIP's flows end: the "
                    "clients' RST, or SIGKILL of every flow-manager child; "
                    "then registrations.active must reach 0 within 10 s")
    ap.add_argument("--out", help="append JSON records here")
    a = ap.parse_args()
    for t in a.transport.split(","):
        if t not in TRANSPORTS:
            ap.error("--transport: %r is not one of %s" % (
                t, ", ".join(TRANSPORTS)))
    benchlib.install_signal_handlers()
    hard = benchlib.raise_nofile()
    need = int(math.ceil(a.flows / float(hard - 200)))
    a.workers = max(a.workers or 6, need)
    a.sources = a.sources or benchlib.sources_for(a.flows)
    half = ephemeral_ports() // 2
    if a.flows / a.sources > half:
        print("many_flows.py: %d flows over %d source addresses is more "
              "than half the ephemeral ports (%d) of each: connect() will "
              "spend its time searching for a port (docs/performance.md); "
              "add --sources" % (a.flows, a.sources, half), file=sys.stderr)
    out = a.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results",
        "many_flows-%s.jsonl" % time.strftime("%Y%m%dT%H%M%SZ",
                                              time.gmtime()))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    print("many_flows.py: %d flows at %g/s, hold %gs, %d workers, %d "
          "sources; records -> %s" % (a.flows, a.rate, a.hold, a.workers,
                                      a.sources, out), file=sys.stderr)
    # A private copy of the executables: a rebuild of --bin in the middle
    # of a run cannot change them (as bench/run.sh does).
    private_bin = tempfile.mkdtemp(prefix="epsip-many-flows-bin-")
    try:
        for exe in ("epsipd", "epsip-flow-manager", "epsip-sip-router",
                    "epsip-registrar-bridge", "trivial_edge"):
            if os.path.exists(os.path.join(a.bin, exe)):
                shutil.copy2(os.path.join(a.bin, exe), private_bin)
        a.bin = private_bin
        # TLS and WSS: a test CA and an ECDSA P-256 certificate for
        # 127.0.0.1 (tests/integration/wsclient.py), made for this run.
        pki, a.ca_file = None, None
        if a.transport != "tcp":
            pki = wsclient.Pki(os.path.join(private_bin))
            a.ca_file = pki.ca
        run_all(a, out, pki)
    finally:
        shutil.rmtree(private_bin, ignore_errors=True)


def run_all(a, out, pki):
    transports = a.transport.split(",")
    for rnd in range(a.runs):
        recs = {}
        # Transports take turns at going first, round by round: the box
        # drifts, and each ratio to TCP is taken within one round.
        k = rnd % len(transports)
        for transport in transports[k:] + transports[:k]:
            for name in a.systems.split(","):
                if name == "trivial" and transport != "tcp":
                    continue        # trivial_edge.c speaks plain TCP only
                rec = run_one(a, name, transport, pki, rnd)
                recs[name, transport] = rec
                with open(out, "a") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
        for transport in transports:
            if ("epsip", transport) in recs and transport != "tcp" and \
                    ("epsip", "tcp") in recs:
                benchlib.emit(out, {"round": rnd, "ratios_over_tcp": {
                    transport: transport_ratios(recs["epsip", transport],
                                                recs["epsip", "tcp"])}})
        if ("epsip", "tcp") in recs and ("trivial", "tcp") in recs:
            e = recs["epsip", "tcp"]["latency"]
            t = recs["trivial", "tcp"]["latency"]
            r = {"round": rnd, "ratios_epsip_over_trivial": {
                "pong_p99_all": ratio(e["pong"]["all"]["p99_ms"],
                                      t["pong"]["all"]["p99_ms"]),
                "pong_p99_hold": ratio(e["pong"]["hold"]["p99_ms"],
                                       t["pong"]["hold"]["p99_ms"]),
                "register_p99_ramp": ratio(e["register"]["ramp"]["p99_ms"],
                                           t["register"]["ramp"]["p99_ms"]),
                "connect_p99_ramp": ratio(e["connect"]["ramp"]["p99_ms"],
                                          t["connect"]["ramp"]["p99_ms"])}}
            benchlib.emit(out, r)


def run_one(a, name, transport, pki, rnd):
    if name == "trivial":
        system = TrivialEdge(a.bin, a.trivial_processes)
    elif name == "epsip":
        system = Epsip(a.bin, a.epsip_args.split(), transport, pki)
    else:
        sys.exit("many_flows.py: unknown system %r" % name)
    rec = run_system(system, a, "r%d%s%s%d" % (rnd, name[0], transport,
                                               os.getpid()), transport)
    rec["round"] = rnd
    rec["machine"] = {"loadavg": open("/proc/loadavg").read().strip(),
                      "nproc": os.cpu_count()}
    print(summary_line(rec), file=sys.stderr, flush=True)
    benchlib.emit(None, {"system": name, "transport": transport,
                         "summary": summary_line(rec)})
    return rec


def transport_ratios(r, tcp):
    """A TLS or WSS run over the TCP run of the same round (EPSIP)."""
    return {"user_pss_per_flow": ratio(r["per_flow"]["user_pss_kib"],
                                       tcp["per_flow"]["user_pss_kib"]),
            "pong_p99_hold": ratio(r["latency"]["pong"]["hold"]["p99_ms"],
                                   tcp["latency"]["pong"]["hold"]["p99_ms"]),
            "server_cpu_ramp": ratio(sum(r["cpu_ramp_s_by_role"].values()),
                                     sum(tcp["cpu_ramp_s_by_role"].values())),
            "server_cpu_hold": ratio(
                sum(r["cpu_hold_pct_by_role"].values()),
                sum(tcp["cpu_hold_pct_by_role"].values()))}


if __name__ == "__main__":
    main()
