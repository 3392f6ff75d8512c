"""The client side of RFC 6455, just enough for a SIP phone over WebSocket
(RFC 7118) in the integration tests, and a test PKI for TLS and WSS.

Written here rather than taken from a library so that a test can send what
a library never would: unmasked frames, a wrong subprotocol, a frame over
the limit.  Frames it receives are parsed strictly: the server's must be
unmasked (RFC 6455 §5.1).
"""
import base64
import hashlib
import os
import ssl
import struct
import subprocess

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0, 1, 2
OP_CLOSE, OP_PING, OP_PONG = 8, 9, 10


def upgrade_request(host, key, protocol="sip", origin="http://127.0.0.1",
                    version="13", extra=""):
    lines = ["GET / HTTP/1.1", "Host: %s" % host, "Connection: Upgrade",
             "Upgrade: websocket", "Sec-WebSocket-Version: %s" % version,
             "Sec-WebSocket-Key: %s" % key,
             "Sec-WebSocket-Extensions: permessage-deflate; "
             "client_max_window_bits"]
    if origin:
        lines.append("Origin: %s" % origin)
    if protocol:
        lines.append("Sec-WebSocket-Protocol: %s" % protocol)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def expected_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def parse_http_response(data):
    """(status, {lowercase name: value}, rest) of an HTTP response, or None
    while its head is incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, data[end + 4:]


def frame(opcode, payload, fin=True, mask=True, rsv=0):
    """One client frame, masked unless told otherwise."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def parse_frames(buf):
    """([(fin, opcode, payload)], rest) of server frames in buf."""
    out = []
    while len(buf) >= 2:
        fin, opcode = buf[0] >> 7, buf[0] & 15
        if buf[1] & 0x80:
            raise AssertionError("a server frame is masked (RFC 6455 §5.1)")
        n, at = buf[1] & 127, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = struct.unpack(">Q", buf[2:10])[0], 10
        if len(buf) < at + n:
            break
        out.append((fin, opcode, buf[at:at + n]))
        buf = buf[at + n:]
    return out, buf


def close_code(payload):
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None


class Pki:
    """A test CA and a server certificate for 127.0.0.1 (ECDSA P-256), made
    with the openssl command in `directory`.  server.pem holds the leaf
    then the CA, as tls-cert wants it; a client trusts ca.pem only."""

    def __init__(self, directory, ip="127.0.0.1"):
        self.dir = directory
        self.ca = os.path.join(directory, "ca.pem")
        self.cert = os.path.join(directory, "server.pem")
        self.key = os.path.join(directory, "server.key")
        ca_key = os.path.join(directory, "ca.key")
        csr = os.path.join(directory, "server.csr")
        leaf = os.path.join(directory, "leaf.pem")
        ext = os.path.join(directory, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
                    % ip)

        def run(*args):
            subprocess.run(["openssl"] + list(args), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            ca_key)
        run("req", "-x509", "-new", "-key", ca_key, "-days", "2",
            "-subj", "/CN=EPSIP test CA", "-out", self.ca)
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            self.key)
        run("req", "-new", "-key", self.key, "-subj", "/CN=%s" % ip,
            "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", leaf)
        with open(self.cert, "w") as out:
            for part in (leaf, self.ca):
                with open(part) as f:
                    out.write(f.read())
        os.chmod(self.key, 0o600)

    def client_context(self):
        """Trusts the CA only, checks the server's IP, sends no SNI (an IP
        address), as a phone would."""
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx
