"""EPSIP in front of a real Kamailio registrar (issue 3 §2; topology 2 of
docs/deployment.md, EPSIP started from deploy/topologies/edge-kamailio.conf,
Kamailio from tests/kamailio/registrar.cfg, both on loopback).

  phone --flow--> EPSIP --REGISTER + Path(token;ob)--> Kamailio
  caller --INVITE--> Kamailio --Route: Path--> EPSIP core side --flow--> phone
  dead flow: EPSIP 430 -> Kamailio t_next_contact_flow -> reg-id 2, or 480
"""
import os

import pytest

import kamailio
from edge import free_port, wait_for
from sip import Phone, uri_of, uri_user
from test_kamailio_registrar import (DOMAIN, ack_failure, bindings, call,
                                     closing, final, is_method, kam,
                                     reg_id_of)

pytestmark = pytest.mark.skipif(not kamailio.available(),
                                reason=kamailio.why_unavailable() or "")

CONF = os.path.join(os.path.dirname(__file__), "..", "..", "deploy",
                    "topologies", "edge-kamailio.conf")

__all__ = ["kam", "closing"]     # fixtures, used by name


def edge_before(make_edge, kam, up_transport, *args):
    core_port = free_port()
    edge = make_edge("--config", CONF,
                     "--upstream", "sip:127.0.0.1:%d;transport=%s" % (
                         kam.port, up_transport),
                     "--core-listen", "127.0.0.1:%d" % core_port, *args)
    edge.core_port = core_port
    return edge


def phone_at(edge, transport, closing, **kw):
    p = Phone(edge, transport, user="alice", domain=DOMAIN, **kw)
    closing(p)
    return p


def caller_at(kam, closing):
    c = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(c)
    return c


COMBOS = [("udp", "udp"), ("tcp", "tcp"), ("tcp", "udp"), ("udp", "tcp")]


@pytest.mark.parametrize("phone_transport,up_transport", COMBOS)
def test_outbound_register_through_epsip_is_bound_at_kamailio_with_our_path(
        make_edge, kam, closing, phone_transport, up_transport):
    edge = edge_before(make_edge, kam, up_transport)
    phone = phone_at(edge, phone_transport, closing)
    ok = phone.register(expires=600)
    assert ok is not None and ok.status == 200, ok
    # RG-29, EP-22: Kamailio's Require: outbound and Path come back as is;
    # the Path is ours, naming the core side, with the token and ob.
    assert "outbound" in [t.strip().lower() for t in ok.all("require")]
    path = uri_of(ok.get("path"))
    assert "@127.0.0.1:%d" % edge.core_port in path and ";ob" in path
    assert uri_user(path)
    # EP-18: Kamailio sends no Flow-Timer, so the edge advertises its own.
    assert ok.get("flow-timer") == "120"
    contacts = bindings(kam, "alice", closing)
    assert [reg_id_of(c) for c in contacts] == [1]
    assert phone.instance in contacts[0]


