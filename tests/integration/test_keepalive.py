"""Keep-alives: CRLF on TCP, STUN on UDP, CRLF datagrams on a known UDP
flow (linphone's keep-alive), and flow reaping after Flow-Timer plus grace
(KA-01..KA-13, EP-19)."""
import socket
import struct
import time

from sip import Phone, stun_binding_request, stun_xor_mapped, uri_of, uri_user


def test_double_crlf_on_tcp_gets_one_crlf_back(edge):
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200
    bob.send(b"\r\n\r\n")                                           # KA-09
    assert bob.recv_raw(timeout=1) == b"\r\n"
    bob.send(b"\r\n")                                               # KA-11
    assert bob.recv_raw(timeout=0.3) is None
    bob.send(b"\r\n")
    assert bob.recv_raw(timeout=1) == b"\r\n"
    edge.wait_counter("keepalive.crlf_pongs", 2)


def test_stun_binding_on_the_sip_udp_port_gets_xor_mapped_address(edge):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    req, txid = stun_binding_request()
    s.sendto(req, edge.sip_addr)                                    # KA-01
    resp, src = s.recvfrom(1500)
    assert src == edge.sip_addr                                     # KA-03
    assert resp[8:20] == txid
    assert stun_xor_mapped(resp) == s.getsockname()                 # KA-02
    s.sendto(req, edge.sip_addr)                                    # KA-08
    assert s.recvfrom(1500)[0] == resp
    s.close()


def test_malformed_stun_and_udp_junk_get_no_answer(edge):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    req, _ = stun_binding_request()
    bad_cookie = req[:4] + b"\x00\x00\x00\x00" + req[8:]
    too_long = req[:2] + b"\xff\xff" + req[4:] + b"\x00" * 8
    indication = b"\x00\x11" + req[2:]
    for junk in (bad_cookie, too_long, indication, b"\r\n\r\n",
                 b"\x00\x00\x00\x00", b"\r\n \t\r\n"):                # KA-04/07/12
        s.sendto(junk, edge.sip_addr)
    try:
        data = s.recvfrom(1500)
        raise AssertionError("unexpected answer %r" % (data,))
    except socket.timeout:
        pass
    # The port still serves SIP and STUN afterwards (KA-05).
    s.sendto(req, edge.sip_addr)
    s.settimeout(2)
    assert s.recvfrom(1500)[0][:2] == b"\x01\x01"
    s.close()


def test_unknown_required_stun_attribute_gets_420(edge):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    req, _ = stun_binding_request(attrs=struct.pack(">HH", 0x7FFF, 4) +
                                  b"abcd")
    s.sendto(req, edge.sip_addr)                                    # KA-06
    resp, _ = s.recvfrom(1500)
    assert struct.unpack(">H", resp[:2])[0] == 0x0111
    s.close()


def test_stun_bytes_on_tcp_close_that_connection_only(edge):
    other = Phone(edge, "tcp", user="other")
    assert other.register().status == 200
    bad = socket.create_connection(edge.sip_addr)
    bad.sendall(stun_binding_request()[0])                          # KA-13
    bad.settimeout(2)
    assert bad.recv(100) == b""
    other.send(b"\r\n\r\n")
    assert other.recv_raw(timeout=1) == b"\r\n"


def test_flow_silent_past_flow_timer_and_grace_is_closed(make_edge):
    edge = make_edge("--flow-timer", "2", "--flow-grace", "1")
    alive = Phone(edge, "tcp", user="alive")
    silent = Phone(edge, "tcp", user="silent")
    assert alive.register().status == 200
    assert silent.register().status == 200
    start = time.monotonic()
    # EP-19: pinging at the advertised interval keeps a flow alive.
    while time.monotonic() - start < 5:
        alive.send(b"\r\n\r\n")
        assert alive.recv_raw(timeout=1) == b"\r\n"
        time.sleep(1.0)     # the UA's keep-alive interval (0.8 * N)
    assert silent.recv_raw(timeout=1) == b""        # closed by the edge
    edge.wait_counter("flows.closed.timeout", 1)
    alive.send(b"\r\n\r\n")
    assert alive.recv_raw(timeout=1) == b"\r\n"
    caller = Phone(edge, "udp", user="caller")
    assert caller.register().status == 200
    caller.request("INVITE", "sip:silent@example.com")
    resp = caller.recv(want=lambda m: m.status and m.status >= 200)
    assert resp.status == 480


