"""Shed, don't collapse (issue 7 §4): a new request over UDP that waited
longer than overload-delay in the edge's queues is answered 503 with
Retry-After (RFC 3261 §21.5.4) instead of being worked on late; a TCP
flow is slowed by back-pressure instead and gets its answer; requests
that finish work (ACK, in-dialog) always pass."""
import os
import signal
import time

import pytest

from edge import wait_for
from sip import Phone

# OVERLOAD_WINDOW_MS in include/epsip/overload.h
OVERLOAD_WINDOW_S = 0.1


def stalled(edge, service):
    """`service` (or a flow-manager child, "fm1-c1") stops taking its
    queue until the block ends."""
    class Stall:
        def __enter__(self):
            self.pid = (edge.children()[service]["pid"]
                        if service.startswith("fm") else
                        edge.service_pid(service))
            os.kill(self.pid, signal.SIGSTOP)

        def __exit__(self, *exc):
            os.kill(self.pid, signal.SIGCONT)
    return Stall()


def stalled_router(edge):
    return stalled(edge, "sip-router")


def first_503_of_a_burst(phone, limit=20000, chunk=250):
    """OPTIONS from `phone` in chunks until one is answered 503, at most
    `limit` of them; that answer, or None."""
    sent = 0
    while sent < limit:
        for _ in range(chunk):
            phone.request("OPTIONS", "sip:" + phone.domain)
        sent += chunk
        busy = phone.recv(0.05, want=lambda m: m.status == 503)
        if busy is not None:
            return busy
    return None


def register_while_stalled(edge, phone, service="sip-router"):
    """The answer to a REGISTER sent while `service` is stopped: waiting
    for an answer that cannot come lets the request grow older than
    overload-delay in that service's queue."""
    with stalled(edge, service):
        assert phone.register(timeout=0.3) is None
    return phone.recv(3.0, want=lambda m: m.status is not None and
                      m.cseq_method == "REGISTER")


def register_in_time(phone, seconds=3.0):
    """The status of the first REGISTER that is not shed as late, trying
    for `seconds`: a 503 only while the stall's window lasts."""
    deadline = time.monotonic() + seconds
    while True:
        ok = phone.register()
        if ok is None or ok.status != 503 or time.monotonic() > deadline:
            return ok.status if ok is not None else None
        time.sleep(0.2)


def assert_503_from_its_lines(late, phone, retry_after):
    """`late` is the 503 + Retry-After to `phone`'s last REGISTER, made
    of the request's own lines: its Via, From, Call-ID, CSeq."""
    assert late is not None and late.status == 503
    assert late.get("retry-after") == retry_after
    assert late.get("call-id") == phone.call_id
    assert late.get("cseq") == "%d REGISTER" % phone.cseq


@pytest.mark.parametrize("slow", ["sip-router", "registrar-bridge"])
def test_late_udp_register_gets_503_with_retry_after(make_edge, slow):
    # Whichever service the request waited for sheds it, from its lines.
    edge = make_edge("--overload-delay", "100", "--retry-after", "7")
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    late = register_while_stalled(edge, alice, slow)
    assert_503_from_its_lines(late, alice, "7")
    edge.wait_counter("overload.shed", 1, service=slow)
    # In time again: registered as usual once the window the stall left
    # behind has passed (the shed share is judged per overload window;
    # under ASan on a busy box the first one can still fall in it).
    assert register_in_time(alice) == 200


@pytest.mark.parametrize("sockets,slow", [("shared", "flow-manager"),
                                          ("connected", "fm1-c1")])
def test_udp_register_late_before_the_child_gets_503_before_any_ipc(
        make_edge, sockets, slow):
    # The wait counts from the kernel's receive timestamp: a REGISTER that
    # sat in a socket's buffer -- the listener's while the flow-manager
    # parent was stopped, or (udp-flow-sockets connected) the flow's own
    # while its child was -- is answered 503 by the child, before any IPC.
    edge = make_edge("--overload-delay", "100", "--retry-after", "5",
                     "--udp-flow-sockets", sockets)
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    late = register_while_stalled(edge, alice, slow)
    assert_503_from_its_lines(late, alice, "5")
    # Counted only where the child answers instead of sending it on.
    edge.wait_counter("overload.shed.late", 1)
    # In time again: registered once the stall's window has passed.
    assert register_in_time(alice) == 200


