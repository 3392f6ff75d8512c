"""Shared helpers for the EPSIP benchmarks: start and stop a real edge,
and account for its processes (private memory, threads, CPU) in /proc;
the benches' common flags and how their load generators share out flows
and source addresses.

Everything is loopback only and bounded in time.  An Edge is always
stopped by PID with SIGTERM (SIGKILL, by recorded PID, only for what is
still alive after 10 s) and its temporary directory removed.
"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Interrupted(Exception):
    pass


def _raise_interrupted(signo, frame):
    # Once is enough: a second signal (timeout(1) also signals its process
    # group) must not abort the clean-up that the first one started.
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted("signal %d" % signo)


def install_signal_handlers():
    """SIGTERM/SIGINT/SIGHUP unwind through finally blocks (cleanup)."""
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _raise_interrupted)


def raise_nofile():
    """Raise this process's descriptor limit to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---- the command line ----

def round_args(ap):
    """--label and --round, which name a round of bench/run.sh, and --out,
    the JSONL file its record is appended to."""
    ap.add_argument("--label", default="")
    ap.add_argument("--round", type=int, default=0)
    ap.add_argument("--out")


def parse_round(ap, bench):
    """Parse the command line of a bench with round_args(), install the
    signal handlers; returns the arguments and the start of its record."""
    a = ap.parse_args()
    install_signal_handlers()
    return a, {"bench": bench, "label": a.label, "round": a.round}


# ---- spreading the load ----

def shares(n, parts):
    """n split over `parts` workers: shares that differ by one at most,
    the larger first."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


# connect() with IP_BIND_ADDRESS_NO_PORT picks the source port itself, by
# parity: first from one half of ip_local_port_range, then from the other.
# Every flow here goes to one destination, so each source address has at
# most one flow per port; when one half is nearly used up, every connect()
# walks that half, in the kernel (seen: 103 s of the generator's system CPU
# against 13 s user, connects stalling past ~5 x 14,000 flows).  Keeping a
# source address under half of one half keeps the walk short.
FLOWS_PER_SOURCE = 7000


def generator_args(ap, workers_default):
    """--workers and --sources of the many-flow generators (many_flows.py,
    soak.py); 0 lets the bench choose, as workers_default says."""
    ap.add_argument("--workers", type=int, default=0,
                    help="generator processes (0: %s)" % workers_default)
    ap.add_argument("--sources", type=int, default=0,
                    help="source addresses 127.0.0.2 .. (0: one per %d "
                    "flows: connect()'s port search slows past that)"
                    % FLOWS_PER_SOURCE)


def sources_for(flows):
    """How many source addresses `flows` flows want (FLOWS_PER_SOURCE)."""
    return max(1, -(-flows // FLOWS_PER_SOURCE))


def source_addresses(n):
    """The n generator source addresses: 127.0.0.2 .. 127.0.0.(n+1)."""
    return ["127.0.0.%d" % (2 + k) for k in range(n)]


# The integration tests' harness knows how to find ports, wait and ask
# the stats endpoint.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
from edge import free_port, http_get, wait_for  # noqa: E402,F401


# ---- what the clients send ----

_OUTBOUND_REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/{T} {host};branch=z9hG4bK{cid}{rport}\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:{user}@example.com>;tag=t{cid}\r\n"
    "To: <sip:{user}@example.com>\r\n"
    "Call-ID: {cid}\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "Supported: path, outbound\r\n"
    "Contact: <sip:{user}@{host}{tp};ob>;reg-id=1;"
    "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-{inst:012x}>\"\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n")


# The Contact's transport parameter.  JsSIP and SIP.js both say
# transport=ws, over WSS too.
_CONTACT_TRANSPORT = {"tcp": ";transport=tcp", "tls": ";transport=tls",
                      "ws": ";transport=ws", "wss": ";transport=ws"}


def outbound_register(transport, host, cid, user, inst, cseq=1):
    """An RFC 5626 outbound REGISTER (reg-id 1, +sip.instance from inst,
    Supported: path, outbound) from host ("ip:port") over transport
    ("udp", "tcp", "tls", "ws" or "wss"), as bytes.  A WebSocket phone
    looks like a browser's (RFC 7118 §5): an .invalid host in Via and
    Contact instead of host, and no rport."""
    ws = transport in ("ws", "wss")
    return _OUTBOUND_REGISTER.format(
        T=transport.upper(), host="%s.invalid" % user if ws else host,
        cid=cid, user=user, inst=inst, cseq=cseq,
        rport="" if ws else ";rport",
        tp=_CONTACT_TRANSPORT.get(transport, "")).encode()


# ---- /proc accounting ----

def _stat_fields(pid):
    """Fields of /proc/PID/stat after the comm, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()


