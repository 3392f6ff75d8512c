"""Bad input gets the right answer or is dropped, and harms no other flow
(ER-01..ER-06, FT-03, FT-07, SP-03..SP-05, TR-07)."""
import os
import socket

import pytest

from sip import Phone, frame_stream, rand, uri_of, uri_user


def raw_tcp(edge, data, timeout=2):
    """Send bytes on a new TCP connection; return (messages, closed)."""
    s = socket.create_connection(edge.sip_addr)
    s.sendall(data)
    s.settimeout(timeout)
    buf, closed = b"", False
    try:
        while True:
            chunk = s.recv(70000)
            if not chunk:
                closed = True
                break
            buf += chunk
            msgs, _, rest = frame_stream(buf)
            if msgs and closed is False and not rest:
                # keep reading: the close may follow the answer
                continue
    except socket.timeout:
        pass
    s.close()
    return frame_stream(buf)[0], closed


def request(method="OPTIONS", uri="sip:x@example.com", extra="", cl=True,
            body=b""):
    head = ("%s %s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK%s\r\n"
            "From: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\n"
            "Call-ID: %s\r\nCSeq: 1 %s\r\n%s") % (method, uri, rand(), rand(),
                                                 method, extra)
    if cl:
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


def test_stream_without_content_length_gets_400_and_close(edge):
    msgs, closed = raw_tcp(edge, request(cl=False))                 # ER-03
    assert [m.status for m in msgs] == [400] and closed


def test_duplicate_content_length_gets_400_and_close(edge):
    msgs, closed = raw_tcp(edge, request(extra="Content-Length: 5\r\n"))
    assert [m.status for m in msgs] == [400] and closed            # ER-02


def test_oversized_stream_message_gets_513_and_close(edge):
    big = request("MESSAGE", body=b"x" * 70000)
    msgs, closed = raw_tcp(edge, big)                               # ER-04
    assert [m.status for m in msgs] == [513] and closed


def test_junk_before_start_line_closes_the_connection(edge):
    msgs, closed = raw_tcp(edge, b"GARBAGE\r\n\r\n")               # ER-05
    assert msgs == [] and closed


def test_coalesced_and_split_messages_are_both_framed(edge):
    s = socket.create_connection(edge.sip_addr)
    s.settimeout(3)
    two = request("OPTIONS", "sip:127.0.0.1:%d" % edge.port) * 2    # TR-07
    s.sendall(two)
    one = request("OPTIONS", "sip:127.0.0.1:%d" % edge.port)
    for i in range(len(one)):
        s.send(one[i:i + 1])
    buf = b""
    while len(frame_stream(buf)[0]) < 3:
        chunk = s.recv(65536)
        assert chunk
        buf += chunk
    assert [m.status for m in frame_stream(buf)[0]] == [200, 200, 200]
    s.close()


def test_tampered_token_gets_403_and_nothing_reaches_the_phone(edge):
    bob = Phone(edge, "tcp", user="bob")
    token = uri_user(uri_of(bob.register().get("path")))
    alice = Phone(edge, "udp", user="alice")
    alice.register()
    bad = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    alice.request("MESSAGE", "sip:bob@127.0.0.1",
                  routes=["<sip:%s@127.0.0.1:%d;lr>" % (bad, edge.port)])
    resp = alice.recv(want=lambda m: m.status is not None)
    assert resp.status == 403                                       # FT-03
    assert bob.recv(timeout=0.5) is None


def test_path_traversal_in_route_user_gets_403_and_creates_nothing(edge):
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200   # its child's socket exists now
    before = set(os.listdir(edge.run_dir))
    alice.request("MESSAGE", "sip:x@127.0.0.1", routes=[
        "<sip:..%%2F..%%2Ftmp%%2Fx@127.0.0.1:%d;lr>" % edge.port])  # FT-07
    assert alice.recv(want=lambda m: m.status is not None).status == 403
    alice.request("MESSAGE", "sip:x@127.0.0.1", routes=[
        "<sip:!!!@127.0.0.1:%d;lr>" % edge.port])                   # ER-06
    assert alice.recv(want=lambda m: m.status is not None).status == 403
    assert set(os.listdir(edge.run_dir)) == before


