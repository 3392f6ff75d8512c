"""Two EPSIP edges sharing one embedded registrar (issue 3 §3, "with the
embedded registrar"): edge A runs the registrar and opens its core side
(`core-listen`); edge B runs in upstream mode with A's core side as its
upstream.  Both share the token key and differ in instance.  One phone
registers reg-id 1 through A and reg-id 2 through B; A's registrar holds
both bindings, and A's home proxy reaches the phone over A's own flow
(through A's router) or over B's (across the network to B's Path), failing
over from one to the other (RG-24) and answering 480 when neither is left
(RG-28) -- at once, too, when edge B itself is gone."""
import os
import select
import socket
import time

import pytest

from edge import free_port, wait_for
from sip import Phone, rand, uri_of, uri_user
from upstream import core_options


TOPOLOGIES = os.path.join(os.path.dirname(__file__), "..", "..", "deploy",
                          "topologies")


def start_pair(make_edge, tmp_path, between="tcp", names=False):
    """Topology 4 of docs/deployment.md, from its shipped files; the two
    edges talk over `between`.  names: each names the other by a host
    name (B's upstream, B's core-advertise), not an IP literal."""
    key = str(tmp_path / "flow-token.key")      # A creates it, B reads it
    a_core, b_core = free_port(), free_port()
    host = "localhost" if names else "127.0.0.1"
    a = make_edge("--config", os.path.join(TOPOLOGIES,
                                           "two-edges-embedded-a.conf"),
                  "--key-file", key,
                  "--core-listen", "127.0.0.1:%d" % a_core)
    b = make_edge("--config", os.path.join(TOPOLOGIES,
                                           "two-edges-embedded-b.conf"),
                  "--key-file", key,
                  "--upstream", "sip:%s:%d;transport=%s" % (
                      host, a_core, between),
                  "--core-listen", "127.0.0.1:%d" % b_core,
                  *(["--core-advertise", "localhost"] if names else []))
    a.core_addr = ("127.0.0.1", a_core)
    b.core_addr = ("127.0.0.1", b_core)
    return a, b


def register_pair(a, b):
    """One phone: reg-id 1 through A, reg-id 2 through B (TCP flows, so
    that closing a socket ends the flow)."""
    one = Phone(a, "tcp", user="alice", reg_id=1)
    two = Phone(b, "tcp", user="alice", reg_id=2, instance=one.instance)
    ok1 = one.register(expires=600)
    assert ok1 is not None and ok1.status == 200
    ok2 = two.register(expires=600)
    assert ok2 is not None and ok2.status == 200, ok2
    return one, two, ok1, ok2


def final(phone, method, timeout=5.0):
    return phone.recv(timeout, want=lambda m: m.status is not None and
                      m.status >= 200 and m.cseq_method == method)


