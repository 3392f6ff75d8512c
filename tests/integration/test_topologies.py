"""Topology 1 of docs/deployment.md, started from the shipped file
deploy/topologies/standalone.conf (only ports and directories are
overridden): phones register to example.com through the edge and reach
each other over their own flows; other domains are not served."""
import os

from sip import Phone
from test_incoming_call import call

TOPOLOGIES = os.path.join(os.path.dirname(__file__), "..", "..", "deploy",
                          "topologies")


def topology(name):
    return os.path.join(TOPOLOGIES, name)


def test_standalone_topology_registers_and_connects_two_phones(make_edge):
    edge = make_edge("--config", topology("standalone.conf"))
    bob = Phone(edge, "tcp", user="bob")
    alice = Phone(edge, "udp", user="alice")
    assert bob.register().status == 200
    ok = alice.register()
    assert ok.status == 200 and ok.get("flow-timer") == "120"
    inv, answer, _ = call(alice, bob, edge)
    assert inv.method == "INVITE" and answer.status == 200
    # domain = example.com: a phone of another domain is not served.
    stranger = Phone(edge, "udp", domain="other.example.net")
    assert stranger.register().status == 404
