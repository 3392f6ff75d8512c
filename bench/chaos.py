#!/usr/bin/python3
"""Chaos under load (issue 12 §7): SIGKILL a random EPSIP process every few
seconds while phones register and are called, and account for every
registration, flow and call.

Targets, one every --interval seconds (uniform, 2-5 s): the flow-manager
parent, one flow-manager child, the sip-router, the registrar-bridge.  The
kind comes from a shuffled bag of the four (so each is killed equally
often, in a random order), the child at random.  Never epsipd, the
supervisor.  A pid is killed only if it is a descendant of the epsipd
this run started and runs an EPSIP executable.

Load, all on loopback:
  phones   --tcp RFC 5626 phones over TCP (flows-per-child is small, so
           they spread over several children) and --udp over UDP, in one
           epoll loop (a worker process): REGISTER with +sip.instance and
           reg-id, refreshed every --refresh s (UDP: --refresh-udp), a
           REGISTER unanswered in 8 s sent again; a TCP phone whose
           connection closes reconnects and registers at once.  They
           answer INVITE with 200, retransmitted until the ACK (RFC 3261
           §13.3.1.4), and BYE with 200.
  caller   --cps calls a second from the core side (the embedded
           registrar's core-listen, as a PBX would send them), each
           phone in turn: INVITE (Timer A), 200, ACK, BYE (Timer E), 200.
           So a call depends on the services and the callee's flow only.
  sipp     --sipp-rate REGISTERs a second over UDP
           (bench/sipp/register_outbound.xml, --sipp-users AoRs).

What is checked (the properties of issue 12 §7):
  registrations  no registration that got a 200 is lost: at the end,
                 the kills stopped, every UDP phone refreshed once and
                 the phones quiet, every phone whose last REGISTER got
                 200 and whose flow is still alive (GET /flows lists a
                 flow from the phone's address, with its AoR; a TCP
                 phone's connection is open) is called, and the call
                 must reach it; the 200 must have named that flow in its
                 Path.  During the run, no call may fail that a kill does
                 not explain (a 404 or a 480 to a phone on a live flow
                 would be a binding lost).
  flows          only the killed child's flows are lost: every TCP close
                 a phone sees must be of a flow on the child (or the
                 parent) killed just before; calls to phones on other
                 children keep succeeding.
  restarts       every service is back within 1 s: kill -> the new
                 process's HELLO in epsipd's log (router, bridge,
                 flow-manager parent); a child: kill -> every TCP phone
                 it held registered again over a new flow.
  hygiene        epsipd restarted each service exactly once per kill (no
                 crash loop), nothing else died, no process was left
                 behind, epsipd's descriptors did not grow.

Calls that fail are counted by cause: the callee's flow was on the
killed child or parent, in flight at a router or bridge kill, or
unexplained (a failure of the properties).

`make chaos` runs it for CHAOS_DURATION (600) s against a release build
and writes the JSON report to bench/results/ (a summary on stdout);
tests/integration/test_chaos.py runs a shorter one.  Everything on
127.0.0.1; every process started here is stopped by its pid.
"""
import argparse
import calendar
import heapq
import json
import multiprocessing as mp
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from edge import free_port, http_get, wait_for  # noqa: E402
from sip import (SipMessage, frame_stream, rand, token_fields,  # noqa: E402
                 uri_of, uri_user)

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
DOMAIN = "example.com"
T1, T2 = 0.5, 4.0
REG_TIMEOUT = 8.0           # a REGISTER with no final answer: sent again
CALL_TIMEOUT = 10.0         # an INVITE or BYE with no final answer: failed
KINDS = ("flow-manager", "child", "sip-router", "registrar-bridge")
SERVICES = ("flow-manager", "sip-router", "registrar-bridge")
BINARIES = ("epsip-flow-manager", "epsip-sip-router",
            "epsip-registrar-bridge")


def flow_id(token):
    """The id GET /flows gives the flow of a Path token."""
    f = token_fields(token)
    return "%d.%d.%d.%d" % (f["instance"], f["child"], f["slot"],
                            f["generation"])


# ---- SIP bits the phones and the caller share ----

def response(req, status, reason, extra=(), to_tag=None):
    """A response to `req` from its own Via, From, To, Call-ID, CSeq."""
    lines = ["SIP/2.0 %d %s" % (status, reason)]
    lines += ["Via: " + v for v in req.rows("via")]
    to = req.get("to")
    if to_tag and ";tag=" not in to:
        to += ";tag=" + to_tag
    lines += ["From: " + req.get("from"), "To: " + to,
              "Call-ID: " + req.get("call-id"), "CSeq: " + req.get("cseq")]
    lines += list(extra)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Phone:
    """One phone's state; its socket lives in the Fleet's loop."""

    def __init__(self, idx, transport):
        self.idx = idx
        self.transport = transport
        self.user = "c%s%03d" % (transport[0], idx)
        self.instance = "urn:uuid:00000000-0000-1000-8000-%012d" % (
            idx + (0 if transport == "tcp" else 500000))
        self.call_id = "%s-%s@chaos" % (self.user, rand(8))
        self.sock = None
        self.buf = b""
        self.connecting = False
        self.host = ""
        self.cseq = 0
        self.reg = None         # the REGISTER in flight: dict
        self.token = None       # Path token of the last 200
        self.last_result = None  # "200", other code, "timeout"
        self.answers = {}       # (call-id, cseq) -> 200 bytes, ACK wanted
        self.invites = 0

    @property
    def aor(self):
        return "sip:%s@%s" % (self.user, DOMAIN)


