"""Start and stop a real Kamailio 5.6 registrar (tests/kamailio/registrar.cfg)
for a test: a third-party home proxy with Path and outbound, to sit behind
EPSIP or to be driven directly by a test playing the edge.

    if not kamailio.available():
        pytest.skip(kamailio.why_unavailable())
    k = Kamailio().start()      # or Kamailio(port=5070); or `with Kamailio()`
    k.addr                      # ("127.0.0.1", port), UDP and TCP
    k.log()                     # its stderr so far (also after stop())
    k.stop()                    # SIGTERM by PID, SIGKILL if need be, rm tmp

start() copies the config into a temp dir of its own, checks it with
"kamailio -c", runs it in the foreground (-DD -E) with pid file, runtime
dir, working dir and log in that temp dir (so several can run at once),
as nobody when we are root, and returns once it answers an OPTIONS.
The config needs only the "kamailio" package: outbound.so is the edge's
half of RFC 5626 and is not loaded (see the config).
"""
import glob
import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from edge import descendants, executable, free_port, wait_for

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


class Kamailio:
    def __init__(self, port=None, host="127.0.0.1"):
        self.host = host
        self.port = port or free_port(host=host)
        self.addr = (host, self.port)
        self.sip_addr = self.addr       # so sip.Phone can use it as "edge"
        self.tmp = None
        self.proc = None
        self.pid = None
        self._last_log = ""
        self.shm_mb = 32        # a handful of tests; benches ask for more

    def _cmd(self, *extra):
        return [binary(), "-f", self.cfg, "-L", MODULES_DIR,
                "-A", "SIP_PORT=%d" % self.port,
                "-Y", self.run_dir, "-w", self.tmp,
                # Small memory pools: a registrar for a handful of tests.
                "-m", str(self.shm_mb), "-M", "4"] + list(extra)

    def start(self, timeout=10.0):
        self.tmp = tempfile.mkdtemp(prefix="epsip-kam-")
        self.run_dir = os.path.join(self.tmp, "run")
        os.mkdir(self.run_dir)
        self.cfg = os.path.join(self.tmp, "registrar.cfg")
        shutil.copyfile(CFG, self.cfg)
        self.log_path = os.path.join(self.tmp, "kamailio.log")
        self.pid_path = os.path.join(self.tmp, "kamailio.pid")
        check = subprocess.run(self._cmd("-c"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
        if check.returncode != 0:
            self.cleanup()
            raise AssertionError("kamailio -c failed:\n" + check.stdout.decode(
                "utf-8", "replace")[-4000:])
        with open(self.log_path, "ab") as log:
            # -DD: this process stays in the foreground as the main process
            # (it forks its workers), so SIGTERM to it stops them all.
            self.proc = subprocess.Popen(
                self._cmd("-DD", "-E", "-P", self.pid_path, *_drop_root()),
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        try:
            wait_for(self.answers_options, timeout=timeout,
                     what="kamailio to answer OPTIONS on %s:%d" % self.addr)
        except TimeoutError as e:
            self.stop()
            raise AssertionError("%s\n%s" % (e, self.log()[-4000:]))
        except BaseException:
            self.stop()
            raise
        return self

    def answers_options(self):
        if self.proc.poll() is not None:
            raise AssertionError("kamailio exited %s:\n%s" % (
                self.proc.returncode, self.log()[-4000:]))
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

    def log(self):
        """Kamailio's stderr so far (kept in memory once stop() removed the
        temp dir, so a failing test can still print it)."""
        if self.tmp is None:
            return self._last_log
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def pids(self):
        """The main process and its workers (only processes we started)."""
        return descendants(self.proc.pid) if self.proc is not None else []

    def stop(self, timeout=5.0, cleanup=True):
        """SIGTERM the main process (it stops its workers); SIGKILL whatever
        of ours is left after `timeout`; reap; remove the temp dir unless
        cleanup=False.  Returns the PIDs that needed SIGKILL (empty when
        the shutdown was clean)."""
        killed = []
        if self.proc is not None:
            pids = self.pids()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            # Workers may outlive the main process by a moment.  A PID is
            # ours only while its command line names our private cfg copy.
            deadline = time.monotonic() + 1.0
            alive = [p for p in pids if self._ours(p)]
            while alive and time.monotonic() < deadline:
                time.sleep(0.05)
                alive = [p for p in alive if self._ours(p)]
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            self.proc = None
        if cleanup:
            self.cleanup()
        return killed

    def _ours(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            return False
        return self.cfg.encode() in cmdline and _alive(pid)

    def cleanup(self):
        if self.tmp is not None:
            self._last_log = self.log()
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
