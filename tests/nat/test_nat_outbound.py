"""A real phone (baresip) behind a real NAT (nftables masquerade with 20 s
conntrack timeouts) registers through EPSIP with RFC 5626 outbound, stays
reachable well past the NAT timeout because its keep-alives (STUN on UDP,
CRLF on TCP) keep the binding open, and answers a call over its flow.

One lab per transport (module-scoped): the registration and the wait past
the NAT timeout are shared by the tests below, which run in file order."""
import re
import time

import pytest

import lab as labmod
from conftest import FLOW_TIMER, World
from edge import wait_for
from sip import rand, uri_of


def wait_for_transport(transport):
    """Longer than the NAT timeout, with margin."""
    return labmod.NAT_TIMEOUT[transport] + 8


KEEPALIVE = {"udp": "keepalive.stun_answered", "tcp": "keepalive.crlf_pongs"}
PROTO = {"udp": "udp", "tcp": "tcp"}


class State:
    pass


@pytest.fixture(scope="module", params=["udp", "tcp"])
def registered(request):
    """baresip registered through the NAT, then left alone for longer than
    the NAT timeout."""
    transport = request.param
    failed_before = request.session.testsfailed
    w = World(flow_timer=FLOW_TIMER[transport]).start()
    try:
        st = State()
        st.world, st.transport = w, transport
        st.edge = w.edge
        st.baresip = w.baresip(transport)
        wait_for(lambda: st.edge.counter("registrations.active") >= 1,
                 timeout=15, what="baresip registered")
        # The flow as the NAT sees it, right after registering.
        st.ct_before = wait_for(lambda: w.lab.conntrack(PROTO[transport],
                                                        dport=5060),
                                timeout=5, what="conntrack entry")
        st.ka_before = st.edge.counter(KEEPALIVE[transport])
        st.flows_before = st.edge.counter("flows.opened." + transport)
        # Sample the NAT while waiting: the entry must never disappear.
        st.ct_samples = []
        st.wait = wait_for_transport(transport)
        deadline = time.monotonic() + st.wait
        while time.monotonic() < deadline:
            st.ct_samples.append(w.lab.conntrack(PROTO[transport],
                                                 dport=5060))
            time.sleep(2)
        st.ct_after = w.lab.conntrack(PROTO[transport], dport=5060)
        st.ka_after = st.edge.counter(KEEPALIVE[transport])
        yield st
    finally:
        w.close(dump=request.session.testsfailed > failed_before)


def nat_port(ct_line):
    """The NAT's public port for a conntrack line (reply-direction dport)."""
    return re.findall(r"dport=(\d+)", ct_line)[1]


def outbound_registration_on_the_wire(st):
    """The phone's REGISTER as it left the NAT, and the edge's 200 back to
    the NAT, checked for RFC 5626; returns the 200's text."""
    pk = labmod.packets(st.world.capture.text())
    regs = [p for p in pk if "REGISTER sip:" in p[4] and
            p[0] == labmod.NAT_OUTSIDE_IP and p[2] == labmod.EDGE_IP]
    assert regs, "no REGISTER from the NAT's outside address on the wire"
    reg = regs[0][4]
    # RFC 5626 on the wire, after the NAT: +sip.instance and reg-id.
    assert '+sip.instance="<urn:uuid:' in reg
    assert re.search(r"reg-id=1\b", reg)
    assert re.search(r"Supported:.*outbound", reg)
    oks = [p for p in pk if "SIP/2.0 200 OK" in p[4] and
           "REGISTER" in p[4] and p[0] == labmod.EDGE_IP and
           p[2] == labmod.NAT_OUTSIDE_IP]
    assert oks, "no 200 OK to the REGISTER on the wire"
    ok = oks[0][4]
    assert re.search(r"(?im)^Require: *outbound", ok)
    assert re.search(r"(?im)^Flow-Timer: *%d" % FLOW_TIMER[st.transport], ok)
    return ok


def test_registers_through_nat_with_outbound(registered):
    st = registered
    assert st.edge.counter("registrations.active") >= 1
    ok = outbound_registration_on_the_wire(st)
    path = re.search(r"(?im)^Path: *(<[^>]*>)", ok)
    assert path and ";ob" in path.group(1) and labmod.EDGE_IP in path.group(1)
    # The phone's own view (baresip -s trace): it understood the 200.
    assert "200 OK" in st.baresip.text()