class Fleet:
    """The phones and the caller in one epoll loop; events are tuples
    with time.time() stamps, sent to the main process at the end."""

    def __init__(self, conn, o):
        self.conn = conn
        self.o = o
        self.sel = selectors.DefaultSelector()
        self.timers = []
        self.seq = 0
        self.events = []
        self.edge = tuple(o["sip_addr"])
        self.core = tuple(o["core_addr"])
        self.rng = random.Random(o["seed"])
        self.phones = [Phone(i, "tcp") for i in range(o["tcp"])] + \
            [Phone(i, "udp") for i in range(o["udp"])]
        self.by_user = {p.user: p for p in self.phones}
        self.quiet = False      # no new REGISTERs (the end check)
        self.calling = True
        self.calls = {}         # call-id -> dict
        self.next_callee = 0
        self.caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.caller.bind(("127.0.0.1", 0))
        self.caller.setblocking(False)
        self.caller_host = "127.0.0.1:%d" % self.caller.getsockname()[1]
        self.sel.register(self.caller, selectors.EVENT_READ, None)

    # -- plumbing --

    def at(self, delay, fn, *args):
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.seq,
                                     fn, args))

    def event(self, *e):
        self.events.append((time.time(),) + e)

    def send(self, p, data):
        try:
            if p.transport == "udp":
                p.sock.sendto(data, self.edge)
            else:
                p.sock.send(data)   # small: the window has room
        except OSError:
            if p.transport == "tcp":
                self.closed(p)

    # -- phones: flows --

    def open(self, p):
        if p.transport == "udp":
            p.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            p.sock.bind(("127.0.0.1", 0))
            p.sock.setblocking(False)
            p.host = "127.0.0.1:%d" % p.sock.getsockname()[1]
            self.sel.register(p.sock, selectors.EVENT_READ, p)
            self.register(p)
            return
        p.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        p.sock.setblocking(False)
        p.buf, p.connecting = b"", True
        try:
            p.sock.connect(self.edge)
        except BlockingIOError:
            pass
        except OSError:
            self.connect_failed(p)
            return
        self.sel.register(p.sock, selectors.EVENT_WRITE, p)

    def connect_failed(self, p):
        # Nothing listens while the flow-manager parent restarts.
        self.event("connect_failed", p.user)
        self.drop_socket(p)
        self.at(0.05, self.reopen, p)

    def drop_socket(self, p):
        if p.sock is not None:
            try:
                self.sel.unregister(p.sock)
            except (KeyError, ValueError):
                pass
            p.sock.close()
            p.sock = None
        p.connecting = False
        p.reg = None

    def reopen(self, p):
        if p.sock is None:
            self.open(p)

    def connected(self, p):
        err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.connect_failed(p)
            return
        p.connecting = False
        p.host = "%s:%d" % p.sock.getsockname()
        self.sel.modify(p.sock, selectors.EVENT_READ, p)
        self.register(p)

    def closed(self, p):
        """The edge closed a TCP flow: say so, come back at once."""
        self.event("flow_closed", p.user, p.token)
        self.drop_socket(p)
        p.token = None
        p.answers.clear()
        self.reopen(p)

    # -- phones: REGISTER --

    def register(self, p):
        if p.sock is None or p.connecting or p.reg is not None:
            return
        p.cseq += 1
        branch = "z9hG4bK" + rand(12)
        tp = ";transport=tcp" if p.transport == "tcp" else ""
        msg = ("REGISTER sip:%s SIP/2.0\r\n"
               "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <%s>;tag=%s\r\n"
               "To: <%s>\r\n"
               "Call-ID: %s\r\n"
               "CSeq: %d REGISTER\r\n"
               "Supported: path, outbound\r\n"
               "Contact: <sip:%s@%s%s;ob>;reg-id=1;+sip.instance=\"<%s>\"\r\n"
               "Expires: 600\r\n"
               "Content-Length: 0\r\n\r\n") % (
            DOMAIN, p.transport.upper(), p.host, branch, p.aor, rand(6),
            p.aor, p.call_id, p.cseq, p.user, p.host, tp, p.instance)
        p.reg = {"cseq": p.cseq, "wire": msg.encode(), "t0": time.time(),
                 "m0": time.monotonic(), "rt": T1}
        self.send(p, p.reg["wire"])
        if p.transport == "udp":
            self.at(T1, self.reg_retransmit, p, p.cseq)
        self.at(REG_TIMEOUT, self.reg_timeout, p, p.cseq)

    def reg_retransmit(self, p, cseq):
        # Timer E (RFC 3261 §17.1.2.2): T1 doubling to T2.
        if p.reg is None or p.reg["cseq"] != cseq:
            return
        self.send(p, p.reg["wire"])
        p.reg["rt"] = min(p.reg["rt"] * 2, T2)
        self.at(p.reg["rt"], self.reg_retransmit, p, cseq)

    def reg_timeout(self, p, cseq):
        if p.reg is None or p.reg["cseq"] != cseq:
            return
        self.event("reg", p.user, "timeout", None, p.reg["t0"])
        p.last_result = "timeout"
        p.reg = None
        if not self.quiet:
            self.register(p)

    def refresh(self, p):
        period = self.o["refresh"] if p.transport == "tcp" else \
            self.o["refresh_udp"]
        if not self.quiet:
            self.register(p)
        self.at(period * self.rng.uniform(0.8, 1.0), self.refresh, p)

    def on_register_answer(self, p, m):
        if p.reg is None or int(m.get("cseq").split()[0]) != p.reg["cseq"]:
            return
        if m.status < 200:
            return
        token = None
        if m.status == 200 and m.get("path"):
            token = uri_user(uri_of(m.get("path")))
        self.event("reg", p.user, str(m.status), token, p.reg["t0"])
        p.last_result = str(m.status)
        p.reg = None
        if m.status == 200:
            p.token = token
        elif not self.quiet:
            self.at(0.5, self.register, p)

    # -- phones: being called --

    def on_request(self, p, m):
        key = (m.get("call-id"), m.get("cseq"))
        if m.method == "INVITE":
            if key not in p.answers:
                p.invites += 1
                self.event("invite_rx", p.user, m.get("call-id"))
                tp = ";transport=tcp" if p.transport == "tcp" else ""
                extra = ["Record-Route: " + r for r in m.rows("record-route")]
                extra.append("Contact: <sip:%s@%s%s;ob>" % (p.user, p.host,
                                                            tp))
                p.answers[key] = {"wire": response(m, 200, "OK", extra,
                                                   to_tag=rand(6)),
                                  "rt": T1, "t0": time.monotonic()}
                self.at(T1, self.answer_retransmit, p, key)
            self.send(p, p.answers[key]["wire"])
        elif m.method == "ACK":
            for k in list(p.answers):
                if k[0] == m.get("call-id"):
                    del p.answers[k]
        elif m.method == "BYE":
            self.send(p, response(m, 200, "OK"))
        else:
            self.send(p, response(m, 200, "OK"))

    def answer_retransmit(self, p, key):
        # The UAS core resends its 2xx until the ACK (§13.3.1.4).
        a = p.answers.get(key)
        if a is None or p.sock is None:
            return
        if time.monotonic() - a["t0"] > 32:
            del p.answers[key]
            return
        self.send(p, a["wire"])
        a["rt"] = min(a["rt"] * 2, T2)
        self.at(a["rt"], self.answer_retransmit, p, key)

    def on_phone_message(self, p, m):
        if m.status is not None:
            if m.cseq_method == "REGISTER":
                self.on_register_answer(p, m)
            return
        self.on_request(p, m)

    def phone_readable(self, p):
        if p.transport == "udp":
            while True:
                try:
                    data = p.sock.recv(70000)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                if data.strip() and not data.startswith(b"\x00"):
                    self.on_phone_message(p, SipMessage(data))
        try:
            data = p.sock.recv(70000)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.closed(p)
            return
        p.buf += data
        msgs, _, p.buf = frame_stream(p.buf)
        for m in msgs:
            self.on_phone_message(p, m)
            if p.sock is None:
                return

    # -- the caller --

    def place_call(self, callee=None, final=False):
        if callee is None:
            callee = self.phones[self.next_callee % len(self.phones)]
            self.next_callee += 1
        cid = "call-%s@chaos" % rand(14)
        c = {"id": cid, "callee": callee.user, "t0": time.time(),
             "tag": rand(8), "branch": "z9hG4bK" + rand(12), "state":
             "inviting", "rt": T1, "got_1xx": False, "final": final,
             "token": callee.token}
        c["invite"] = self.request(c, "INVITE", "sip:%s@%s" % (
            callee.user, DOMAIN), "<sip:%s@%s>" % (callee.user, DOMAIN),
            1, c["branch"], [])
        self.calls[cid] = c
        self.caller_send(c["invite"])
        self.at(T1, self.call_retransmit, cid, "inviting")
        self.at(CALL_TIMEOUT, self.call_timeout, cid, "inviting")
        return cid

    def request(self, c, method, ruri, to, cseq, branch, routes):
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/UDP %s;branch=%s;rport" % (self.caller_host,
                                                         branch),
                 "Max-Forwards: 70",
                 "From: <sip:pbx@core.invalid>;tag=" + c["tag"],
                 "To: " + to, "Call-ID: " + c["id"],
                 "CSeq: %d %s" % (cseq, method)]
        lines += ["Route: " + r for r in routes]
        if method == "INVITE":
            lines.append("Contact: <sip:pbx@%s>" % self.caller_host)
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def caller_send(self, data):
        try:
            self.caller.sendto(data, self.core)
        except OSError:
            pass

    def call_retransmit(self, cid, state):
        c = self.calls.get(cid)
        if c is None or c["state"] != state or (
                state == "inviting" and c["got_1xx"]):
            return
        self.caller_send(c["invite"] if state == "inviting" else c["bye"])
        c["rt"] = min(c["rt"] * 2, T2)
        self.at(c["rt"], self.call_retransmit, cid, state)

    def call_timeout(self, cid, state):
        c = self.calls.get(cid)
        if c is None or c["state"] != state:
            return
        what = "invite_timeout" if state == "inviting" else "bye_timeout"
        if state == "inviting" and c["got_1xx"]:
            what = "invite_timeout_after_1xx"
        self.end_call(c, what)

    def end_call(self, c, outcome):
        self.event("call", c["callee"], outcome, c["t0"], c["id"],
                   c["token"], c["final"])
        c["state"] = "done"
        # Kept a while: retransmitted answers still get their ACK.
        self.at(40, self.calls.pop, c["id"], None)

    def caller_readable(self):
        while True:
            try:
                data = self.caller.recv(70000)
            except (BlockingIOError, InterruptedError, OSError):
                return
            m = SipMessage(data)
            c = self.calls.get(m.get("call-id") or "")
            if c is None:
                continue
            if m.status is None:
                # An in-dialog request from the phone: not sent here.
                self.caller_send(response(m, 200, "OK"))
                continue
            self.on_call_answer(c, m)

    def on_call_answer(self, c, m):
        method = m.cseq_method
        if method == "INVITE":
            if m.status < 200:
                c["got_1xx"] = True
                return
            if m.status >= 300:
                # The non-2xx ACK: same branch, the response's To.
                ack = "\r\n".join([
                    "ACK sip:%s@%s SIP/2.0" % (c["callee"], DOMAIN),
                    "Via: SIP/2.0/UDP %s;branch=%s;rport" % (
                        self.caller_host, c["branch"]),
                    "Max-Forwards: 70",
                    "From: <sip:pbx@core.invalid>;tag=" + c["tag"],
                    "To: " + m.get("to"), "Call-ID: " + c["id"],
                    "CSeq: 1 ACK", "Content-Length: 0"]) + "\r\n\r\n"
                self.caller_send(ack.encode())
                if c["state"] == "inviting":
                    self.end_call(c, "invite_%d" % m.status)
                return
            # 2xx: ACK along the route set (again for a retransmission).
            routes = list(reversed(m.all("record-route")))
            target = uri_of(m.get("contact"))
            to = m.get("to")
            ack = self.request(c, "ACK", target, to, 1,
                               "z9hG4bK" + rand(12), routes)
            self.caller_send(ack)
            if c["state"] != "inviting":
                return
            c["state"] = "bye"
            c["rt"] = T1
            c["bye"] = self.request(c, "BYE", target, to, 2,
                                    "z9hG4bK" + rand(12), routes)
            self.caller_send(c["bye"])
            self.at(T1, self.call_retransmit, c["id"], "bye")
            self.at(CALL_TIMEOUT, self.call_timeout, c["id"], "bye")
        elif method == "BYE" and c["state"] == "bye" and m.status >= 200:
            self.end_call(c, "ok" if m.status < 300 else
                          "bye_%d" % m.status)

    def call_tick(self):
        if self.calling:
            self.place_call()
            self.at(1.0 / self.o["cps"], self.call_tick)

    # -- commands from the main process --

    def command(self, cmd):
        if cmd == "quiet":
            self.quiet = True
            self.calling = False
        elif cmd == "state":
            self.conn.send([{
                "user": p.user, "transport": p.transport, "aor": p.aor,
                "token": p.token, "last": p.last_result,
                "pending": p.reg is not None,
                "open": p.sock is not None and not p.connecting,
                "remote": p.host} for p in self.phones])
        elif cmd == "final_calls":
            # Every phone called once more: which still get calls.
            for p in self.phones:
                self.place_call(p, final=True)
        elif cmd == "busy":
            self.conn.send(sum(1 for c in self.calls.values()
                               if c["state"] != "done") +
                           sum(1 for p in self.phones if p.reg))
        elif cmd == "stop":
            return False
        return True

    def run(self):
        n = len(self.phones)
        for k, p in enumerate(self.phones):
            # Opened over the first two seconds, refreshes spread out.
            self.at(2.0 * k / n, self.open, p)
            period = self.o["refresh"] if p.transport == "tcp" else \
                self.o["refresh_udp"]
            self.at(2.0 + period * self.rng.uniform(0.2, 1.0),
                    self.refresh, p)
        self.at(self.o["calls_after"], self.call_tick)
        running = True
        while running:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn, args = heapq.heappop(self.timers)
                fn(*args)
            wait = 0.05
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            for key, ev in self.sel.select(wait):
                p = key.data
                if p is None:
                    self.caller_readable()
                elif p.connecting:
                    self.connected(p)
                else:
                    self.phone_readable(p)
            while running and self.conn.poll():
                running = self.command(self.conn.recv())
        self.conn.send(self.events)
        for p in self.phones:
            self.drop_socket(p)


