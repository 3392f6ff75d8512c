"""Upstream mode on the wire: EPSIP as the edge in front of a registrar it
does not own (RG-29, EP-15, EP-18/19, EP-22, SP-15, SP-16, TR-09).  The
registrar here is scripted (upstream.py), so every byte it receives and
every delay it causes is the test's to decide; test_kamailio.py repeats
the main flows against a real Kamailio."""
import os
import signal
import time

import pytest

from edge import free_port, wait_for
from sip import Phone, rand, uri_of, uri_user
from upstream import FakeUpstream, register_answer_headers


@pytest.fixture
def upstream():
    up = FakeUpstream()
    yield up
    up.close()


def start_edge(make_edge, up, transport, *args):
    core_port = free_port()
    edge = make_edge("--upstream", up.uri(transport),
                     "--core-listen", "127.0.0.1:%d" % core_port, *args)
    edge.core_addr = ("127.0.0.1", core_port)
    return edge


def is_register(m):
    return m.method == "REGISTER"


def register_through(phone, up, flow_timer=None):
    """The phone registers; the upstream answers like an outbound registrar."""
    phone.register(timeout=0)
    got = up.recv(want=is_register)
    assert got is not None, "REGISTER did not reach the upstream"
    up.answer(got, 200, extra=register_answer_headers(got.msg, flow_timer))
    ok = phone.recv(want=lambda m: m.status == 200)
    assert ok is not None, "the 200 did not come back to the phone"
    return got, ok


@pytest.mark.parametrize("up_transport", ["udp", "tcp"])
@pytest.mark.parametrize("phone_transport", ["udp", "tcp"])
def test_register_goes_upstream_with_path_supported_and_contact_intact(
        make_edge, upstream, up_transport, phone_transport):
    edge = start_edge(make_edge, upstream, up_transport)
    phone = Phone(edge, phone_transport)
    phone.register(timeout=0)
    got = upstream.recv(want=is_register)
    assert got is not None and got.transport == up_transport
    req = got.msg
    # RG-29: the phone's Contact and Supported untouched; our Path on top
    # names the core side, with the token and ob (EP-02, EP-15).
    assert 'reg-id=1' in req.get("contact")
    assert phone.instance in req.get("contact")
    assert "outbound" in req.all("supported")
    path = uri_of(req.all("path")[0])
    assert "@127.0.0.1:%d" % edge.core_addr[1] in path and ";ob" in path
    assert (";transport=tcp" in path) == (up_transport == "tcp")
    # One Via of ours, naming the core side, above the phone's.
    vias = req.rows("via")
    assert len(vias) == 2
    assert "127.0.0.1:%d" % edge.core_addr[1] in vias[0]
    assert vias[0].startswith("SIP/2.0/" + up_transport.upper())
    upstream.answer(got, 200, extra=register_answer_headers(req))
    ok = phone.recv(want=lambda m: m.status == 200)
    assert ok is not None
    # EP-22, RG-29: Require, Path come back unchanged; EP-18: ours added.
    assert ok.get("require") == "outbound"
    assert ok.all("path") == req.all("path")
    assert ok.get("flow-timer") == "120"
    assert len(ok.rows("via")) == 1


@pytest.mark.parametrize("up_transport", ["udp", "tcp"])
def test_upstream_named_by_host_name_is_looked_up_and_reached(
        make_edge, upstream, up_transport):
    # "localhost" is a name (from /etc/hosts), so it goes through the
    # bridge's resolver rather than being read as an IP literal.
    core_port = free_port()
    edge = make_edge("--upstream", "sip:localhost:%d;transport=%s" % (
        upstream.port, up_transport),
        "--core-listen", "127.0.0.1:%d" % core_port)
    for user in ("alice", "bob"):
        got, ok = register_through(Phone(edge, "udp", user=user), upstream)
        assert got.transport == up_transport
    edge.wait_counter("dns.lookups", 1, "registrar-bridge")  # 1 s reports
    fresh = edge.next_stats_round("registrar-bridge")
    assert edge.counter("upstream.unresolved", "registrar-bridge",
                        stats=fresh) == 0


