"""The browser test's world, made once for the module: a network
namespace (netns.py), a test CA and EPSIP's certificate from it (pki.py),
EPSIP listening for WSS inside the namespace, and driver.mjs, which runs
chromium there with the two phones and plays the calls.  The tests then
judge what the driver reported (test_browser_phones.py).

Everything started here is stopped by PID and the namespace deleted,
whatever happened; the screenshots, the phones' SIP traces and EPSIP's
log stay in the results folder (EPSIP_BROWSER_RESULTS, default
build/test-browser)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from edge import Edge  # noqa: E402  (tests/integration)
import netns as netnsmod  # noqa: E402
from pki import TestCA  # noqa: E402

# Not test directories: install.sh's packages, the pages' sources.
collect_ignore_glob = ["node_modules", ".node_modules-*", "pages", "src"]

ADDRESS = netnsmod.ADDRESS
SIP_PORT = 5060
WSS_PORT = 443          # listen-wss's default port: wss:// without a port
STATS_PORT = 8060
ORIGIN_PORT = 8080      # the pages' HTTP server, on the namespace's loopback
ORIGIN = "http://127.0.0.1:%d" % ORIGIN_PORT
AORS = {"jssip": "sip:alice@example.com", "sipjs": "sip:bob@example.com"}
# The phones are digest users of the registrar (epsipctl user add): they
# come from 192.0.2.1, which `auth = protected` refuses without users.
PASSWORDS = {"jssip": "alice's browser secret", "sipjs": "bob-sipjs-pw"}
# Each library calls once, sends one BYE and receives one.
CALLS = [{"caller": "jssip", "callee": "sipjs", "hangup": "caller"},
         {"caller": "sipjs", "callee": "jssip", "hangup": "caller"}]
DRIVER_TIMEOUT = 90     # seconds; steps have 10 s each
STEP_TIMEOUT_MS = 10000
RESULTS = os.environ.get("EPSIP_BROWSER_RESULTS") or os.path.join(
    HERE, "..", "..", "build", "test-browser")


def chromium_path():
    return os.environ.get("EPSIP_CHROMIUM") or shutil.which("chromium") \
        or "/usr/bin/chromium"


class NsEdge(Edge):
    """Edge (tests/integration/edge.py) run inside the namespace:
    `ip netns exec` execs epsipd, so the PID is epsipd's; the stats
    endpoint is the namespace's loopback, asked from inside."""

    def __init__(self, ns, *args):
        super().__init__(*args, host=ADDRESS, port=SIP_PORT)
        self.ns = ns
        self.stats_port = STATS_PORT

    def spawn(self):
        cmd = self.ns.exec_prefix() + [
            os.path.join(self.bin_dir, "epsipd"),
            "--run-dir", self.run_dir, "--state-dir", self.state_dir,
            "--listen", "%s:%d" % self.sip_addr,
            "--stats", "127.0.0.1:%d" % self.stats_port,
            "--log-level", "debug"] + self.args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        return self

    def http(self, path):
        with self.ns.inside():
            return Edge.http(self, path)


class World:
    """What the driver reported, by kind: steps done, the step that failed,
    the /flows answers, the untrusted-certificate check, the phones'
    states, events and SIP traces at the end (or at the failure)."""

    def __init__(self):
        self.steps = {}
        self.failed = None
        self.flows = {}
        self.untrusted = None
        self.phones = {}
        self.screenshots = []
        self.lines = []

    def read(self, stdout):
        for line in stdout.splitlines():
            self.lines.append(line)
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "step" in o:
                self.steps[o["step"]] = o
            elif "failed" in o:
                self.failed = o
                self.phones = o.get("phones") or {}
            elif "flows" in o:
                self.flows[o["when"]] = o["flows"]
            elif "untrusted" in o:
                self.untrusted = o["untrusted"]
            elif "screenshot" in o:
                self.screenshots.append(o["screenshot"])
            elif "phones" in o:
                self.phones = o["phones"]

    def step(self, name):
        """The step's report; fails naming where the scenario stopped
        when the driver never got through it."""
        if name in self.steps:
            return self.steps[name]
        if self.failed is not None:
            error = self.failed["error"]
            if not error.startswith(self.failed["failed"]):
                error = "%s: %s" % (self.failed["failed"], error)
            pytest.fail("step %r not reached; the scenario stopped at %s"
                        % (name, error), pytrace=False)
        pytest.fail("step %r not reached; the driver said:\n%s"
                    % (name, "\n".join(self.lines[-20:])), pytrace=False)


