"""Edges behind an L4 load balancer (issue 10 §6): Debian's HAProxy in TCP
mode in front of two EPSIP edges sharing one registrar (topology 4 of
docs/deployment.md: A keeps the embedded registrar, B is in upstream mode
towards A's core side), both with the same token key and their own
instance.  HAProxy sends A a PROXY v1 header (send-proxy) and B a v2 one
(send-proxy-v2); both edges expect it on their listener (proxy-protocol)
from 127.0.0.1 only (proxy-from), and advertise the balancer's address, so
that what a phone reads in Path and Record-Route leads back to the
balancer.

Phones connect from their own loopback addresses (127.0.0.2 ...), so the
balancer's address (127.0.0.1) and theirs differ: the flow token and Via
received/rport must name the phone, never HAProxy.  When an edge dies,
HAProxy closes its phones' connections; a phone that carries on through
the balancer lands on the other edge, which answers 430 (flow failed) to
a request for the dead edge's flow, and the phone re-registers there.

A last test has no balancer: a PROXY header is honoured only from a
proxy-from address, and a bad, late or missing one closes the connection.
"""
import os
import socket
import time
from types import SimpleNamespace

import pytest

import haproxy
from edge import free_port
from sip import Phone, rand, token_fields, uri_of, uri_user
from test_ipv6 import have_ipv6_loopback

TOPOLOGIES = os.path.join(os.path.dirname(__file__), "..", "..", "deploy",
                          "topologies")

needs_haproxy = pytest.mark.skipif(not haproxy.available(),
                                   reason=haproxy.why_unavailable() or "")


def behind_balancer(port, lb_port):
    """The flags of an edge on 127.0.0.1:port behind a balancer on
    127.0.0.1:lb_port that connects from 127.0.0.1."""
    return ["--proxy-protocol", "127.0.0.1:%d" % port,
            "--proxy-from", "127.0.0.1",
            "--advertise", "127.0.0.1:%d" % lb_port]


@pytest.fixture
def cluster(make_edge, tmp_path):
    """Edges A (instance 1, registrar) and B (instance 17) behind HAProxy,
    returned as (a, b, lb); HAProxy is stopped by PID at the end."""
    key = str(tmp_path / "flow-token.key")      # A creates it, B reads it
    lb_port, a_port, b_port = free_port(), free_port(), free_port()
    a_core, b_core = free_port(), free_port()
    a = make_edge("--config", os.path.join(TOPOLOGIES,
                                           "two-edges-embedded-a.conf"),
                  "--key-file", key,
                  "--core-listen", "127.0.0.1:%d" % a_core,
                  *behind_balancer(a_port, lb_port), port=a_port)
    b = make_edge("--config", os.path.join(TOPOLOGIES,
                                           "two-edges-embedded-b.conf"),
                  "--key-file", key,
                  "--upstream", "sip:127.0.0.1:%d;transport=tcp" % a_core,
                  "--core-listen", "127.0.0.1:%d" % b_core,
                  *behind_balancer(b_port, lb_port), port=b_port)
    b.core_addr = ("127.0.0.1", b_core)
    lb = haproxy.Haproxy([("a", a.sip_addr, "send-proxy"),
                          ("b", b.sip_addr, "send-proxy-v2")],
                         port=lb_port).start()
    yield a, b, lb
    log = lb.log()
    lb.stop()
    print("---- haproxy log ----\n" + log[-3000:])


def via_source(msg):
    """(received, rport) the edge stamped on the top Via."""
    params = dict(p.split("=", 1) for p in msg.get("via").split(";")[1:]
                  if "=" in p)
    return params.get("received"), int(params.get("rport", "0"))


def register_through(lb, index, user=None, instance=None):
    """A phone on 127.0.0.<index> registered through the balancer; returns
    (phone, its 200, the flow token's fields)."""
    phone = Phone(lb, "tcp", user=user or "p%d" % index,
                  local_ip="127.0.0.%d" % index, instance=instance)
    ok = phone.register(expires=600)
    assert ok is not None and ok.status == 200, ok
    return phone, ok, token_fields(uri_user(uri_of(ok.get("path"))))


def assert_flow_names_the_phone(phone, ok, token):
    # Via received/rport and the token name the phone, not HAProxy.
    assert via_source(ok) == phone.local
    assert token["remote"] == phone.local
    assert token["remote"][0] != "127.0.0.1"


def final(phone, method, timeout=5.0):
    return phone.recv(timeout, want=lambda m: m.status is not None and
                      m.status >= 200 and m.cseq_method == method)