def test_keepalives_keep_nat_binding_open(registered):
    st = registered
    # EPSIP answered keep-alives during the wait (0.8-1.0 x Flow-Timer):
    # at least as many as fit in it.
    least = st.wait // FLOW_TIMER[st.transport]
    assert st.ka_after - st.ka_before >= least, (st.ka_before, st.ka_after)
    # The same NAT binding (same public port) exists after more than the
    # NAT timeout, and never went away in between.
    assert st.ct_after, "conntrack entry gone after the NAT timeout"
    assert nat_port(st.ct_after[0]) == nat_port(st.ct_before[0])
    assert all(st.ct_samples), "conntrack entry vanished while waiting"
    # Still the one flow: no re-registration over a new flow was needed.
    assert st.edge.counter("flows.opened." + st.transport) == st.flows_before
    assert st.baresip.alive()
    if st.transport == "udp":
        stun = [p for p in labmod.packets(st.world.capture.text())
                if p[0] == labmod.NAT_OUTSIDE_IP and "libre" in p[4]
                and "REGISTER" not in p[4]]
        assert len(stun) >= 2, "no STUN keep-alives on the wire"


SDP = ("v=0\r\n"
       "o=- 1 1 IN IP4 %s\r\n"
       "s=-\r\n"
       "c=IN IP4 %s\r\n"
       "t=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\n"
       "a=rtpmap:0 PCMU/8000\r\n") % (labmod.CALLER_IP, labmod.CALLER_IP)


class CoreCall:
    """alice, on the public side, calls bob@example.com through the edge:
    the INVITE must reach bob over his registered flow, through the NAT's
    public binding from registration; then ACK and BYE along the route
    set of the 200."""

    def __init__(self, st):
        self.st = st
        self.caller = st.world.phone("public", "udp", user="alice",
                                     local_ip=labmod.CALLER_IP)
        self.call_id = rand(12) + "@caller"
        self.from_tag = "al" + rand(6)

    def invite(self):
        c = self.caller
        c.request("INVITE", "sip:bob@example.com", call_id=self.call_id,
                  from_tag=self.from_tag,
                  extra="Content-Type: application/sdp\r\n", body=SDP)
        self.cseq = c.cseq
        ok = c.recv(timeout=15, want=lambda m: m.status is not None and
                    m.status >= 200 and m.cseq_method == "INVITE")
        assert ok is not None, "no final response to the INVITE"
        assert ok.status == 200, ok.start
        assert b"m=audio" in ok.body
        self.to_tag = ok.get("to").split("tag=")[1].split(";")[0]
        self.route_set = list(reversed(ok.all("record-route")))
        self.target = uri_of(ok.get("contact"))
        self.check_invite_on_the_wire()
        return ok

    def check_invite_on_the_wire(self):
        """EPSIP sent the INVITE to the NAT's public binding of the
        registered flow (the port it had at registration)."""
        inv = wait_for(lambda: [
            p for p in labmod.packets(self.st.world.capture.text())
            if p[0] == labmod.EDGE_IP and p[1] == 5060 and
            p[2] == labmod.NAT_OUTSIDE_IP and "INVITE sip:" in p[4] and
            self.call_id in p[4]], timeout=3,
            what="INVITE towards the NAT on the wire")
        assert str(inv[0][3]) == nat_port(self.st.ct_before[0])

    def in_dialog(self, method, cseq):
        self.caller.request(method, self.target, to="sip:bob@example.com",
                            call_id=self.call_id, routes=self.route_set,
                            from_tag=self.from_tag, to_tag=self.to_tag,
                            cseq=cseq)

    def ack(self):
        self.in_dialog("ACK", self.cseq)

    def bye(self):
        self.in_dialog("BYE", self.cseq + 1)
        ok = self.caller.recv(timeout=10, want=lambda m: m.status is not
                              None and m.cseq_method == "BYE")
        assert ok is not None and ok.status == 200, ok


def test_call_reaches_baresip_over_its_flow_after_nat_timeout(registered):
    st = registered
    call = CoreCall(st)
    call.invite()
    # baresip got it (its SIP trace) from EPSIP's SIP port.
    trace = st.baresip.text()
    assert re.search(r"%s %s:5060 -> %s:\d+\s*\nINVITE sip:bob" % (
        st.transport.upper(), re.escape(labmod.EDGE_IP),
        re.escape(labmod.PHONE_IP)), trace), "baresip never saw the INVITE"
    call.ack()
    wait_for(lambda: re.search(r"\nACK sip:", st.baresip.text()),
             timeout=5, what="ACK at baresip")
    call.bye()
