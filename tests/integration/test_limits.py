"""Configurable limits: new flows per second, flows per instance, message
size (ER-04 is in test_malformed.py).  Refused flows are counted and harm
no flow already held."""
import socket
import time

from edge import wait_for


def pinged(edge):
    """Open a TCP flow and prove a child owns it (CRLF ping, pong)."""
    s = socket.create_connection(edge.sip_addr)
    s.settimeout(2)
    try:
        s.sendall(b"\r\n\r\n")
        ok = s.recv(10) == b"\r\n"
    except OSError:
        ok = False
    return s, ok


def test_new_flow_rate_refuses_the_excess_and_keeps_the_rest(make_edge):
    edge = make_edge("--new-flow-rate", "1", "--new-flow-burst", "3")
    start = time.monotonic()
    results = [pinged(edge) for _ in range(8)]
    elapsed = time.monotonic() - start
    accepted = [s for s, ok in results if ok]
    # The burst, plus one token per second that went by meanwhile.
    assert 3 <= len(accepted) <= 3 + int(elapsed) + 1
    edge.wait_counter("flows.refused.rate", 8 - len(accepted))
    for s in accepted:                      # the held flows still work
        s.sendall(b"\r\n\r\n")
        assert s.recv(10) == b"\r\n"
    for s, _ in results:
        s.close()


def test_max_flows_refuses_new_flows_and_keeps_the_held_ones(make_edge):
    edge = make_edge("--max-flows", "3")
    results = [pinged(edge) for _ in range(5)]
    assert [ok for _, ok in results] == [True, True, True, False, False]
    edge.wait_counter("flows.refused.limit", 2)
    results[0][0].close()
    edge.wait_counter("flows.closed.peer", 1)
    s, ok = pinged(edge)                    # room again
    assert ok
    for sock, _ in results[1:] + [(s, ok)]:
        sock.close()
    wait_for(lambda: edge.counter("flows.open.tcp") == 0, what="all closed")


def test_empty_pooled_children_are_retired_after_a_peak(make_edge):
    # After a peak, children that stay empty give back their memory and
    # threads; one is always kept for the next flow.
    edge = make_edge("--flows-per-child", "2", "--idle-child-timeout", "1")
    flows = [pinged(edge) for _ in range(5)]
    assert all(ok for _, ok in flows)
    wait_for(lambda: len(edge.children()) >= 3, what="3 children")
    for s, _ in flows:
        s.close()
    edge.wait_counter("children.retired", 2, timeout=10)
    wait_for(lambda: edge.counter("children.alive") == 1, timeout=10,
             what="one child left")
    s, ok = pinged(edge)            # the kept child takes the next flow
    assert ok
    s.close()
