"""Call flow (a): outbound registration through the edge creates a flow
token in Path (EP-02, EP-05, RG-01, RG-10, EP-18, KA-14)."""
import re
import socket
import struct

import pytest

from sip import Phone, stun_binding_request, token_fields, uri_of, uri_user


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_outbound_register_gets_200_with_require_outbound_and_flow_timer(
        edge, transport):
    phone = Phone(edge, transport)
    resp = phone.register()
    assert resp is not None and resp.status == 200, resp
    assert "outbound" in [v.lower() for v in resp.all("require")]   # RG-10
    assert re.fullmatch(r"\d+", resp.get("flow-timer"))             # KA-14
    path = resp.all("path")                                         # RG-01
    assert len(path) == 1
    uri = uri_of(path[0])
    assert ";lr" in uri and ";ob" in uri                            # EP-02
    token = uri_user(uri)
    fields = token_fields(token)
    assert fields["instance"] == 1
    assert fields["transport"] == (1 if transport == "udp" else 2)
    # EP-05: the Path names the edge's own address.
    assert "@127.0.0.1:%d" % edge.port in uri
    # The 200 lists our binding with its remaining expiry (RG-22).
    assert any("expires=" in c for c in resp.all("contact"))
    phone.close()


def test_register_without_reg_id_gets_no_require_outbound(edge):
    phone = Phone(edge, "udp")
    resp = phone.register(outbound=False)
    assert resp.status == 200
    assert "outbound" not in [v.lower() for v in resp.all("require")]  # RG-07
    assert resp.get("flow-timer") is None                             # EP-18
    # EP-22: a plain UA still gets a token Path, without ob.
    path = uri_of(resp.get("path"))
    assert ";ob" not in path and uri_user(path)


def test_reconnect_from_same_port_gets_a_new_token(edge):
    first = Phone(edge, "tcp")
    t1 = uri_user(uri_of(first.register().get("path")))
    port = first.local[1]
    # Close with RST so the port is free again at once (no TIME_WAIT).
    first.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
    first.close()
    second = Phone(edge, "tcp", user=first.user, instance=first.instance,
                   port=port)
    second.cseq = first.cseq
    t2 = uri_user(uri_of(second.register().get("path")))
    assert t1 != t2                                                 # FT-02
    assert token_fields(t1)["generation"] != token_fields(t2)["generation"]


def test_registrar_rules_answer_on_the_wire(edge):
    phone = Phone(edge, "udp")
    assert phone.register(expires=5).status == 423                  # RG-21
    resp = phone.register(extra="Require: foo\r\n")
    assert resp.status == 420 and "foo" in resp.all("unsupported")  # RG-18
    resp = phone.register(reg_id=0)
    assert resp.status == 400                                       # ER-07


def test_wildcard_listener_answers_from_the_address_the_phone_used(
        make_edge):
    # TR-04, KA-03: on 0.0.0.0 the answer must leave from the address the
    # phone wrote to, and the Path must name that address.
    edge = make_edge(host="0.0.0.0")
    edge.sip_addr = ("127.0.0.2", edge.port)
    phone = Phone(edge, "udp")
    resp = phone.register()
    assert resp.status == 200
    assert phone.last_from == ("127.0.0.2", edge.port)
    assert "@127.0.0.2:%d;" % edge.port in uri_of(resp.get("path"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(stun_binding_request()[0], ("127.0.0.3", edge.port))
    assert s.recvfrom(100)[1] == ("127.0.0.3", edge.port)
    s.close()
