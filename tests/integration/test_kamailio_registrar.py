"""Kamailio as the registrar/home proxy behind an RFC 5626 edge, checked
WITHOUT EPSIP: the test plays the edge with plain sockets (one socket per
flow, each with its own flow token in Path) and a caller talks to Kamailio
directly.  What these pin down is what EPSIP can rely on when Kamailio is
its core (tests/kamailio/registrar.cfg):

  - Path is stored, echoed in the 200, and used as the Route (and next
    hop) of requests to the binding (RFC 3327 §5.3, §5.4);
  - "Supported: outbound" + reg-id + ";ob" in Path gives "Require:
    outbound" and one binding per (+sip.instance, reg-id) (RFC 5626 §6);
  - one flow of an instance at a time; 430 from the edge makes Kamailio
    try the instance's other flow and drop the failed binding; with no
    flow left the caller gets 480, never 430 (RFC 5626 §7).
"""
import random
import select
import socket
import time

import pytest

import kamailio
from kamailio import Kamailio
from sip import (Phone, SipMessage, frame_stream, next_matching, rand,
                 uri_of, uri_user)

pytestmark = pytest.mark.skipif(not kamailio.available(),
                                reason=kamailio.why_unavailable() or "")

DOMAIN = "example.com"
PHONE_IP = "192.0.2.10"     # TEST-NET: only reachable through the edge


@pytest.fixture
def kam(request):
    k = Kamailio().start()
    yield k
    # Kamailio's own shutdown is not under test: its workers log SIGTERM
    # from the signal handler and now and then never get to exit (seen
    # once in a full run).  What is left after the grace is SIGKILLed and
    # reaped by stop(), and said here, but it does not fail an EPSIP test.
    killed = k.stop(timeout=10.0)
    if killed or getattr(request.node, "rep_call", None) is None or \
            request.node.rep_call.failed:
        print("---- kamailio log ----\n" + k.log()[-8000:])
    if killed:
        print("kamailio needed SIGKILL after 10 s: %s" % killed)


@pytest.fixture
def closing():
    """Register sockets-owning objects here; all closed at teardown."""
    things = []
    yield things.append
    for t in things:
        t.close()


def token():
    return "T" + rand(20)


def instance():
    return "urn:uuid:%08x-0000-1000-8000-%012x" % (
        random.getrandbits(32), random.getrandbits(48))


