"""Several flow-managers behind the same SIP listeners (issue 10 §1).

`flow-managers = N` starts N flow-manager instances that share the listen
addresses through SO_REUSEPORT.  Every token names its instance, and the
router reaches the owner from the token alone.  The kernel spreads new TCP
connections and new UDP flows; a UDP flow's own connected socket keeps its
datagrams on its instance when another joins or leaves.  A killed
instance costs only its own flows; a drained one takes no new flows and
keeps the ones it has until they go or drain-timeout passes.
"""
import os
import signal
import socket
import struct
import subprocess

from edge import Edge, wait_for
from sip import (Phone, rand, stun_binding_request, token_fields, uri_of,
                 uri_user)


def register(phone):
    """Register; returns the Path token's fields (FT-01)."""
    resp = phone.register()
    assert resp is not None and resp.status == 200, resp
    phone.token = uri_user(uri_of(resp.get("path")))
    return token_fields(phone.token)


def instance_of(phone):
    return token_fields(phone.token)["instance"]


def phones(edge, transport, n, prefix):
    out = []
    for i in range(n):
        p = Phone(edge, transport, user="%s%d" % (prefix, i))
        register(p)
        out.append(p)
    return out


def new_phone_on(edge, transport, instance, prefix, tries=30):
    """A new phone whose flow the kernel gave to `instance`, out of at
    most `tries` new ones (missed by all 30 of them: p <= (2/3)^30 with
    up to three instances)."""
    for i in range(tries):
        p = Phone(edge, transport, user="%s%d" % (prefix, i))
        register(p)
        if instance_of(p) == instance:
            return p
    raise AssertionError("no new %s flow reached instance %d" % (
        transport, instance))


def delivered(sender, phone, timeout=3.0):
    """A MESSAGE to phone's AOR reaches it over its own flow (EP-10),
    retransmitted as a UDP UA does (RFC 3261 §17.1.2.2)."""
    call_id, tag, branch = rand(12) + "@s", rand(6), "z9hG4bK" + rand(10)
    cseq = sender.cseq + 1
    for wait in (0.5, 1.0, 2.0):
        sender.request("MESSAGE", phone.aor(), body="hi",
                       extra="Content-Type: text/plain\r\n",
                       call_id=call_id, cseq=cseq, from_tag=tag,
                       branch=branch)
        msg = phone.recv(wait, want=lambda m: m.method == "MESSAGE" and
                         m.get("call-id") == call_id)
        if msg is not None:
            break
    else:
        return False
    if phone.transport == "udp" and phone.last_from != phone.edge.sip_addr:
        return False
    phone.reply(msg, 200)
    ok = sender.recv(timeout, want=lambda m: m.status == 200 and
                     m.get("call-id") == call_id)
    return ok is not None


