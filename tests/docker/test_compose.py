"""EPSIP as deploy/docker ships it (issue 10 §2, §3): the image built by
deploy/docker/Dockerfile, run by docker-compose with host networking, one
container per executable (epsipd watching, registrar-bridge, sip-router,
and three flow-managers that claimed their instance numbers themselves),
a shared run directory and a state volume, on SIP and stats ports of the
test's own.  Phones on the host register with outbound over UDP and TCP
across all three flow-managers and are called through the embedded
registrar and home proxy over their flows; a forged token gets 403, a
dead flow 430.  A killed flow-manager container costs only its own
flows, and compose brings it back under a free number.  After the set
restarts an old token is still genuine (the key is on the volume): 430,
not 403.  Docker's own health check says healthy, and asked epsipd."""
import socket
import struct

from edge import wait_for

import pytest

from sip import Phone, rand, token_fields, uri_of, uri_user

TRANSPORT = {"udp": 1, "tcp": 2}       # the token's transport field


def register_phones(edge, n, transport, prefix=None):
    """n phones registered through `edge` with outbound (+sip.instance,
    reg-id, Supported: path, outbound); returns [(phone, its 200)]."""
    out = []
    for i in range(n):
        phone = Phone(edge, transport, user="%s%d" % (
            prefix or "p" + rand(4), i))
        ok = phone.register()
        assert ok is not None and ok.status == 200, ok
        out.append((phone, ok))
    return out


@pytest.fixture
def register(edge):
    """register_phones() on `edge`; the phones are closed after the
    test."""
    phones = []

    def register(n, transport, prefix=None):
        out = register_phones(edge, n, transport, prefix)
        phones.extend(phone for phone, _ in out)
        return out
    yield register
    for phone in phones:
        phone.close()


def final(phone, method, timeout=5.0):
    return phone.recv(timeout, want=lambda m: m.status is not None and
                      m.status >= 200 and m.cseq_method == method)


def token_of(ok):
    return uri_user(uri_of(ok.get("path")))


def routed_to_token(edge, sender, token):
    """`sender` sends a MESSAGE whose Route is the edge with `token`;
    the status of the answer (None if none came)."""
    sender.request("MESSAGE", "sip:someone@%s" % edge.host, routes=[
        "<sip:%s@%s:%d;lr>" % (token, edge.host, edge.port)])
    resp = sender.recv(want=lambda m: m.status is not None)
    return resp.status if resp else None


def reset(phone):
    """Close a TCP phone's connection with a RST: the flow dies now."""
    phone.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
    phone.close()


def test_docker_says_healthy_after_asking_this_containers_epsipd(edge):
    # The probe found the stats port in the effective configuration (the
    # test's, not the default 8060) and got epsipd's answer: PID 1 in the
    # container's PID namespace.  Every service, each in a container of
    # its own, reported to it.
    (container,) = edge.containers
    status, out = edge.compose.health(container)
    assert status == "healthy"
    assert "health: ok" in out and ": pid 1," in out, out
    for service in ("registrar-bridge", "sip-router", "flow-manager",
                    "flow-manager-2", "flow-manager-3"):
        assert service in out, out
    for service in ("registrar-bridge", "sip-router"):
        assert len(edge.compose.containers(service)) == 1
    assert len(edge.compose.containers("flow-manager")) == 3


def flow_managers(edge):
    """{token instance: (service name, its /stats entry)}."""
    return {svc["token_instance"]: (name, svc)
            for name, svc in edge.stats()["services"].items()
            if name.startswith("flow-manager") and "token_instance" in svc}


def instance(ok):
    return token_fields(token_of(ok))["instance"]


def delivered(sender, phone):
    """A MESSAGE to phone's AOR arrives over its own flow and is
    answered."""
    call_id = rand(12) + "@s"
    sender.request("MESSAGE", phone.aor(), body="hi", call_id=call_id,
                   extra="Content-Type: text/plain\r\n")
    msg = phone.recv(5, want=lambda m: m.method == "MESSAGE" and
                     m.get("call-id") == call_id)
    if msg is None:
        return False
    phone.reply(msg, 200)
    return final(sender, "MESSAGE") is not None


def test_phones_reach_all_three_flow_managers_and_are_called_on_their_flows(
        edge, register):
    # Each container claimed its own number; the kernel spreads new TCP
    # connections and new UDP flows over the three (SO_REUSEPORT).
    assert sorted(flow_managers(edge)) == [1, 2, 3]
    phones = register(24, "tcp", "t") + register(24, "udp", "u")
    ((alice, _),) = register(1, "udp", "alice")
    for transport in ("tcp", "udp"):
        seen = {instance(ok) for phone, ok in phones
                if phone.transport == transport}
        assert seen == {1, 2, 3}, (transport, seen)
    # A call to a phone of every instance, over both transports.
    for inst in (1, 2, 3):
        for transport in ("tcp", "udp"):
            phone = next(p for p, ok in phones if instance(ok) == inst and
                         p.transport == transport)
            assert delivered(alice, phone), (inst, transport)