def fleet_main(conn, o):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        Fleet(conn, o).run()
    except BrokenPipeError:
        pass


# ---- the killer ----

def _stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()


def _is_descendant(pid, root):
    seen = 0
    while pid > 1 and seen < 64:
        if pid == root:
            return True
        f = _stat(pid)
        if f is None:
            return False
        pid = int(f[1])
        seen += 1
    return False


def _exe_name(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return ""


def targets(stats):
    """{kind: [(name, pid)]} of what runs now, from /stats."""
    out = {k: [] for k in KINDS}
    svcs = stats.get("services", {})
    for name in SERVICES:
        s = svcs.get(name, {})
        if s.get("up") and s.get("pid"):
            out[name].append((name, s["pid"]))
    fm = svcs.get("flow-manager", {})
    for name, c in fm.get("children", {}).items():
        if c.get("pid"):
            out["child"].append((name, c["pid"]))
    return out


class Killer:
    """Kills one process at a time.  The kind comes from a shuffled bag
    of the four (each kind as often as the others, in a random order),
    the process of that kind at random."""

    def __init__(self, edge, rng):
        self.edge = edge
        self.root = edge.proc.pid
        self.rng = rng
        self.kills = []
        self.skipped = 0
        self.bag = []

    def stats(self):
        status, body = http_get(self.edge.stats_port, "/stats", 2)
        return json.loads(body) if status == 200 else {}

    def kill_one(self):
        st = self.stats()
        tg = targets(st)
        if not self.bag:
            self.bag = list(KINDS)
            self.rng.shuffle(self.bag)
        kind = self.bag[-1]
        if not tg[kind]:
            # Restarting right now (a service), or no child yet: the
            # next try takes it.
            self.skipped += 1
            return None
        self.bag.pop()
        name, pid = self.rng.choice(tg[kind])
        fm_pid = st.get("services", {}).get("flow-manager", {}).get("pid")
        # Ours, still that process, an EPSIP executable; a child of
        # the flow-manager running now (/stats may be a second old).
        if not _is_descendant(pid, self.root) or \
                _exe_name(pid) not in BINARIES or (
                    kind == "child" and int((_stat(pid) or [0, 0])[1]) !=
                    fm_pid):
            self.skipped += 1
            return None
        t = time.time()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            self.skipped += 1
            return None
        k = {"t": t, "kind": kind, "name": name, "pid": pid}
        self.kills.append(k)
        return k


# ---- reading epsipd's log ----

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (\w+) "
                      r"(\S+)\[(\d+)\] flow=\S+ (.*)$")