def test_plain_registration_keeps_its_flow_past_the_idle_timeout(make_edge):
    # TR-11: a phone without outbound gets no Flow-Timer and sends no
    # keep-alives; its flow must live as long as its registration, not
    # only idle-timeout.
    edge = make_edge("--idle-timeout", "2", "--flow-grace", "1",
                     "--min-expires", "1")
    plain = Phone(edge, "udp", user="plain")
    assert plain.register(outbound=False, expires=60).status == 200
    stranger = socket.create_connection(edge.sip_addr)   # never registers
    edge.wait_counter("flows.closed.timeout", 1, timeout=10)
    assert stranger.recv(10) == b""                      # that one was reaped
    stranger.close()
    caller = Phone(edge, "tcp", user="caller")
    assert caller.register().status == 200
    caller.request("MESSAGE", plain.aor(), body="still reachable")
    msg = plain.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None and msg.body == b"still reachable"


def test_crlf_and_zero_datagrams_get_no_reply_and_open_no_flow(edge):
    # KA-12: neither from a stranger nor on a registered flow is a CRLF or
    # a 4-byte zero datagram answered (no pong, no 400), and a stranger's
    # CRLF opens no flow.
    phone = Phone(edge, "udp", user="phone")
    assert phone.register().status == 200
    edge.wait_counter("flows.opened.udp", 1)
    opened = edge.counter("flows.opened.udp")
    junk = edge.counter("udp.dropped.junk")
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    stranger.settimeout(1.0)
    for datagram in (b"\r\n\r\n", b"\x00\x00\x00\x00"):
        stranger.sendto(datagram, edge.sip_addr)
        phone.send(datagram)
    try:
        raise AssertionError("answer to a stranger: %r" %
                             (stranger.recvfrom(1500),))
    except socket.timeout:
        pass
    stranger.close()
    assert phone.recv_raw(timeout=0.5) is None
    edge.wait_counter("keepalive.udp_crlf", 1)
    edge.wait_counter("udp.dropped.junk", junk + 3)
    assert edge.counter("flows.opened.udp") == opened


def test_udp_flow_kept_alive_only_by_crlf_outlives_flow_timer_and_grace(
        make_edge):
    # KA-12 (corrected), EP-19: a phone whose only keep-alive is a CRLF
    # datagram (linphone) keeps its flow past Flow-Timer + grace and still
    # gets an INVITE over it; the same phone silent is reaped, its token
    # gets 430 and its caller 480.
    edge = make_edge("--flow-timer", "2", "--flow-grace", "1")
    kept = Phone(edge, "udp", user="kept")
    silent = Phone(edge, "udp", user="silent")
    assert kept.register().status == 200
    silent_token = uri_user(uri_of(silent.register().get("path")))
    start = time.monotonic()
    while time.monotonic() - start < 9:     # 3 x (Flow-Timer + grace)
        kept.send(b"\r\n\r\n")
        # The keep-alive interval doubles as the proof of no reply.
        assert kept.recv_raw(timeout=1.0) is None
    edge.wait_counter("flows.closed.timeout", 1)
    assert edge.counter("flows.closed.timeout") == 1    # the silent one only
    caller = Phone(edge, "udp", user="caller")
    assert caller.register().status == 200
    caller.request("INVITE", "sip:kept@example.com")
    invite = kept.recv(want=lambda m: m.method == "INVITE")
    assert invite is not None, "the INVITE never reached the kept flow"
    assert kept.last_from == edge.sip_addr
    kept.reply(invite, 200, to_tag="kp1")
    ok = caller.recv(want=lambda m: m.status is not None and
                     m.status >= 200 and m.cseq_method == "INVITE")
    assert ok is not None and ok.status == 200
    assert edge.counter("keepalive.udp_crlf") >= 8
    # The contrast: the silent flow is gone.
    caller.request("MESSAGE", "sip:silent@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (silent_token, edge.port)])
    resp = caller.recv(timeout=1.0, want=lambda m: m.status is not None and
                       m.cseq_method == "MESSAGE")
    assert resp is not None and resp.status == 430
    caller.request("INVITE", "sip:silent@example.com")
    resp = caller.recv(want=lambda m: m.status is not None and
                       m.status >= 200 and m.cseq_method == "INVITE")
    assert resp is not None and resp.status == 480