def ring(caller, callee, status=486):
    """caller calls callee's AoR; the INVITE must reach callee's own
    connection, which answers `status`.  Returns the INVITE."""
    call_id = rand(12) + "@caller"
    caller.request("INVITE", callee.aor(), call_id=call_id)
    inv = callee.recv(5, want=lambda m: m.method == "INVITE")
    assert inv is not None, "the INVITE did not reach %s" % callee.user
    assert inv.get("call-id") == call_id
    callee.reply(inv, status, "Busy Here" if status == 486 else "OK",
                 to_tag="callee")
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == status
    return inv, resp


def closed(phone, timeout=5.0):
    """The phone's connection was closed by the far end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = phone.recv_raw(0.2)
        except ConnectionResetError:
            return True
        if data == b"":
            return True
    return False


def by_edge(phones):
    """{instance: [(phone, ok, token)]}"""
    out = {}
    for entry in phones:
        out.setdefault(entry[2]["instance"], []).append(entry)
    return out


@needs_haproxy
def test_phones_through_haproxy_are_known_by_their_own_address_and_called(
        cluster):
    a, b, lb = cluster
    phones = [register_through(lb, i) for i in (2, 3, 4, 5)]
    caller = Phone(a, "udp", user="bob")
    try:
        edges = by_edge(phones)
        # leastconn: both edges got phones.
        assert sorted(edges) == [1, 17], edges
        for phone, ok, token in phones:
            assert_flow_names_the_phone(phone, ok, token)
            path = uri_of(ok.get("path"))
            if token["instance"] == 1:
                # A's own Path: the balancer's address (advertise).
                assert "@127.0.0.1:%d;" % lb.port in path
            else:
                # B's Path towards the registrar: B's core side.
                assert "@127.0.0.1:%d;" % b.core_addr[1] in path
        a.wait_counter("proxy_protocol.headers.v1", len(edges[1]))
        b.wait_counter("proxy_protocol.headers.v2", len(edges[17]))
        # HAProxy's health checks towards B are v2 LOCAL headers.
        b.wait_counter("proxy_protocol.headers.local", 1)
        assert caller.register().status == 200
        # Calls from the registrar's home proxy reach every phone on its
        # own connection through the balancer, whichever edge holds it.
        for phone, _, _ in phones:
            inv, _ = ring(caller, phone)
            rr = inv.all("record-route")
            assert rr and "@127.0.0.1:%d;" % lb.port in rr[0], rr
        for e in (a, b):
            assert e.counter("proxy_protocol.dropped.untrusted") == 0
            assert e.counter("proxy_protocol.dropped.malformed") == 0
    finally:
        caller.close()
        for phone, _, _ in phones:
            phone.close()


@needs_haproxy
def test_a_dead_edges_phones_get_430_and_re_register_through_the_other(
        cluster):
    a, b, lb = cluster
    phones = [register_through(lb, i) for i in (2, 3, 4, 5)]
    caller = Phone(a, "udp", user="bob")
    again = []
    try:
        assert caller.register().status == 200
        on_b = by_edge(phones)[17]
        # A call to one of B's phones, answered: a dialog whose route set
        # names B's flow (its token, at the balancer's address).
        callee = on_b[0][0]
        inv, ok = ring(caller, callee, status=200)
        from_tag = ok.get("from").split("tag=")[1]
        b.kill_hard()
        # HAProxy closes B's phones' connections.
        for phone, _, _ in on_b:
            assert closed(phone), "%s still connected" % phone.user
        # The callee carries on through the balancer, now reaching A: the
        # BYE's first Route is B's flow, genuine but not A's -- 430.
        back = Phone(lb, "tcp", user=callee.user, local_ip=callee.local[0],
                     instance=callee.instance)
        again.append(back)
        back.request("BYE", uri_of(inv.get("contact")), to=caller.aor(),
                     call_id=inv.get("call-id"),
                     routes=inv.all("record-route"), from_tag="callee",
                     to_tag=from_tag, cseq=2)
        resp = final(back, "BYE")
        assert resp is not None and resp.status == 430, resp
        a.wait_counter("tokens.rejected.other_instance", 1)
        # It re-registers through the balancer, on A now, known by its own
        # address again; so do B's other phones.
        ok = back.register(expires=600)
        assert ok is not None and ok.status == 200, ok
        token = token_fields(uri_user(uri_of(ok.get("path"))))
        assert token["instance"] == 1
        assert_flow_names_the_phone(back, ok, token)
        for phone, _, _ in on_b[1:]:
            p, ok, token = register_through(
                lb, int(phone.local[0].split(".")[3]), user=phone.user,
                instance=phone.instance)
            again.append(p)
            assert token["instance"] == 1
            assert_flow_names_the_phone(p, ok, token)
        # And calls reach them over A.
        for p in again:
            ring(caller, p)
    finally:
        caller.close()
        for phone, _, _ in phones:
            phone.close()
        for p in again:
            p.close()


def connect_from(edge, source):
    """A TCP connection from `source`.  A blocking connect: one with a
    time-out reads the socket's error after the handshake, and a reset
    the edge sent at once would already be there."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(edge.sip_addr)
    return sock


