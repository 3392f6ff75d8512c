"""baresip over TLS behind the lab's NAT (issue 11 §5): it registers
through EPSIP's TLS port with RFC 5626 outbound, then sends no SIP at all
for longer than the NAT's established-TCP conntrack timeout; only its
CRLF keep-alives inside TLS (RFC 5626 §4.4.1, at the Flow-Timer of EPSIP's
200) cross the NAT, and they keep the binding: afterwards a call from the
public side reaches baresip over the same TLS connection, and baresip
answers it.

What is checked is what crossed each side: baresip's own SIP trace (-s,
the plaintext inside TLS), EPSIP's counters and log, the NAT's conntrack
table, and the public wire, where the TLS port carries only ciphertext.

baresip 1.0 (libre 1.1.0, Debian 12) is given the test CA that signed the
edge's certificate (sip_cafile), but it does not verify the server's
certificate: with a CA that did not sign it, it registers all the same
(tried by hand).  The certificate check of a phone is covered in
tests/integration/test_tls_ws.py with Python's ssl; here the subject is
the flow through the NAT.

One lab (module-scoped), as in test_nat_outbound.py: the registration and
the wait past the NAT timeout are shared by the tests below, which run in
file order."""
import re
import time

import pytest

import lab as labmod
from conftest import EDGE_TLS_PORT, FLOW_TIMER, World
from edge import wait_for
from sip import token_fields, uri_user
from test_nat_outbound import CoreCall, nat_port, wait_for_transport

TLS = 3                 # the transport code in a flow token (TLS)

# baresip -s: a colour escape, "#", then "TLS SRC:PORT -> DST:PORT", the
# message, and a colour reset.
_TRACE = re.compile(r"(UDP|TCP|TLS) (\S+):(\d+) -> (\S+):(\d+)\r?\n"
                    r"(.*?)\x1b\[;m", re.S)


def trace_messages(text):
    """baresip's SIP trace as [(transport, src, sport, dst, dport, text)]."""
    return [(m.group(1), m.group(2), int(m.group(3)), m.group(4),
             int(m.group(5)), m.group(6)) for m in _TRACE.finditer(text)]


def ct_timeout(ct_line):
    """Seconds the NAT keeps this entry without traffic (conntrack -L's
    third column)."""
    return int(ct_line.split()[2])


class State:
    pass


@pytest.fixture(scope="module")
def registered(request):
    """baresip registered over TLS through the NAT, then left alone (no
    SIP sent either way) for longer than the NAT's TCP timeout."""
    failed_before = request.session.testsfailed
    w = World(flow_timer=FLOW_TIMER["tls"], tls=True).start()
    try:
        st = State()
        st.world, st.transport, st.edge = w, "tls", w.edge
        st.baresip = w.baresip("tls")
        wait_for(lambda: st.edge.counter("registrations.active") >= 1,
                 timeout=15, what="baresip registered over TLS")
        st.ct_before = wait_for(lambda: w.lab.conntrack(
            "tcp", dport=EDGE_TLS_PORT), timeout=5, what="conntrack entry")
        stats = st.edge.next_stats_round()
        st.ka_before = st.edge.counter("keepalive.crlf_pongs", stats=stats)
        st.flows_before = st.edge.counter("flows.opened.tls", stats=stats)
        st.sip_before = trace_messages(st.baresip.text())
        st.ct_samples = []
        st.wait = wait_for_transport("tls")
        deadline = time.monotonic() + st.wait
        while time.monotonic() < deadline:
            st.ct_samples.append(w.lab.conntrack("tcp", dport=EDGE_TLS_PORT))
            time.sleep(2)
        st.ct_after = w.lab.conntrack("tcp", dport=EDGE_TLS_PORT)
        st.sip_after = trace_messages(st.baresip.text())
        st.stats_after = st.edge.next_stats_round()
        yield st
    finally:
        w.close(dump=request.session.testsfailed > failed_before)


def registration(st):
    """baresip's REGISTER and the 200 it got, from its trace."""
    msgs = st.sip_before
    regs = [m for m in msgs if m[5].startswith("REGISTER sip:")]
    oks = [m for m in msgs if m[5].startswith("SIP/2.0 200 OK") and
           re.search(r"(?im)^CSeq: *\d+ REGISTER", m[5])]
    assert regs and oks, "no REGISTER and 200 in baresip's trace"
    return regs[0], oks[0]


def test_baresip_registers_over_tls_with_outbound(registered):
    st = registered
    reg, ok = registration(st)
    # Sent over TLS to the edge's TLS port, RFC 5626 outbound.
    assert reg[0] == "TLS" and reg[1] == labmod.PHONE_IP
    assert (reg[3], reg[4]) == (labmod.EDGE_IP, EDGE_TLS_PORT)
    assert re.search(r"(?im)^Via: *SIP/2.0/TLS ", reg[5])
    assert '+sip.instance="<urn:uuid:' in reg[5]
    assert re.search(r"reg-id=1\b", reg[5])
    assert re.search(r"(?im)^Supported:.*outbound", reg[5])
    # The 200 came back on the same connection (baresip's local port).
    assert ok[0] == "TLS" and ok[4] == reg[2]
    assert re.search(r"(?im)^Require: *outbound", ok[5])
    assert re.search(r"(?im)^Flow-Timer: *%d\b" % FLOW_TIMER["tls"], ok[5])
    path = re.search(r"(?im)^Path: *<([^>]*)>", ok[5]).group(1)
    assert ";transport=tls" in path and ";ob" in path
    # The token names a TLS flow from the NAT's public binding to the
    # edge's TLS port.
    fields = token_fields(uri_user(path))
    assert fields["transport"] == TLS
    assert fields["local"] == (labmod.EDGE_IP, EDGE_TLS_PORT)
    assert fields["remote"] == (labmod.NAT_OUTSIDE_IP,
                                int(nat_port(st.ct_before[0])))
    assert re.search(r"\[1 binding\]", st.baresip.text())
    # EPSIP's side: one TLS flow, a full handshake, from the NAT.
    assert st.flows_before == 1
    assert st.edge.counter("tls.handshakes.full") >= 1
    assert re.search(r"opened tls %s:%s -> %s:%d" % (
        re.escape(labmod.NAT_OUTSIDE_IP), nat_port(st.ct_before[0]),
        re.escape(labmod.EDGE_IP), EDGE_TLS_PORT), st.edge.logs())
    # The public wire: the TLS port carried ciphertext, never SIP text.
    pk = [p for p in labmod.packets(st.world.capture.text())
          if EDGE_TLS_PORT in (p[1], p[3])]
    assert pk, "nothing on the edge's TLS port on the wire"
    assert not [p for p in pk if "SIP/2.0" in p[4]], \
        "SIP in clear on the TLS port"


