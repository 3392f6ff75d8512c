"""EPSIP in front of a real Kamailio registrar over TLS (issue 11): the
`upstream` is sips:, the registrar-bridge's pool runs TLS and checks
Kamailio's certificate against tls-ca, and Kamailio reaches the phone
back over EPSIP's own TLS connection.

  phone --flow--> EPSIP ==TLS: REGISTER, Path(token;transport=tls;ob)==> Kamailio
  caller --INVITE--> Kamailio ==TLS, the same connection==> EPSIP --flow--> phone

Nothing listens for TLS on core-listen: EPSIP's Via towards a TLS upstream
carries `alias` (RFC 5923), and Kamailio, with tcp_accept_aliases, then
sends what is for core-listen (the Path, the Record-Route) over the
connection the REGISTER came on.

Kamailio is tests/kamailio/registrar.cfg with TLS added here (tls.so, a
TLS listener, tcp_accept_aliases) and one log line per REGISTER saying
the protocol it came over and its Path.  The certificates (a CA, and
Kamailio's for 127.0.0.1) are made here with the openssl command.
"""
import os
import pwd
import re
import shutil
import subprocess

import pytest

import kamailio
from edge import free_port, wait_for
from kamailio import Kamailio
from sip import Phone, uri_of
from test_kamailio_registrar import (DOMAIN, bindings, call, closing, final,
                                     is_method, reg_id_of)

__all__ = ["closing"]     # a fixture, used by name


def _why_unavailable():
    why = kamailio.why_unavailable()
    if why is None and not os.path.exists(
            os.path.join(kamailio.MODULES_DIR, "tls.so")):
        why = ("kamailio's tls.so missing in %s (apt-get install "
               "kamailio-tls-modules)" % kamailio.MODULES_DIR)
    if why is None and shutil.which("openssl") is None:
        why = "no openssl command to make the test certificates"
    return why