def token_status(sender, edge, token):
    """The edge's answer to a request routed by `token` (EP-11, FT-03)."""
    sender.request("MESSAGE", "sip:x@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (token, edge.port)])
    resp = sender.recv(timeout=2.0, want=lambda m: m.status is not None and
                       m.cseq_method == "MESSAGE")
    return resp.status if resp else None


def flow_managers(stats):
    """{token instance: service document} of the flow-managers shown."""
    return {svc["token_instance"]: svc
            for name, svc in stats["services"].items()
            if name.startswith("flow-manager") and "token_instance" in svc}


def stun_answered(phone):
    req, txid = stun_binding_request()
    phone.sock.sendto(req, phone.edge.sip_addr)
    data = phone.recv_raw(2.0)
    return data is not None and len(data) >= 20 and data[8:20] == txid


def closed(phone):
    """The edge closed the phone's TCP connection (within 3 s)."""
    try:
        return phone.recv_raw(3.0) == b""
    except ConnectionResetError:
        return True


def epsipctl(edge, *args):
    return subprocess.run(
        [os.path.join(edge.bin_dir, "epsipctl"), "--stats",
         "127.0.0.1:%d" % edge.stats_port] + list(args),
        capture_output=True, text=True, timeout=30)


def test_phones_spread_over_three_flow_managers_and_calls_reach_each_flow(
        make_edge):
    edge = make_edge("--flow-managers", "3")
    tcp = phones(edge, "tcp", 18, "t")
    udp = phones(edge, "udp", 18, "u")
    # Each token names one of the edge's three instances, and the kernel
    # spread both kinds of flow (18 over 3: all on one has p = 3^-17).
    for group in (tcp, udp):
        seen = {instance_of(p) for p in group}
        assert seen <= {1, 2, 3} and len(seen) >= 2, seen
    s = edge.next_stats_round()
    fms = flow_managers(s)
    assert sorted(fms) == [1, 2, 3]
    for inst, svc in fms.items():
        held = sum(1 for p in tcp + udp if instance_of(p) == inst)
        assert svc["flows"] == held, (inst, svc["flows"], held)
        assert all(name.startswith("fm%d-c" % inst)
                   for name in svc["children"])
    # The router derives each owner from the token: a request for a phone
    # of every instance, over both transports, arrives on its flow.
    alice = Phone(edge, "udp", user="alice")
    register(alice)
    for group in (tcp, udp):
        for inst in sorted({instance_of(p) for p in group}):
            phone = next(p for p in group if instance_of(p) == inst)
            assert delivered(alice, phone), (phone.transport, inst)


def test_killed_flow_manager_loses_only_its_flows_and_is_replaced(make_edge):
    edge = make_edge("--flow-managers", "2")
    tcp = phones(edge, "tcp", 16, "t")
    udp = phones(edge, "udp", 16, "u")
    victims = [p for p in tcp + udp if instance_of(p) == 2]
    survivors = [p for p in tcp + udp if instance_of(p) == 1]
    assert victims and survivors
    caller = next(p for p in survivors if p.transport == "udp")
    edge.wait_counter("registrations.active", len(tcp + udp))
    old = edge.service_pid("flow-manager-2")
    os.kill(old, signal.SIGKILL)
    # Its children die with it, and tell the router of every flow they
    # held (EP-20): the registrar drops their bindings at once.
    wait_for(lambda: edge.counter("registrations.active") ==
             len(survivors), timeout=10, what="the %d victims' bindings "
             "removed, %d left" % (len(victims), len(survivors)))
    for p in victims:
        if p.transport == "tcp":
            assert closed(p), p.user
        # A request routed by a victim's token: 430 at once (EP-11).
        assert token_status(caller, edge, p.token) == 430
    for p in survivors[:6]:
        if p is not caller:
            assert delivered(caller, p)
    # epsipd replaces it; new phones land on it again.
    wait_for(lambda: edge.stats()["services"]["flow-manager-2"].get("pid")
             not in (None, old) and edge.healthy(), timeout=15,
             what="flow-manager-2 restarted")
    assert edge.stats()["services"]["flow-manager-2"]["restarts"] == 1
    assert delivered(caller, new_phone_on(edge, "tcp", 2, "late"))


def test_udp_flows_stay_with_their_instance_when_one_joins_and_one_leaves(
        make_edge, tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("flow-managers = 2\ndrain-timeout = 3\n")
    edge = make_edge("--config", str(conf), log_level=None)
    udp = phones(edge, "udp", 12, "u")
    tokens = {p.user: p.token for p in udp}

    # A third joins.  No datagram of a held flow moves: each phone's
    # re-REGISTER comes back with its flow's same token, and its STUN
    # keep-alive is answered.
    conf.write_text("flow-managers = 3\ndrain-timeout = 3\n")
    os.kill(edge.proc.pid, signal.SIGHUP)
    wait_for(lambda: 3 in flow_managers(edge.stats()) and edge.healthy(),
             timeout=15, what="flow-manager-3 up")
    for p in udp:
        register(p)
        assert p.token == tokens[p.user], p.user
        assert stun_answered(p)
    # New phones reach the newcomer too.
    on_three = new_phone_on(edge, "udp", 3, "new")

    # It leaves: scaled down, it drains.  Its flow still works for now,
    # and no new flow goes to it.
    conf.write_text("flow-managers = 2\ndrain-timeout = 3\n")
    os.kill(edge.proc.pid, signal.SIGHUP)
    wait_for(lambda: flow_managers(edge.stats()).get(3, {}).get(
        "draining"), timeout=10, what="flow-manager-3 draining")
    token = on_three.token
    register(on_three)
    assert on_three.token == token
    assert stun_answered(on_three)
    for i in range(12):
        p = Phone(edge, "udp", user="after%d" % i)
        assert register(p)["instance"] in (1, 2)
    for p in udp:
        register(p)
        assert p.token == tokens[p.user], p.user
    # After drain-timeout it is gone, with what it held: 430 (EP-11).
    wait_for(lambda: 3 not in flow_managers(edge.stats()), timeout=15,
             what="flow-manager-3 gone")
    alice = Phone(edge, "udp", user="alice")
    register(alice)
    assert token_status(alice, edge, token) == 430
    assert "flow-manager-3" not in edge.stats()["services"]
    assert edge.healthy()


def test_epsipctl_drain_keeps_held_flows_and_sends_new_ones_elsewhere(
        make_edge):
    edge = make_edge("--flow-managers", "2", "--drain-timeout", "60")
    tcp = phones(edge, "tcp", 16, "t")
    held = [p for p in tcp if instance_of(p) == 2]
    assert held
    r = epsipctl(edge, "drain", "2")
    assert r.returncode == 0 and "draining instance 2" in r.stdout, \
        r.stdout + r.stderr
    wait_for(lambda: flow_managers(edge.stats())[2]["draining"],
             what="flow-manager-2 draining")
    # New connections all go to instance 1 now.
    for i in range(12):
        p = Phone(edge, "tcp", user="n%d" % i)
        assert register(p)["instance"] == 1
    # The held flows still carry requests.
    alice = Phone(edge, "udp", user="alice")
    register(alice)
    for p in held:
        assert delivered(alice, p)
    # Draining is not ill health; the last one taking flows stays.
    assert edge.healthy()
    r = epsipctl(edge, "drain", "1")
    assert r.returncode == 1 and "only flow-manager" in r.stderr, r.stderr
    r = epsipctl(edge, "drain", "9")
    assert r.returncode == 1 and "no flow-manager" in r.stderr, r.stderr
    # Once its phones hang up, it leaves at once, not at drain-timeout.
    for p in held:
        p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        p.close()
    wait_for(lambda: "flow-manager-2" not in edge.stats()["services"],
             timeout=10, what="flow-manager-2 gone")
    assert "drained: no flow left" in edge.logs()
    assert edge.healthy()
    for p in tcp:
        if p not in held:
            assert delivered(alice, p)


def test_a_second_edge_on_the_same_port_fails_instead_of_sharing_it(
        make_edge):
    first = make_edge("--flow-managers", "2")
    second = Edge(port=first.port)
    second.args += ["--flow-managers", "2"]
    try:
        second.spawn()
        assert second.wait_exit(15) == 1
        assert "Address already in use" in second.last_log_line(), \
            second.logs()[-2000:]
    finally:
        second.stop()
        second.cleanup()
    # The first never noticed.
    p = Phone(first, "udp", user="still")
    assert register(p)["instance"] in (1, 2)
