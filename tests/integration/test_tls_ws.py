"""TLS, WebSocket and secure WebSocket (issue 11): the call flows of the
checklist over the new transports, read from what crossed the wire.

Phones here are sip.Phone on a TLS connection (Python's ssl, trusting only
a test CA, sending no SNI to an IP address) or on a WebSocket written in
wsclient.py, framed as RFC 6455 asks of a client.  A WebSocket phone
looks like a browser's: an .invalid Via host with no port and no rport,
and a Contact of transport=ws on an .invalid host, which nothing may
resolve (RFC 7118 §5).
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

import wsclient
from edge import BIN, wait_for
from sip import Phone, token_fields, uri_of, uri_user

TRANSPORT_CODES = {"tls": 3, "ws": 4, "wss": 5}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return wsclient.Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def secure_edge(make_edge, pki):
    def make(*args):
        return make_edge(*args, transports=("tls", "ws", "wss"), pki=pki)
    return make


def invite_status(caller, callee_aor, timeout=3):
    caller.request("INVITE", callee_aor)
    resp = caller.recv(timeout, want=lambda m: m.status is not None and
                       m.status >= 200 and m.cseq_method == "INVITE")
    return resp.status if resp else None


def wait_pong(phone, timeout=3):
    deadline = time.monotonic() + timeout
    while phone.pongs == 0 and time.monotonic() < deadline:
        phone._read(0.2)
    assert phone.pongs == 1, "no CRLF back in %d s" % timeout


def path_uri(ok):
    return uri_of(ok.get("path"))


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_register_through_edge_adds_path_naming_the_transport(
        secure_edge, transport):
    # EP-01..03 over TLS and WebSocket: Path carries a token for this flow,
    # `ob`, and says how the flow is reached.
    edge = secure_edge()
    phone = Phone(edge, transport, user="alice")
    ok = phone.register()
    assert ok is not None and ok.status == 200
    path = path_uri(ok)
    assert ";transport=%s" % transport in path and ";ob" in path
    fields = token_fields(uri_user(path))
    assert fields["transport"] == TRANSPORT_CODES[transport]
    assert fields["remote"] == tuple(phone.local)
    assert fields["local"] == edge.addrs[transport]
    # The 200 lists the phone's own Contact with expires, +sip.instance
    # and reg-id: without them SIP.js drops the 200 and JsSIP ignores it.
    contact = ok.get("contact")
    assert phone.contact(ob=True)[1:-1] in contact
    assert "expires=" in contact and "+sip.instance" in contact and \
        "reg-id=1" in contact
    edge.wait_counter("flows.opened.%s" % transport, 1)


@pytest.mark.parametrize("transport", ["tls", "wss", "ws"])
def test_invite_for_phone_on_stream_transport_arrives_over_its_connection(
        secure_edge, transport):
    # EP-10, RG-26: the INVITE goes back over the phone's own connection;
    # our Via and Record-Route name its transport; in-dialog requests to
    # the .invalid Contact follow the token in the route set, never DNS.
    edge = secure_edge()
    bob = Phone(edge, transport, user="bob")
    assert bob.register().status == 200
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    alice.request("INVITE", bob.aor(), call_id="c1@alice",
                  extra="Content-Type: application/sdp\r\n",
                  body="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n")
    inv = bob.recv(want=lambda m: m.method == "INVITE")
    assert inv is not None, "INVITE did not reach the phone's connection"
    top_via = inv.all("via")[0]
    assert top_via.startswith("SIP/2.0/%s " % transport.upper())
    rr = uri_of(inv.all("record-route")[0])
    assert ";transport=%s" % transport in rr
    assert token_fields(uri_user(rr))["transport"] == \
        TRANSPORT_CODES[transport]
    bob.reply(inv, 200, "OK", to_tag="b1")
    ok = alice.recv(want=lambda m: m.status == 200 and
                    m.cseq_method == "INVITE")
    assert ok is not None
    # Alice's BYE goes to bob's Contact (an .invalid host over WebSocket),
    # routed by the Record-Route the edge put there.
    routes = list(reversed(ok.all("record-route")))
    target = uri_of(ok.get("contact"))
    from_tag = ok.get("from").split("tag=")[1]
    alice.request("BYE", target, to=bob.aor(), call_id="c1@alice",
                  routes=routes, from_tag=from_tag, to_tag="b1",
                  cseq=alice.cseq + 1)
    bye = bob.recv(want=lambda m: m.method == "BYE")
    assert bye is not None, "BYE to %s did not follow the token" % target
    bob.reply(bye, 200, "OK")
    assert alice.recv(want=lambda m: m.status == 200 and
                      m.cseq_method == "BYE") is not None


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_closed_secure_flow_gets_430_at_edge_and_480_for_caller(
        secure_edge, transport):
    # EP-11, RG-27, RG-28 over TLS and WSS.
    edge = secure_edge()
    bob = Phone(edge, transport, user="bob")
    token = uri_user(path_uri(bob.register()))
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    bob.close()
    edge.wait_counter("flows.closed.peer", 1)
    alice.request("MESSAGE", "sip:bob@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (token, edge.port)])
    resp = alice.recv(want=lambda m: m.status is not None)
    assert resp is not None and resp.status == 430
    assert invite_status(alice, bob.aor()) == 480


def test_crlf_keepalive_over_tls_is_answered_with_crlf(secure_edge):
    # KA-09 on TLS as on TCP.
    edge = secure_edge()
    phone = Phone(edge, "tls", user="alice")
    assert phone.register().status == 200
    phone.send(b"\r\n\r\n")
    wait_pong(phone)
    edge.wait_counter("keepalive.crlf_pongs", 1)


def test_double_crlf_message_on_websocket_is_answered_with_crlf(secure_edge):
    # SIP.js's keep-alive: "\r\n\r\n" in a WebSocket message.
    edge = secure_edge()
    phone = Phone(edge, "ws", user="alice")
    assert phone.register().status == 200
    phone.send(b"\r\n\r\n")
    wait_pong(phone)
    edge.wait_counter("keepalive.ws_crlf_pongs", 1)


def test_silent_browser_flow_is_pinged_and_stays_registered(secure_edge):
    # A JsSIP phone sends nothing after its REGISTER.  The edge Pings it,
    # the browser answers by itself, and the Pongs keep the flow alive
    # past Flow-Timer + grace, which would otherwise close it (EP-19).
    edge = secure_edge("--ws-ping-interval", "1", "--flow-timer", "2",
                       "--flow-grace", "1")
    bob = Phone(edge, "wss", user="bob")
    assert bob.register().status == 200
    # Silence is checked once a second, so a Ping goes out every 1-2 s;
    # 8 s is more than twice Flow-Timer + grace.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        bob._read(0.2)
    assert bob.pings >= 3, "the edge sent %d Pings in 8 s" % bob.pings
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    alice.request("MESSAGE", bob.aor(), body="still there?")
    assert bob.recv(want=lambda m: m.method == "MESSAGE") is not None
    edge.wait_counter("keepalive.ws_pongs", 3)
    assert edge.counter("flows.closed.timeout") in (None, 0)


def test_browser_flow_that_answers_no_ping_is_dead_gets_430_and_loses_binding(
        secure_edge):
    edge = secure_edge("--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    bob = Phone(edge, "ws", user="bob", answer_pings=False)
    token = uri_user(path_uri(bob.register()))
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    edge.wait_counter("keepalive.ws_dead", 1, timeout=8)
    edge.wait_counter("flows.closed.timeout", 1)
    alice.request("MESSAGE", "sip:bob@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (token, edge.port)])
    resp = alice.recv(want=lambda m: m.status is not None)
    assert resp is not None and resp.status == 430
    # Its binding went with it (RG-27): the caller hears 480 at once.
    assert invite_status(alice, bob.aor()) == 480


def raw_ws(edge, transport="ws"):
    sock = socket.create_connection(edge.addrs[transport], timeout=3)
    if transport == "wss":
        sock = edge.pki.client_context().wrap_socket(
            sock, server_hostname=edge.addrs[transport][0])
    return sock


def http_answer(sock, request):
    sock.sendall(request)
    data = b""
    while (head := wsclient.parse_http_response(data)) is None:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return head


@pytest.mark.parametrize("protocol,version,status", [
    ("chat", "13", 400),            # RFC 7118 §4.1: only `sip`
    (None, "13", 400),
    ("sip", "8", 426),              # RFC 6455 §4.4
])
def test_upgrade_without_sip_subprotocol_or_version_13_is_refused(
        secure_edge, protocol, version, status):
    edge = secure_edge()
    sock = raw_ws(edge)
    head = http_answer(sock, wsclient.upgrade_request(
        "127.0.0.1", "dGhlIHNhbXBsZSBub25jZQ==", protocol=protocol,
        version=version))
    assert head is not None and head[0] == status
    if status == 426:
        assert head[1].get("sec-websocket-version") == "13"
    # Refused with its reason as the body, then closed.
    sock.settimeout(3)
    body = head[2]
    while len(body) < int(head[1]["content-length"]):
        body += sock.recv(100)
    assert body.strip() and sock.recv(100) == b""
    edge.wait_counter("ws.upgrades_refused.%d" % status, 1)
    sock.close()


def test_upgrade_from_an_origin_not_allowed_gets_403(secure_edge):
    edge = secure_edge("--ws-origin", "https://phone.example.com")
    sock = raw_ws(edge, "wss")
    head = http_answer(sock, wsclient.upgrade_request(
        "127.0.0.1", "dGhlIHNhbXBsZSBub25jZQ==",
        origin="https://evil.example.net"))
    assert head is not None and head[0] == 403
    sock.close()
    ok = Phone(edge, "wss", user="alice", origin="https://phone.example.com")
    assert ok.register().status == 200


def test_chromium_upgrade_is_answered_101_with_sip_and_no_extension(
        secure_edge):
    edge = secure_edge()
    phone = Phone(edge, "wss", user="alice")
    headers = phone.ws_upgrade_headers
    assert headers["sec-websocket-protocol"] == "sip"
    assert "sec-websocket-extensions" not in headers
    edge.wait_counter("ws.upgrades", 1)


@pytest.mark.parametrize("what,raw,code", [
    ("unmasked", wsclient.frame(wsclient.OP_TEXT, b"OPTIONS", mask=False),
     1002),
    ("reserved bit", wsclient.frame(wsclient.OP_TEXT, b"x", rsv=4), 1002),
    ("unknown opcode", wsclient.frame(3, b"x"), 1002),
    ("not UTF-8", wsclient.frame(wsclient.OP_TEXT, b"\xff\xfe"), 1007),
])
def test_websocket_protocol_error_gets_close_with_its_code(
        secure_edge, what, raw, code):
    edge = secure_edge()
    phone = Phone(edge, "ws", user="alice")
    assert phone.register().status == 200
    phone.send_frame(raw)
    payload = phone.ws_control(wsclient.OP_CLOSE)
    assert payload is not None, "no Close after a frame with %s" % what
    assert wsclient.close_code(payload) == code
    edge.wait_counter("ws.closes_sent.%d" % code, 1)
    edge.wait_counter("flows.closed.framing", 1)


def test_message_over_max_message_size_gets_close_1009(secure_edge):
    edge = secure_edge("--max-message-size", "2048")
    phone = Phone(edge, "wss", user="alice")
    assert phone.register().status == 200
    phone.send_frame(wsclient.frame(wsclient.OP_TEXT, b"x" * 4000))
    payload = phone.ws_control(wsclient.OP_CLOSE)
    assert payload is not None and wsclient.close_code(payload) == 1009


def test_fragmented_message_with_ping_between_arrives_whole(secure_edge):
    # RFC 6455 §5.4, §5.5: continuation frames are reassembled into one
    # SIP message, and a Ping between them is answered at once.
    edge = secure_edge()
    bob = Phone(edge, "ws", user="bob")
    assert bob.register().status == 200
    alice = Phone(edge, "ws", user="alice")
    assert alice.register().status == 200
    msg = ("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/WS alice.invalid;branch="
           "z9hG4bKfrag1\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=f1\r\n"
           "To: <%s>\r\nCall-ID: frag1@alice\r\nCSeq: 1 MESSAGE\r\n"
           "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
           % (bob.aor(), alice.aor(), bob.aor())).encode()
    half = len(msg) // 2
    alice.send_frame(wsclient.frame(wsclient.OP_TEXT, msg[:half], fin=False))
    alice.send_frame(wsclient.frame(wsclient.OP_PING, b"mid"))
    assert alice.ws_control(wsclient.OP_PONG) == b"mid"
    alice.send_frame(wsclient.frame(wsclient.OP_CONT, msg[half:]))
    got = bob.recv(want=lambda m: m.method == "MESSAGE")
    assert got is not None and got.body == b"hello"


def test_close_from_browser_is_answered_and_its_bindings_go(secure_edge):
    edge = secure_edge()
    bob = Phone(edge, "wss", user="bob")
    assert bob.register().status == 200
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    bob.send_frame(wsclient.frame(wsclient.OP_CLOSE,
                                  struct.pack(">H", 1001)))
    payload = bob.ws_control(wsclient.OP_CLOSE)
    assert payload is not None and wsclient.close_code(payload) == 1000
    bob.close()
    edge.wait_counter("flows.closed.peer", 1)
    assert invite_status(alice, bob.aor()) == 480


def test_tls_session_resumes_on_another_child_with_a_ticket(secure_edge,
                                                            pki):
    # One process per flow: the second connection lands in another child,
    # which can open the first child's ticket (keys from the token key).
    edge = secure_edge("--flows-per-child", "1")
    ctx = pki.client_context()
    first = ctx.wrap_socket(socket.create_connection(edge.addrs["tls"]),
                            server_hostname="127.0.0.1")
    first.sendall(b"\r\n\r\n")
    assert first.recv(10) == b"\r\n"    # TLS 1.3 tickets come after
    session = first.session
    second = ctx.wrap_socket(socket.create_connection(edge.addrs["tls"]),
                             server_hostname="127.0.0.1", session=session)
    assert second.session_reused, "the ticket was not accepted"
    second.sendall(b"\r\n\r\n")
    assert second.recv(10) == b"\r\n"
    edge.wait_counter("tls.handshakes.resumed", 1)
    kids = edge.children()
    assert len([k for k in kids if k.startswith("fm1-c")]) >= 2
    first.close()
    second.close()


def test_reload_takes_a_new_certificate_for_new_flows_only(
        make_edge, pki, tmp_path):
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    shutil.copy(pki.cert, cert)
    shutil.copy(pki.key, key)
    os.chmod(key, 0o600)
    edge = make_edge("--tls-cert", str(cert), "--tls-key", str(key),
                     transports=("tls",))

    class Trust:
        def __init__(self, p):
            self.p = p

        def client_context(self):
            return self.p.client_context()
    edge.pki = Trust(pki)
    old = Phone(edge, "tls", user="alice")
    assert old.register().status == 200
    (tmp_path / "other").mkdir()
    other = wsclient.Pki(str(tmp_path / "other"))
    shutil.copy(other.cert, cert)
    shutil.copy(other.key, key)
    os.kill(edge.proc.pid, signal.SIGHUP)
    edge.pki = Trust(other)
    wait_for(lambda: _handshake_ok(edge, other), timeout=5,
             what="a new connection with the new certificate")
    # The flow that was up keeps its session.
    assert old.register().status == 200


def _handshake_ok(edge, pki):
    try:
        s = pki.client_context().wrap_socket(
            socket.create_connection(edge.addrs["tls"], timeout=2),
            server_hostname="127.0.0.1")
        s.close()
        return True
    except (OSError, ValueError):
        return False


def test_tls_listener_without_certificate_refuses_to_start_in_one_line():
    r = subprocess.run([os.path.join(BIN, "epsipd"), "--listen-tls",
                        "127.0.0.1:5061", "-n"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "listen-tls" in lines[0] and \
        "tls-cert" in lines[0]


def test_flows_listing_names_the_new_transports(secure_edge):
    edge = secure_edge()
    phones = [Phone(edge, t, user="u" + t) for t in ("tls", "ws", "wss")]
    for p in phones:
        assert p.register().status == 200
    status, body = edge.http("/flows?transport=wss")
    assert status == 200
    import json
    flows = json.loads(body)["flows"]
    assert [f["transport"] for f in flows] == ["wss"]