def test_udp_request_the_full_router_link_cannot_take_gets_503_at_once(
        make_edge):
    # The link to the router holds 2 batches in nng's queue, what the
    # IPC connection's socket buffers take, and one batch being filled
    # (128 KiB); what a UDP flow sends past that is answered by the
    # flow's child itself, while the router is still stopped.
    edge = make_edge("--ipc-queue", "2")
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    with stalled_router(edge):
        busy = first_503_of_a_burst(alice)
        assert busy is not None
        assert busy.get("retry-after") == "30"
        assert busy.get("via") is not None
    edge.wait_counter("overload.refused", 1)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_request_the_full_core_link_cannot_take_gets_503_from_the_router(
        make_edge, transport):
    # The registrar-bridge is stopped and the router's link to it fills:
    # new requests get 503 + Retry-After from the router, never a silent
    # drop (a TCP phone would wait for its time-out).
    edge = make_edge("--ipc-queue", "2")
    alice = Phone(edge, transport, user="alice")
    assert alice.register().status == 200
    with stalled(edge, "registrar-bridge"):
        busy = first_503_of_a_burst(alice)
        assert busy is not None
        assert busy.get("retry-after") == "30"
        assert busy.get("call-id") is not None
    edge.wait_counter("overload.refused", 1, service="sip-router")


def test_after_late_requests_the_children_shed_a_share_before_any_ipc(
        make_edge):
    # Requests came late to the router: it asks the flows' children to
    # answer a share of new UDP requests 503 themselves (overload.h).
    edge = make_edge("--overload-delay", "100")
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    # The router judges a window by its least-waited request: let the
    # window that holds the prompt REGISTER close before the stall, or
    # it would hold both and show no standing queue.
    time.sleep(3 * OVERLOAD_WINDOW_S)
    with stalled_router(edge):
        for _ in range(20):
            alice.request("OPTIONS", "sip:" + alice.domain)
        assert alice.recv(0.3) is None
    for _ in range(20):
        late = alice.recv(3.0, want=lambda m: m.status is not None)
        assert late is not None and late.status == 503
    edge.wait_counter("overload.share_permille", 1, service="sip-router")
    # The share fades by an eighth every 100 ms: however little is left
    # when /stats shows it, enough requests meet it.
    early = first_503_of_a_burst(alice, limit=2000, chunk=50)
    assert early is not None and early.get("retry-after") == "30"
    edge.wait_counter("overload.shed.early", 1)
    # In time again, the share fades: the children stop shedding.
    wait_for(lambda: edge.counter("overload.share_permille",
                                  "sip-router") == 0,
             timeout=10, what="the shed share back at 0")
    assert alice.register().status == 200


def test_late_tcp_register_is_answered_not_shed(make_edge):
    edge = make_edge("--overload-delay", "100")
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200
    late = register_while_stalled(edge, bob)
    assert late is not None and late.status == 200


def test_late_in_dialog_request_passes(make_edge):
    edge = make_edge("--overload-delay", "100")
    alice = Phone(edge, "udp", user="alice")
    bob = Phone(edge, "udp", user="bob")
    assert alice.register().status == 200
    assert bob.register().status == 200
    with stalled_router(edge):
        # A BYE with a To tag finishes a dialog: never shed.  Nobody
        # has that dialog, so the registrar answers it 481, late.
        alice.request("BYE", bob.aor(), to_tag="t0", call_id="gone@x")
        assert alice.recv(0.3) is None
    late = alice.recv(3.0, want=lambda m: m.status is not None and
                      m.cseq_method == "BYE")
    assert late is not None and late.status != 503


def test_overload_delay_zero_never_sheds(make_edge):
    edge = make_edge("--overload-delay", "0")
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    late = register_while_stalled(edge, alice)
    assert late is not None and late.status == 200
