"""IPv6 end to end: registration, STUN with the IPv6 XOR, and a call over
the registered flow (KA-02, FT-05)."""
import socket

import pytest

from sip import (Phone, stun_binding_request, stun_xor_mapped, token_fields,
                 uri_of, uri_user)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not have_ipv6_loopback(),
                                reason="no IPv6 loopback here")


def test_ipv6_register_stun_and_call(make_edge):
    edge = make_edge(host="::1")
    bob = Phone(edge, "tcp", user="bob", local_ip="::1")
    resp = bob.register()
    assert resp.status == 200
    path = uri_of(resp.get("path"))
    assert "@[::1]:%d;" % edge.port in path
    token = uri_user(path)
    assert len(token) == 92 and token_fields(token)["transport"] == 2
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.settimeout(2)
    s.sendto(stun_binding_request()[0], edge.sip_addr)
    reply = s.recvfrom(200)[0]
    assert stun_xor_mapped(reply) == s.getsockname()[:2]
    s.close()
    alice = Phone(edge, "udp", user="alice", local_ip="::1")
    assert alice.register().status == 200
    alice.request("MESSAGE", bob.aor(), body="over v6")
    msg = bob.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None and msg.body == b"over v6"
    bob.reply(msg, 200)
    assert alice.recv(want=lambda m: m.status == 200) is not None
