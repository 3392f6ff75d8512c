"""The upstream's name server stops answering; the edge keeps serving.

A name server that takes every query and never replies is the worst
case for getaddrinfo(): it waits out the whole resolver timeout.  The
registrar-bridge runs one loop for every phone, so it looks names up on
a resolver thread (common/resolver.c): phones get their 503 at once
(SP-16) instead of after the DNS timeout, and the services keep
reporting, so /health stays 200.

The lab's public namespace gets its own resolv.conf (`ip netns exec`
mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf) naming a UDP
socket on 127.0.0.1:53 inside that namespace that nobody reads.
"""
import os
import shutil
import socket
import time

import pytest

import lab as labmod
from conftest import NsEdge
from edge import wait_for

DNS_TIMEOUT = 5         # resolv.conf: options timeout:5 attempts:1


@pytest.fixture
def dead_dns():
    lab = labmod.Lab()
    etc = "/etc/netns/" + lab.ns["public"]
    dns = None
    edges = []
    try:
        lab.up()
        os.makedirs(etc)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\n"
                    "options timeout:%d attempts:1\n" % DNS_TIMEOUT)
        with lab.inside("public"):
            dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dns.bind(("127.0.0.1", 53))     # queries queue up, unread
        yield lab, edges
    finally:
        leftover = []
        for e in edges:
            leftover += e.stop() or []
            e.cleanup()
        if dns is not None:
            dns.close()
        shutil.rmtree(etc, ignore_errors=True)
        lab.down()
        assert not leftover, "processes left behind: %s" % leftover


def test_dead_dns_gets_phones_503_at_once_and_never_stalls_the_bridge(
        dead_dns):
    lab, edges = dead_dns
    edge = NsEdge(lab, "--upstream", "sip:registrar.test:5070;transport=udp",
                  "--core-listen", labmod.EDGE_IP + ":5070")
    edges.append(edge)
    edge.start()        # the first lookup waits: nothing is served yet
    assert "registrar.test" in edge.logs()
    from sip import Phone
    with lab.inside("public"):
        phone = Phone(edge, "udp")
    try:
        took = []
        for _ in range(3):
            # More than the 1 s retry time apart: each one finds the name
            # due for another lookup, which a blocking bridge would wait
            # out right there.
            time.sleep(1.2)
            t0 = time.monotonic()
            resp = phone.register(timeout=DNS_TIMEOUT + 2)
            took.append(time.monotonic() - t0)
            assert resp is not None and resp.status == 503, resp
            assert resp.get("retry-after") is not None
        print("503 after %s s (DNS timeout %d s)" % (
            ", ".join("%.4f" % t for t in took), DNS_TIMEOUT))
        # Far inside the DNS timeout, which every lookup here waits out.
        assert max(took) < DNS_TIMEOUT / 2, took
        # Nothing stopped reporting meanwhile.
        assert edge.http("/health")[0] == 200
        wait_for(lambda: edge.counter("dns.lookups", "registrar-bridge")
                 >= 2, timeout=DNS_TIMEOUT * 3,
                 what="the resolver thread's own lookups")
        assert edge.counter("dns.failed", "registrar-bridge") >= 2
    finally:
        phone.close()
