"""Call flow (c): the flow dies, the edge answers 430, the caller gets 480,
the phone re-registers on a new flow (EP-11, EP-20, RG-24, RG-27, RG-28,
FT-08)."""
import os
import signal
import socket
import struct

import pytest

from edge import wait_for
from sip import Phone, token_fields, uri_of, uri_user


def invite_status(caller, callee_aor, timeout=3):
    caller.request("INVITE", callee_aor)
    resp = caller.recv(timeout, want=lambda m: m.status is not None and
                       m.status >= 200 and m.cseq_method == "INVITE")
    return resp.status if resp else None


def test_closed_tcp_flow_gets_430_at_edge_and_480_for_caller(edge):
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    bob.close()
    edge.wait_counter("flows.closed.reset", 1)
    # RG-27: the registrar dropped the binding when the flow died, so the
    # caller is told at once; RG-28: never 430 to an endpoint.
    assert invite_status(alice, "sip:bob@example.com") == 480
    # Re-registration on a new connection gets a new token and works.
    bob2 = Phone(edge, "tcp", user="bob", instance=bob.instance)
    assert bob2.register().status == 200
    alice.request("MESSAGE", "sip:bob@example.com", body="back")
    assert bob2.recv(want=lambda m: m.method == "MESSAGE") is not None


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_killed_owner_child_gets_430_at_edge_480_for_caller_then_reregister(
        make_edge, transport):
    edge = make_edge("--flows-per-child", "1")
    bob = Phone(edge, transport, user="bob")
    token = uri_user(uri_of(bob.register().get("path")))
    child = token_fields(token)["child"]
    carol = Phone(edge, transport, user="carol")
    assert carol.register().status == 200
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    kid = wait_for(lambda: edge.children().get("fm1-c%d" % child),
                   what="child stats")
    os.kill(kid["pid"], signal.SIGKILL)                            # EP-20
    edge.wait_counter("flows.closed.child_exit", 1)
    # A request carrying bob's token: the edge answers 430 at once, with
    # no IPC time-out (EP-11), whoever sends it.
    alice.request("MESSAGE", "sip:bob@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (token, edge.port)])
    resp = alice.recv(timeout=1.0, want=lambda m: m.status is not None)
    assert resp is not None and resp.status == 430
    # The caller never sees 430 (RG-28): the registrar says 480.
    assert invite_status(alice, "sip:bob@example.com") == 480
    # Carol, in another child, is untouched.
    alice.request("MESSAGE", "sip:carol@example.com", body="still here")
    assert carol.recv(want=lambda m: m.method == "MESSAGE") is not None
    # Bob notices and re-registers on a new flow: new token, calls again.
    bob2 = Phone(edge, transport, user="bob", instance=bob.instance)
    bob2.cseq = bob.cseq
    token2 = uri_user(uri_of(bob2.register().get("path")))
    assert token2 != token
    alice.request("MESSAGE", "sip:bob@example.com", body="welcome back")
    assert bob2.recv(want=lambda m: m.method == "MESSAGE") is not None


def test_crashed_flow_manager_costs_its_flows_and_their_bindings(edge):
    # A flow-manager killed outright: its children die with it and, since
    # it cannot, tell the router of every flow they close, so the
    # registrar drops the bindings at once and the caller hears 480
    # without a try on a dead flow (EP-20, RG-27, RG-28).
    bob = Phone(edge, "udp", user="bob")
    assert bob.register().status == 200
    old = edge.service_pid("flow-manager")
    os.kill(old, signal.SIGKILL)
    edge.wait_counter("bindings.dropped.flow_closed", 1)
    wait_for(lambda: edge.stats()["services"]["flow-manager"].get("pid")
             not in (None, old) and edge.healthy(), what="restart")
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    assert invite_status(alice, "sip:bob@example.com") == 480
    assert edge.counter("replies.430") == 0


def test_flow_manager_killed_with_its_children_leaves_bindings_that_get_430(
        edge):
    # Killed all at once (the OOM killer, kill -9 of the group): nobody is
    # left to say the flows died.  The binding outlives the flow, and the
    # edge's 430 makes the registrar drop it and tell the caller 480
    # (EP-11, RG-24, RG-28).
    bob = Phone(edge, "udp", user="bob")
    assert bob.register().status == 200
    old = edge.service_pid("flow-manager")
    kids = [c["pid"] for c in edge.children().values()]
    assert kids
    for pid in kids + [old]:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: edge.stats()["services"]["flow-manager"].get("pid")
             not in (None, old) and edge.healthy(), what="restart")
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    assert invite_status(alice, "sip:bob@example.com") == 480
    edge.wait_counter("replies.430", 1)


def test_old_token_after_full_restart_gets_430_not_403(make_edge):
    # FT-08: the key is kept across restarts, so a token from before is
    # still genuine: its flow is gone (430), it is not forged (403).
    edge = make_edge()
    bob = Phone(edge, "tcp", user="bob")
    token = uri_user(uri_of(bob.register().get("path")))
    edge.stop()
    edge.start()
    alice = Phone(edge, "udp", user="alice")
    alice.request("MESSAGE", "sip:bob@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (token, edge.port)])
    resp = alice.recv(want=lambda m: m.status is not None)
    assert resp is not None and resp.status == 430


def test_phone_with_two_flows_gets_calls_on_the_surviving_one(edge):
    # RG-23: one INVITE at a time per instance, lowest reg-id first;
    # RG-27/RG-24: once reg-id 1's flow is gone, calls take reg-id 2.
    flow1 = Phone(edge, "tcp", user="bob", reg_id=1)
    flow2 = Phone(edge, "udp", user="bob", reg_id=2, instance=flow1.instance)
    assert flow1.register().status == 200
    resp = flow2.register()
    assert resp.status == 200
    assert len([c for c in resp.all("contact") if "reg-id" in c]) == 2
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    alice.request("MESSAGE", "sip:bob@example.com", body="one")
    msg = flow1.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None
    assert flow2.recv(timeout=0.5) is None
    flow1.reply(msg, 200)
    assert alice.recv(want=lambda m: m.status == 200) is not None
    flow1.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
    flow1.close()
    edge.wait_counter("flows.closed.reset", 1)
    alice.request("MESSAGE", "sip:bob@example.com", body="two")
    msg = flow2.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None and msg.body == b"two"
