"""Chaos under load (issue 12 §7), the short version of `make chaos`
(bench/chaos.py): a random EPSIP process (the flow-manager parent, a
flow-manager child, the sip-router, the registrar-bridge; never epsipd)
is SIGKILLed every 2-4 s for CHAOS_SECONDS while phones register over TCP
and UDP, sipp registers, and the core calls the phones.  No registration
that got a 200 is lost, only the killed child's flows are, and every
service is back within 1 s.  And what the chaos found, each on its own:
a service that worked was restarted only after a back-off; a new
flow-manager gave its children the names of its predecessor's children
that were still on their way out; the router kept a socket to every
child that ever left with its parent.  (A REGISTER retransmitted over a
new flow, answered with the old flow's 200: tests/unit/
registrar_core_test.c.)
"""
import json
import os
import signal
import sys
import time

from edge import free_port, wait_for
from sip import Phone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
import chaos  # noqa: E402

CHAOS_SECONDS = float(os.environ.get("EPSIP_CHAOS_SECONDS", "70"))
# Back within 1 s is the release build's promise.  Under ASan a process
# takes 150-250 ms more to start (its shadow memory; a fork copies that
# mapping), 250 ms for the flow-manager here against 35 ms released, so
# the sanitizer run, which is there to find memory errors under chaos,
# allows 3 s.
SANITIZED = os.path.normpath(os.environ.get("EPSIP_BIN", "")).endswith(
    os.path.join("asan", "bin"))
BACK_WITHIN_S = 3.0 if SANITIZED else 1.0


def hello_after(edge, name, old_pid, t_kill, timeout=5):
    """Seconds from t_kill to the HELLO of `name`'s next process, read
    from epsipd's log (stamped in ms)."""
    def said():
        hellos, _, _, _ = chaos.parse_log(edge.logs())
        t = [t for t, n, pid in hellos if n == name and pid != old_pid and
             t >= t_kill - 0.002]
        return min(t) if t else None
    return wait_for(said, timeout=timeout, what="HELLO of a new " +
                    name) - t_kill


def test_service_that_worked_is_back_at_once_and_a_crash_loop_still_waits(
        make_edge):
    # Before: every restart waited at least 1 s, doubling while the
    # service had run less than a minute -- under repeated kills 2, 4,
    # ... 30 s of no router.  A service that said HELLO and ran a second
    # is restarted at once; one that dies sooner is a crash loop and
    # still waits (1 s, doubling).
    edge = make_edge(log_level="info")
    time.sleep(1.2)                     # a healthy run
    old = edge.service_pid("sip-router")
    t = time.time()
    os.kill(old, signal.SIGKILL)
    back = hello_after(edge, "sip-router", old, t)
    assert back < BACK_WITHIN_S, back
    # Killed again at once: it ran less than a second.
    new = wait_for(lambda: edge.stats()["services"]["sip-router"].get(
        "pid") not in (None, old) and edge.service_pid("sip-router"),
        what="the new router in /stats")
    t = time.time()
    os.kill(new, signal.SIGKILL)
    waited = hello_after(edge, "sip-router", new, t)
    assert waited >= 0.95, waited
    assert "restarting sip-router in 0.0 s" in edge.logs()
    assert "restarting sip-router in 1.0 s" in edge.logs()


def test_new_flow_manager_skips_the_names_its_predecessors_children_hold(
        make_edge):
    # The flow-manager parent is killed; its children learn it (SIGTERM)
    # and leave, closing their flows, but may take a moment.  Here one
    # is stopped to make that moment long.  Before: the new parent named
    # its first child fm1-c1 again, so the router's link to that name
    # still reached the old child (a new phone's 200 went there), and
    # when the old child left, nng removed fm1-c1.ipc -- the new child's
    # socket by then: a child nobody could reach, its phones' REGISTERs
    # unanswered, GET /flows incomplete.
    edge = make_edge("--flows-per-child", "4", log_level="info")
    alice = Phone(edge, "tcp", user="alice")
    assert alice.register().status == 200
    orphan = edge.children()["fm1-c1"]["pid"]
    parent = edge.service_pid("flow-manager")
    os.kill(orphan, signal.SIGSTOP)
    try:
        os.kill(parent, signal.SIGKILL)
        wait_for(lambda: edge.stats()["services"]["flow-manager"].get(
            "pid") not in (None, parent) and edge.healthy(),
            what="a new flow-manager")
        bob = Phone(edge, "tcp", user="bob")
        resp = bob.register()
        assert resp is not None and resp.status == 200
    finally:
        os.kill(orphan, signal.SIGCONT)
    wait_for(lambda: not os.path.exists("/proc/%d" % orphan) or
             open("/proc/%d/stat" % orphan).read().split(")")[-1].split()[0]
             == "Z", what="the old child gone")
    # bob's child is still reachable: a refresh is answered over his
    # flow, and it answers GET /flows (complete once epsipd has dropped
    # the old child's reports, at its next tick).
    resp = bob.register()
    assert resp is not None and resp.status == 200

    def listing():
        status, body = edge.http("/flows")
        page = json.loads(body) if status == 200 else {}
        return page if page.get("complete") else None
    page = wait_for(listing, timeout=5, interval=0.2,
                    what="GET /flows complete")
    assert [f["aor"] for f in page["flows"]] == ["sip:bob@example.com"]
    assert page["flows"][0]["child"] != 1