def start_time(pid):
    f = _stat_fields(pid)
    return int(f[19]) if f else None


def process_table():
    """{pid: ppid} of every process on the machine (one pass over /proc)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = _stat_fields(int(name))
        if f and f[0] != "Z":
            out[int(name)] = int(f[1])
    return out


def descendants(root, table=None):
    """root and every live descendant, root first."""
    table = table if table is not None else process_table()
    kids = {}
    for pid, ppid in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid != root and pid not in table:
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def smaps_rollup(pid):
    """{'rss','pss','private'} in KiB (private = Private_Clean+Private_Dirty)."""
    rss = pss = priv = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "Rss":
                    rss = int(v.split()[0])
                elif k == "Pss":
                    pss = int(v.split()[0])
                elif k in ("Private_Clean", "Private_Dirty"):
                    priv += int(v.split()[0])
    except OSError:
        return None
    return {"rss": rss, "pss": pss, "private": priv}


def nthreads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def _schedstat(pid, field):
    """Sum of one /proc/PID/task/*/schedstat field over pid's threads."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[field])
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_ns(pid):
    """On-CPU nanoseconds of every live thread of pid (schedstat): exact,
    where the clock ticks of /proc/PID/stat round a short-lived child
    down to 0."""
    return _schedstat(pid, 0)


def account(pids):
    """Sum of private/rss/pss KiB, threads and processes over pids."""
    tot = {"processes": 0, "threads": 0, "private_kib": 0, "rss_kib": 0,
           "pss_kib": 0}
    for pid in pids:
        m = smaps_rollup(pid)
        if m is None:
            continue
        tot["processes"] += 1
        tot["threads"] += nthreads(pid)
        tot["private_kib"] += m["private"]
        tot["rss_kib"] += m["rss"]
        tot["pss_kib"] += m["pss"]
    return tot


def sched_slices(pid):
    """Times the threads of pid were scheduled in (schedstat field 3):
    a count of thread wake-ups / context switches."""
    return _schedstat(pid, 2)


def cpu_snapshot(pids):
    return {pid: cpu_ns(pid) for pid in pids}


def cpu_by_role(roles, ns0=None):
    """{role: CPU ns} now, minus ns0[pid] where known (new pids: all)."""
    out = {}
    for pid, role in roles.items():
        d = cpu_ns(pid) - (ns0 or {}).get(pid, 0)
        out[role] = out.get(role, 0) + max(0, d)
    return out


def meminfo():
    """System-wide Slab and MemAvailable (KiB) and TCP socket pages."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Slab", "MemAvailable", "SUnreclaim"):
                out[k] = int(v.split()[0])
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                out["tcp_inuse"] = int(w[w.index("inuse") + 1])
                out["tcp_mem_pages"] = int(w[w.index("mem") + 1])
    return out


def listen_drops():
    """System-wide TcpExt ListenOverflows and ListenDrops (SYNs or ACKs
    dropped because an accept queue was full)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for i in range(0, len(lines) - 1, 2):
        if lines[i].startswith("TcpExt:"):
            d = dict(zip(lines[i].split()[1:], lines[i + 1].split()[1:]))
            return {"ListenOverflows": int(d.get("ListenOverflows", 0)),
                    "ListenDrops": int(d.get("ListenDrops", 0))}
    return {}


def machine_threads():
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            n += nthreads(int(name))
    return n


# ---- the edge ----

class Edge:
    """A real epsipd with its services, in a private temporary directory."""

    def __init__(self, bin_dir, args=(), log_level="warn"):
        self.bin_dir = os.path.abspath(bin_dir)
        self.args = list(args)
        self.log_level = log_level
        self.tmp = None
        self.proc = None
        self.known = {}     # pid -> start time, for a last-resort SIGKILL

    def start(self, timeout=20):
        self.tmp = tempfile.mkdtemp(prefix="epsip-bench-")
        self.port = free_port()
        self.stats_port = free_port()
        self.sip_addr = ("127.0.0.1", self.port)
        self.log_path = os.path.join(self.tmp, "epsip.log")
        cmd = [os.path.join(self.bin_dir, "epsipd"),
               "--run-dir", os.path.join(self.tmp, "run"),
               "--state-dir", os.path.join(self.tmp, "state"),
               "--listen", "127.0.0.1:%d" % self.port,
               "--stats", "127.0.0.1:%d" % self.stats_port,
               "--log-level", self.log_level,
               # One load generator plays thousands of phones from a
               # handful of addresses: to the per-source limits it is a
               # flood (docs/security.md).  A run's own flags still win.
               "--source-flow-rate", "0", "--source-request-rate", "0",
               ] + self.args
        self.cmd = cmd
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        wait_for(self._healthy, timeout, what="GET /health 200")
        wait_for(lambda: self.fm_pid(), timeout, what="flow-manager pid")
        self.remember()
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise RuntimeError("epsipd exited %s:\n%s" % (
                self.proc.returncode, self.logs()[-3000:]))
        return self.http("/health")[0] == 200

    def http(self, path, timeout=5):
        return http_get(self.stats_port, path, timeout)

    def stats(self):
        status, body = self.http("/stats")
        if status != 200:
            return {}
        return json.loads(body)

    def fm_counter(self, name):
        s = self.stats()
        return s.get("services", {}).get("flow-manager", {}).get(
            "counters", {}).get(name)

    def fm_pid(self):
        try:
            return self.stats()["services"]["flow-manager"]["pid"]
        except (KeyError, TypeError):
            return None

    def remember(self):
        """Record every process of this edge (for the SIGKILL fallback)."""
        for pid in descendants(self.proc.pid):
            st = start_time(pid)
            if st is not None:
                self.known.setdefault(pid, st)

    def roles(self):
        """{pid: role} for every process: supervisor, the three services,
        fm-child for every descendant of the flow-manager parent."""
        st = self.stats().get("services", {})
        names = {v.get("pid"): k for k, v in st.items()}
        table = process_table()
        out = {}
        for pid in descendants(self.proc.pid, table):
            out[pid] = names.get(pid, "fm-child")
        out[self.proc.pid] = "supervisor"
        return out

    def fm_pids(self):
        return descendants(self.fm_pid())

    def all_pids(self):
        return descendants(self.proc.pid)

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=10.0):
        """SIGTERM epsipd by PID; returns seconds it took (None: killed)."""
        took = None
        if self.proc is not None:
            try:
                self.remember()
            except Exception:
                pass
            t0 = time.monotonic()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                    took = time.monotonic() - t0
                except subprocess.TimeoutExpired:
                    pass
            else:
                took = 0.0
            # Whatever is left of the processes we saw, and only those.
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                alive = [p for p, st in self.known.items()
                         if start_time(p) == st]
                if not alive:
                    break
                time.sleep(0.05)
            for pid, st in self.known.items():
                if start_time(pid) == st:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    took = None
            if self.proc.poll() is None:
                self.proc.wait(5)
            self.proc = None
        return took

    def cleanup(self):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def emit(path, record):
    """Print a record and append it as one JSON line to path (if given)."""
    line = json.dumps(record, sort_keys=True)
    print(line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def warn_lines(log):
    """The edge log's warn and error lines."""
    return [ln for ln in log.splitlines() if " warn " in ln or
            " error " in ln]


def finish_record(edge, rec):
    """Final counters, stop time and warnings into rec; returns the log."""
    # Services report once a second: let one more round arrive.
    time.sleep(1.1)
    rec["totals"] = {k: v for k, v in edge.stats().get("totals", {}).items()
                     if not k.startswith("bytes.")}
    rec["stop_s"] = edge.stop()
    log = edge.logs()
    rec["log_warn_lines"] = len(warn_lines(log))
    return log


def teardown(edge, workers):
    """Stop load workers and the edge, report its warnings, remove it."""
    for p, _ in workers:
        if p.is_alive():
            p.terminate()
            p.join(5)
    if edge.proc is not None:
        edge.stop()
    warn = warn_lines(edge.logs())
    if warn:
        print("edge log: %d warn/error lines, first: %s" % (
            len(warn), warn[0]), file=sys.stderr)
    edge.cleanup()