def invite_on(phones, timeout=5.0):
    """The INVITE, and the phone (flow) it arrived on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        socks = [p.sock for p in phones if p.sock.fileno() >= 0]
        ready, _, _ = select.select(socks, [], [], max(
            0, deadline - time.monotonic()))
        for p in phones:
            if p.sock in ready or p.pending:
                m = p.recv(0.2, want=lambda m: m.method == "INVITE")
                if m is not None:
                    return m, p
    return None, None


def call_and_hang_up(caller, phones):
    """caller calls alice; the callee answers, the caller ACKs and the
    callee hangs up.  Returns the phone that got the call."""
    call_id = rand(12) + "@caller"
    caller.request("INVITE", "sip:alice@example.com", call_id=call_id)
    inv, callee = invite_on(phones)
    assert inv is not None, "the INVITE reached neither flow"
    callee.reply(inv, 180, "Ringing", to_tag="callee")
    assert caller.recv(want=lambda m: m.status == 180) is not None
    callee.reply(inv, 200, "OK", to_tag="callee")
    ok = final(caller, "INVITE")
    assert ok is not None and ok.status == 200
    from_tag = ok.get("from").split("tag=")[1]
    caller.request("ACK", uri_of(ok.get("contact")), to="sip:alice@example.com",
                   call_id=call_id, from_tag=from_tag, to_tag="callee",
                   routes=list(reversed(ok.all("record-route"))),
                   cseq=int(ok.get("cseq").split()[0]))
    ack = callee.recv(want=lambda m: m.method == "ACK")
    assert ack is not None and ack.get("call-id") == call_id
    # In-dialog requests follow the route set alone: every edge pops its
    # own entries, nothing is left for the phone (RFC 3261 §16.4, §16.12).
    assert not ack.all("route"), ack.all("route")
    callee.request("BYE", uri_of(inv.get("contact")), to=caller.aor(),
                   call_id=call_id, routes=inv.all("record-route"),
                   from_tag="callee", to_tag=from_tag, cseq=1)
    bye = caller.recv(want=lambda m: m.method == "BYE")
    assert bye is not None and bye.get("call-id") == call_id
    assert not bye.all("route"), bye.all("route")
    caller.reply(bye, 200)
    bye_ok = final(callee, "BYE")
    assert bye_ok is not None and bye_ok.status == 200
    return callee


def test_reg_ids_through_both_edges_are_two_bindings_in_edge_a(
        make_edge, tmp_path):
    a, b = start_pair(make_edge, tmp_path)
    one, two, ok1, ok2 = register_pair(a, b)
    try:
        # Each Path is its edge's: A's names its phone side (the embedded
        # registrar reaches it through A's router), B's its core side.
        path_a, path_b = uri_of(ok1.get("path")), uri_of(ok2.get("path"))
        assert "127.0.0.1:%d" % a.port in path_a
        assert "127.0.0.1:%d" % b.core_addr[1] in path_b
        assert ok2.get("require") == "outbound"
        # RG-22: the 200 through B lists both bindings of A's registrar.
        contacts = ok2.all("contact")
        assert len(contacts) == 2
        assert sorted(c.split("reg-id=")[1].split(";")[0]
                      for c in contacts) == ["1", "2"]
        a.wait_counter("registrations.active", 2)
        a.wait_counter("core.requests.received", 1)  # B's REGISTER
        a.wait_counter("core.responses.sent", 1)     # and its 200
        assert a.stats()["services"]["registrar-bridge"]["core_listen"] == \
            "127.0.0.1:%d" % a.core_addr[1]
    finally:
        one.close()
        two.close()


def test_calls_reach_the_phone_over_either_edge_and_480_when_both_are_gone(
        make_edge, tmp_path):
    a, b = start_pair(make_edge, tmp_path)
    one, two, _, _ = register_pair(a, b)
    caller = Phone(a, "udp", user="bob")
    try:
        assert caller.register().status == 200
        # Both flows alive: the home proxy tries reg-id 1 first.
        assert call_and_hang_up(caller, [one, two]) is one
        # A's flow dies: the call goes to reg-id 2, across to edge B.
        one.close()
        a.wait_counter("flows.closed.peer", 1)
        assert call_and_hang_up(caller, [two]) is two
        a.wait_counter("core.requests.sent", 1)      # to B's Path
        b.wait_counter("core.requests.received", 1)
        # B's flow dies too: B answers 430 across the network, A's home
        # proxy has no flow left and the caller gets 480, never 430.
        two.close()
        b.wait_counter("flows.closed.peer", 1)
        caller.request("INVITE", "sip:alice@example.com")
        resp = final(caller, "INVITE")
        assert resp is not None and resp.status == 480
        a.wait_counter("proxy.failover.430", 1)
    finally:
        one.close()
        two.close()
        caller.close()


def test_edge_b_advertised_by_name_is_reached_through_a_lookup(
        make_edge, tmp_path):
    # B's Path names "localhost": A's home proxy holds the INVITE until
    # its resolver thread has the address, then sends it to B's flow.
    a, b = start_pair(make_edge, tmp_path, names=True)
    one, two, _, ok2 = register_pair(a, b)
    caller = Phone(a, "udp", user="bob")
    try:
        assert "@localhost:%d" % b.core_addr[1] in uri_of(ok2.get("path"))
        assert caller.register().status == 200
        one.close()
        a.wait_counter("flows.closed.peer", 1)
        assert call_and_hang_up(caller, [two]) is two
        a.wait_counter("core.requests.parked", 1)
        a.wait_counter("dns.lookups", 1, "registrar-bridge")
        fresh = a.next_stats_round("registrar-bridge")
        assert a.counter("core.requests.undeliverable.resolving",
                         stats=fresh) == 0
    finally:
        one.close()
        two.close()
        caller.close()


def test_a_phone_on_edge_b_calls_the_phone_over_either_edge(
        make_edge, tmp_path):
    a, b = start_pair(make_edge, tmp_path)
    one, two, _, _ = register_pair(a, b)
    caller = Phone(b, "tcp", user="carol")
    try:
        assert caller.register().status == 200
        # B relays the INVITE to A's home proxy; reg-id 1 is A's flow.
        assert call_and_hang_up(caller, [one, two]) is one
        one.close()
        a.wait_counter("flows.closed.peer", 1)
        # Now through B both ways: B -> A's home proxy -> B's Path.
        assert call_and_hang_up(caller, [two]) is two
    finally:
        one.close()
        two.close()
        caller.close()


def refused(addr):
    """Nothing listens on addr (TCP) any more."""
    try:
        socket.create_connection(addr, timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # The connect raced the dying listener: it reached the accept
        # queue and was reset when the socket closed. Ask again.
        return False
    except socket.timeout:
        # The listener still exists but nobody accepts any more (a
        # killed process being torn down, slowly under ASan): its full
        # accept queue drops the SYN. Ask again.
        return False


@pytest.mark.parametrize("between", ["tcp", "udp"])
def test_edge_b_gone_sends_the_call_through_edge_a_at_once(
        make_edge, tmp_path, between):
    a, b = start_pair(make_edge, tmp_path, between)
    # This time reg-id 1 (tried first) is the flow through B.
    via_b = Phone(b, "tcp", user="alice", reg_id=1)
    via_a = Phone(a, "tcp", user="alice", reg_id=2, instance=via_b.instance)
    caller = Phone(a, "udp", user="bob")
    try:
        assert via_b.register(expires=600).status == 200
        assert via_a.register(expires=600).status == 200
        assert caller.register().status == 200
        b.kill_hard()                   # a crash: B's core side is gone
        wait_for(lambda: refused(b.core_addr), what="B's core side gone")
        t0 = time.monotonic()
        caller.request("INVITE", "sip:alice@example.com")
        inv, got = invite_on([via_a], timeout=5)
        # A's connection to B is refused (TCP RST, or over UDP an ICMP
        # port unreachable): a local 408 moves the call on to reg-id 2
        # now, not after Timer B (32 s).
        assert inv is not None and got is via_a
        assert time.monotonic() - t0 < 3
        a.wait_counter("core.requests.unreachable", 1)
        via_a.reply(inv, 486, "Busy Here", to_tag="busy")
        resp = final(caller, "INVITE")
        assert resp is not None and resp.status == 486
    finally:
        via_a.close()
        via_b.close()
        caller.close()


def test_edge_a_token_at_edge_b_is_not_mine_430(make_edge, tmp_path):
    a, b = start_pair(make_edge, tmp_path)
    one, two, ok1, _ = register_pair(a, b)
    try:
        token_a = uri_user(uri_of(ok1.get("path")))
        resp = core_options(b.core_addr, "sip:%s@127.0.0.1:%d;lr" % (
            token_a, b.core_addr[1]))
        # Genuine (shared key), but instance 1's: not here, not forged.
        assert resp.status == 430
        b.wait_counter("tokens.rejected.other_instance", 1)
    finally:
        one.close()
        two.close()