pytestmark = pytest.mark.skipif(_why_unavailable() is not None,
                                reason=_why_unavailable() or "")


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certificates(where):
    """ca.pem, and kamailio.pem/kamailio.key for IP:127.0.0.1 signed by
    it (ECDSA P-256).  Returns the CA's path."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=EPSIP test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", cwd=where)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "kamailio.key", "-out", "kamailio.csr",
             "-subj", "/CN=127.0.0.1", cwd=where)
    with open(os.path.join(where, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "kamailio.csr", "-CA", "ca.pem",
             "-CAkey", "ca.key", "-CAcreateserial", "-out", "kamailio.pem",
             "-days", "2", "-extfile", "ext.cnf", cwd=where)
    return os.path.join(where, "ca.pem")


TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %(dir)s/kamailio.pem
private_key = %(dir)s/kamailio.key

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


class TlsKamailio(Kamailio):
    """registrar.cfg with a TLS listener on tls_port, and a log line per
    REGISTER: "REGISTER over PROTO path=PATH"."""

    def __init__(self):
        super().__init__()
        self.tls_port = free_port()
        self.tls_addr = (self.host, self.tls_port)

    def prepare(self):
        super().prepare()
        make_certificates(self.tmp)
        with open(os.path.join(self.tmp, "tls.cfg"), "w") as f:
            f.write(TLS_CFG % {"dir": self.tmp})
        self._readable_after_setuid()
        with open(self.cfg) as f:
            cfg = f.read()
        tls = ("listen=tls:127.0.0.1:%d\n"
               "enable_tls=yes\n"
               "# RFC 5923: a Via with `alias` makes its connection the\n"
               "# one for its sent-by (EPSIP has no TLS listener there).\n"
               "tcp_accept_aliases=yes\n"
               "loadmodule \"tls.so\"\n"
               "modparam(\"tls\", \"config\", \"%s\")\n" % (
                   self.tls_port, os.path.join(self.tmp, "tls.cfg")))
        cfg = cfg.replace("children=2\n", "children=2\n" + tls, 1)
        cfg = cfg.replace(
            '\t\tsave("location");',
            '\t\txlog("L_INFO", "REGISTER over $proto path=$hdr(Path)\\n");\n'
            '\t\tsave("location");', 1)
        assert "enable_tls" in cfg and "REGISTER over" in cfg
        with open(self.cfg, "w") as f:
            f.write(cfg)

    def _readable_after_setuid(self):
        """As root Kamailio reads its certificate and key as nobody
        (kamailio.py): let it through the temp dir to those two."""
        if os.geteuid() != 0:
            return
        pw = pwd.getpwnam("nobody")
        os.chmod(self.tmp, 0o711)
        for name in ("kamailio.pem", "kamailio.key", "tls.cfg"):
            path = os.path.join(self.tmp, name)
            if os.path.exists(path):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def registers_seen(self):
        """(proto, path) of each REGISTER Kamailio saved, from its log."""
        return re.findall(r"REGISTER over (\w+) path=(.*)", self.log())


@pytest.fixture
def tls_kam(request):
    k = TlsKamailio().start()
    yield k
    killed = k.stop(timeout=10.0)
    if killed or getattr(request.node, "rep_call", None) is None or \
            request.node.rep_call.failed:
        print("---- kamailio log ----\n" + k.log()[-8000:])


def edge_before(make_edge, kam, ca, *args):
    core_port = free_port()
    edge = make_edge("--upstream", "sips:127.0.0.1:%d" % kam.tls_port,
                     "--tls-ca", ca,
                     "--core-listen", "127.0.0.1:%d" % core_port, *args)
    edge.core_port = core_port
    return edge


def test_register_goes_over_tls_and_the_call_comes_back_on_it(
        make_edge, tls_kam, closing):
    edge = edge_before(make_edge, tls_kam, os.path.join(tls_kam.tmp,
                                                         "ca.pem"))
    phone = Phone(edge, "tcp", user="alice", domain=DOMAIN)
    closing(phone)

    ok = phone.register(expires=600)
    assert ok is not None and ok.status == 200, ok
    # Kamailio got it over TLS, with our Path naming core-listen on TLS.
    seen = tls_kam.registers_seen()
    assert seen and seen[-1][0] == "tls", seen
    path = uri_of(seen[-1][1])
    assert "@127.0.0.1:%d;transport=tls;" % edge.core_port in path, path
    assert ";ob" in path
    assert uri_of(ok.get("path")) == path
    assert "outbound" in [t.strip().lower() for t in ok.all("require")]
    assert [reg_id_of(c) for c in bindings(tls_kam, "alice", closing)] \
        == [1]
    edge.wait_counter("upstream.connects", 1)

    # A call from Kamailio follows the Path over TLS: on our connection,
    # since nothing of Kamailio's may connect to core-listen.
    caller = Phone(tls_kam, "udp", user="bob", domain=DOMAIN)
    closing(caller)
    d = call(caller)
    inv = phone.recv(want=is_method("INVITE"))
    assert inv is not None, "the INVITE did not reach the phone's flow"
    rr = inv.all("record-route")
    assert "127.0.0.1:%d;transport=tls;" % edge.core_port in rr[1], rr
    phone.reply(inv, 180, "Ringing", to_tag="al1")
    assert caller.recv(want=lambda m: m.status == 180) is not None
    phone.reply(inv, 200, "OK", to_tag="al1")
    resp = final(caller, "INVITE")
    assert resp is not None and resp.status == 200, resp
    # In-dialog: the caller's ACK and the phone's BYE cross it too.
    caller.request("ACK", uri_of(resp.get("contact")), to=d["uri"],
                   call_id=d["call_id"], cseq=d["cseq"],
                   from_tag=d["from_tag"], to_tag="al1",
                   routes=list(reversed(resp.all("record-route"))))
    assert phone.recv(want=is_method("ACK")) is not None
    phone.request("BYE", uri_of(inv.get("contact")), to=caller.aor(),
                  call_id=d["call_id"], routes=rr, from_tag="al1",
                  to_tag=d["from_tag"])
    bye = caller.recv(want=is_method("BYE"))
    assert bye is not None, "the phone's BYE did not reach the caller"
    caller.reply(bye, 200, "OK")
    resp = final(phone, "BYE")
    assert resp is not None and resp.status == 200
    # Up to now: nothing of Kamailio's connected to core-listen.
    stats = edge.next_stats_round("registrar-bridge")
    assert edge.counter("core.connections.accepted", stats=stats) == 0
    assert edge.counter("core.requests.received", stats=stats) >= 2


def test_an_upstream_whose_certificate_tls_ca_does_not_vouch_for_gets_503(
        make_edge, tls_kam, closing, tmp_path):
    ca = make_certificates(str(tmp_path))       # a CA Kamailio's is not of
    edge = edge_before(make_edge, tls_kam, ca, "--upstream-timeout", "2")
    phone = Phone(edge, "tcp", user="alice", domain=DOMAIN)
    closing(phone)
    resp = phone.register(expires=600)
    assert resp is not None and resp.status == 503, resp
    assert not tls_kam.registers_seen()
    edge.wait_counter("upstream.connect_failures", 1)
    wait_for(lambda: "TLS: " in edge.logs(), timeout=3,
             what="the TLS reason in the log")
    line = [ln for ln in edge.logs().splitlines() if "TLS: " in ln][0]
    assert "certificate" in line or "issuer" in line, line
