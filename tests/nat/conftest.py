"""Fixtures for the NAT lab: namespaces, EPSIP on the public side, baresip
or linphonec behind the NAT, a packet capture on the public wire.  Everything a test
starts is stopped by PID and the namespaces are deleted, whatever happens."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from edge import Edge, wait_for  # noqa: E402  (tests/integration)
import lab as labmod  # noqa: E402

EDGE_PORT = 5060
EDGE_TLS_PORT = 5061
STATS_PORT = 8060
# Flow-Timer per lab: the phone pings every 0.8-1.0 x this, well inside the
# NAT's timeout for that transport (lab.NAT_TIMEOUT: udp 20 s, tcp and tls
# 30 s).
FLOW_TIMER = {"udp": 10, "tcp": 20, "tls": 20}
REGINT = 60


class NsEdge(Edge):
    """Edge (tests/integration/edge.py) run inside the lab's public
    namespace: `ip netns exec` execs epsipd, so the PID is epsipd's."""

    def __init__(self, lab, *args):
        self.lab = lab
        self.tmp = tempfile.mkdtemp(prefix="epsip-nat-")
        self.run_dir = os.path.join(self.tmp, "run")
        self.state_dir = os.path.join(self.tmp, "state")
        self.host = labmod.EDGE_IP
        self.port = EDGE_PORT
        self.stats_port = STATS_PORT
        self.sip_addr = (self.host, self.port)
        self.args = list(args)
        self.log_path = os.path.join(self.tmp, "epsip.log")
        self.proc = None

    def start(self):
        import edge as edgemod
        lab_prefix = self.lab.exec_prefix("public")
        cmd = lab_prefix + [
            os.path.join(edgemod.BIN, "epsipd"),
            "--run-dir", self.run_dir, "--state-dir", self.state_dir,
            "--listen", "%s:%d" % self.sip_addr,
            "--stats", "127.0.0.1:%d" % self.stats_port,
            "--log-level", "debug",
            # Phones register from documentation addresses behind a NAT,
            # not loopback: the lab is the open registrar auth = none is
            # for (docs/security.md).  A test's own flags come last.
            "--auth", "none"] + self.args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        wait_for(self.healthy, timeout=15, what="GET /health 200")
        return self

    def http(self, path):
        # urllib's socket is opened inside the public namespace.
        with self.lab.inside("public"):
            return Edge.http(self, path)


class Proc:
    """A background process inside a namespace, stopped by its PID."""

    def __init__(self, cmd, log_path, stdin=subprocess.DEVNULL, env=None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=stdin, env=env)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Baresip(Proc):
    """baresip 1.0 with the lab's config.  Over TLS (`cafile`: the PEM of
    the CA it trusts, sip_cafile) it connects to the edge's TLS port."""

    def __init__(self, lab, workdir, transport="udp", outbound=True,
                 cafile=None):
        self.dir = os.path.join(workdir, "baresip-" + transport)
        os.makedirs(self.dir)
        port = EDGE_TLS_PORT if transport == "tls" else EDGE_PORT
        subst = {"@SIP_LISTEN@": "%s:5060" % labmod.PHONE_IP,
                 "@TRANSPORT@": transport,
                 "@EDGE@": "%s:%d" % (labmod.EDGE_IP, port),
                 "@REGINT@": str(REGINT),
                 "@CAFILE@": ("sip_cafile\t\t%s" % cafile) if cafile
                 else "# no sip_cafile: not TLS"}
        src = os.path.join(HERE, "baresip")
        for name, dst in (("config", "config"),
                          ("accounts.outbound" if outbound else
                           "accounts.plain", "accounts")):
            with open(os.path.join(src, name)) as f:
                text = f.read()
            for k, v in subst.items():
                text = text.replace(k, v)
            with open(os.path.join(self.dir, dst), "w") as f:
                f.write(text)
        open(os.path.join(self.dir, "contacts"), "w").close()
        # -s: SIP trace on stdout; foreground, stdin /dev/null, no UI module.
        super().__init__(lab.exec_prefix("phone") + [
            "baresip", "-4", "-s", "-f", self.dir],
            os.path.join(workdir, "baresip-%s.log" % transport))

    def alive(self):
        return self.proc.poll() is None


# linphonec's keep-alive period per transport (ms): 0.8 x the lab's
# Flow-Timer, as RFC 5626 §4.4.1 asks, and well inside the NAT's timeout.
LINPHONE_KEEPALIVE_MS = {"udp": 8000, "tcp": 16000}