def log_time(stamp):
    """Seconds since the epoch of a log line's UTC stamp."""
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) \
        + int(stamp[20:23]) / 1000.0


def parse_log(text):
    """(hellos, losses, child losses, {flow id: when it opened})."""
    hellos, lost, child_lost, opened = [], [], [], {}
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        t, level, who, _, msg = m.groups()
        t = log_time(t)
        if msg.startswith("opened ") and " flow=" in line:
            fid = line.split(" flow=", 1)[1].split(" ", 1)[0]
            opened.setdefault(fid, t)
            continue
        if who == "epsipd":
            h = re.match(r"(\S+) pid (\d+) said HELLO$", msg)
            if h:
                hellos.append((t, h.group(1), int(h.group(2))))
                continue
            x = re.match(r"lost child (\S+) pid (\d+): (.*)$", msg)
            if x:
                lost.append((t, x.group(1), int(x.group(2)), x.group(3)))
                continue
        x = re.match(r"lost child (\S+) pid (\d+): (.*)$", msg)
        if x and who.startswith("flow-manager"):
            child_lost.append((t, x.group(1), int(x.group(2)),
                               x.group(3)))
    return hellos, lost, child_lost, opened


# ---- analysis ----

def pct(vals, q):
    vals = sorted(vals)
    if not vals:
        return None
    return vals[min(len(vals) - 1, int(round(q / 100.0 * (len(vals) - 1))))]


def summary_ms(vals):
    vals = [v * 1000.0 for v in vals]
    if not vals:
        return {"n": 0}
    return {"n": len(vals), "median_ms": round(pct(vals, 50), 1),
            "p99_ms": round(pct(vals, 99), 1),
            "max_ms": round(max(vals), 1)}


class Flows:
    """Where each phone's flow was, from its REGISTER 200s, and which
    kills ended it.  A flow is (parent epoch, child id); the parent
    epoch counts flow-manager kills, as a new parent numbers its
    children from 1 again."""

    def __init__(self, kills, opened):
        self.kills = sorted(kills, key=lambda k: k["t"])
        self.opened = opened
        self.parent_kills = [k["t"] for k in self.kills
                             if k["kind"] == "flow-manager"]

    def epoch(self, t):
        return sum(1 for tp in self.parent_kills if tp < t)

    def killer_of(self, token, t_reg, t_end):
        """The kill (in (t_reg, t_end]) that ended the flow of `token`
        registered at t_reg, or None.  When the flow opened comes from
        the log: a 200 may name a flow that died before it arrived (a
        retransmitted REGISTER answered again)."""
        if token is None:
            return None
        t_reg = self.opened.get(flow_id(token), t_reg)
        child = token_fields(token)["child"]
        ep = self.epoch(t_reg)
        for k in self.kills:
            if k["t"] <= t_reg - 0.2 or k["t"] > t_end:
                continue
            if k["kind"] == "flow-manager" and self.epoch(k["t"]) == ep:
                return k
            if k["kind"] == "child" and self.epoch(k["t"]) == ep and \
                    k["name"].endswith("-c%d" % child):
                return k
        return None


