"""A bad start fails fast (issue 10 §5): a service that exits before it was
ever ready -- its port taken, its address someone else's -- makes epsipd
stop the others and exit 1 within moments, its last line the service's
reason, as a web server refuses to start on a bind error.  A service that
was ready once and then crashes is restarted with back-off, as before,
even when its restart fails the same way."""
import os
import signal
import socket
import time

import pytest

from edge import free_port, wait_for
from upstream import FakeUpstream


def squat(transport, port, host="127.0.0.1"):
    """Another program on the port: a UDP socket, or a TCP listener."""
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, port))
        s.listen(8)
    return s


def processes_of(edge):
    """PIDs of any process still running with the edge's run directory on
    its command line: the services are started with --config in it."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if edge.run_dir.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def assert_refused_to_start(edge, service, started):
    status = edge.wait_exit(timeout=5)
    took = time.monotonic() - started
    last = edge.last_log_line()
    assert status == 1, edge.logs()[-3000:]
    assert took < 5
    assert "error epsipd[" in last
    assert service + " failed to start" in last, last
    assert "Address already in use" in last, last
    assert edge.http("/health")[0] is None      # nobody listens any more
    wait_for(lambda: not processes_of(edge), timeout=2,
             what="every service of the edge gone")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sip_port_in_use_stops_epsipd_with_the_bind_error(make_edge,
                                                         transport):
    port = free_port()
    with squat(transport, port):
        started = time.monotonic()
        edge = make_edge(port=port, healthy=False)
        assert_refused_to_start(edge, "flow-manager", started)


def test_core_listen_on_the_upstreams_own_address_stops_epsipd(make_edge):
    # The newcomer: a registrar on the box and core-listen on the
    # same address (by default the first listen host, port 5070).
    up = FakeUpstream()
    try:
        started = time.monotonic()
        edge = make_edge("--upstream", up.uri("udp"), "--core-listen",
                         "%s:%d" % (up.host, up.port), healthy=False)
        assert_refused_to_start(edge, "registrar-bridge", started)
        assert up.recv(timeout=0.2) is None     # nothing reached it
    finally:
        up.close()


def test_bridge_that_was_ready_is_restarted_even_when_its_port_is_taken(
        make_edge):
    up = FakeUpstream()
    core_port = free_port()
    try:
        edge = make_edge("--upstream", up.uri("udp"), "--core-listen",
                         "127.0.0.1:%d" % core_port)
        bridge = edge.service_pid("registrar-bridge")
        # epsipd held still while the bridge dies and another program
        # takes its core port: the restart fails to bind, as the first
        # start would have.
        os.kill(edge.proc.pid, signal.SIGSTOP)
        try:
            os.kill(bridge, signal.SIGKILL)
            holder = wait_for(lambda: _try_squat("udp", core_port),
                              timeout=5, what="the bridge's port free")
        finally:
            os.kill(edge.proc.pid, signal.SIGCONT)
        try:
            wait_for(lambda: edge.logs().count(
                "restarting registrar-bridge") >= 2, timeout=5,
                what="the failed restart restarted again")
            assert edge.proc.poll() is None     # epsipd carries on
            assert edge.http("/health")[0] == 503
        finally:
            holder.close()
        wait_for(edge.healthy, timeout=10, what="the bridge back")
        assert edge.service_pid("registrar-bridge") != bridge
    finally:
        up.close()


def _try_squat(transport, port):
    try:
        return squat(transport, port)
    except OSError:
        return None
