"""Restarting the sip-router or the registrar-bridge loses no flow and no
registration (FT-04); the supervisor stops everything on SIGTERM."""
import os
import signal

from edge import wait_for
from sip import Phone


def restart(edge, service):
    old = edge.service_pid(service)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: edge.stats()["services"][service].get("pid") not in
             (None, old) and edge.healthy(), timeout=10,
             what="%s restarted" % service)
    return edge.stats()["services"][service]["restarts"]


def deliver(alice, bob):
    alice.request("MESSAGE", bob.aor(), body="ping",
                  extra="Content-Type: text/plain\r\n")
    msg = bob.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None
    bob.reply(msg, 200)
    assert alice.recv(want=lambda m: m.status == 200) is not None


def test_restarted_router_keeps_every_flow(edge):
    bob = Phone(edge, "tcp", user="bob")
    alice = Phone(edge, "udp", user="alice")
    assert bob.register().status == 200
    assert alice.register().status == 200
    assert restart(edge, "sip-router") >= 1
    deliver(alice, bob)         # same TCP connection, old token (FT-04)


def test_restarted_registrar_bridge_keeps_every_registration(edge):
    bob = Phone(edge, "tcp", user="bob")
    alice = Phone(edge, "udp", user="alice")
    assert bob.register().status == 200
    assert alice.register().status == 200
    assert restart(edge, "registrar-bridge") >= 1
    deliver(alice, bob)         # the binding came back from SQLite
    edge.wait_counter("registrations.active", 2)


def test_sigterm_stops_everything_and_removes_sockets(make_edge):
    edge = make_edge()
    Phone(edge, "tcp").register()
    run_dir = edge.run_dir
    assert any(n.endswith(".ipc") for n in os.listdir(run_dir))
    assert oct(os.stat(run_dir).st_mode & 0o777) == "0o700"
    leftover = edge.stop()
    assert not leftover
    assert not any(n.endswith(".ipc") for n in os.listdir(run_dir))