def analyse(events, kills, log_text, stats_end):
    hellos, lost, child_lost, opened = parse_log(log_text)
    flows = Flows(kills, opened)
    regs = [e for e in events if e[1] == "reg"]
    closes = [e for e in events if e[1] == "flow_closed"]
    calls = [e for e in events if e[1] == "call" and not e[7]]
    # Each phone's registrations in time order: (t, token).
    regs_by = {}
    for e in regs:
        if e[3] == "200":
            regs_by.setdefault(e[2], []).append((e[0], e[4]))

    def flow_at(user, t):
        """(t_reg, token) of user's last 200 before t, or None."""
        last = None
        for tr, tok in regs_by.get(user, []):
            if tr <= t:
                last = (tr, tok)
        return last

    def near(kind, t0, t1, slack=0.3):
        return [k for k in kills if k["kind"] == kind and
                t0 - slack <= k["t"] <= t1 + slack]

    # Flows: every close must be of a flow whose child or parent was
    # killed (the other children's flows stay).
    unexplained_closes = []
    close_by_kill = {}
    for t, _, user, token in closes:
        f = flow_at(user, t)
        k = flows.killer_of(token, f[0] if f else t - 60, t) if token \
            else None
        if k is None and token is None:
            # Closed before its REGISTER was answered: which flow it was
            # is not known; a kill in the second before explains it.
            ks = [k for k in kills if k["kind"] in ("child", "flow-manager")
                  and t - 1.0 <= k["t"] <= t]
            k = ks[-1] if ks else None
        if k is None:
            unexplained_closes.append({"t": t, "user": user,
                                       "token": token})
        else:
            close_by_kill.setdefault(id(k), []).append((t, user))

    # Calls: a failure is explained by the callee's flow dying, or by a
    # router or bridge kill while it was in flight.
    outcomes, causes, unexplained_calls = {}, {}, []
    for t_end, _, callee, outcome, t0, cid, token, _ in calls:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "ok":
            continue
        f = flow_at(callee, t0)
        cause = None
        if f is None:
            cause = "callee not registered yet"
        else:
            k = flows.killer_of(f[1], f[0], t_end)
            if k is not None:
                cause = "callee's flow on the killed %s" % (
                    "child" if k["kind"] == "child" else
                    "flow-manager parent")
        if cause is None and near("registrar-bridge", t0, t_end):
            cause = "in flight at a registrar-bridge kill"
        if cause is None and near("sip-router", t0, t_end):
            cause = "in flight at a sip-router kill"
        if cause is None and outcome == "invite_503" and any(
                t0 - 3.0 <= k["t"] <= t_end for k in kills):
            cause = "shed (overload-delay) while the edge caught up " \
                "after a kill"
        if cause is None:
            cause = "unexplained"
            unexplained_calls.append({"t0": t0, "t_end": t_end,
                                      "callee": callee, "outcome": outcome,
                                      "call_id": cid})
        key = "%s: %s" % (cause, outcome)
        causes[key] = causes.get(key, 0) + 1

    # The other children's phones keep getting calls: the calls placed
    # in the 2 s after each child kill to phones not on that child.
    others = {"calls": 0, "ok": 0}
    for k in kills:
        if k["kind"] != "child":
            continue
        for t_end, _, callee, outcome, t0, cid, token, _ in calls:
            if not k["t"] <= t0 <= k["t"] + 2.0:
                continue
            f = flow_at(callee, t0)
            if f is None or flows.killer_of(f[1], f[0], t_end) is not None:
                continue
            others["calls"] += 1
            others["ok"] += outcome == "ok"

    # REGISTERs that did not get a 200, by cause.
    reg_outcomes, reg_causes = {}, {}
    for t, _, user, result, token, t0 in regs:
        reg_outcomes[result] = reg_outcomes.get(result, 0) + 1
        if result == "200":
            continue
        cause = "unexplained"
        after_kill = [k for k in kills if t0 - 3.0 <= k["t"] <= t]
        if any(t0 - 0.3 <= c[0] <= t + 0.3 for c in closes
               if c[2] == user):
            cause = "its flow closed (killed child or parent)"
        elif near("registrar-bridge", t0, t):
            cause = "in flight at a registrar-bridge kill"
        elif near("sip-router", t0, t):
            cause = "in flight at a sip-router kill"
        elif near("flow-manager", t0, t) or near("child", t0, t):
            cause = "in flight at a flow-manager kill"
        elif result == "503" and after_kill:
            cause = "shed (overload-delay) while the edge caught up " \
                "after a kill"
        key = "%s: %s" % (cause, result)
        reg_causes[key] = reg_causes.get(key, 0) + 1

    # Restart times.  Services: kill -> HELLO of a new pid.  A child:
    # kill -> every TCP phone it held registered again.
    restart = {k: [] for k in KINDS}
    missing = []
    per_kill = []
    for k in kills:
        rec = {"t": round(k["t"], 3), "kind": k["kind"], "name": k["name"],
               "pid": k["pid"]}
        if k["kind"] == "flow-manager":
            users = sorted({u for _, u in close_by_kill.get(id(k), [])})
            later = [min([tr for tr, _ in regs_by.get(u, []) if
                          tr > k["t"]] or [None]) for u in users]
            rec["tcp_flows_lost"] = len(users)
            if users and None not in later:
                rec["phones_back_ms"] = round((max(later) - k["t"]) *
                                              1000, 1)
        if k["kind"] in SERVICES:
            h = [t for t, name, pid in hellos if name == k["name"] and
                 pid != k["pid"] and t >= k["t"] - 0.002]
            d = [t for t, name, pid, _ in lost if pid == k["pid"]]
            if d:
                rec["detected_ms"] = round((d[0] - k["t"]) * 1000, 1)
            if h:
                rec["back_ms"] = round((min(h) - k["t"]) * 1000, 1)
                restart[k["kind"]].append(min(h) - k["t"])
            else:
                missing.append(rec)
        else:
            d = [t for t, name, pid, _ in child_lost if pid == k["pid"]]
            if d:
                rec["detected_ms"] = round((d[0] - k["t"]) * 1000, 1)
            victims = close_by_kill.get(id(k), [])
            users = sorted({u for _, u in victims})
            rec["tcp_flows_lost"] = len(users)
            back = []
            for u in users:
                later = [tr for tr, _ in regs_by.get(u, []) if tr > k["t"]]
                back.append(min(later) if later else None)
            if users and None not in back:
                rec["back_ms"] = round((max(back) - k["t"]) * 1000, 1)
                restart["child"].append(max(back) - k["t"])
            elif users:
                missing.append(rec)
        per_kill.append(rec)

    # Crashes: deaths epsipd or a flow-manager saw that we did not cause.
    ours = {k["pid"] for k in kills}
    stray = [{"t": t, "name": n, "pid": p, "how": how}
             for t, n, p, how in lost + child_lost if p not in ours]
    restarts = {name: stats_end.get("services", {}).get(name, {}).get(
        "restarts") for name in SERVICES}
    kills_by = {kd: sum(1 for k in kills if k["kind"] == kd)
                for kd in KINDS}
    return {
        "kills": kills_by, "kills_total": len(kills),
        "restart": {kd: summary_ms(v) for kd, v in restart.items()},
        "restart_over_1s": [r for r in per_kill
                            if r.get("back_ms", 0) > 1000],
        "restart_unmeasured": missing,
        "restarts_by_epsipd": restarts,
        "deaths_not_ours": stray,
        "registers": reg_outcomes, "register_failures": reg_causes,
        "calls": outcomes, "call_failures": causes,
        "calls_unexplained": unexplained_calls,
        "calls_to_other_children_after_child_kills": others,
        "flows_closed_tcp": len(closes),
        "flows_closed_unexplained": unexplained_closes,
        "per_kill": per_kill,
    }


# ---- the end: no registration lost ----

def flows_listing(edge):
    """Every flow GET /flows lists: {id: flow}, and whether complete."""
    out, offset, complete = {}, 0, True
    while True:
        status, body = http_get(edge.stats_port,
                                "/flows?limit=1000&offset=%d" % offset, 5)
        if status != 200:
            return None, False
        page = json.loads(body)
        complete = complete and page.get("complete", False)
        for f in page["flows"]:
            out[f["id"]] = f
        offset += len(page["flows"])
        if not page["flows"] or offset >= page["total"]:
            return out, complete