class FakeEdge:
    """The core-facing side of one edge flow: a socket on loopback whose
    address, with the flow token as user part, is the Path URI."""

    def __init__(self, kam, transport="udp", path_transport="udp", ob=True):
        self.kam = kam
        self.token = token()
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns, self.buf, self.pending = [], {}, []
        if transport == "tcp":
            self.sock.listen(4)
        params = ";transport=%s" % path_transport if path_transport else ""
        self.path_uri = "sip:%s@127.0.0.1:%d%s;lr%s" % (
            self.token, self.port, params, ";ob" if ob else "")
        self.cseq = 0

    def close(self):
        for s in self.conns + [self.sock]:
            s.close()

    def send(self, data, dest=None):
        if self.transport == "udp":
            self.sock.sendto(data.encode(), dest or self.kam.addr)
        else:
            self.conns[-1].sendall(data.encode())

    def recv(self, timeout=3.0, want=None):
        """The next SIP message matching `want`, or None at the timeout."""
        return next_matching(self.pending, want, timeout, self._read)

    def _read(self, timeout):
        r, _, _ = select.select([self.sock] + self.conns, [], [], timeout)
        for s in r:
            if self.transport == "udp":
                self.pending.append(SipMessage(s.recv(70000)))
            elif s is self.sock:
                self.conns.append(s.accept()[0])
            else:
                data = s.recv(70000)
                if not data:
                    self.conns.remove(s)
                    s.close()
                    continue
                msgs, _, self.buf[s] = frame_stream(
                    self.buf.get(s, b"") + data)
                self.pending.extend(msgs)

    def register(self, user, inst, reg_id, call_id, expires=600,
                 supported="path, outbound", path=None, phone_port=5060):
        """Relay a phone's REGISTER as the edge does: its own Via on top of
        the phone's, and Path with the flow token."""
        self.cseq += 1
        aor = "sip:%s@%s" % (user, DOMAIN)
        contact = "<%s>;reg-id=%d;+sip.instance=\"<%s>\"" % (
            phone_contact(user, phone_port), reg_id, inst)
        self.send(
            "REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport=%d\r\n"
            "Max-Forwards: 69\r\n"
            "From: <%s>;tag=%s\r\n"
            "To: <%s>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d REGISTER\r\n"
            "Supported: %s\r\n"
            "Path: <%s>\r\n"
            "Contact: %s\r\n"
            "Expires: %d\r\n"
            "Content-Length: 0\r\n\r\n" % (
                DOMAIN, self.port, rand(12), PHONE_IP, phone_port, rand(12),
                phone_port, aor, rand(8), aor, call_id, self.cseq, supported,
                path or self.path_uri, contact, expires))
        return self.recv(want=lambda m: m.status is not None and
                         m.status >= 200 and m.cseq_method == "REGISTER")

    def answer(self, req, status, reason, to_tag=None, contact=None):
        """Answer as the phone would, through the edge: the edge's own
        Record-Route (its flow token) above the proxies' (RFC 5626 §5.3)."""
        lines = ["SIP/2.0 %d %s" % (status, reason)]
        lines += ["Via: " + v for v in req.rows("via")]
        to = req.get("to")
        if status >= 200 and not to_tag and ";tag=" not in to:
            to_tag = rand(8)        # RFC 3261 §8.2.6.2, a proxy's own too
        if to_tag and ";tag=" not in to:
            to += ";tag=" + to_tag
        lines += ["From: " + req.get("from"), "To: " + to,
                  "Call-ID: " + req.get("call-id"),
                  "CSeq: " + req.get("cseq")]
        if 100 < status < 300 and req.method == "INVITE":
            lines.append("Record-Route: <sip:%s@127.0.0.1:%d;lr>" % (
                self.token, self.port))
            lines += ["Record-Route: " + rr for rr in req.rows("record-route")]
            lines.append("Contact: <%s>" % contact)
        lines.append("Content-Length: 0")
        self.send("\r\n".join(lines) + "\r\n\r\n")


def phone_contact(user, port=5060):
    return "sip:%s@%s:%d;ob" % (user, PHONE_IP, port)


def bindings(kam, user, closing):
    """The AOR's bindings, from a REGISTER without Contact (a query)."""
    q = Phone(kam, "udp", user=user, domain=DOMAIN)
    closing(q)
    q.send("REGISTER sip:%s SIP/2.0\r\n"
           "Via: %s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <%s>;tag=%s\r\nTo: <%s>\r\n"
           "Call-ID: %s\r\nCSeq: 1 REGISTER\r\n"
           "Content-Length: 0\r\n\r\n" % (DOMAIN, q.via(), q.aor(), rand(8),
                                          q.aor(), rand(16)))
    resp = q.recv(want=lambda m: m.status is not None and m.status >= 200)
    assert resp is not None and resp.status == 200, resp
    return resp.all("contact")


def reg_id_of(contact):
    for p in contact.split(">", 1)[-1].split(";"):
        if p.strip().startswith("reg-id="):
            return int(p.split("=", 1)[1])
    return None


def final(phone, method, timeout=3.0):
    return phone.recv(timeout, want=lambda m: m.status is not None and
                      m.status >= 200 and m.cseq_method == method)


def is_method(name):
    return lambda m: m.method == name


def call(caller, callee="alice"):
    """Send an INVITE from the caller straight to Kamailio; returns what
    the dialog needs later."""
    d = {"call_id": rand(16) + "@caller", "from_tag": "ft" + rand(6),
         "branch": "z9hG4bK" + rand(12), "uri": "sip:%s@%s" % (callee, DOMAIN)}
    caller.request("INVITE", d["uri"], call_id=d["call_id"],
                   from_tag=d["from_tag"], branch=d["branch"])
    d["cseq"] = caller.cseq
    return d


def ack_failure(caller, d, resp):
    """The ACK for a non-2xx final: same branch and CSeq as the INVITE."""
    caller.request("ACK", d["uri"], call_id=d["call_id"], cseq=d["cseq"],
                   from_tag=d["from_tag"], branch=d["branch"],
                   to_tag=resp.get("to").split(";tag=")[1].split(";")[0])


