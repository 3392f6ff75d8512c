"""Counters come from one registry (include/epsip/metrics.def): a peer that
makes up SIP methods moves sip.in.other and nothing else, and every
counter first touched after such a flood still counts (issue 9)."""
import re
import time

from sip import Phone, rand

FLOOD = 800     # more names than the old 768-name table could hold


def router_counters(edge):
    return edge.stats()["services"]["sip-router"]["counters"]


def test_made_up_methods_count_as_other_and_later_counters_still_count(
        edge):
    phone = Phone(edge, "udp")
    assert phone.register().status == 200
    edge.wait_counter("sip.in.REGISTER", 1, service="sip-router")
    before = router_counters(edge)
    assert "sip.in.MESSAGE" not in before
    for i in range(FLOOD):
        phone.request("X%dMADEUP%s" % (i, rand(4).upper()),
                      "sip:nobody%d@example.com" % i)
        if i % 50 == 49:
            # Paced, and answered: the loopback drops nothing.
            while phone.recv(timeout=0.2) is not None:
                pass
    edge.wait_counter("sip.in.other", before.get("sip.in.other", 0) + FLOOD,
                      service="sip-router", timeout=20)
    counters = router_counters(edge)
    made_up = [k for k in counters if "MADEUP" in k]
    assert made_up == [], made_up[:5]
    # Every method counter the router shows is a declared one.
    methods = {k for k in counters
               if re.match(r"sip\.in\.[A-Za-z0-9_]+$", k)}
    assert methods <= {"sip.in.REGISTER", "sip.in.other", "sip.in.MESSAGE",
                       "sip.in.malformed"}, methods

    # A counter first touched after the flood: counted.
    phone.request("MESSAGE", "sip:nobody@example.com", body="hi")
    assert phone.recv(timeout=3, want=lambda m: m.status is not None and
                      m.cseq_method == "MESSAGE") is not None
    edge.wait_counter("sip.in.MESSAGE", 1, service="sip-router")
    # And one the flood never touched on another path: a new flow.
    tcp = Phone(edge, "tcp")
    assert tcp.register().status == 200
    edge.wait_counter("flows.opened.tcp", 1)
    assert "stats.names_dropped" not in edge.stats()["totals"]
    tcp.close()
    phone.close()


def test_metrics_has_help_type_and_labels(edge):
    phone = Phone(edge, "udp")
    assert phone.register().status == 200
    phone.request("Y%sMADEUP" % rand(4).upper(), "sip:nobody@example.com")
    edge.wait_counter("sip.in.other", 1, service="sip-router")
    deadline = time.monotonic() + 5
    while True:
        status, body = edge.http("/metrics")
        text = body.decode()
        if status == 200 and 'method="other"' in text:
            break
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.2)
    assert "# TYPE epsip_sip_in_total counter\n" in text
    assert "\n# HELP epsip_sip_in_total " in text
    assert re.search(r'\nepsip_sip_in_total\{service="sip-router",'
                     r'instance="sip-router",method="REGISTER"\} [1-9]',
                     text), text[-2000:]
    assert re.search(r'\nepsip_sip_in_total\{service="sip-router",'
                     r'instance="sip-router",method="other"\} [1-9]', text)
    assert "# TYPE epsip_flows_open gauge\n" in text
    assert "untyped" not in text
    # Every sample's family was declared above it.
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif not line.startswith("#"):
            assert line.split("{")[0].split(" ")[0] in typed, line
    phone.close()