def test_router_forgets_the_children_of_a_killed_flow_manager(make_edge):
    # Children are never numbered twice (a flow-manager continues its
    # predecessor's numbers), so the router's socket to a child that left
    # with its killed parent would never be used again -- yet nng would
    # redial its address ten times a second for as long as the router
    # runs.  Such sockets are swept once their peer is gone.
    edge = make_edge("--flows-per-child", "4")
    phones = [Phone(edge, "tcp", user="p%d" % i) for i in range(3)]
    for p in phones:
        assert p.register().status == 200
    s = edge.next_stats_round("sip-router")
    assert s["services"]["sip-router"]["owner_sockets"] == 1
    parent = edge.service_pid("flow-manager")
    os.kill(parent, signal.SIGKILL)
    wait_for(lambda: edge.stats()["services"]["flow-manager"].get(
        "pid") not in (None, parent) and edge.healthy(),
        what="a new flow-manager")
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200

    def swept():
        s = edge.next_stats_round("sip-router", rounds=1)
        return s["services"]["sip-router"]["owner_sockets"] == 1
    # The old child's socket goes; the new child's (bob's) stays.
    wait_for(swept, timeout=10, what="the old child's socket swept")


def test_chaos_under_load_loses_no_registration_and_only_the_killed_flows(
        make_edge):
    core_port = free_port()
    edge = make_edge(*chaos.edge_args(core_port, 8), log_level="info")
    r = chaos.run(edge, CHAOS_SECONDS, tcp=32, udp=16, cps=8.0,
                  refresh=12.0, refresh_udp=8.0, interval=(2.0, 4.0),
                  warmup=6.0, sipp_rate=20.0, sipp_users=200,
                  core_port=core_port)
    summary = {k: r[k] for k in ("seed", "kills", "restart", "calls",
                                 "call_failures", "registers",
                                 "register_failures", "final")}
    print(json.dumps(summary, indent=1, sort_keys=True))
    # Each kind was killed (a shuffled bag of the four: at least
    # CHAOS_SECONDS / 4 s kills, a quarter of them each).
    for kind, n in r["kills"].items():
        assert n >= 2, (kind, r["kills"])
    # Registrations: every phone whose last REGISTER got 200 and whose
    # flow is alive is reached by a call at the end; at least most of
    # the phones are in that state once the kills stop.
    f = r["final"]
    assert f["registrations_lost"] == [], f
    assert f["path_names_another_flow"] == [], f
    assert f["flows_listing_complete"], f
    assert f["registered_alive"] >= 0.9 * f["phones"], f
    # Flows: every TCP close was of the killed child's (or parent's)
    # flows, every failed call is explained by a kill, and calls to the
    # other children's phones right after each child kill went through.
    assert r["flows_closed_unexplained"] == [], r["flows_closed_unexplained"]
    assert r["calls_unexplained"] == [], r["calls_unexplained"]
    others = r["calls_to_other_children_after_child_kills"]
    assert others["calls"] > 0 and others["ok"] == others["calls"], others
    # Restarts: each service back within 1 s of its kill, each kill one
    # restart (no crash loop), nothing else died, nothing left behind.
    slow = [k for k in r["per_kill"]
            if k.get("back_ms", 0) > BACK_WITHIN_S * 1000]
    assert slow == [], slow
    assert r["restart_unmeasured"] == [], r["restart_unmeasured"]
    for kind in ("flow-manager", "sip-router", "registrar-bridge"):
        assert r["restart"][kind]["n"] == r["kills"][kind], r["restart"]
        assert r["restarts_by_epsipd"][kind] == r["kills"][kind], r
    assert r["deaths_not_ours"] == [], r["deaths_not_ours"]
    assert r["leftover_processes"] == [], r["leftover_processes"]
    assert r["epsipd_fds_end"] <= r["epsipd_fds_start"] + 4, r
    assert chaos.violations(r, BACK_WITHIN_S * 1000) == []