def two_flows(kam, closing):
    """alice's phone registered over two flows (reg-id 1, 2) and a caller."""
    edge1, edge2 = FakeEdge(kam), FakeEdge(kam)
    closing(edge1)
    closing(edge2)
    inst = instance()
    assert edge1.register("alice", inst, 1, rand(16)).status == 200
    assert edge2.register("alice", inst, 2, rand(16)).status == 200
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    return edge1, edge2, caller


def fail_first_flow(edge1, edge2):
    inv1 = edge1.recv(want=is_method("INVITE"))
    assert inv1 is not None
    edge1.answer(inv1, 430, "Flow Failed")
    inv2 = edge2.recv(want=is_method("INVITE"))
    assert inv2 is not None, "no failover to the reg-id 2 flow"
    return inv2


# ---------------------------------------------------------------------------

def test_outbound_register_via_edge_gets_path_echoed_and_require_outbound(
        kam, closing):
    edge = FakeEdge(kam)
    closing(edge)
    inst = instance()
    resp = edge.register("alice", inst, 1, rand(16))
    assert resp is not None and resp.status == 200, resp
    # RFC 3327 §5.3: the Path the registrar stored, back to the edge.
    assert [uri_of(p) for p in resp.all("path")] == [edge.path_uri]
    # RFC 5626 §6: outbound was used for this registration.
    assert "outbound" in [t.strip().lower() for t in resp.all("require")]
    contacts = resp.all("contact")
    assert len(contacts) == 1
    assert uri_of(contacts[0]) == phone_contact("alice")
    assert reg_id_of(contacts[0]) == 1 and inst in contacts[0]


def test_reg_id_without_ob_in_path_is_refused_with_439(kam, closing):
    # The edge did not say it does outbound (no ";ob" on its Path URI), yet
    # the phone asked for it: RFC 5626 §6, 439 First Hop Lacks
    # Outbound Support -- and nothing is bound.
    edge = FakeEdge(kam, ob=False)
    closing(edge)
    resp = edge.register("alice", instance(), 1, rand(16))
    assert resp is not None and resp.status == 439, resp
    # Exactly one answer (save() replies itself; no extra 500 after it).
    assert edge.recv(0.3) is None
    assert bindings(kam, "alice", closing) == []


def test_two_reg_ids_of_one_instance_are_two_bindings_and_refresh_in_place(
        kam, closing):
    edge1, edge2, edge3 = FakeEdge(kam), FakeEdge(kam), FakeEdge(kam)
    for e in (edge1, edge2, edge3):
        closing(e)
    inst, cid1, cid2 = instance(), rand(16), rand(16)
    assert edge1.register("alice", inst, 1, cid1).status == 200
    resp = edge2.register("alice", inst, 2, cid2)
    assert resp.status == 200
    assert sorted(reg_id_of(c) for c in resp.all("contact")) == [1, 2]
    # The phone re-registers reg-id 1 over a new flow (new token, same
    # Call-ID): that binding is replaced, the reg-id 2 flow stays.
    edge3.cseq = edge1.cseq
    resp = edge3.register("alice", inst, 1, cid1)
    assert resp.status == 200
    assert [uri_of(p) for p in resp.all("path")] == [edge3.path_uri]
    assert sorted(reg_id_of(c) for c in bindings(kam, "alice", closing)) \
        == [1, 2]
    # ... and calls to alice now use the new flow for reg-id 1.
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    d = call(caller)
    inv = edge3.recv(want=is_method("INVITE"))
    assert inv is not None
    assert uri_user(uri_of(inv.get("route"))) == edge3.token
    assert edge1.recv(0.3, want=is_method("INVITE")) is None
    edge3.answer(inv, 486, "Busy Here", to_tag=rand(8))
    resp = final(caller, "INVITE")
    # 486 is the phone's own answer: the other flow is not tried.
    assert resp is not None and resp.status == 486
    assert edge2.recv(0.3, want=is_method("INVITE")) is None
    ack_failure(caller, d, resp)