def test_upstream_439_comes_back_unchanged(make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp")
    phone = Phone(edge, "udp")
    phone.register(timeout=0)
    got = upstream.recv(want=is_register)
    upstream.answer(got, 439, "First Hop Lacks Outbound Support",
                    extra="Supported: outbound")
    resp = phone.recv(want=lambda m: m.status is not None)
    # EP-21: the edge relays 439, never makes one.
    assert resp.status == 439 and "First Hop" in resp.start
    assert resp.get("supported") == "outbound"


def test_upstream_flow_timer_is_relayed_and_flow_outlives_our_own(
        make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp", "--flow-timer", "2",
                      "--flow-grace", "1")
    phone = Phone(edge, "tcp")
    _, ok = register_through(phone, upstream, flow_timer=10)
    registered = time.monotonic()
    assert ok.get("flow-timer") == "10"      # RG-29: unchanged
    # EP-19: our own 2 s + 1 s would have reaped it by 4 s (the reaper
    # runs once a second); theirs (10 s + 1 s) rules.  Reports sent after
    # those 4 s show no time-out; they are in by about 7 s.
    time.sleep(max(0.0, registered + 4.2 - time.monotonic()))
    fresh = edge.next_stats_round("flow-manager")
    assert edge.counter("flows.closed.timeout", stats=fresh) == 0
    wait_for(lambda: edge.counter("flows.closed.timeout") >= 1,
             timeout=12, what="flow reaped after the upstream's Flow-Timer")


@pytest.mark.parametrize("core_transport", ["udp", "tcp"])
def test_core_invite_to_path_uri_arrives_on_the_flow_and_dialog_completes(
        make_edge, upstream, core_transport):
    edge = start_edge(make_edge, upstream, core_transport)
    phone = Phone(edge, "tcp", user="bob")
    got, ok = register_through(phone, upstream)
    path = uri_of(got.msg.all("path")[0])
    call_id = rand(12) + "@core"
    invite = ("INVITE %s SIP/2.0\r\n"
              "Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
              "Route: <%s>\r\n"
              "Record-Route: <sip:127.0.0.1:%d;lr>\r\n"
              "Max-Forwards: 69\r\n"
              "From: <sip:alice@example.com>;tag=al1\r\n"
              "To: <%s>\r\n"
              "Call-ID: %s\r\n"
              "CSeq: 1 INVITE\r\n"
              "Contact: <sip:alice@127.0.0.1:%d>\r\n"
              "Content-Length: 0\r\n\r\n") % (
        uri_of(phone.contact()), core_transport.upper(), upstream.port,
        rand(8), path, upstream.port, phone.aor(), call_id, upstream.port)
    conn = upstream.send(invite, edge.core_addr, core_transport)
    inv = phone.recv(want=lambda m: m.method == "INVITE")
    assert inv is not None, "INVITE did not reach the phone's flow"
    rr = inv.all("record-route")
    # EP-15: two of ours above the upstream's; the top one faces the UA
    # and carries the token, the next faces the core.
    assert len(rr) == 3
    assert uri_user(uri_of(rr[0])) == uri_user(path)
    assert uri_user(uri_of(rr[1])) is None
    assert "127.0.0.1:%d" % edge.core_addr[1] in rr[1]
    phone.reply(inv, 200, "OK", to_tag="bob1")
    resp = upstream.recv(want=lambda m: m.status == 200)
    assert resp is not None and resp.transport == core_transport
    if core_transport == "tcp":
        assert resp.conn is conn     # RFC 3261 §18.2.2: same connection
    # The core's BYE follows the route set it learnt: both of ours.
    bye = ("BYE %s SIP/2.0\r\n"
           "Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
           "Route: %s, %s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@example.com>;tag=al1\r\n"
           "To: <%s>;tag=bob1\r\n"
           "Call-ID: %s\r\n"
           "CSeq: 2 BYE\r\n"
           "Content-Length: 0\r\n\r\n") % (
        uri_of(phone.contact()), core_transport.upper(), upstream.port,
        rand(8), rr[1], rr[0], phone.aor(), call_id)
    upstream.send(bye, edge.core_addr, core_transport, conn=conn)
    got_bye = phone.recv(want=lambda m: m.method == "BYE")
    assert got_bye is not None, "the core's BYE did not reach the flow"
    assert not got_bye.all("route")


def test_phone_invite_gets_double_record_route_and_phone_bye_pops_both(
        make_edge, upstream):
    edge = start_edge(make_edge, upstream, "tcp")
    phone = Phone(edge, "udp", user="alice")
    register_through(phone, upstream)
    call_id = rand(12) + "@alice"
    phone.request("INVITE", "sip:carol@example.com", call_id=call_id)
    got = upstream.recv(want=lambda m: m.method == "INVITE")
    assert got is not None
    rr = got.msg.all("record-route")
    # EP-15: nearest the core on top, the token value below faces the UA.
    assert len(rr) == 2
    assert "127.0.0.1:%d" % edge.core_addr[1] in rr[0]
    assert uri_user(uri_of(rr[0])) is None
    assert uri_user(uri_of(rr[1])) is not None
    upstream.answer(got, 200, extra="Record-Route: %s, %s\r\n"
                    "Contact: <sip:carol@127.0.0.1:9>" % (rr[0], rr[1]))
    ok = phone.recv(want=lambda m: m.status == 200)
    route_set = list(reversed(ok.all("record-route")))
    phone.request("BYE", "sip:carol@127.0.0.1:9", call_id=call_id,
                  routes=route_set, to_tag="up200")
    bye = upstream.recv(want=lambda m: m.method == "BYE")
    assert bye is not None and not bye.msg.all("route")


def test_silent_upstream_gets_503_with_retry_after_promptly(
        make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp", "--upstream-timeout",
                      "1", "--retry-after", "17")
    phone = Phone(edge, "tcp")
    started = time.monotonic()
    resp = phone.register(timeout=5)
    took = time.monotonic() - started
    # SP-16: no hang; a 503 after upstream-timeout, not after Timer F.
    assert resp is not None and resp.status == 503
    assert resp.get("retry-after") == "17"
    assert took < 3.0, took
    # SP-17: the phone's own Via is the only one left.
    assert len(resp.rows("via")) == 1


def test_refused_tcp_upstream_gets_503_at_once(make_edge):
    dead_port = free_port()                 # nobody listens here
    core_port = free_port()
    edge = make_edge("--upstream", "sip:127.0.0.1:%d;transport=tcp" %
                     dead_port, "--core-listen", "127.0.0.1:%d" % core_port)
    phone = Phone(edge, "udp")
    started = time.monotonic()
    resp = phone.register(timeout=5)
    assert resp is not None and resp.status == 503
    assert time.monotonic() - started < 1.0
    # The edge itself is fine: a second try is answered the same way.
    assert phone.register(timeout=5).status == 503


def test_unreachable_udp_upstream_gets_503_before_the_timeout(make_edge):
    dead_port = free_port()
    core_port = free_port()
    edge = make_edge("--upstream", "sip:127.0.0.1:%d" % dead_port,
                     "--core-listen", "127.0.0.1:%d" % core_port,
                     "--upstream-timeout", "10")
    phone = Phone(edge, "tcp")
    started = time.monotonic()
    resp = phone.register(timeout=5)
    # ICMP port unreachable on loopback: an answer long before 10 s.
    assert resp is not None and resp.status == 503
    assert time.monotonic() - started < 2.0


def test_tcp_phone_towards_udp_upstream_is_retransmitted_by_the_edge(
        make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp")
    phone = Phone(edge, "tcp")
    phone.register(timeout=0)
    # SP-15: the phone is on TCP and will not retransmit; the edge must.
    copies = [r for r in upstream.drain(1.8) if r.msg.method == "REGISTER"]
    assert len(copies) >= 3, len(copies)
    branches = {r.msg.rows("via")[0] for r in copies}
    assert len(branches) == 1
    upstream.answer(copies[-1], 200,
                    extra=register_answer_headers(copies[-1].msg))
    assert phone.recv(want=lambda m: m.status == 200) is not None
    # Answered: no more copies.
    assert not [r for r in upstream.drain(1.2) if r.msg.method]


def test_udp_phone_towards_udp_upstream_is_not_retransmitted_by_the_edge(
        make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp")
    phone = Phone(edge, "udp")
    phone.register(timeout=0)
    copies = [r for r in upstream.drain(1.8) if r.msg.method == "REGISTER"]
    # The UDP phone retransmits for itself (it did not here): one copy.
    assert len(copies) == 1


def test_requests_spread_over_a_pool_of_tcp_connections(make_edge, upstream):
    edge = start_edge(make_edge, upstream, "tcp", "--upstream-connections",
                      "3")
    phones = [Phone(edge, "udp") for _ in range(12)]
    for p in phones:
        p.register(timeout=0, call_id=rand(16) + "@pool")
    got = []
    while len(got) < len(phones):
        r = upstream.recv(want=is_register, timeout=3)
        assert r is not None
        got.append(r)
    conns = {id(r.conn) for r in got}
    # Not one pipe (Kamailio #1107), and never more than configured.
    assert 2 <= len(conns) <= 3
    assert upstream.accepted <= 3
    for r in got:
        upstream.answer(r, 200, extra=register_answer_headers(r.msg))
    for p in phones:
        assert p.recv(want=lambda m: m.status == 200) is not None


def test_large_request_to_udp_upstream_goes_over_tcp(make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp")
    phone = Phone(edge, "tcp", user="alice")
    body = "v=0\r\n" + "a=x-pad:%s\r\n" % ("p" * 1400)
    phone.request("MESSAGE", "sip:carol@example.com", body=body,
                  extra="Content-Type: text/plain\r\n")
    got = upstream.recv(want=lambda m: m.method == "MESSAGE")
    # TR-09: over 1300 bytes, never as a UDP datagram; Via says TCP.
    assert got is not None and got.transport == "tcp"
    assert got.msg.rows("via")[0].startswith("SIP/2.0/TCP")
    upstream.answer(got, 200)
    assert phone.recv(want=lambda m: m.status == 200) is not None


def test_bridge_restart_keeps_flows_reachable_from_the_core(
        make_edge, upstream):
    edge = start_edge(make_edge, upstream, "udp")
    phone = Phone(edge, "tcp", user="bob")
    got, _ = register_through(phone, upstream)
    path = uri_of(got.msg.all("path")[0])
    old = edge.service_pid("registrar-bridge")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: edge.service_pid("registrar-bridge") not in (None, old),
             timeout=10, what="bridge restarted")
    options = ("OPTIONS %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
               "Route: <%s>\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:core@example.com>;tag=c1\r\n"
               "To: <%s>\r\n"
               "Call-ID: %s\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n") % (
        uri_of(phone.contact()), upstream.port, rand(8), path, phone.aor(),
        rand(10))

    def delivered():
        upstream.send(options, edge.core_addr, "udp")
        return phone.recv(timeout=0.5, want=lambda m: m.method == "OPTIONS")
    # A restarted bridge loses no flow: the core still reaches the phone.
    assert wait_for(delivered, timeout=10, what="OPTIONS over the flow")