def test_validation_errors_get_their_status(edge):
    alice = Phone(edge, "udp", user="alice")
    cases = [
        (request("INVITE", extra="Max-Forwards: 0\r\n"), 483),      # SP-04
        (request("INVITE", "xyz:a"), 416),                          # SP-03
        (request("INVITE", extra="Proxy-Require: foo\r\n"), 420),   # SP-05
        (request("MESSAGE", extra="Call-ID: dup\r\n"), 400),        # ER-02
    ]
    for data, status in cases:
        alice.send(data.replace(b"SIP/2.0/TCP", b"SIP/2.0/UDP"))
        resp = alice.recv(want=lambda m: m.status is not None)
        assert resp is not None and resp.status == status, (data, resp)
    no_call_id = b"\r\n".join(l for l in request().split(b"\r\n")
                              if not l.startswith(b"Call-ID"))
    alice.send(no_call_id)
    assert alice.recv(want=lambda m: m.status is not None).status == 400


def test_garbage_flood_harms_no_other_flow(edge):
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(300):
        s.sendto(os.urandom(1 + i % 400), edge.sip_addr)
        s.sendto(b"INVITE sip:" + os.urandom(i % 50) + b" SIP/2.0\r\n\r\n",
                 edge.sip_addr)
    for _ in range(20):
        raw_tcp(edge, os.urandom(200), timeout=0.2)
    bob.send(b"\r\n\r\n")
    assert bob.recv_raw(timeout=2) == b"\r\n"
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    alice.request("MESSAGE", bob.aor(), body="ok")
    assert bob.recv(want=lambda m: m.method == "MESSAGE") is not None
    s.close()


BAD_CORPUS = os.path.join(os.path.dirname(__file__), "..", "corpus", "bad")


def bad_corpus():
    """(name, expectation, bytes) of tests/corpus/bad, LF made CRLF."""
    for name in sorted(os.listdir(BAD_CORPUS)):
        if not name.endswith(".sip"):
            continue
        expect, lines = None, []
        with open(os.path.join(BAD_CORPUS, name), "rb") as f:
            for line in f.read().split(b"\n"):
                if not lines and line.startswith(b"# expect: "):
                    expect = line[10:].decode()
                elif not lines and line.startswith(b"# "):
                    continue
                else:
                    lines.append(line)
        yield name, expect, b"\r\n".join(lines)


@pytest.mark.parametrize("name,expect,raw", list(bad_corpus()),
                         ids=[n for n, _, _ in bad_corpus()])
def test_bad_input_gets_a_clear_answer_and_the_connection_survives(
        edge, name, expect, raw):
    # Issue 12 §5: a start line or header that cannot be parsed, with the
    # framing intact, gets its 400 (or 505) with a reason naming the
    # problem, and the same TCP connection goes on working.
    s = socket.create_connection(edge.sip_addr)
    s.settimeout(3)
    s.sendall(raw)
    if expect != "forward":
        buf = b""
        while not frame_stream(buf)[0]:
            chunk = s.recv(65536)
            assert chunk, "%s: the connection closed unanswered" % name
            buf += chunk
        answer = frame_stream(buf)[0][0]
        assert answer.start == "SIP/2.0 " + expect
    s.sendall(request("OPTIONS", "sip:127.0.0.1:%d" % edge.port))
    buf = b""
    while not [m for m in frame_stream(buf)[0] if m.cseq_method ==
               "OPTIONS" and m.status == 200]:
        chunk = s.recv(65536)
        assert chunk, "%s: the connection did not survive" % name
        buf += chunk
    s.close()


@pytest.mark.parametrize("method", ["REGISTER", "OPTIONS"])
def test_retransmission_on_a_new_connection_gets_the_last_response_again(
        edge, method):
    # RFC 3261 §17.2.2: a phone whose connection broke retransmits on a
    # new one; the same request (same branch) gets the same answer there,
    # not silence.
    contact = "Contact: <sip:a@127.0.0.1:5999;transport=tcp>\r\n" if \
        method == "REGISTER" else ""
    raw = ("%s sip:example.com SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK%s\r\n"
           "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
           "Call-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n%s"
           "Content-Length: 0\r\n\r\n" % (method, rand(10), rand(10), method,
                                          contact)).encode()
    answers = []
    for _ in range(2):
        s = socket.create_connection(edge.sip_addr)
        s.settimeout(3)
        s.sendall(raw)
        buf = b""
        while not frame_stream(buf)[0]:
            chunk = s.recv(65536)
            assert chunk, "silence on a new connection"
            buf += chunk
        answers.append(frame_stream(buf)[0][0].start)
        s.close()
    assert all(a.startswith("SIP/2.0 ") for a in answers), answers
    if method == "OPTIONS":
        assert answers[0] == answers[1]
    # A REGISTER on TCP keeps no transaction once answered (Timer J is 0
    # on a reliable transport, RFC 3261 §17.2.2): on a new connection it
    # is judged again -- 200 when the first connection's close dropped
    # its binding first, or 400 CSeq Out Of Order (§10.3 step 7).  Either
    # way an answer, not silence.
