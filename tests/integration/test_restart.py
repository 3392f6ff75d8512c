"""Restarting the sip-router or the registrar-bridge loses no flow and no
registration (FT-04); the supervisor stops everything on SIGTERM."""
import os
import signal
import socket
import threading

from edge import wait_for
from sip import Phone, frame_stream, rand


def restart(edge, service):
    old = edge.service_pid(service)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: edge.stats()["services"][service].get("pid") not in
             (None, old) and edge.healthy(), timeout=10,
             what="%s restarted" % service)
    return edge.stats()["services"][service]["restarts"]


def deliver(alice, bob):
    """alice (UDP) sends bob a MESSAGE, retransmitting it as a UDP UA does
    (Timer E, RFC 3261 §17.1.2.2): a datagram that crossed a service
    while it was being reconnected may be lost once, as on any network;
    what must not be lost is bob's flow.  A broken path still fails."""
    call_id, tag, branch = rand(12) + "@alice", rand(6), "z9hG4bK" + rand(10)
    cseq = alice.cseq + 1
    msg = None
    for wait in (0.5, 1.0, 2.0):
        alice.request("MESSAGE", bob.aor(), body="ping",
                      extra="Content-Type: text/plain\r\n", call_id=call_id,
                      cseq=cseq, from_tag=tag, branch=branch)
        msg = bob.recv(wait, want=lambda m: m.method == "MESSAGE")
        if msg is not None:
            break
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


def test_stalled_router_loses_no_message_of_a_tcp_flow(make_edge):
    # The phone keeps sending while the router is stopped.  For the first
    # overload-delay the child keeps what it reads in its outbox (a short
    # pause costs nothing); after that it stops reading the flow instead
    # of dropping (TCP's window slows the phone), and resumes when the
    # router drains.  Every request sent is answered.
    edge = make_edge("--ipc-queue", "2")
    s = socket.create_connection(edge.sip_addr)
    router = edge.service_pid("sip-router")
    stop = threading.Event()
    sent = []

    def send_all():
        # Until the child has paused the flow; at most 200,000 (40 MB).
        i = 0
        while not stop.is_set() and i < 200000:
            i += 1
            s.sendall((
                "OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
                "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbp%d\r\n"
                "From: <sip:a@example.com>;tag=1\r\n"
                "To: <sip:b@example.com>\r\nCall-ID: bp\r\n"
                "CSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n" % (
                    edge.port, i, i)).encode())
            sent.append(i)

    os.kill(router, signal.SIGSTOP)
    try:
        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        edge.wait_counter("router.backpressure", 1, timeout=20)
        stop.set()
    finally:
        os.kill(router, signal.SIGCONT)
    s.settimeout(30)
    buf, seen = b"", set()
    while sender.is_alive() or len(seen) < len(sent):
        chunk = s.recv(1 << 16)
        assert chunk, "connection closed after %d answers" % len(seen)
        buf += chunk
        msgs, _, buf = frame_stream(buf)
        for m in msgs:
            assert m.status == 200
            seen.add(int(m.get("cseq").split()[0]))
    sender.join(5)
    assert seen == set(range(1, len(sent) + 1))
    s.close()