def test_killed_flow_manager_container_loses_only_its_flows_and_returns(
        edge, register):
    phones = register(24, "tcp", "k")
    ((alice, a_ok),) = register(1, "udp", "alice")
    mine = instance(a_ok)
    doomed = next(i for i in (1, 2, 3) if i != mine)
    victims = [p for p, ok in phones if instance(ok) == doomed]
    others = [p for p, ok in phones if instance(ok) != doomed]
    assert victims and others
    # Every process is PID 1 of its container: the container is known
    # by the instance it claimed, which its start line says.
    container = next(c for c in edge.compose.containers("flow-manager")
                     if "(instance %d)" % doomed in edge.compose.docker_logs(c))
    restarts = edge.compose.inspect(container)["RestartCount"]
    edge.compose.kill(container)
    # Its phones' connections are gone with it...
    for p in victims:
        try:
            assert p.recv_raw(5.0) == b"", p.user
        except ConnectionResetError:
            pass
    # ...and nobody else's: the other phones still get their calls.
    for p in others[:6]:
        assert delivered(alice, p)
    # Compose brings it back, under the free number, and it takes flows.
    start_line = "(instance %d):" % doomed
    wait_for(lambda: edge.compose.inspect(container)["RestartCount"] >
             restarts and edge.compose.docker_logs(container).count(
                 start_line) >= 2, timeout=60, interval=0.5,
             what="the flow-manager container restarted as instance %d"
             % doomed)
    wait_for(edge.healthy, timeout=30, what="GET /health 200")
    for i in range(30):
        ((p, ok),) = register(1, "tcp", "back%d-" % i)
        if instance(ok) == doomed:
            assert delivered(alice, p)
            break
    else:
        raise AssertionError("no new flow reached instance %d:\n%s" % (
            doomed, edge.compose.docker_logs(container)[-4000:]))
    # A victim's token: its flow is gone for good (430, EP-11).
    victim_token = next(token_of(ok) for p, ok in phones
                        if instance(ok) == doomed)
    assert routed_to_token(edge, alice, victim_token) == 430


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_outbound_register_gets_path_with_ob_and_a_flow_token(
        edge, register, transport):
    ((phone, ok),) = register(1, transport)
    assert "outbound" in [v.lower() for v in ok.all("require")]
    (path,) = ok.all("path")
    uri = uri_of(path)
    assert ";lr" in uri and ";ob" in uri, uri
    assert "@127.0.0.1:%d" % edge.port in uri, uri
    token = token_fields(token_of(ok))
    assert token["transport"] == TRANSPORT[transport]
    # Host networking: the edge saw the phone's own address and port, not
    # a Docker gateway's or a NAT's.
    assert token["remote"] == phone.local
    assert token["local"] == edge.sip_addr


@pytest.mark.parametrize("callee_transport,caller_transport",
                         [("udp", "tcp"), ("tcp", "udp")])
def test_call_from_the_home_proxy_reaches_the_phone_over_its_flow(
        edge, register, callee_transport, caller_transport):
    ((bob, _),) = register(1, callee_transport, "bob")
    ((alice, _),) = register(1, caller_transport, "alice")
    call_id = rand(12) + "@caller"
    alice.request("INVITE", bob.aor(), call_id=call_id)
    inv = bob.recv(5, want=lambda m: m.method == "INVITE")
    assert inv is not None, "the INVITE did not reach bob's flow"
    assert inv.get("call-id") == call_id
    if callee_transport == "udp":
        # From the edge's SIP port to bob's registered 5-tuple.
        assert bob.last_from == edge.sip_addr
    # R-URI: bob's registered contact; top Record-Route: his token.
    assert "@%s" % bob.contact_host in inv.uri
    rr = inv.all("record-route")
    assert rr and uri_user(uri_of(rr[0])) is not None, rr
    bob.reply(inv, 200, "OK", to_tag="bob1")
    resp = final(alice, "INVITE")
    assert resp is not None and resp.status == 200, resp


def test_tampered_token_gets_403_and_nothing_reaches_the_phone(edge,
                                                               register):
    ((bob, ok),) = register(1, "tcp", "bob")
    ((alice, _),) = register(1, "udp", "alice")
    token = token_of(ok)
    bad = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert routed_to_token(edge, alice, bad) == 403
    assert bob.recv(timeout=0.5) is None


def test_request_for_a_dead_flow_gets_430(edge, register):
    ((bob, ok),) = register(1, "tcp", "bob")
    ((alice, _),) = register(1, "udp", "alice")
    closed = edge.counter("flows.closed.reset")
    reset(bob)
    edge.wait_counter("flows.closed.reset", closed + 1)
    assert routed_to_token(edge, alice, token_of(ok)) == 430


def test_after_a_container_restart_an_old_token_gets_430_not_403(edge,
                                                                 register):
    # Last: it restarts the set.  The flow-token key lives on the state
    # volume, so a token from before is still genuine: its flow is gone
    # (430), it is not forged (403).
    ((bob, ok),) = register(1, "tcp", "bob")
    bob.close()
    (container,) = edge.containers
    started = edge.compose.inspect(container)["State"]["StartedAt"]
    edge.restart()
    assert edge.containers == [container]
    assert edge.compose.inspect(container)["State"]["StartedAt"] != started
    ((alice, _),) = register(1, "udp", "alice")
    assert routed_to_token(edge, alice, token_of(ok)) == 430
    # And new phones register and are reached as before.
    ((carol, _),) = register(1, "tcp", "carol")
    alice.request("MESSAGE", carol.aor(), body="after the restart")
    assert carol.recv(5, want=lambda m: m.method == "MESSAGE")