def final_check(edge, conn):
    """Phones quiet, every REGISTER answered: each phone whose last
    REGISTER got 200 and whose flow is alive -- GET /flows lists a flow
    from the phone's address (a TCP phone's connection is still open) --
    is called, and the call must reach it.  The 200 must also have named
    that flow in its Path: a phone told it is registered through a flow
    that is gone is as unreachable as one whose binding was lost.
    Returns the record; the calls' results come with the events."""
    conn.send("state")
    phones = conn.recv()
    listing, complete = None, False
    for _ in range(5):
        listing, complete = flows_listing(edge)
        if listing is not None and complete:
            break
        time.sleep(0.5)
    listing = listing or {}
    by_remote = {f.get("remote"): fid for fid, f in listing.items()}
    expect, gone, not_200, other_flow = [], [], [], []
    for p in phones:
        fid = by_remote.get(p["remote"])
        if p["last"] != "200" or p["token"] is None:
            not_200.append({"user": p["user"], "last": p["last"],
                            "open": p["open"], "flow": fid})
            continue
        if fid is None or (p["transport"] == "tcp" and not p["open"]):
            gone.append(p["user"])
            continue
        if fid != flow_id(p["token"]):
            other_flow.append({"user": p["user"], "flow": fid,
                               "path_names": flow_id(p["token"])})
        expect.append(p)
    wrong_aor = [p["user"] for p in expect
                 if listing[by_remote[p["remote"]]].get("aor") != p["aor"]]
    conn.send("final_calls")
    return {"phones": len(phones), "registered_alive": len(expect),
            "last_register_not_200": not_200, "flow_gone": gone,
            "path_names_another_flow": other_flow,
            "flows_listed": len(listing), "flows_listing_complete":
            complete, "aor_not_on_its_flow": wrong_aor,
            "expect_users": [p["user"] for p in expect]}


def final_calls_result(events, expect_users):
    got = {}
    for e in events:
        if e[1] == "call" and e[7]:
            got[e[2]] = e[3]
    lost = sorted(u for u in expect_users if got.get(u) != "ok")
    return {"called": len(expect_users),
            "reached": len(expect_users) - len(lost),
            "registrations_lost": lost,
            "registrations_lost_outcomes": {u: got.get(u) for u in lost},
            "all_phones_outcomes": _count(got.values())}


def _count(vals):
    out = {}
    for v in vals:
        out[v] = out.get(v, 0) + 1
    return out


# ---- sipp's REGISTER load ----

def start_sipp(edge, tmp, rate, users, seconds):
    path = os.path.join(tmp, "sipp-users.csv")
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(users):
            f.write("s%05d;00000000-0000-1000-8000-%012d\n" % (i, 900000 + i))
    cmd = [SIPP, "%s:%d" % tuple(edge.sip_addr), "-sf",
           os.path.join(HERE, "sipp", "register_outbound.xml"),
           "-inf", path, "-i", "127.0.0.1", "-p", str(free_port()),
           "-t", "u1", "-r", str(rate), "-m", str(int(rate * seconds)),
           "-nostdin", "-trace_stat", "-stf", "sipp-stat.csv", "-fd", "1",
           "-trace_err",
           "-timeout", str(int(seconds + 60))]
    out = open(os.path.join(tmp, "sipp.out"), "wb")
    try:
        return subprocess.Popen(cmd, cwd=tmp, stdout=out,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        out.close()


SIPP_COLUMNS = ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)",
                "FailedMaxUDPRetrans(C)", "FailedUnexpectedMessage(C)",
                "FailedCallRejected(C)", "FailedRegexpDoesntMatch(C)",
                "FailedTimeoutOnRecv(C)", "Retransmissions(C)")


def sipp_result(tmp):
    try:
        with open(os.path.join(tmp, "sipp-stat.csv")) as f:
            lines = [ln for ln in f.read().split("\n") if ln.strip()]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    out = {}
    for k, v in zip(head, last):
        if k in SIPP_COLUMNS:
            try:
                out[k] = int(v)
            except ValueError:
                pass
    # What the REGISTERs that failed got instead of their 200.
    got, examples = {}, []
    for name in os.listdir(tmp):
        if not name.endswith("_errors.log"):
            continue
        with open(os.path.join(tmp, name), errors="replace") as f:
            text = f.read()
        # Only what aborted a REGISTER: sipp then sends a BYE of its own
        # for the dead "call", which the edge answers 404 (no dialog).
        for m in re.finditer(r"(\d+\.\d+): Aborting call on unexpected "
                             r"message[^\n]*?received '(SIP/2\.0 \d{3}[^\n]*"
                             r"|\S+)([^']*)'", text):
            status = m.group(2)
            key = status[8:11] if status.startswith("SIP/2.0") else status
            got[key] = got.get(key, 0) + 1
            if len(examples) < 3:
                examples.append("%s %s" % (m.group(1), status))
    out["unexpected_received"] = got
    out["unexpected_examples"] = examples
    return out


def stop_sipp(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGUSR1)    # stop placing, finish, exit
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- the run ----

def edge_args(core_port, flows_per_child):
    """Flags the chaos edge needs beyond the harness's own."""
    return ["--core-listen", "127.0.0.1:%d" % core_port,
            "--flows-per-child", str(flows_per_child)]


