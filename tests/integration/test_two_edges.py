"""Two EPSIP edges in front of one Kamailio (issue 3 §3; topology 3 of
docs/deployment.md, started from deploy/topologies/two-edges-{a,b}.conf):
one phone registers reg-id 1 through edge A and reg-id 2 through edge B.
Both edges share the token key and differ in instance, so each tells the
other's tokens ("not mine": 430) from forged ones (403)."""
import os

import pytest

import kamailio
from edge import free_port
from sip import Phone, uri_of, uri_user
from upstream import core_options
from test_kamailio_registrar import (DOMAIN, bindings, call, closing, final,
                                     is_method, kam, reg_id_of)

pytestmark = pytest.mark.skipif(not kamailio.available(),
                                reason=kamailio.why_unavailable() or "")

TOPOLOGIES = os.path.join(os.path.dirname(__file__), "..", "..", "deploy",
                          "topologies")

__all__ = ["kam", "closing"]     # fixtures, used by name


def start_pair(make_edge, kam, tmp_path):
    key = str(tmp_path / "flow-token.key")
    edges = []
    for conf in ("two-edges-a.conf", "two-edges-b.conf"):
        core_port = free_port()
        e = make_edge("--config", os.path.join(TOPOLOGIES, conf),
                      "--key-file", key,
                      "--upstream", "sip:127.0.0.1:%d;transport=tcp" %
                      kam.port,
                      "--core-listen", "127.0.0.1:%d" % core_port)
        e.core_addr = ("127.0.0.1", core_port)
        edges.append(e)
    return edges


def phone_pair(a, b, closing):
    """One phone: reg-id 1 over TCP through A, reg-id 2 over UDP through B."""
    one = Phone(a, "tcp", user="alice", domain=DOMAIN, reg_id=1)
    two = Phone(b, "udp", user="alice", domain=DOMAIN, reg_id=2,
                instance=one.instance)
    closing(one)
    closing(two)
    ok1 = one.register(expires=600)
    ok2 = two.register(expires=600)
    assert ok1.status == 200 and ok2.status == 200
    return one, two, uri_of(ok1.get("path")), uri_of(ok2.get("path"))


def test_reg_ids_through_two_edges_are_two_bindings_with_their_own_paths(
        make_edge, kam, closing, tmp_path):
    a, b = start_pair(make_edge, kam, tmp_path)
    one, two, path_a, path_b = phone_pair(a, b, closing)
    assert "127.0.0.1:%d" % a.core_addr[1] in path_a
    assert "127.0.0.1:%d" % b.core_addr[1] in path_b
    contacts = bindings(kam, "alice", closing)
    assert sorted(reg_id_of(c) for c in contacts) == [1, 2]


def test_dead_flow_at_edge_a_sends_the_call_through_edge_b(
        make_edge, kam, closing, tmp_path):
    a, b = start_pair(make_edge, kam, tmp_path)
    one, two, _, path_b = phone_pair(a, b, closing)
    one.close()
    a.wait_counter("flows.closed.peer", 1)
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    d = call(caller)
    inv = two.recv(want=is_method("INVITE"))
    assert inv is not None, "the call did not come through edge B"
    assert two.last_from == b.sip_addr
    a.wait_counter("replies.430", 1)          # A said: flow failed
    two.reply(inv, 200, "OK", to_tag="viab")
    ok = final(caller, "INVITE")
    assert ok is not None and ok.status == 200
    # The dialog's edge Record-Route carries B's token for this flow.
    assert uri_user(uri_of(ok.all("record-route")[0])) == uri_user(path_b)
    caller.request("ACK", uri_of(ok.get("contact")), to=d["uri"],
                   call_id=d["call_id"], cseq=d["cseq"],
                   from_tag=d["from_tag"], to_tag="viab",
                   routes=list(reversed(ok.all("record-route"))))
    assert two.recv(want=is_method("ACK")) is not None


def test_edge_a_gone_entirely_sends_the_call_through_edge_b(
        make_edge, kam, closing, tmp_path):
    a, b = start_pair(make_edge, kam, tmp_path)
    one, two, _, _ = phone_pair(a, b, closing)
    a.kill_hard()                              # a crash: nobody says 430
    caller = Phone(kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    call(caller)
    # Kamailio's branch to A fails (refused or timed out); reg-id 2 next.
    inv = two.recv(timeout=8, want=is_method("INVITE"))
    assert inv is not None, "no failover after edge A died"
    two.reply(inv, 486, "Busy Here", to_tag="busy")
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 486


def test_token_of_the_other_edge_is_not_mine_430_and_a_forgery_is_403(
        make_edge, kam, closing, tmp_path):
    a, b = start_pair(make_edge, kam, tmp_path)
    _, _, path_a, _ = phone_pair(a, b, closing)
    token_a = uri_user(path_a)
    at_b = "sip:%s@127.0.0.1:%d;lr" % (token_a, b.core_addr[1])
    # Genuine (shared key) but instance 1's: the flow is not here.
    resp = core_options(b.core_addr, at_b)
    assert resp.status == 430
    b.wait_counter("tokens.rejected.other_instance", 1)
    # One byte changed: the MAC fails, a forgery.
    forged = token_a[:-2] + ("A" if token_a[-2] != "A" else "B") + \
        token_a[-1]
    resp = core_options(b.core_addr, "sip:%s@127.0.0.1:%d;lr" % (forged,
                                                        b.core_addr[1]))
    assert resp.status == 403