def test_crlf_keepalives_over_tls_keep_nat_binding(registered):
    st = registered
    # The idle period: not one SIP message either way for longer than the
    # NAT's timeout, and that timeout is the one on this entry.
    assert st.sip_after == st.sip_before, \
        "SIP crossed the flow during the idle period"
    assert st.wait > labmod.NAT_TIMEOUT["tls"]
    left = [ct_timeout(s[0]) for s in st.ct_samples if s]
    assert left and max(left) <= labmod.NAT_TIMEOUT["tls"], st.ct_samples
    # So only keep-alives kept it: EPSIP answered baresip's CRLFs over
    # TLS (0.8-1.0 x Flow-Timer) at least as often as fit in the wait,
    # and as often the NAT's countdown for the entry started again.
    ka_after = st.edge.counter("keepalive.crlf_pongs", stats=st.stats_after)
    least = st.wait // FLOW_TIMER["tls"]
    assert ka_after - st.ka_before >= least, (st.ka_before, ka_after)
    restarts = sum(1 for a, b in zip(left, left[1:]) if b > a)
    assert restarts >= least, left
    # The same NAT binding (same public port) after more than the NAT
    # timeout, never gone in between.
    assert st.ct_after, "conntrack entry gone after the NAT timeout"
    assert nat_port(st.ct_after[0]) == nat_port(st.ct_before[0])
    assert all(st.ct_samples), "conntrack entry vanished while waiting"
    # Still the one flow: never closed, never replaced.
    assert st.edge.counter("flows.opened.tls",
                           stats=st.stats_after) == st.flows_before
    assert st.edge.counter("flows.open.tls", stats=st.stats_after) == 1
    assert st.edge.counter("flows.closed.timeout",
                           stats=st.stats_after) == 0
    assert st.baresip.alive()


class TlsCall(CoreCall):
    """CoreCall to a phone on a TLS flow: the INVITE is ciphertext on the
    wire, so what is checked there is the connection it went down."""

    def check_invite_on_the_wire(self):
        # The edge wrote to the NAT's binding from registration, on the
        # TLS connection the phone opened then: the only one the NAT ever
        # opened to the TLS port (one SYN).
        port = int(nat_port(self.st.ct_before[0]))
        text = self.st.world.capture.text()
        syns = re.findall(r"(?m) IP %s\.(\d+) > %s\.%d: Flags \[S\]" % (
            re.escape(labmod.NAT_OUTSIDE_IP), re.escape(labmod.EDGE_IP),
            EDGE_TLS_PORT), text)
        assert syns == [str(port)], syns
        assert [p for p in labmod.packets(text) if p[0] == labmod.EDGE_IP
                and p[1] == EDGE_TLS_PORT and p[3] == port]


def test_call_reaches_baresip_over_its_tls_flow_after_nat_timeout(registered):
    st = registered
    reg, ok = registration(st)
    call = TlsCall(st)
    call.invite()           # baresip answered: 200 with SDP
    # baresip got the INVITE over TLS from the edge's TLS port, on the
    # connection it registered on (its local port then).
    invites = [m for m in trace_messages(st.baresip.text())
               if m[5].startswith("INVITE sip:") and call.call_id in m[5]]
    assert invites, "baresip never saw the INVITE"
    inv = invites[0]
    assert inv[0] == "TLS" and (inv[1], inv[2]) == (labmod.EDGE_IP,
                                                   EDGE_TLS_PORT)
    assert inv[4] == reg[2], (inv, reg[:5])
    # EPSIP routed it by the token of that flow: its Record-Route towards
    # baresip carries the Path token's flow (child, slot, generation).
    path = re.search(r"(?im)^Path: *<([^>]*)>", ok[5]).group(1)
    want = token_fields(uri_user(path))
    rrs = re.findall(r"(?im)^Record-Route: *<([^>]*)>", inv[5])
    tls_rr = [token_fields(uri_user(r)) for r in rrs
              if ";transport=tls" in r]
    assert tls_rr, rrs
    assert {k: tls_rr[0][k] for k in ("child", "slot", "generation",
                                      "remote", "transport")} == \
        {k: want[k] for k in ("child", "slot", "generation", "remote",
                              "transport")}
    # No new flow: the INVITE went down the registered one.
    assert st.edge.counter("flows.opened.tls") == st.flows_before
    call.ack()
    wait_for(lambda: [m for m in trace_messages(st.baresip.text())
                      if m[5].startswith("ACK sip:")],
             timeout=5, what="ACK at baresip")
    call.bye()
