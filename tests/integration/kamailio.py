"""Start and stop a real Kamailio 5.6 registrar (tests/kamailio/registrar.cfg)
for a test: a third-party home proxy with Path and outbound, to sit behind
EPSIP or to be driven directly by a test playing the edge.

    if not kamailio.available():
        pytest.skip(kamailio.why_unavailable())
    k = Kamailio().start()      # or Kamailio(port=5070); or `with Kamailio()`
    k.addr                      # ("127.0.0.1", port), UDP and TCP
    k.log()                     # its stderr so far (also after stop())
    k.stop()                    # SIGTERM by PID, SIGKILL if need be, rm tmp

start() (daemon.py) copies the config into a temp dir of its own, checks
it with "kamailio -c", runs it in the foreground (-DD -E) with pid file,
runtime dir, working dir and log in that temp dir (so several can run at
once), as nobody when we are root, and returns once it answers an
OPTIONS.
The config needs only the "kamailio" package: outbound.so is the edge's
half of RFC 5626 and is not loaded (see the config).
"""
import glob
import os
import pwd
import re
import select
import shutil
import socket
import time

from daemon import Daemon
from edge import executable, free_port

CFG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                   "kamailio", "registrar.cfg")
MODULES_DIR = os.environ.get("KAMAILIO_MODULES") or next(iter(
    glob.glob("/usr/lib/*/kamailio/modules") +
    glob.glob("/usr/lib*/kamailio/modules")), "/usr/lib/kamailio/modules")


def binary():
    """The kamailio executable ($KAMAILIO_BIN, else PATH, else /usr/sbin),
    or None."""
    return executable("KAMAILIO_BIN", "kamailio")


def _modules():
    """The modules the config loads."""
    with open(CFG) as f:
        return re.findall(r'^\s*loadmodule\s+"([^"]+)"', f.read(), re.M)


def why_unavailable():
    """None when Kamailio and every module the config loads are installed,
    else the reason, for pytest.skip()."""
    if binary() is None:
        return "kamailio not installed (apt-get install kamailio)"
    missing = [m for m in _modules()
               if not os.path.exists(os.path.join(MODULES_DIR, m))]
    if missing:
        return "kamailio modules missing in %s: %s" % (
            MODULES_DIR, ", ".join(missing))
    return None


def available():
    return why_unavailable() is None


def _drop_root():
    """As root, have Kamailio switch to nobody once its sockets are bound
    (its files are all in our temp dir, created before the switch)."""
    if os.geteuid() != 0:
        return []
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        return []
    return ["-u", str(pw.pw_uid), "-g", str(pw.pw_gid)]


class Kamailio(Daemon):
    name = "kamailio"
    tmp_prefix = "epsip-kam-"

    def __init__(self, port=None, host="127.0.0.1"):
        super().__init__()
        self.host = host
        self.port = port or free_port(host=host)
        self.addr = (host, self.port)
        self.sip_addr = self.addr       # so sip.Phone can use it as "edge"
        self.shm_mb = 32        # a handful of tests; benches ask for more

    def _cmd(self, *extra):
        return [binary(), "-f", self.cfg, "-L", MODULES_DIR,
                "-A", "SIP_PORT=%d" % self.port,
                "-Y", self.run_dir, "-w", self.tmp,
                # Small memory pools: a registrar for a handful of tests.
                "-m", str(self.shm_mb), "-M", "4"] + list(extra)

    def prepare(self):
        self.run_dir = os.path.join(self.tmp, "run")
        os.mkdir(self.run_dir)
        self.cfg = os.path.join(self.tmp, "registrar.cfg")
        shutil.copyfile(CFG, self.cfg)
        self.pid_path = os.path.join(self.tmp, "kamailio.pid")

    def check_cmd(self):
        return self._cmd("-c")

    def run_cmd(self):
        # -DD: this process stays in the foreground as the main process
        # (it forks its workers), so SIGTERM to it stops them all.
        return self._cmd("-DD", "-E", "-P", self.pid_path, *_drop_root())

    def up_what(self):
        return "kamailio to answer OPTIONS on %s:%d" % self.addr

    def is_up(self):
        """It answers an OPTIONS with 200."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((self.host, 0))
            port = s.getsockname()[1]
            msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKprobe%d;rport\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: <sip:probe@%s>;tag=probe\r\n"
                   "To: <sip:%s:%d>\r\n"
                   "Call-ID: probe-%d-%f\r\n"
                   "CSeq: 1 OPTIONS\r\n"
                   "Content-Length: 0\r\n\r\n") % (
                self.host, self.port, self.host, port, port, self.host,
                self.host, self.port, port, time.monotonic())
            s.sendto(msg.encode(), self.addr)
            r, _, _ = select.select([s], [], [], 0.3)
            if not r:
                return False
            return s.recv(65535).startswith(b"SIP/2.0 200 ")