def fds_of(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def sample(edge, killer, t0):
    """epsipd's memory and descriptors (the one process never killed),
    and the router's sockets to children, now."""
    st = killer.stats()
    svcs = st.get("services", {})
    return {"t": round(time.time() - t0, 1),
            "epsipd_rss_kib": rss_kib(edge.proc.pid),
            "epsipd_fds": fds_of(edge.proc.pid),
            "children": len(svcs.get("flow-manager", {}).get("children",
                                                             {})),
            "router_owner_sockets": svcs.get("sip-router", {}).get(
                "owner_sockets")}


def growth(samples):
    """The median of each sampled value over the first and the last
    tenth of the run (soak.py's rule, issue 8 §4)."""
    if len(samples) < 4:
        return {}
    k = max(1, len(samples) // 10)
    out = {}
    for key in ("epsipd_rss_kib", "epsipd_fds"):
        first = sorted(x[key] for x in samples[:k] if x[key] is not None)
        last = sorted(x[key] for x in samples[-k:] if x[key] is not None)
        if first and last:
            out[key] = {"first_tenth": first[len(first) // 2],
                        "last_tenth": last[len(last) // 2],
                        "max": max(x[key] or 0 for x in samples)}
    return out


def leftovers(edge, stats):
    """Processes under epsipd that are neither a service nor a child
    the flow-manager lists (an orphan that outlived its parent)."""
    known = {edge.proc.pid}
    svcs = stats.get("services", {})
    for s in svcs.values():
        if s.get("pid"):
            known.add(s["pid"])
        for c in s.get("children", {}).values():
            if c.get("pid"):
                known.add(c["pid"])
    out = []
    todo = [edge.proc.pid]
    while todo:
        pid = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        todo += kids
        f = _stat(pid)
        if pid not in known and f is not None and f[0] != "Z":
            out.append(describe(edge, pid))
    return out


def describe(edge, pid):
    """What a process left behind is doing: its state, where it waits,
    its age and the last thing it logged."""
    out = {"pid": pid, "exe": _exe_name(pid)}
    f = _stat(pid) or []
    try:
        with open("/proc/%d/wchan" % pid) as w:
            out["wchan"] = w.read()
        with open("/proc/%d/cmdline" % pid) as c:
            out["args"] = c.read().replace("\0", " ").strip()[-40:]
        out["state"] = f[0]
        out["threads"] = len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        pass
    mine = [ln for ln in edge_log(edge).splitlines()
            if "[%d]" % pid in ln]
    out["log_lines"] = len(mine)
    out["last_log"] = mine[-1][:200] if mine else None
    return out


def run(edge, duration, tcp=60, udp=30, cps=10.0, refresh=15.0,
        refresh_udp=10.0, interval=(2.0, 5.0), warmup=8.0,
        sipp_rate=30.0, sipp_users=500, seed=None, core_port=None,
        progress=None, events_path=None):
    """Chaos against a running `edge` (benchlib.Edge or the tests' Edge,
    started with edge_args(core_port, ...) and --log-level info).
    Returns the report; the caller judges it (see violations())."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="epsip-chaos-")
    o = {"sip_addr": edge.sip_addr, "core_addr": ("127.0.0.1", core_port),
         "tcp": tcp, "udp": udp, "cps": cps, "refresh": refresh,
         "refresh_udp": refresh_udp, "seed": seed,
         "calls_after": warmup / 2}
    mine, theirs = mp.Pipe()
    worker = mp.Process(target=fleet_main, args=(theirs, o), daemon=True)
    sipp = None
    killer = Killer(edge, rng)
    rec = {"seed": seed, "duration_s": duration, "tcp_phones": tcp,
           "udp_phones": udp, "cps": cps, "interval_s": list(interval),
           "sipp_rate": sipp_rate}
    try:
        worker.start()
        if sipp_rate > 0 and shutil.which(SIPP):
            sipp = start_sipp(edge, tmp, sipp_rate, sipp_users,
                              duration + warmup + 5)
        time.sleep(warmup)
        st0 = killer.stats()
        # A first listing: epsipd keeps a link to each child after it.
        flows_listing(edge)
        rec["epsipd_fds_start"] = fds_of(edge.proc.pid)
        rec["epsipd_rss_kib_start"] = rss_kib(edge.proc.pid)
        rec["flows_at_start"] = st0.get("totals", {}).get(
            "flows.open.tcp", 0) + st0.get("totals", {}).get(
            "flows.open.udp", 0)
        rec["children_at_start"] = len(st0.get("services", {}).get(
            "flow-manager", {}).get("children", {}))
        t_start = time.time()
        next_kill = time.monotonic() + rng.uniform(*interval)
        next_sample = time.monotonic()
        samples = []
        end = time.monotonic() + duration
        while time.monotonic() < end:
            if time.monotonic() >= next_sample:
                next_sample += 10.0
                samples.append(sample(edge, killer, t_start))
            if time.monotonic() >= next_kill:
                k = killer.kill_one()
                if k and progress:
                    progress("%6.1f s kill %s pid %d" % (
                        k["t"] - t_start, k["name"], k["pid"]))
                next_kill = time.monotonic() + rng.uniform(*interval)
            if not worker.is_alive():
                raise RuntimeError("the phones' worker died")
            time.sleep(0.02)
        rec["chaos_s"] = round(time.time() - t_start, 1)
        rec["samples"] = samples
        rec["growth"] = growth(samples)
        # Let the last restart finish and every UDP phone refresh (its
        # flow may have died with the last kills), then quiet the load.
        wait_for(lambda: http_get(edge.stats_port, "/health", 2)[0] == 200,
                 timeout=15, what="healthy after the chaos")
        time.sleep(refresh_udp + 1.0)
        stop_sipp(sipp)
        rec["sipp"] = sipp_result(tmp)
        mine.send("quiet")

        def idle():
            mine.send("busy")
            return mine.recv() == 0
        wait_for(idle, timeout=CALL_TIMEOUT + REG_TIMEOUT + 5,
                 interval=0.2, what="calls and REGISTERs finished")
        stats_end = killer.stats()
        final = final_check(edge, mine)
        time.sleep(min(CALL_TIMEOUT, 2.0))
        wait_for(idle, timeout=CALL_TIMEOUT + 5, interval=0.2,
                 what="the final calls finished")
        rec["epsipd_fds_end"] = fds_of(edge.proc.pid)
        rec["epsipd_rss_kib_end"] = rss_kib(edge.proc.pid)
        left = leftovers(edge, killer.stats())
        if left:
            time.sleep(1.5)     # a child spawned since /stats was made
            left = leftovers(edge, killer.stats())
        rec["leftover_processes"] = left
        mine.send("stop")
        events = mine.recv()
        worker.join(10)
        final.update(final_calls_result(events, final.pop("expect_users")))
        rec["final"] = final
        rec["totals_end"] = {k: v for k, v in stats_end.get(
            "totals", {}).items() if k in (
                "registrations.active", "flows.open.tcp", "flows.open.udp",
                "ipc.send_dropped", "ipc.redials", "proxy.responses.unmatched",
                "proxy.failover.430", "proxy.timeouts",
                "bindings.dropped.flow_closed", "registrar.register.unsaved",
                "registrar.commits.failed")}
        rec["skipped_kills"] = killer.skipped
        if events_path:
            with open(events_path, "w") as f:
                for e in events:
                    f.write(json.dumps(e) + "\n")
                for k in killer.kills:
                    f.write(json.dumps([k["t"], "kill", k["name"],
                                        k["pid"]]) + "\n")
        rec.update(analyse(events, killer.kills, edge_log(edge), stats_end))
        return rec
    finally:
        if sipp is not None and sipp.poll() is None:
            sipp.kill()
            sipp.wait()
        if worker.is_alive():
            try:
                mine.send("stop")
            except OSError:
                pass
            worker.join(5)
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
        shutil.rmtree(tmp, ignore_errors=True)


def edge_log(edge):
    with open(edge.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def violations(r, limit_ms=1000.0):
    """What broke the properties, as sentences; [] when none did."""
    out = []
    f = r["final"]
    if f["registrations_lost"]:
        out.append("registrations lost (last REGISTER 200, flow alive, "
                   "call did not reach): %s" % f["registrations_lost_outcomes"])
    if f["path_names_another_flow"]:
        out.append("a 200's Path names another flow than the phone's: %s"
                   % f["path_names_another_flow"])
    if f["aor_not_on_its_flow"]:
        out.append("GET /flows shows another AoR on the flow of: %s" %
                   f["aor_not_on_its_flow"])
    if not f["flows_listing_complete"]:
        out.append("GET /flows did not hear from every child")
    if r["flows_closed_unexplained"]:
        out.append("flows closed that no kill explains: %s" %
                   r["flows_closed_unexplained"][:10])
    if r["calls_unexplained"]:
        out.append("calls failed that no kill explains: %s" %
                   r["calls_unexplained"][:10])
    for r_ in r["per_kill"]:
        if r_.get("back_ms", 0) > limit_ms:
            out.append("%s back after %.0f ms (> %.0f)" % (
                r_["name"], r_["back_ms"], limit_ms))
    if r["restart_unmeasured"]:
        out.append("not back by the end: %s" % r["restart_unmeasured"])
    for name, n in r["restarts_by_epsipd"].items():
        if n != r["kills"][name]:
            out.append("%s restarted %s times for %d kills" % (
                name, n, r["kills"][name]))
    if r["deaths_not_ours"]:
        out.append("processes died that were not killed: %s" %
                   r["deaths_not_ours"])
    if r["leftover_processes"]:
        out.append("processes left behind: %s" % r["leftover_processes"])
    return out


def summary_lines(r):
    """The run in a few lines, as docs/performance.md gives it."""
    out = ["chaos: %.0f s, %d kills (%s), load average at the end %s" % (
        r["chaos_s"], r["kills_total"], ", ".join(
            "%s %d" % (k, n) for k, n in r["kills"].items()),
        " ".join("%.1f" % x for x in r.get("load_average", ())))]
    for kind in KINDS:
        s = r["restart"][kind]
        if s.get("n"):
            out.append("  back after a kill, %-16s n=%-3d median %6.1f ms"
                       "  p99 %6.1f ms  max %6.1f ms" % (
                           kind, s["n"], s["median_ms"], s["p99_ms"],
                           s["max_ms"]))
    f = r["final"]
    out.append("  registrations: %d phones, %d registered on a live flow "
               "at the end, %d reached by a call, %d lost" % (
                   f["phones"], f["registered_alive"], f["reached"],
                   len(f["registrations_lost"])))
    out.append("  REGISTERs: %s" % r["registers"])
    for k, n in sorted(r["register_failures"].items()):
        out.append("    %5d  %s" % (n, k))
    out.append("  calls: %s" % r["calls"])
    for k, n in sorted(r["call_failures"].items()):
        out.append("    %5d  %s" % (n, k))
    o = r["calls_to_other_children_after_child_kills"]
    out.append("  calls to the other children's phones in the 2 s after "
               "a child kill: %d of %d completed" % (o["ok"], o["calls"]))
    out.append("  TCP flows closed %d, none but the killed ones: %s" % (
        r["flows_closed_tcp"], not r["flows_closed_unexplained"]))
    sp = r.get("sipp") or {}
    if sp:
        out.append("  sipp REGISTERs: %s of %s got their 200; instead: %s"
                   % (sp.get("SuccessfulCall(C)"),
                      sp.get("TotalCallCreated"),
                      sp.get("unexpected_received")))
    g = r.get("growth", {})
    if g:
        out.append("  epsipd over the run (median of the first and last "
                   "tenth): RSS %s -> %s KiB, descriptors %s -> %s" % (
                       g["epsipd_rss_kib"]["first_tenth"],
                       g["epsipd_rss_kib"]["last_tenth"],
                       g["epsipd_fds"]["first_tenth"],
                       g["epsipd_fds"]["last_tenth"]))
    out.append("  epsipd descriptors %s -> %s, RSS %s -> %s KiB; restarts "
               "by epsipd %s; other deaths %d; left behind %d" % (
                   r["epsipd_fds_start"], r["epsipd_fds_end"],
                   r.get("epsipd_rss_kib_start"),
                   r.get("epsipd_rss_kib_end"), r["restarts_by_epsipd"],
                   len(r["deaths_not_ours"]),
                   len(r["leftover_processes"])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--tcp", type=int, default=60)
    ap.add_argument("--udp", type=int, default=30)
    ap.add_argument("--cps", type=float, default=10)
    ap.add_argument("--refresh", type=float, default=15)
    ap.add_argument("--refresh-udp", type=float, default=10)
    ap.add_argument("--interval", type=float, nargs=2, default=(2.0, 5.0),
                    metavar=("MIN", "MAX"), help="seconds between kills")
    ap.add_argument("--flows-per-child", type=int, default=12)
    ap.add_argument("--sipp-rate", type=float, default=30)
    ap.add_argument("--sipp-users", type=int, default=500)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--out", help="JSON report (also printed)")
    ap.add_argument("--events", help="every event, one JSON line each")
    ap.add_argument("--keep", action="store_true",
                    help="on a violation, leave the edge running until "
                    "Enter (to look at it)")
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    import benchlib
    benchlib.install_signal_handlers()
    core_port = free_port()
    edge = benchlib.Edge(a.bin, ["--domain", DOMAIN] +
                         edge_args(core_port, a.flows_per_child),
                         log_level="info")
    rc = 1
    try:
        edge.start()
        r = run(edge, a.duration, tcp=a.tcp, udp=a.udp, cps=a.cps,
                refresh=a.refresh, refresh_udp=a.refresh_udp,
                interval=tuple(a.interval), sipp_rate=a.sipp_rate,
                sipp_users=a.sipp_users, seed=a.seed, core_port=core_port,
                progress=lambda s: print(s, flush=True),
                events_path=a.events)
        r["load_average"] = os.getloadavg()
        r["violations"] = violations(r)
        text = json.dumps(r, indent=1, sort_keys=True)
        if a.out:
            os.makedirs(os.path.dirname(os.path.abspath(a.out)),
                        exist_ok=True)
            with open(a.out, "w") as f:
                f.write(text + "\n")
        else:
            print(text)
        print("\n".join(summary_lines(r)))
        print("%d violation(s)%s" % (len(r["violations"]), (
            "; the report: " + a.out) if a.out else ""))
        for v in r["violations"]:
            print("  " + v)
        rc = 0 if not r["violations"] else 1
        if rc and a.keep:
            print("edge left running: stats 127.0.0.1:%d, run dir in %s;"
                  " Enter stops it" % (edge.stats_port, edge.tmp))
            sys.stdin.readline()
    except benchlib.Interrupted:
        print("interrupted", file=sys.stderr)
    finally:
        edge.stop()
        warn = benchlib.warn_lines(edge.logs())
        print("edge log: %d warn/error lines" % len(warn), file=sys.stderr)
        edge.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