def test_430_on_first_flow_fails_over_to_other_reg_id_and_dialog_follows(
        kam, closing):
    edge1, edge2, caller = two_flows(kam, closing)
    d = call(caller)
    inv1 = edge1.recv(want=is_method("INVITE"))
    assert inv1 is not None, "no INVITE on the reg-id 1 flow"
    # Kamailio routes by the stored Path: Route is the Path URI, the
    # R-URI the phone's Contact, and it went to the Path URI's address.
    assert [uri_of(r) for r in inv1.all("route")] == [edge1.path_uri]
    assert inv1.uri == phone_contact("alice")
    assert any("127.0.0.1:%d" % kam.port in rr
               for rr in inv1.all("record-route"))
    # RFC 5626 §7: never two flows of one instance at the same time.
    assert edge2.recv(0.3, want=is_method("INVITE")) is None

    edge1.answer(inv1, 430, "Flow Failed")
    assert edge1.recv(want=is_method("ACK")) is not None  # hop-by-hop ACK
    inv2 = edge2.recv(want=is_method("INVITE"))
    assert inv2 is not None, "no failover to the reg-id 2 flow"
    assert [uri_of(r) for r in inv2.all("route")] == [edge2.path_uri]
    assert uri_user(uri_of(inv2.get("route"))) == edge2.token
    assert inv2.get("call-id") == d["call_id"]

    to_tag = rand(8)
    edge2.answer(inv2, 180, "Ringing", to_tag=to_tag,
                 contact=phone_contact("alice"))
    ringing = caller.recv(want=lambda m: m.status == 180)
    assert ringing is not None
    edge2.answer(inv2, 200, "OK", to_tag=to_tag,
                 contact=phone_contact("alice"))
    ok = final(caller, "INVITE")
    assert ok is not None and ok.status == 200, ok
    # The caller never saw the 430.
    assert not [m for m in caller.pending if m.status == 430]
    rrs = ok.all("record-route")
    assert uri_user(uri_of(rrs[0])) == edge2.token
    assert any("127.0.0.1:%d" % kam.port in rr for rr in rrs)
    # The failed flow's binding is gone (the edge said the flow is dead).
    assert [reg_id_of(c) for c in bindings(kam, "alice", closing)] == [2]

    # In-dialog requests: through Kamailio (Record-Route) to the edge's
    # Record-Route, i.e. the same flow.
    routes = list(reversed(rrs))
    caller.request("ACK", uri_of(ok.get("contact")), to="sip:alice@" + DOMAIN,
                   call_id=d["call_id"], cseq=d["cseq"],
                   from_tag=d["from_tag"], to_tag=to_tag, routes=routes)
    ack = edge2.recv(want=is_method("ACK"))
    assert ack is not None and ack.get("call-id") == d["call_id"]
    assert ack.uri == phone_contact("alice")
    caller.request("BYE", uri_of(ok.get("contact")), to="sip:alice@" + DOMAIN,
                   call_id=d["call_id"], from_tag=d["from_tag"],
                   to_tag=to_tag, routes=routes)
    bye = edge2.recv(want=is_method("BYE"))
    assert bye is not None and bye.get("call-id") == d["call_id"]
    edge2.answer(bye, 200, "OK")
    resp = final(caller, "BYE")
    assert resp is not None and resp.status == 200
    # Nothing of the dialog went to the failed flow.
    assert edge1.recv(0.3, want=lambda m: m.method == "BYE" or (
        m.method == "ACK" and to_tag in m.get("to"))) is None


def test_430_on_the_only_flow_gives_caller_480_and_drops_the_binding(
        kam, closing):
    edge = FakeEdge(kam)
    closing(edge)
    assert edge.register("alice", instance(), 1, rand(16)).status == 200
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)

    d = call(caller)
    inv = edge.recv(want=is_method("INVITE"))
    assert inv is not None
    assert uri_user(uri_of(inv.get("route"))) == edge.token
    edge.answer(inv, 430, "Flow Failed")
    # RFC 5626: endpoints never see 430; with no other flow of the
    # instance the caller is told the user is temporarily unreachable.
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 480, resp
    ack_failure(caller, d, resp)

    # The dead flow's binding was dropped: the next call is answered at
    # once without a trip to the edge.
    assert bindings(kam, "alice", closing) == []
    d = call(caller)
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 480
    ack_failure(caller, d, resp)
    assert edge.recv(0.3, want=is_method("INVITE")) is None