class Linphonec(Proc):
    """linphonec 5.x (-a: answers every call) with its own HOME.

    linphonec reads commands from stdin and quits at end of file, so stdin
    is a pipe the lab keeps open and never writes to; SIGTERM ends it.
    Its core does not start without a writable data directory
    ($HOME/.local/share/linphone: no transport is ever opened)."""

    def __init__(self, lab, workdir, transport="udp"):
        self.dir = os.path.join(workdir, "linphone-" + transport)
        os.makedirs(os.path.join(self.dir, ".local", "share", "linphone"))
        subst = {"@UDP_PORT@": "5060" if transport == "udp" else "0",
                 "@TCP_PORT@": "5060" if transport == "tcp" else "0",
                 "@TRANSPORT@": transport,
                 "@EDGE@": "%s:%d" % (labmod.EDGE_IP, EDGE_PORT),
                 "@KEEPALIVE_MS@": str(LINPHONE_KEEPALIVE_MS[transport]),
                 "@REGINT@": str(REGINT)}
        with open(os.path.join(HERE, "linphone", "linphonerc")) as f:
            text = f.read()
        for k, v in subst.items():
            text = text.replace(k, v)
        self.rc = os.path.join(self.dir, "linphonerc")
        with open(self.rc, "w") as f:
            f.write(text)
        self.sip_log = os.path.join(self.dir, "linphone.log")
        # libpulse makes /tmp/pulse-XXXX when there is no runtime dir:
        # give it one inside the phone's own, removed with it.
        runtime = os.path.join(self.dir, "run")
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        env = dict(os.environ, HOME=self.dir, XDG_RUNTIME_DIR=runtime)
        super().__init__(lab.exec_prefix("phone") + [
            "linphonec", "-c", self.rc, "-a", "-d", "6", "-l", self.sip_log],
            os.path.join(workdir, "linphonec-%s.log" % transport),
            stdin=subprocess.PIPE, env=env)

    def alive(self):
        return self.proc.poll() is None

    def sip_text(self):
        """liblinphone's own log (-d 6): every SIP message it sent or got."""
        try:
            with open(self.sip_log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


class Capture(Proc):
    """tcpdump -A of SIP on the public wire (outside the NAT), the edge's
    SIP port and its TLS port (ciphertext there: headers and flags are
    what a test can read).  quiet: -q, headers only, "UDP, length N" for
    every datagram however small (the SIP decoder prints no length)."""

    def __init__(self, lab, workdir, quiet=False):
        super().__init__(lab.exec_prefix("public") + [
            "tcpdump", "-l", "-n", "-q" if quiet else "-A", "-s0", "-U",
            "-i", lab.if_public, "port", str(EDGE_PORT), "or", "port",
            str(EDGE_TLS_PORT)],
            os.path.join(workdir, "headers.txt" if quiet else "capture.txt"))
        wait_for(lambda: "listening on" in self.text(), timeout=10,
                 what="tcpdump listening")

    def stop(self, sig=signal.SIGINT):
        time.sleep(0.3)  # let the last packets be written
        super().stop(sig)


class World:
    """One lab: namespaces, EPSIP on the public side, a capture of the
    public wire, and whatever phones a test starts.  close() stops them by
    PID (phones first, then the capture, then EPSIP) and deletes the
    namespaces, whatever failed on the way."""

    def __init__(self, flow_timer=FLOW_TIMER["udp"], tls=False):
        self.flow_timer = flow_timer
        self.tls = tls
        self.pki = None
        self.lab = labmod.Lab()
        self.workdir = tempfile.mkdtemp(prefix="epsip-nat-work-")
        self.edge = None
        self.capture = None
        self.procs = []
        self.sockets = []

    def start(self):
        try:
            self.lab.up()
            args = ["--flow-timer", str(self.flow_timer),
                    "--min-expires", "20", "--flow-grace", "5",
                    "--domain", "example.com"]
            if self.tls:
                # A test CA and a certificate for the edge's public
                # address (tests/integration/wsclient.py), on its own port.
                from wsclient import Pki
                pki_dir = os.path.join(self.workdir, "pki")
                os.makedirs(pki_dir)
                self.pki = Pki(pki_dir, ip=labmod.EDGE_IP)
                args += ["--listen-tls", "%s:%d" % (labmod.EDGE_IP,
                                                    EDGE_TLS_PORT),
                         "--tls-cert", self.pki.cert,
                         "--tls-key", self.pki.key]
            self.edge = NsEdge(self.lab, *args)
            self.edge.start()
            self.capture = Capture(self.lab, self.workdir)
        except BaseException:
            self.close(dump=True)
            raise
        return self

    def baresip(self, transport="udp", outbound=True, cafile=None):
        if transport == "tls" and cafile is None:
            cafile = self.pki.ca
        b = Baresip(self.lab, self.workdir, transport, outbound, cafile)
        self.procs.append(b)
        return b

    def quiet_capture(self):
        c = Capture(self.lab, self.workdir, quiet=True)
        self.procs.insert(0, c)         # stopped after the phones
        return c

    def linphonec(self, transport="udp"):
        p = Linphonec(self.lab, self.workdir, transport)
        self.procs.append(p)
        return p

    def phone(self, where, *args, **kw):
        """A sip.Phone (tests/integration) whose socket lives in `where`."""
        from sip import Phone
        with self.lab.inside(where):
            p = Phone(self.edge, *args, **kw)
        self.sockets.append(p)
        return p

    def close(self, dump=False):
        errors = []
        for p in self.sockets:
            p.close()
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep tearing down
                errors.append(repr(e))
        if self.capture is not None:
            self.capture.stop()
        leftover = []
        if self.edge is not None:
            try:
                leftover = self.edge.stop() or []
            except Exception as e:
                errors.append(repr(e))
        if dump:
            if self.edge is not None:
                print("---- epsip log ----\n%s" % self.edge.logs()[-8000:])
            for p in self.procs + ([self.capture] if self.capture else []):
                print("---- %s ----\n%s" % (p.log_path, p.text()[-8000:]))
                if isinstance(p, Linphonec):
                    print("---- %s ----\n%s" % (p.sip_log,
                                               p.sip_text()[-8000:]))
        self.lab.down()
        if self.edge is not None:
            self.edge.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)
        left_ns = [n for n in labmod.leftovers() if n in self.lab.ns.values()]
        assert not left_ns, "namespaces left behind: %s" % left_ns
        assert not leftover, "processes left behind: %s" % leftover
        assert not errors, errors


@pytest.fixture
def world(request):
    w = World().start()
    yield w
    rep = getattr(request.node, "rep_call", None)
    w.close(dump=rep is not None and rep.failed)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_collection_modifyitems(config, items):
    """run.sh sets EPSIP_NAT_SKIP to the reason the lab cannot run here
    (not root, no namespaces, a tool missing): every test is then
    reported skipped with it, so a run says what did not run."""
    why = os.environ.get("EPSIP_NAT_SKIP")
    if why:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=why))