@pytest.mark.parametrize("phone_transport,up_transport", COMBOS)
def test_call_from_kamailio_arrives_over_the_flow_and_dialog_completes_both_ways(
        make_edge, kam, closing, phone_transport, up_transport):
    edge = edge_before(make_edge, kam, up_transport)
    phone = phone_at(edge, phone_transport, closing)
    assert phone.register(expires=600).status == 200
    caller = caller_at(kam, closing)
    d = call(caller)
    inv = phone.recv(want=is_method("INVITE"))
    assert inv is not None, "the INVITE did not reach the phone's flow"
    if phone_transport == "udp":
        assert phone.last_from == edge.sip_addr     # EP-10: its own flow
    # EP-15: our two Record-Routes sit above Kamailio's: the UA-facing one
    # with the token on top, the core-facing one under it.
    rr = inv.all("record-route")
    assert uri_user(uri_of(rr[0]))
    assert "127.0.0.1:%d" % edge.core_port in rr[1]
    assert any(":%d" % kam.port in r for r in rr[2:])
    phone.reply(inv, 180, "Ringing", to_tag="al1")
    assert caller.recv(want=lambda m: m.status == 180) is not None
    phone.reply(inv, 200, "OK", to_tag="al1")
    ok = final(caller, "INVITE")
    assert ok is not None and ok.status == 200, ok
    # Caller -> phone: ACK along the route set (RR reversed).
    caller_routes = list(reversed(ok.all("record-route")))
    target = uri_of(ok.get("contact"))
    caller.request("ACK", target, to=d["uri"], call_id=d["call_id"],
                   cseq=d["cseq"], from_tag=d["from_tag"], to_tag="al1",
                   routes=caller_routes)
    assert phone.recv(want=is_method("ACK")) is not None
    # Phone -> caller: BYE along its route set (RR in order).
    phone.request("BYE", uri_of(inv.get("contact")), to=caller.aor(),
                  call_id=d["call_id"], routes=rr, from_tag="al1",
                  to_tag=d["from_tag"])
    bye = caller.recv(want=is_method("BYE"))
    assert bye is not None, "the phone's BYE did not reach the caller"
    assert bye.get("call-id") == d["call_id"]
    caller.reply(bye, 200, "OK")
    resp = final(phone, "BYE")
    assert resp is not None and resp.status == 200


def two_flows(edge, closing, first="tcp", second="udp"):
    """One phone (one +sip.instance) with reg-id 1 and reg-id 2 flows."""
    one = phone_at(edge, first, closing)
    assert one.register(expires=600, reg_id=1).status == 200
    two = phone_at(edge, second, closing, instance=one.instance, reg_id=2)
    two.user = one.user
    assert two.register(expires=600).status == 200
    return one, two


def test_dead_flow_gets_430_and_kamailio_moves_to_the_other_reg_id(
        make_edge, kam, closing):
    edge = edge_before(make_edge, kam, "tcp")
    one, two = two_flows(edge, closing)
    assert sorted(reg_id_of(c) for c in bindings(kam, "alice", closing)) \
        == [1, 2]
    # reg-id 1's TCP connection goes away; EPSIP notices at once.
    one.close()
    edge.wait_counter("flows.closed.peer", 1)
    caller = caller_at(kam, closing)
    d = call(caller)
    inv = two.recv(want=is_method("INVITE"))
    assert inv is not None, "no failover to the reg-id 2 flow"
    # EP-11: the dead flow got 430 from the edge, not a time-out.
    edge.wait_counter("replies.430", 1)
    two.reply(inv, 200, "OK", to_tag="al2")
    ok = final(caller, "INVITE")
    assert ok is not None and ok.status == 200
    caller.request("ACK", uri_of(ok.get("contact")), to=d["uri"],
                   call_id=d["call_id"], cseq=d["cseq"],
                   from_tag=d["from_tag"], to_tag="al2",
                   routes=list(reversed(ok.all("record-route"))))
    assert two.recv(want=is_method("ACK")) is not None
    # Kamailio dropped the binding whose flow failed.
    assert [reg_id_of(c) for c in bindings(kam, "alice", closing)] == [2]


def test_no_flow_left_gets_the_caller_480(make_edge, kam, closing):
    edge = edge_before(make_edge, kam, "udp")
    phone = phone_at(edge, "tcp", closing)
    assert phone.register(expires=600).status == 200
    phone.close()
    edge.wait_counter("flows.closed.peer", 1)
    caller = caller_at(kam, closing)
    d = call(caller)
    resp = final(caller, "INVITE")
    # RFC 5626 §11.5: the caller never sees 430; no flow left -> 480.
    assert resp is not None and resp.status == 480, resp
    ack_failure(caller, d, resp)
    wait_for(lambda: edge.counter("replies.430") >= 1, timeout=3,
             what="EPSIP answered the dead flow with 430")