def send_maybe(sock, data):
    """Send what the edge may already have refused."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def reset_or_closed(sock, timeout=5.0):
    """The edge ended the connection (a reset, or a close) and sent
    nothing."""
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_a_proxy_header_is_honoured_only_from_proxy_from(make_edge):
    port = free_port()
    # --auth none: the client the header names, 192.0.2.66, is not on
    # loopback, and who may register is test_auth.py's subject.
    edge = make_edge("--proxy-protocol", "127.0.0.1:%d" % port,
                     "--proxy-from", "127.0.0.1", "--auth", "none",
                     port=port)
    header = b"PROXY TCP4 192.0.2.66 127.0.0.1 40123 %d\r\n" % port
    # A header that will never be whole, from the balancer: cut off 3 s
    # after the accept (checked last, the other cases run meanwhile).
    late = connect_from(edge, "127.0.0.1")
    late.sendall(header[:20])

    # From a source not in proxy-from: closed unread, header or not.
    forged = connect_from(edge, "127.0.0.2")
    send_maybe(forged, header + b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    assert reset_or_closed(forged)
    direct = connect_from(edge, "127.0.0.3")
    send_maybe(direct, b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    assert reset_or_closed(direct)
    edge.wait_counter("proxy_protocol.dropped.untrusted", 2)
    assert "connection from 127.0.0.2:" in edge.logs()
    assert "not a proxy-from address" in edge.logs()

    # From the balancer without a header: not SIP to us, closed.
    bare = connect_from(edge, "127.0.0.1")
    bare.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    assert reset_or_closed(bare)
    edge.wait_counter("proxy_protocol.dropped.malformed", 1)
    assert "not a PROXY protocol header (bad-signature)" in edge.logs()

    # From the balancer with a header: the flow is the client's.
    alice = Phone(edge, "tcp", user="alice")
    alice.send(header)
    ok = alice.register()
    assert ok is not None and ok.status == 200
    assert via_source(ok) == ("192.0.2.66", 40123)
    token = token_fields(uri_user(uri_of(ok.get("path"))))
    assert token["remote"] == ("192.0.2.66", 40123)
    assert token["local"] == ("127.0.0.1", port)
    edge.wait_counter("proxy_protocol.headers.v1", 1)

    # UDP on the same address is a plain listener: no header expected.
    udp = Phone(edge, "udp", user="dave", local_ip="127.0.0.4")
    ok = udp.register()
    assert ok is not None and ok.status == 200
    assert via_source(ok) == udp.local

    assert reset_or_closed(late, timeout=5)
    edge.wait_counter("proxy_protocol.dropped.timeout", 1)
    # Only alice's connection became a flow.
    stats = edge.next_stats_round("flow-manager")
    assert edge.counter("flows.opened.tcp", stats=stats) == 1
    for phone in (alice, udp):
        phone.close()
    for sock in (late, bare, forged, direct):
        sock.close()


@pytest.mark.skipif(not have_ipv6_loopback(),
                    reason="no IPv6 loopback here")
def test_a_client_of_the_other_family_is_mapped_or_refused(make_edge):
    v4, v6 = free_port(), free_port(host="::1")
    edge = make_edge("--listen", "[::1]:%d" % v6,
                     "--proxy-protocol", "127.0.0.1:%d" % v4,
                     "--proxy-protocol", "[::1]:%d" % v6,
                     "--proxy-from", "127.0.0.1", "--proxy-from", "::1",
                     "--auth", "none",   # 192.0.2.66 is not loopback
                     port=v4)
    # An IPv4 client through an IPv6 listener: a token holds one family,
    # so the client is written as a v4-mapped IPv6 address.
    mapped = Phone(SimpleNamespace(sip_addr=("::1", v6)), "tcp",
                   user="alice", local_ip="::1")
    mapped.send(b"PROXY TCP4 192.0.2.66 203.0.113.1 40123 5060\r\n")
    ok = mapped.register()
    assert ok is not None and ok.status == 200
    assert via_source(ok) == ("::ffff:192.0.2.66", 40123)
    token = token_fields(uri_user(uri_of(ok.get("path"))))
    assert token["remote"] == ("::ffff:192.0.2.66", 40123)
    # An IPv6 client through an IPv4 listener cannot be written at all.
    v6_client = connect_from(edge, "127.0.0.1")
    send_maybe(v6_client, b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 "
               b"5060\r\nOPTIONS sip:x SIP/2.0\r\n\r\n")
    assert reset_or_closed(v6_client)
    edge.wait_counter("proxy_protocol.dropped.family", 1)
    mapped.close()
    v6_client.close()
