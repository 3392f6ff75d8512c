"""A scripted upstream registrar/proxy on loopback, for wire-level tests of
EPSIP's upstream mode: it records every message it receives with the
transport and connection it came on, and answers only when told to."""
import select
import socket
import time

from edge import free_port
from sip import SipMessage, frame_stream, next_matching, rand


class Received:
    def __init__(self, msg, transport, conn, src):
        self.msg = msg
        self.transport = transport   # "udp" or "tcp"
        self.conn = conn             # the TCP socket it came on, or None
        self.src = src               # (ip, port) of the sender


class FakeUpstream:
    def __init__(self, host="127.0.0.1", port=None):
        self.host = host
        self.port = port or free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, self.port))
        self.listener.listen(64)
        self.conns = {}              # socket -> receive buffer
        self.accepted = 0
        self.pending = []

    def uri(self, transport):
        return "sip:%s:%d;transport=%s" % (self.host, self.port, transport)

    def close(self):
        for s in [self.udp, self.listener] + list(self.conns):
            try:
                s.close()
            except OSError:
                pass
        self.conns = {}

    def _poll(self, timeout):
        # poll, not select: a test may hold descriptors past 1024.
        poller, by_fd = select.poll(), {}
        for s in [self.udp, self.listener] + list(self.conns):
            poller.register(s, select.POLLIN)
            by_fd[s.fileno()] = s
        for fd, _ in poller.poll(int(timeout * 1000)):
            s = by_fd[fd]
            if s is self.udp:
                data, src = s.recvfrom(70000)
                if data.strip(b"\r\n"):
                    self.pending.append(Received(SipMessage(data), "udp",
                                                 None, src[:2]))
            elif s is self.listener:
                c, _ = s.accept()
                self.conns[c] = b""
                self.accepted += 1
            else:
                try:
                    data = s.recv(70000)
                except OSError:
                    data = b""
                if not data:
                    del self.conns[s]
                    s.close()
                    continue
                self.conns[s] += data
                msgs, _, self.conns[s] = frame_stream(self.conns[s])
                src = s.getpeername()[:2]
                self.pending += [Received(m, "tcp", s, src) for m in msgs]

    def recv(self, timeout=3.0, want=None):
        """The next message received (optionally matching want(msg))."""
        return next_matching(self.pending, want, timeout,
                             lambda left: self._poll(min(left, 0.1)),
                             key=lambda r: r.msg)

    def drain(self, seconds):
        """Everything that arrives within `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._poll(max(0.0, min(0.05, end - time.monotonic())))
        out, self.pending = self.pending, []
        return out

    def send(self, data, to, transport="udp", conn=None):
        """Send bytes: UDP to `to`, TCP on `conn` or a new connection."""
        if isinstance(data, str):
            data = data.encode()
        if transport == "udp":
            self.udp.sendto(data, to)
            return None
        if conn is None:
            conn = socket.create_connection(to, timeout=3)
            self.conns[conn] = b""
        conn.sendall(data)
        return conn

    def answer(self, got, status, reason="OK", extra=""):
        """Answer a received request on the way it came (RFC 3261 §18.2.2)."""
        req = got.msg
        lines = ["SIP/2.0 %d %s" % (status, reason)]
        lines += ["Via: " + v for v in req.rows("via")]
        to = req.get("to")
        if status > 100 and ";tag=" not in to:
            to += ";tag=up" + str(status)
        lines += ["From: " + req.get("from"), "To: " + to,
                  "Call-ID: " + req.get("call-id"),
                  "CSeq: " + req.get("cseq")]
        if extra:
            lines.append(extra.rstrip("\r\n"))
        lines.append("Content-Length: 0")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if got.transport == "udp":
            self.udp.sendto(data, got.src)
        else:
            got.conn.sendall(data)


def register_answer_headers(req, flow_timer=None, contact_expires=3600):
    """What an outbound-aware registrar puts in a 200 to `req` (RFC 5626)."""
    h = ["Path: " + p for p in req.rows("path")]
    h.append("Require: outbound")
    h.append("Supported: path, outbound")
    h.append("Contact: %s;expires=%d" % (req.get("contact"),
                                         contact_expires))
    if flow_timer is not None:
        h.append("Flow-Timer: %d" % flow_timer)
    return "\r\n".join(h)


def core_options(core_addr, route_uri):
    """An OPTIONS to an edge's core side over UDP, routed by `route_uri`,
    as a core element would send it; returns the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        s.sendto(("OPTIONS sip:alice@192.0.2.10 SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
                  "Route: <%s>\r\n"
                  "Max-Forwards: 70\r\n"
                  "From: <sip:core@example.com>;tag=c1\r\n"
                  "To: <sip:alice@example.com>\r\n"
                  "Call-ID: %s\r\n"
                  "CSeq: 1 OPTIONS\r\n"
                  "Content-Length: 0\r\n\r\n" % (
                      s.getsockname()[1], rand(8), route_uri,
                      rand(12))).encode(), core_addr)
        return SipMessage(s.recv(65535))
