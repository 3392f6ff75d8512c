"""A second real phone, linphonec 5.x (liblinphone/belle-sip), behind the
lab's NAT: it registers through EPSIP with RFC 5626 outbound and keeps its
flow alive with "\\r\\n\\r\\n" every keepalive_period, on UDP as on TCP --
never STUN.  On UDP those datagrams are all that keeps EPSIP's flow past
Flow-Timer + grace (KA-12 as corrected in the checklist): before, EPSIP
dropped them as junk, reaped the flow after 15 s, and the call below got
430 at the edge and 480 at the caller.

One lab per transport (module-scoped), as in test_nat_outbound.py: the
registration and the wait past the NAT timeout (and past Flow-Timer +
grace) are shared by the tests below, which run in file order."""
import re
import time

import pytest

import lab as labmod
from conftest import FLOW_TIMER, LINPHONE_KEEPALIVE_MS, World
from edge import wait_for
from test_nat_outbound import (CoreCall, nat_port,
                               outbound_registration_on_the_wire,
                               wait_for_transport)

KEEPALIVE = {"udp": "keepalive.udp_crlf", "tcp": "keepalive.crlf_pongs"}
FLOW_GRACE = 5          # World's --flow-grace
SMALLEST_SIP = 200      # bytes: any REGISTER or response here is larger

# tcpdump -q: "... IP 203.0.113.1.40000 > 203.0.113.10.5060: UDP, length 4"
_UDP_HEAD = re.compile(
    r"^\S+ IP (\S+)\.(\d+) > (\S+)\.(\d+): UDP, length (\d+)", re.M)


def udp_datagrams(capture_text):
    """(src, sport, dst, dport, length) of every UDP datagram in a quiet
    capture (World.quiet_capture)."""
    return [(m.group(1), int(m.group(2)), m.group(3), int(m.group(4)),
             int(m.group(5))) for m in _UDP_HEAD.finditer(capture_text)]


class State:
    pass


@pytest.fixture(scope="module", params=["udp", "tcp"])
def registered(request):
    """linphonec registered through the NAT, then left alone for longer
    than the NAT timeout and than Flow-Timer + grace."""
    transport = request.param
    failed_before = request.session.testsfailed
    w = World(flow_timer=FLOW_TIMER[transport]).start()
    try:
        st = State()
        st.world, st.transport, st.edge = w, transport, w.edge
        st.headers = w.quiet_capture()
        st.phone = w.linphonec(transport)
        wait_for(lambda: st.edge.counter("registrations.active") >= 1,
                 timeout=20, what="linphonec registered")
        st.ct_before = wait_for(lambda: w.lab.conntrack(transport,
                                                        dport=5060),
                                timeout=5, what="conntrack entry")
        st.ka_before = st.edge.counter(KEEPALIVE[transport])
        st.flows_before = st.edge.counter("flows.opened." + transport)
        st.ct_samples = []
        st.wait = wait_for_transport(transport)
        assert st.wait > FLOW_TIMER[transport] + FLOW_GRACE
        deadline = time.monotonic() + st.wait
        while time.monotonic() < deadline:
            st.ct_samples.append(w.lab.conntrack(transport, dport=5060))
            time.sleep(2)
        st.ct_after = w.lab.conntrack(transport, dport=5060)
        st.ka_after = st.edge.counter(KEEPALIVE[transport])
        yield st
    finally:
        w.close(dump=request.session.testsfailed > failed_before)


def test_linphone_registers_through_nat_with_outbound(registered):
    st = registered
    outbound_registration_on_the_wire(st)
    assert "LinphoneRegistrationOk" in st.phone.sip_text()


def test_linphone_crlf_keepalives_keep_flow_and_nat_binding(registered):
    st = registered
    # linphonec pinged every keepalive_period through the whole wait, and
    # EPSIP counted each ping as activity on the flow (KA-12 on UDP; the
    # pong of KA-09 on TCP).
    least = st.wait * 1000 // LINPHONE_KEEPALIVE_MS[st.transport] - 1
    assert st.ka_after - st.ka_before >= least, (st.ka_before, st.ka_after)
    # The flow outlived Flow-Timer + grace: never reaped, never replaced.
    assert st.edge.counter("flows.closed.timeout") == 0
    assert st.edge.counter("flows.opened." + st.transport) == st.flows_before
    # The same NAT binding (same public port) after more than the NAT
    # timeout, never gone in between.
    assert st.ct_after, "conntrack entry gone after the NAT timeout"
    assert nat_port(st.ct_after[0]) == nat_port(st.ct_before[0])
    assert all(st.ct_samples), "conntrack entry vanished while waiting"
    assert st.phone.alive()
    if st.transport == "udp":
        grams = udp_datagrams(st.headers.text())
        pings = [g for g in grams if g[0] == labmod.NAT_OUTSIDE_IP and
                 g[2] == labmod.EDGE_IP and g[4] == 4]
        # On the wire: 4-byte datagrams (EPSIP's counter says CR/LF only),
        # and no STUN (20 bytes and up): all else linphone sent was SIP.
        assert len(pings) >= least, pings
        other = [g for g in grams if g[0] == labmod.NAT_OUTSIDE_IP and
                 g[4] != 4]
        assert other and all(g[4] > SMALLEST_SIP for g in other), other
        # KA-12: not one of them was answered (no pong, no 400, no STUN
        # answer); all EPSIP sent the phone was SIP.
        out = [g for g in grams if g[0] == labmod.EDGE_IP]
        assert out and all(g[4] > SMALLEST_SIP for g in out), out


def test_call_reaches_linphone_over_its_flow_after_nat_timeout(registered):
    st = registered
    call = CoreCall(st)
    call.invite()
    # Over the flow it registered on: no new flow was opened for it.
    assert st.edge.counter("flows.opened." + st.transport) == st.flows_before
    call.ack()
    call.bye()