def test_silent_flow_times_out_and_the_other_reg_id_is_tried(kam, closing):
    # No answer at all from the edge on flow 1 (not even 100): after tm's
    # fr_timer (3 s in the config) the branch fails with a local 408, and
    # RFC 5626 §7 allows the instance's other flow.  The binding stays:
    # a timeout is no proof that the flow is dead.
    edge1, edge2, caller = two_flows(kam, closing)
    d = call(caller)
    assert edge1.recv(want=is_method("INVITE")) is not None
    started = time.monotonic()
    inv2 = edge2.recv(6.0, want=is_method("INVITE"))
    assert inv2 is not None, "no failover after the time-out"
    assert 2.0 < time.monotonic() - started < 5.0
    edge2.answer(inv2, 486, "Busy Here", to_tag=rand(8))
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 486
    ack_failure(caller, d, resp)
    assert sorted(reg_id_of(c) for c in bindings(kam, "alice", closing)) \
        == [1, 2]


def test_phone_answer_on_the_next_flow_beats_the_430_of_the_failed_one(
        kam, closing):
    # tm keeps the failed flow's final and, among 4xx, prefers the lowest
    # code: a raw 430 would win over the phone's 486 and the caller would
    # hear 480.  The config relabels 430 as a 5xx (weakest class) so the
    # phone's own answer is what the caller gets.
    edge1, edge2, caller = two_flows(kam, closing)
    d = call(caller)
    inv2 = fail_first_flow(edge1, edge2)
    edge2.answer(inv2, 486, "Busy Here", to_tag=rand(8))
    resp = final(caller, "INVITE")
    assert resp is not None and (resp.status, resp.start) == (
        486, "SIP/2.0 486 Busy Here")
    ack_failure(caller, d, resp)


def test_cancel_reaches_the_ringing_flow_and_the_caller_gets_487(
        kam, closing):
    edge1, edge2, caller = two_flows(kam, closing)
    d = call(caller)
    inv = fail_first_flow(edge1, edge2)
    to_tag = rand(8)
    edge2.answer(inv, 180, "Ringing", to_tag=to_tag,
                 contact=phone_contact("alice"))
    assert caller.recv(want=lambda m: m.status == 180) is not None
    # CANCEL: same branch, CSeq number, Call-ID, From and R-URI as the
    # INVITE (RFC 3261 §9.1).
    caller.request("CANCEL", d["uri"], call_id=d["call_id"], cseq=d["cseq"],
                   from_tag=d["from_tag"], branch=d["branch"])
    assert final(caller, "CANCEL").status == 200
    cancel = edge2.recv(want=is_method("CANCEL"))
    assert cancel is not None
    edge2.answer(cancel, 200, "OK")
    edge2.answer(inv, 487, "Request Terminated", to_tag=to_tag)
    resp = final(caller, "INVITE")
    # Not the 430 (nor a 480 made of it) of the flow that failed first.
    assert resp is not None and resp.status == 487
    ack_failure(caller, d, resp)
    assert edge1.recv(0.3, want=is_method("CANCEL")) is None


def test_unregistered_user_gets_480(kam, closing):
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    d = call(caller, "nobody")
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 480
    ack_failure(caller, d, resp)


@pytest.mark.parametrize("path_transport,expect", [
    (None, "udp"), ("udp", "udp"), ("tcp", "tcp")])
def test_request_to_binding_uses_the_path_uri_transport(
        kam, closing, path_transport, expect):
    # Kamailio's next hop is the Path URI, with that URI's transport
    # (default UDP): the edge must put ";transport=tcp" in Path if it wants
    # the core to connect to it over TCP.
    reg = FakeEdge(kam)
    closing(reg)
    edge = FakeEdge(kam, transport=expect, path_transport=path_transport)
    closing(edge)
    resp = reg.register("alice", instance(), 1, rand(16), path=edge.path_uri)
    assert resp is not None and resp.status == 200
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    d = call(caller)
    inv = edge.recv(want=is_method("INVITE"))
    assert inv is not None, "INVITE did not arrive over %s" % expect
    assert [uri_of(r) for r in inv.all("route")] == [edge.path_uri]
    edge.answer(inv, 486, "Busy Here", to_tag=rand(8))
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 486
    ack_failure(caller, d, resp)
