"""Minimal SIP over real sockets for the integration tests.

Just enough to act as a phone or a caller: build requests, parse what comes
back (compact names expanded), answer requests, and follow a dialog's route
set.  Tests assert on what crossed the wire, so parsing is strict about
framing and lenient about nothing else.
"""
import base64
import os
import random
import select
import socket
import ssl
import struct
import time

import wsclient

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "k": "supported", "c": "content-type",
           "s": "subject", "e": "content-encoding", "o": "event", "r": "refer-to"}


def rand(n=10):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(n))


class SipMessage:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), value.strip()))
        parts = self.start.split(" ", 2)
        if parts[0] == "SIP/2.0":
            self.status = int(parts[1])
            self.method = None
            self.uri = None
        else:
            self.status = None
            self.method, self.uri = parts[0], parts[1]

    def all(self, name):
        """Every value of a header, comma lists split (outside <> and quotes)."""
        out = []
        for n, v in self.headers:
            if n == name.lower():
                out.extend(split_commas(v))
        return out

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def rows(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    @property
    def cseq_method(self):
        return self.get("cseq").split()[1]

    def __repr__(self):
        return "<SIP %s>" % self.start


def split_commas(value):
    out, cur, depth, quote = [], "", 0, False
    for ch in value:
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            depth += 1
        elif ch == ">" and not quote:
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def uri_of(value):
    """The URI inside <...> of a name-addr, or the value itself."""
    if "<" in value:
        return value[value.index("<") + 1:value.index(">")]
    return value.split(";")[0].strip()


def uri_user(uri):
    rest = uri.split(":", 1)[1]
    return rest.split("@")[0] if "@" in rest else None


def token_fields(token):
    """Decode the (unencrypted) fields of an EPSIP flow token.

    Layout from include/epsip/flow_token.h; the MAC is not checked here.
    """
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    instance, child, slot, gen = struct.unpack(">HIII", raw[2:16])
    family, size = ((socket.AF_INET6, 16) if raw[16] & 15 == 6 else
                    (socket.AF_INET, 4))

    def endpoint(at):
        port = struct.unpack(">H", raw[at:at + 2])[0]
        return socket.inet_ntop(family, raw[at + 2:at + 2 + size]), port
    return {"version": raw[0], "instance": instance, "child": child,
            "slot": slot, "generation": gen, "transport": raw[16] >> 4,
            "local": endpoint(17), "remote": endpoint(19 + size)}


def frame_stream(buf):
    """Split a TCP buffer into (messages, pongs, rest) by Content-Length."""
    msgs, pongs = [], 0
    while True:
        if buf.startswith(b"\r\n\r\n"):
            buf = buf[4:]
            continue
        if buf.startswith(b"\r\n") and not buf.startswith(b"\r\n\r"):
            buf = buf[2:]
            pongs += 1
            continue
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            break
        head = buf[:end].decode("utf-8", "replace")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-length", "l"):
                length = int(value.strip())
        total = end + 4 + length
        if len(buf) < total:
            break
        msgs.append(SipMessage(buf[:total]))
        buf = buf[total:]
    return msgs, pongs, buf


def next_matching(pending, want, timeout, read, key=lambda item: item):
    """Pop the first item of `pending` whose message want() accepts,
    calling read(seconds_left) to receive more until `timeout`.  None at
    the timeout, or when read() says nothing more can come (False)."""
    deadline = time.monotonic() + timeout
    while True:
        for i, item in enumerate(pending):
            if want is None or want(key(item)):
                return pending.pop(i)
        left = deadline - time.monotonic()
        if left <= 0 or read(left) is False:
            return None


class Phone:
    """A SIP phone with one flow to the edge: a UDP socket, a TCP or TLS
    connection, or a WebSocket (RFC 7118) on TCP or TLS.  A WebSocket
    phone answers the edge's Pings unless answer_pings is False, as a
    browser does by itself."""

    def __init__(self, edge, transport="udp", user=None, local_ip="127.0.0.1",
                 instance=None, reg_id=1, domain="example.com", port=0,
                 answer_pings=True, origin="http://127.0.0.1"):
        self.edge = edge
        self.transport = transport
        self.user = user or "u" + rand(6)
        self.domain = domain
        self.instance = instance or "urn:uuid:%08x-0000-1000-8000-%012x" % (
            random.getrandbits(32), random.getrandbits(48))
        self.reg_id = reg_id
        self.cseq = 0
        self.call_id = rand(16) + "@phone"
        self.pending = []
        self.pongs = 0
        self.buf = b""
        family = socket.AF_INET6 if ":" in local_ip else socket.AF_INET
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(family, kind)
        self.sock.bind((local_ip, port))
        self.answer_pings = answer_pings
        self.pings = 0
        self.ws_frames = []             # (opcode, payload) of control frames
        self.closed = False
        if transport != "udp":
            self.sock.connect(edge.addrs[transport])
        self.local = self.sock.getsockname()[:2]
        if transport in ("tls", "wss"):
            self.sock = edge.pki.client_context().wrap_socket(
                self.sock, server_hostname=edge.addrs[transport][0])
        if transport in ("ws", "wss"):
            self._ws_upgrade(edge.addrs[transport], origin)
        self.last_from = None

    def _ws_upgrade(self, addr, origin):
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(wsclient.upgrade_request(
            "%s:%d" % addr, key, origin=origin))
        data = b""
        while (head := wsclient.parse_http_response(data)) is None:
            chunk = self.sock.recv(4096)
            assert chunk, "the edge closed during the WebSocket upgrade"
            data += chunk
        status, headers, self.buf = head
        assert status == 101, "upgrade answered %d" % status
        assert headers.get("sec-websocket-protocol") == "sip"
        assert headers.get("sec-websocket-accept") == \
            wsclient.expected_accept(key)
        self.ws_upgrade_headers = headers

    @property
    def contact_host(self):
        host, port = self.local
        return "%s:%d" % (("[%s]" % host) if ":" in host else host, port)

    def aor(self):
        return "sip:%s@%s" % (self.user, self.domain)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def websocket(self):
        return self.transport in ("ws", "wss")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.transport == "udp":
            self.sock.sendto(data, self.edge.sip_addr)
        elif self.websocket:
            self.sock.sendall(wsclient.frame(wsclient.OP_TEXT, data))
        else:
            self.sock.sendall(data)

    def send_frame(self, raw):
        """Bytes as they are, on a WebSocket: a frame the test built."""
        self.sock.sendall(raw)

    def recv(self, timeout=3.0, want=None):
        """The next SIP message (optionally matching `want`), or None."""
        return next_matching(self.pending, want, timeout, self._read)

    def _readable(self, timeout):
        # TLS may hold decrypted bytes that select() cannot see.
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        return bool(select.select([self.sock], [], [], timeout)[0])

    def _read(self, timeout):
        if self.closed or not self._readable(timeout):
            return False
        if self.transport == "udp":
            data, src = self.sock.recvfrom(70000)
            self.last_from = src[:2]
            self.pending.append(SipMessage(data))
            return True
        try:
            data = self.sock.recv(70000)
        except (ssl.SSLError, ConnectionError):
            data = b""
        if not data:
            self.closed = True
            return False                # the stream is closed
        self.buf += data
        if self.websocket:
            self._ws_take()
            return True
        msgs, pongs, self.buf = frame_stream(self.buf)
        self.pongs += pongs
        self.pending.extend(msgs)
        return True

    def _ws_take(self):
        frames, self.buf = wsclient.parse_frames(self.buf)
        for fin, opcode, payload in frames:
            assert fin, "the edge fragments its messages"
            if opcode == wsclient.OP_TEXT:
                if payload == b"\r\n":
                    self.pongs += 1
                else:
                    self.pending.append(SipMessage(payload))
                continue
            self.ws_frames.append((opcode, payload))
            if opcode == wsclient.OP_PING:
                self.pings += 1
                if self.answer_pings:
                    self.send_frame(wsclient.frame(wsclient.OP_PONG,
                                                   payload))

    def ws_control(self, opcode, timeout=3.0):
        """The payload of the next control frame `opcode`, or None."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (op, payload) in enumerate(self.ws_frames):
                if op == opcode:
                    del self.ws_frames[i]
                    return payload
            left = deadline - time.monotonic()
            if left <= 0 or self._read(left) is False:
                return None

    def recv_raw(self, timeout=1.0):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        if self.transport == "udp":
            return self.sock.recvfrom(70000)[0]
        return self.sock.recv(70000)

    def via(self, branch=None):
        # A browser's Via: an .invalid host, no port, no rport (RFC 7118).
        if self.websocket:
            return "SIP/2.0/%s %s;branch=%s" % (
                self.transport.upper(), self.ws_host,
                branch or "z9hG4bK" + rand(12))
        return "SIP/2.0/%s %s;branch=%s;rport" % (
            self.transport.upper(), self.contact_host,
            branch or "z9hG4bK" + rand(12))

    @property
    def ws_host(self):
        return "%s.invalid" % self.user

    def contact(self, ob=True):
        if self.websocket:
            # Both JsSIP and SIP.js say transport=ws, on WSS too.
            return "<sip:%s@%s;transport=ws%s>" % (
                self.user, self.ws_host, ";ob" if ob else "")
        params = {"tcp": ";transport=tcp",
                  "tls": ";transport=tls"}.get(self.transport, "")
        return "<sip:%s@%s%s%s>" % (self.user, self.contact_host, params,
                                     ";ob" if ob else "")

    def register(self, expires=3600, outbound=True, extra="", reg_id=None,
                 contact=None, timeout=3.0, call_id=None):
        self.cseq += 1
        reg_id = self.reg_id if reg_id is None else reg_id
        if contact is None:
            contact = self.contact(ob=outbound)
            if outbound:
                contact += ';reg-id=%d;+sip.instance="<%s>"' % (
                    reg_id, self.instance)
        msg = ("REGISTER sip:%s SIP/2.0\r\n"
               "Via: %s\r\n"
               "Max-Forwards: 70\r\n"
               "From: <%s>;tag=%s\r\n"
               "To: <%s>\r\n"
               "Call-ID: %s\r\n"
               "CSeq: %d REGISTER\r\n"
               "Supported: path%s\r\n"
               "Contact: %s\r\n"
               "Expires: %d\r\n"
               "%s"
               "Content-Length: 0\r\n\r\n") % (
            self.domain, self.via(), self.aor(), rand(8), self.aor(),
            call_id or self.call_id, self.cseq,
            ", outbound" if outbound else "", contact, expires, extra)
        self.send(msg)
        return self.recv(timeout, want=lambda m: m.status is not None and
                         m.status >= 200 and m.cseq_method == "REGISTER")

    def request(self, method, uri, to=None, extra="", body=b"",
                call_id=None, cseq=None, routes=(), branch=None,
                from_tag=None, to_tag=None):
        self.cseq += 1
        to = to or uri
        body = body.encode() if isinstance(body, str) else body
        head = ("%s %s SIP/2.0\r\n"
                "Via: %s\r\n"
                "Max-Forwards: 70\r\n"
                "From: <%s>;tag=%s\r\n"
                "To: <%s>%s\r\n"
                "Call-ID: %s\r\n"
                "CSeq: %d %s\r\n"
                "Contact: %s\r\n") % (
            method, uri, self.via(branch), self.aor(), from_tag or "ft" +
            rand(6), to, ";tag=" + to_tag if to_tag else "",
            call_id or rand(16) + "@phone", cseq or self.cseq, method,
            self.contact())
        for r in routes:
            head += "Route: %s\r\n" % r
        head += extra + "Content-Length: %d\r\n\r\n" % len(body)
        self.send(head.encode() + body)

    def reply(self, req, status, reason="OK", extra="", to_tag=None,
              body=b""):
        lines = ["SIP/2.0 %d %s" % (status, reason)]
        for v in req.rows("via"):
            lines.append("Via: " + v)
        to = req.get("to")
        if to_tag and ";tag=" not in to:
            to += ";tag=" + to_tag
        lines += ["From: " + req.get("from"), "To: " + to,
                  "Call-ID: " + req.get("call-id"), "CSeq: " + req.get("cseq")]
        if 200 <= status < 300 or status < 200 and status > 100:
            for rr in req.rows("record-route"):
                lines.append("Record-Route: " + rr)
            lines.append("Contact: " + self.contact())
        if extra:
            lines.append(extra.rstrip("\r\n"))
        body = body.encode() if isinstance(body, str) else body
        lines.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def stun_binding_request(txid=None, attrs=b""):
    txid = txid or os.urandom(12)
    return struct.pack(">HHI", 0x0001, len(attrs), 0x2112A442) + txid + attrs, txid


def stun_xor_mapped(resp):
    """(ip, port) from a Binding success response's XOR-MAPPED-ADDRESS."""
    mtype, length, cookie = struct.unpack(">HHI", resp[:8])
    assert mtype == 0x0101 and cookie == 0x2112A442
    txid, pos = resp[8:20], 20
    while pos + 4 <= 20 + length:
        atype, alen = struct.unpack(">HH", resp[pos:pos + 4])
        value = resp[pos + 4:pos + 4 + alen]
        if atype == 0x0020:
            family, xport = value[1], struct.unpack(">H", value[2:4])[0]
            port = xport ^ 0x2112
            if family == 1:
                ip = bytes(a ^ b for a, b in zip(value[4:8],
                                                 struct.pack(">I", 0x2112A442)))
                return socket.inet_ntop(socket.AF_INET, ip), port
            key = struct.pack(">I", 0x2112A442) + txid
            ip = bytes(a ^ b for a, b in zip(value[4:20], key))
            return socket.inet_ntop(socket.AF_INET6, ip), port
        pos += 4 + alen + (-alen % 4)
    raise AssertionError("no XOR-MAPPED-ADDRESS")
