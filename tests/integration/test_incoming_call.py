"""Call flow (b): an INVITE for a registered phone arrives over the phone's
own flow, and the whole dialog follows the Record-Route (EP-10, EP-12,
RG-26, TR-05, FT-01)."""
import pytest

from sip import Phone, rand, uri_of, uri_user


def call(caller, callee, edge):
    """caller INVITEs callee's AOR; returns (invite at callee, 200 at caller)."""
    call_id = rand(12) + "@caller"
    caller.request("INVITE", callee.aor(), call_id=call_id,
                   extra="Content-Type: application/sdp\r\n",
                   body="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n")
    inv = callee.recv(want=lambda m: m.method == "INVITE")
    assert inv is not None, "INVITE did not reach the callee's flow"
    callee.reply(inv, 180, "Ringing", to_tag="callee1")
    ringing = caller.recv(want=lambda m: m.status == 180)
    assert ringing is not None
    callee.reply(inv, 200, "OK", to_tag="callee1")
    ok = caller.recv(want=lambda m: m.status == 200 and
                     m.cseq_method == "INVITE")
    assert ok is not None
    return inv, ok, call_id


def in_dialog(sender, ok_or_inv, method, call_id, remote_target, routes,
              to, from_tag, to_tag, cseq):
    sender.request(method, remote_target, to=to, call_id=call_id,
                   routes=routes, from_tag=from_tag, to_tag=to_tag,
                   cseq=cseq)


@pytest.mark.parametrize("callee_transport,caller_transport",
                         [("tcp", "udp"), ("udp", "tcp")])
@pytest.mark.parametrize("flows_per_child", ["1", "4096"])
def test_invite_reaches_registered_phone_over_its_flow_and_dialog_completes(
        make_edge, callee_transport, caller_transport, flows_per_child):
    edge = make_edge("--flows-per-child", flows_per_child)
    bob = Phone(edge, callee_transport, user="bob")
    assert bob.register().status == 200
    alice = Phone(edge, caller_transport, user="alice")
    assert alice.register().status == 200
    inv, ok, call_id = call(alice, bob, edge)
    # EP-10: it came over bob's own flow: his TCP connection, or for UDP
    # from the edge's SIP port to his registered 5-tuple.
    if callee_transport == "udp":
        assert bob.last_from == edge.sip_addr
    # RG-26: R-URI = registered contact; EP-12: top RR is bob's token, no ob.
    assert "bob@%s" % bob.contact_host in inv.uri
    rr = inv.all("record-route")
    assert rr and ";ob" not in uri_of(rr[0])
    assert uri_user(uri_of(rr[0])) is not None
    # The caller's dialog: route set = RR reversed; ACK and BYE follow it.
    route_set = list(reversed(ok.all("record-route")))
    target = uri_of(ok.get("contact"))
    from_tag = ok.get("from").split("tag=")[1]
    alice.request("ACK", target, to=bob.aor(), call_id=call_id,
                  routes=route_set, from_tag=from_tag, to_tag="callee1",
                  cseq=int(ok.get("cseq").split()[0]))
    ack = bob.recv(want=lambda m: m.method == "ACK")
    assert ack is not None and ack.get("call-id") == call_id
    # The callee hangs up: BYE travels bob -> edge -> alice over alice's flow.
    bob_routes = inv.all("record-route")
    bob.request("BYE", uri_of(inv.get("contact")), to=alice.aor(),
                call_id=call_id, routes=bob_routes, from_tag="callee1",
                to_tag=from_tag, cseq=1)
    bye = alice.recv(want=lambda m: m.method == "BYE")
    assert bye is not None and bye.get("call-id") == call_id
    alice.reply(bye, 200)
    bye_ok = bob.recv(want=lambda m: m.status == 200 and
                      m.cseq_method == "BYE")
    assert bye_ok is not None


def test_two_phones_each_get_only_their_own_invites(edge):
    bob = Phone(edge, "udp", user="bob")
    carol = Phone(edge, "udp", user="carol")
    alice = Phone(edge, "tcp", user="alice")
    for p in (bob, carol, alice):
        assert p.register().status == 200
    alice.request("MESSAGE", carol.aor(), body="hi carol",
                  extra="Content-Type: text/plain\r\n")
    msg = carol.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None and msg.body == b"hi carol"            # FT-01
    assert bob.recv(timeout=0.5) is None
    carol.reply(msg, 200)
    assert alice.recv(want=lambda m: m.status == 200) is not None
