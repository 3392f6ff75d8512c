"""Start and stop a real EPSIP (epsipd and its services) for a test."""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("EPSIP_BIN", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin"))


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port free for both TCP and UDP on host, below the kernel's
    ephemeral range: a port from bind(0) is released before epsipd binds
    it, and with many sockets open (a bench next door, a CI box) an
    outgoing connection's ephemeral port can take it in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    top = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, top - 12000), top)
        try:
            with socket.socket(family, socket.SOCK_STREAM) as t, \
                    socket.socket(family, socket.SOCK_DGRAM) as u:
                t.bind((host, port))
                u.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


# LeakSanitizer's check at exit stops every thread with ptrace.  A
# process SIGKILLed in the middle of it (kill_hard(): the supervisor dies
# first, PDEATHSIG's SIGTERM starts a clean exit, then the SIGKILL lands)
# leaves only this line behind: the check never ran, nothing was found.
_TRACER_NOISE = re.compile(r"^==\d+==Unable to get registers from thread "
                           r"\d+\.$")


def _only_tracer_noise(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return bool(lines) and all(_TRACER_NOISE.match(l) for l in lines)


_LEAK_BLOCK = re.compile(r"^(Direct|Indirect) leak of .*?(?=^(?:Direct|Indirect) leak of |^SUMMARY|\Z)",
                         re.M | re.S)
_FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+\s+(?:in (\S+) )?\(?([^\s)]*)")


def _only_nng_teardown_cycle(text):
    """A LeakSanitizer report of nothing but blocks nng allocated itself,
    none leaked directly: nng 1.5.2 frees a socket closed while a peer's
    pipe is still negotiating on its listener and leaves the listener and
    that pipe pointing at each other (a service stopped within
    milliseconds of its start, or epsipd refusing to start).  The bug is
    nng's; a block EPSIP allocated, or anything leaked directly, still
    fails the test."""
    if "ERROR: LeakSanitizer" not in text or "ERROR: AddressSanitizer" in text:
        return False
    blocks = _LEAK_BLOCK.findall(text)
    bodies = [m.group(0) for m in _LEAK_BLOCK.finditer(text)]
    if not bodies or any(kind == "Direct" for kind in blocks):
        return False
    for body in bodies:
        frames = [_FRAME.match(l) for l in body.splitlines()[1:]]
        frames = [f for f in frames if f]
        # Frame #0 is the allocator's interceptor; #1 made the call.
        caller = next((f for f in frames if f.group(1) == "1"), None)
        if caller is None or "libnng.so" not in (caller.group(3) or ""):
            return False
    return True


# nng 1.5.2's own leak at shutdown (see the file).
LSAN_SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "..", "lsan.supp")


def executable(env, name):
    """A tool the tests drive: $env, else `name` on the PATH, else
    /usr/sbin/name, the first that can be run; None if none can."""
    for path in (os.environ.get(env), shutil.which(name),
                 os.path.join("/usr/sbin", name)):
        if path and os.access(path, os.X_OK):
            return path
    return None


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("timed out after %.0f s waiting for %s" % (timeout, what))


def http_get(port, path, timeout):
    """GET http://127.0.0.1:port/path: (status, body), or (None, b"") when
    nothing answers (bench/benchlib.py's Edge asks the same way)."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None, b""


class Edge:
    def __init__(self, *args, host="127.0.0.1", port=None, bin_dir=None,
                 log_level="debug", transports=(), pki=None):
        self.tmp = tempfile.mkdtemp(prefix="epsip-it-")
        self.run_dir = os.path.join(self.tmp, "run")
        self.state_dir = os.path.join(self.tmp, "state")
        self.port = port or free_port(host=host)
        # BIN read now: a test may point it elsewhere (monkeypatch).
        self.bin_dir = bin_dir or BIN
        self.stats_port = free_port()
        self.host = host
        self.sip_addr = (host, self.port)
        self.args = list(args)
        # Stream-only listeners: "tls", "ws", "wss" on ports of their own.
        self.addrs = {"udp": self.sip_addr, "tcp": self.sip_addr}
        for t in transports:
            self.addrs[t] = (host, free_port(host=host))
            self.args += ["--listen-" + t, ("[%s]:%d" if ":" in host else
                                            "%s:%d") % self.addrs[t]]
        self.pki = pki
        if pki is not None:
            self.args += ["--tls-cert", pki.cert, "--tls-key", pki.key]
        # None: no --log-level flag, the configuration file's applies.
        self.log_level = log_level
        self.log_path = os.path.join(self.tmp, "epsip.log")
        self.proc = None

    def start(self):
        self.spawn()
        wait_for(self.healthy, timeout=15, what="GET /health 200")
        return self

    def spawn(self):
        """Start epsipd and return at once, healthy or not."""
        cmd = [os.path.join(self.bin_dir, "epsipd"),
               "--run-dir", self.run_dir, "--state-dir", self.state_dir,
               "--listen", ("[%s]:%d" if ":" in self.host else "%s:%d") % (
                   self.host, self.port),
               "--stats", "127.0.0.1:%d" % self.stats_port,
               # A test plays many phones from one address, which the
               # per-source limits would call a flood; the tests of those
               # limits set them, and a test's flags come last and win.
               "--source-flow-rate", "0", "--source-request-rate", "0"] + (
                   ["--log-level", self.log_level] if self.log_level
                   else []) + self.args
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        # Sanitizer builds write reports here; the fixture fails on any.
        env["ASAN_OPTIONS"] = "log_path=%s:detect_leaks=1" % os.path.join(
            self.tmp, "sanitizer")
        env["UBSAN_OPTIONS"] = "log_path=%s:print_stacktrace=1" % (
            os.path.join(self.tmp, "sanitizer"))
        env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % (
            LSAN_SUPPRESSIONS)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=env)
        return self

    def wait_exit(self, timeout):
        """epsipd's exit status; fails if it is still running after
        `timeout` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("epsipd still running after %.0f s:\n%s"
                                 % (timeout, self.logs()[-3000:]))

    def last_log_line(self):
        lines = self.logs().splitlines()
        return lines[-1] if lines else ""

    def http(self, path):
        return http_get(self.stats_port, path, 2)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("epsipd exited %s:\n%s" % (
                self.proc.returncode, self.logs()[-3000:]))
        return self.http("/health")[0] == 200

    def stats(self):
        # A connection error or time-out (not an HTTP status) is asked
        # again: what is under test is the answer, not the machine's load.
        for _ in range(3):
            status, body = self.http("/stats")
            if status is not None:
                break
        assert status == 200, status
        return json.loads(body)

    def counter(self, name, service=None, stats=None):
        """A counter from /stats (or from `stats`, a document already
        fetched): the total over every process, or `service`'s own."""
        s = stats if stats is not None else self.stats()
        if service is None:
            return s.get("totals", {}).get(name, 0)
        return s["services"][service].get("counters", {}).get(name, 0)

    @staticmethod
    def _rounds(stats, service):
        """{instance: (pid, round)} of every process that has reported:
        each service (or only `service`), and a flow-manager's children."""
        out = {}
        for name, svc in stats.get("services", {}).items():
            if service is not None and name != service:
                continue
            out[name] = (svc.get("pid"), svc.get("round", 0))
            for child, c in svc.get("children", {}).items():
                if "round" in c:
                    out[child] = (c.get("pid"), c["round"])
        return out

    def next_stats_round(self, service=None, rounds=2, timeout=10):
        """Wait until every process of `service` (of every service when
        None; a flow-manager's children too) has sent `rounds` more STATS
        reports, and return that /stats document.  Use it, not a sleep,
        before asserting that a counter did NOT grow up to now.

        Processes report once a second and epsipd re-renders /stats once
        a second, so the document seen now may be a second old and the
        next report may be in flight: rounds are counted from the first
        rendering after the call (uptime_s has moved).  The first report
        after that rendering may have left before it; the second left a
        second later, after the call (an IPC hop takes far less).  A
        process that is gone or restarted meanwhile is not waited for."""
        seen = self.stats()["uptime_s"]

        def rendered_again():
            s = self.stats()
            return s if s["uptime_s"] != seen else None
        start = self._rounds(wait_for(rendered_again, timeout=timeout,
                                      what="/stats rendered again"), service)
        assert start, "no process of %s in /stats" % service

        def advanced():
            s = self.stats()
            now = self._rounds(s, service)
            for inst, (pid, n) in start.items():
                if inst in now and now[inst][0] == pid and \
                        now[inst][1] < n + rounds:
                    return None
            return s
        return wait_for(advanced, timeout=timeout, what="%d more stats "
                        "rounds of %s" % (rounds, service or "every service"))

    def wait_counter(self, name, at_least, service=None, timeout=5):
        return wait_for(lambda: self.counter(name, service) >= at_least,
                        timeout=timeout, what="%s >= %s" % (name, at_least))

    def counters_text(self):
        """Every service's non-zero counters, one per line, for a failed
        test's report (which hop lost a message, say); "" if unreachable."""
        if self.proc is None or self.proc.poll() is not None:
            return ""
        status, body = self.http("/stats")
        if status != 200:
            return ""
        lines = []
        for name, svc in sorted(json.loads(body).get("services",
                                                     {}).items()):
            for key, value in sorted(svc.get("counters", {}).items()):
                if value:
                    lines.append("%s %s %s" % (name, key, value))
        return "\n".join(lines)

    def service_pid(self, name):
        return self.stats()["services"][name]["pid"]

    def children(self):
        return self.stats()["services"]["flow-manager"].get("children", {})

    def sanitizer_reports(self):
        out = []
        for name in sorted(os.listdir(self.tmp)):
            if name.startswith("sanitizer."):
                with open(os.path.join(self.tmp, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                if not _only_tracer_noise(text) and \
                        not _only_nng_teardown_cycle(text):
                    # The head names the first (usually direct) leak or
                    # error; the tail has the summary.
                    if len(text) > 8000:
                        text = text[:5000] + "\n[...]\n" + text[-3000:]
                    out.append(name + ":\n" + text)
        return out

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def pids(self):
        """Every process of this edge: epsipd and its descendants."""
        return descendants(self.proc.pid)

    def stop(self, timeout=5.0):
        """SIGTERM epsipd; everything it started must be gone in 5 s."""
        if self.proc is None:
            return
        pids = self.pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait()
                raise AssertionError("epsipd did not stop within 5 s")
        deadline = time.monotonic() + 2
        alive = pids[1:]
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if os.path.exists("/proc/%d" % p)
                     and not _is_zombie(p)]
            time.sleep(0.05)
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        self.log.close()
        self.proc = None
        return alive

    def kill_hard(self):
        """SIGKILL every process at once: a crash, nobody says goodbye.
        Leaves first: a child whose parent died before it would get its
        PDEATHSIG SIGTERM and start a clean exit instead."""
        for pid in reversed(self.pids()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.log.close()
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def descendants(root):
    """`root` and every process below it (read from /proc)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                todo += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return out


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