def _add_users(edge):
    """The phones' users, with epsipctl, before the edge starts: it
    writes the registrar's database, no network needed."""
    for lib, aor in AORS.items():
        r = subprocess.run([os.path.join(edge.bin_dir, "epsipctl"),
                            "--state-dir", edge.state_dir, "user", "add",
                            aor[len("sip:"):]], input=PASSWORDS[lib] + "\n",
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr


def _stop_group(proc):
    """The driver runs in a process group of its own (its chromium too):
    end that group, by its id, if anything of it is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _save(name, text):
    with open(os.path.join(RESULTS, name), "w") as f:
        f.write(text)


def _save_traces(phones):
    for lib, p in phones.items():
        if not p or "trace" not in p:
            continue
        out = []
        for m in p["trace"]:
            out.append("---- %7.3f s %s\n%s" % (
                m["t"] / 1000.0, "sent" if m["dir"] == "out" else "received",
                m["text"].replace("\r\n", "\n")))
        _save("trace-%s.txt" % lib, "\n".join(out))
        _save("events-%s.json" % lib, json.dumps(p["events"], indent=1))


def _play(world, ns, tmp, homes, edge):
    cfg = {
        "chromium": chromium_path(),
        "home": homes[0],
        "untrustedHome": homes[1],
        "wss": "wss://%s" % ADDRESS,
        "originPort": ORIGIN_PORT,
        "statsPort": edge.stats_port,
        "aors": AORS,
        "passwords": PASSWORDS,
        "calls": CALLS,
        "work": tmp,
        "results": os.path.abspath(RESULTS),
        "stepTimeoutMs": STEP_TIMEOUT_MS,
    }
    path = os.path.join(tmp, "driver.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proc = subprocess.Popen(
        ns.exec_prefix() + ["node", os.path.join(HERE, "driver.mjs"), path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True, cwd=HERE)
    try:
        out, err = proc.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        out, err = proc.communicate()
        world.failed = {"failed": "the whole scenario", "error":
                        "driver.mjs still running after %d s" %
                        DRIVER_TIMEOUT}
    _stop_group(proc)               # chromium's helpers, if any outlived it
    world.read(out)
    _save("driver.log", out + ("\n---- stderr\n" + err if err else ""))
    if proc.returncode not in (0, None) and world.failed is None:
        world.failed = {"failed": "driver.mjs", "error": "exit %s: %s" % (
            proc.returncode, err.strip()[-2000:])}
    _save_traces(world.phones)


@pytest.fixture(scope="module")
def world():
    os.makedirs(RESULTS, exist_ok=True)
    for name in os.listdir(RESULTS):
        os.unlink(os.path.join(RESULTS, name))
    tmp = tempfile.mkdtemp(prefix="epsip-browser-")
    ns = netnsmod.Netns()
    edge = None
    w = World()
    try:
        ns.up()
        w.addresses = ns.addresses()
        ca = TestCA(tmp)
        chain, key = ca.server_cert(ADDRESS)
        homes = (ca.browser_home("home"),
                 ca.browser_home("home-untrusting", trust=False))
        # The default auth-algorithms: SHA-256, then MD5.  JsSIP and
        # SIP.js know only MD5 and keep only the last challenge of a
        # response (docs/security.md), which is MD5 here.
        edge = NsEdge(ns, "--listen-wss", "%s:%d" % (ADDRESS, WSS_PORT),
                      "--tls-cert", chain, "--tls-key", key,
                      "--ws-origin", ORIGIN)
        _add_users(edge)
        edge.start()
        _play(w, ns, tmp, homes, edge)
        yield w
    finally:
        left = []
        if edge is not None:
            if edge.proc is not None:
                left = edge.stop() or []
            try:
                _save("epsip.log", edge.logs())
            except OSError:
                pass
            edge.cleanup()
        ns.down()
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, "EPSIP processes left behind: %s" % left
        mine = [n for n in netnsmod.leftovers() if n == ns.name]
        assert not mine, "namespace left behind: %s" % mine


def pytest_collection_modifyitems(config, items):
    """run.sh sets EPSIP_BROWSER_SKIP to the reason the test cannot run
    on this machine (not root, no network namespaces): every test is then
    reported skipped with it."""
    why = os.environ.get("EPSIP_BROWSER_SKIP")
    if why:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=why))
