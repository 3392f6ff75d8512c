#!/usr/bin/python3
"""Side by side, in the same run: EPSIP and a Kamailio 5.6 edge + registrar
(bench/kamailio/edge.cfg + registrar.cfg), driven by sipp (issue 7 §5).

Part "register": sipp's plain REGISTER with RFC 5626 outbound
(bench/sipp/register_outbound.xml: +sip.instance, reg-id, Supported: path,
outbound; the 200 must carry Require: outbound, a Path URI with ;ob and a
Flow-Timer) from ONE UDP socket (-t u1) or over ONE TCP connection (-t t1),
--users users cycled from an injection file, one sipp per rate step of
--duration s.  Both systems run for the whole bench and the steps
interleave (system order alternating step by step), so both ramps see the
same minutes of a shared machine; each step starts once every system is
idle (below 10 % of a core, at most 20 s: one past its capacity works off
its backlog for seconds, and the next step is often the other system's).
A step "holds" when <= 0.1 % of its calls fail (anything but a checked
200), goodput (200 OK/s) >= 90 % of the offered rate and p99 <= 200 ms.  A system's ramp stops after --past steps
in a row that did not hold (the first and two more: one noisy
step on a shared machine does not end a ramp).

Part "calls": --phones sipp phones per system each register --phone-users
users over one TCP connection (bench/sipp/phone_register.xml) and answer,
with sipp's out-of-call scenario (phone_answer_ooc.xml), the INVITEs the
edge delivers over that connection; a sipp caller (caller.xml, one UDP
socket) on the core side sends INVITE -> 200 -> ACK -> BYE -> 200 to them,
ramping calls/s.  Core side: for EPSIP (embedded registrar) the edge's
listen address, which is also the home proxy; for Kamailio its registrar.
Held: the same rule; setup time = INVITE -> 200.

Latencies are sipp's own (-trace_rtt: every response time, in sipp's
millisecond clock); counts from its -trace_stat CSV.  CPU of the system
under test: /proc/PID/task/*/schedstat summed over every process (EPSIP:
epsipd and every descendant; Kamailio: each main process and its
workers), over the lifetime of the step's sipp; for EPSIP also thread
switches (schedstat run count).

Writes one JSON line per step and per ramp to --out, the gnuplot data and
PNGs (bench/sipp_plot.gp) into --dir.  Everything on 127.0.0.1; every
process started here is stopped by its PID; temp dirs removed.
"""
import argparse
import glob
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import kamailio  # noqa: E402  (tests/integration, via benchlib's path)

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCEN = os.path.join(HERE, "sipp")
KAMCFG = os.path.join(HERE, "kamailio")
HOLD_FAIL_PCT = 0.1
HOLD_GOODPUT = 0.90
HOLD_P99_MS = 200.0
SETUP_TARGET_MS = 50.0


# ---- systems under test ----

class Epsip:
    name = "epsip"

    def __init__(self, bin_dir):
        self.edge = benchlib.Edge(bin_dir, ["--domain", "example.com"])

    def start(self):
        self.edge.start()
        self.reg_addr = self.edge.sip_addr
        self.core_addr = self.edge.sip_addr
        return self

    def groups(self):
        return {"edge": benchlib.descendants(self.edge.proc.pid)}

    def alive(self):
        return self.edge.proc is not None and self.edge.proc.poll() is None

    def stop(self):
        try:
            if self.edge.proc is not None:
                self.edge.stop()
        finally:
            warn = benchlib.warn_lines(self.edge.logs())
            if warn:
                print("epsip log: %d warn/error lines, first: %s" % (
                    len(warn), warn[0]), file=sys.stderr)
            self.edge.cleanup()


class KamProc(kamailio.Kamailio):
    """tests/integration/kamailio.py's runner with another config and
    pre-processor defines (it copies kamailio.CFG at start())."""

    def __init__(self, cfg_src, port, defines):
        super().__init__(port=port)
        self.cfg_src = cfg_src
        self.defines = defines
        # Shared memory holds tm's transactions, which stay 5 s (wait
        # timer) after their final reply: with 256 MB the edge answered
        # "500 No error" after ~18,500 REGISTERs within a few seconds.
        self.shm_mb = 1024

    def _cmd(self, *extra):
        cmd = [kamailio.binary(), "-f", self.cfg, "-L", kamailio.MODULES_DIR,
               "-Y", self.run_dir, "-w", self.tmp,
               "-m", str(self.shm_mb), "-M", "8"]
        for k, v in self.defines.items():
            cmd += ["-A", "%s=%s" % (k, v)]
        return cmd + list(extra)

    def start(self, timeout=15.0):
        saved = kamailio.CFG
        kamailio.CFG = self.cfg_src
        try:
            return super().start(timeout)
        finally:
            kamailio.CFG = saved


class KamailioEdgeRegistrar:
    """Kamailio as edge (outbound + path + rr) in front of Kamailio as
    registrar (usrloc + registrar, Path, outbound): 2 UDP + 2 TCP workers
    each (children=2, tcp_children=2 in both configs)."""
    name = "kamailio"

    def start(self):
        rport = benchlib.free_port()
        eport = benchlib.free_port()
        self.reg = KamProc(os.path.join(KAMCFG, "registrar.cfg"), rport,
                           {"SIP_PORT": rport})
        self.edge = KamProc(os.path.join(KAMCFG, "edge.cfg"), eport,
                            {"EDGE_PORT": eport, "REG_PORT": rport})
        self.reg.start()
        try:
            self.edge.start()
        except BaseException:
            self.reg.stop()
            raise
        self.reg_addr = self.edge.addr
        self.core_addr = self.reg.addr
        return self

    def groups(self):
        return {"edge": self.edge.pids(), "registrar": self.reg.pids()}

    def alive(self):
        return all(k.proc is not None and k.proc.poll() is None
                   for k in (self.edge, self.reg))

    def stop(self):
        for k in (self.edge, self.reg):
            if k.proc is not None or k.tmp is not None:
                killed = k.stop()
                if killed:
                    print("kamailio: SIGKILL needed for %s" % killed,
                          file=sys.stderr)


def cpu_state(groups):
    return {g: {p: (benchlib.cpu_ns(p), benchlib.sched_slices(p))
                for p in pids} for g, pids in groups.items()}


def cpu_delta(s0, groups):
    """{group: (cpu ns, switches)} since s0, for the processes in s0 or
    now (a process that appeared meanwhile counts from 0)."""
    out = {}
    for g, pids in groups.items():
        ns = sw = 0
        for p in set(pids) | set(s0.get(g, {})):
            c0, w0 = s0.get(g, {}).get(p, (0, 0))
            ns += max(0, benchlib.cpu_ns(p) - c0)
            sw += max(0, benchlib.sched_slices(p) - w0)
        out[g] = (ns, sw)
    return out


SETTLE_IDLE_PCT = 10.0     # every system together, % of one core
SETTLE_LIMIT_S = 20.0


def all_groups(systems):
    return {"%s-%s" % (s.name, g): pids
            for s in systems for g, pids in s.groups().items()}


def settle(systems):
    """Wait (at most SETTLE_LIMIT_S) until every system under test is
    idle: a system past its capacity keeps working off its backlog for
    seconds after its sipp stopped, and the next step -- often the other
    system's -- would otherwise share the cores with it.  The seconds
    waited, and whether it got idle."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < SETTLE_LIMIT_S:
        groups = all_groups(systems)
        s0 = cpu_state(groups)
        time.sleep(0.5)
        busy = sum(ns for ns, _ in cpu_delta(s0, groups).values())
        if 100.0 * busy / 1e9 / 0.5 < SETTLE_IDLE_PCT:
            return round(time.monotonic() - t0, 1), True
    return round(time.monotonic() - t0, 1), False


# ---- sipp ----

class Sipp:
    """One sipp process in its own working directory, stopped by PID."""

    def __init__(self, wd, target, scenario, args, limit):
        self.wd = wd
        os.makedirs(wd, exist_ok=True)
        self.cmd = [SIPP, "%s:%d" % target, "-sf", scenario,
                    "-i", "127.0.0.1", "-p", str(benchlib.free_port()),
                    "-nostdin", "-timeout", str(int(limit)),
                    "-buff_size", str(4 << 20)] + args
        self.limit = limit
        self.proc = None

    def start(self):
        self.out = open(os.path.join(self.wd, "sipp.out"), "wb")
        self.proc = subprocess.Popen(self.cmd, cwd=self.wd,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self

    def wait(self, extra=5):
        try:
            return self.proc.wait(self.limit + extra)
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()     # this PID only
                self.proc.wait(5)
        self.out.close()

    def stats(self):
        """The last line of the -trace_stat CSV, as {column: value}."""
        path = os.path.join(self.wd, "stat.csv")
        try:
            with open(path) as f:
                lines = [ln.rstrip("\n") for ln in f if ln.strip()]
        except OSError:
            return {}
        if len(lines) < 2:
            return {}
        return dict(zip(lines[0].split(";"), lines[-1].split(";")))

    def rtts(self):
        """{rtd: [(t_done_ms, rtt_ms)]} from -trace_rtt."""
        out = {}
        for path in glob.glob(os.path.join(self.wd, "*_rtt.csv")):
            with open(path) as f:
                for ln in f:
                    p = ln.strip().split(";")
                    if len(p) != 3 or not p[2].isdigit():
                        continue
                    out.setdefault(int(p[2]), []).append(
                        (float(p[0]), float(p[1])))
        return out

    def unexpected(self):
        """{status or method: count} of the unexpected messages that
        failed calls (from -trace_err)."""
        out = {}
        try:
            with open(os.path.join(self.wd, "err.log"), "rb") as f:
                data = f.read(64 << 20)
        except OSError:
            return out
        for m in re.finditer(rb"unexpected message for Call-Id '[^']*': "
                             rb"while expecting '[^']*' \(index \d+\), "
                             rb"received '(SIP/2\.0 \d{3}|[A-Z]+)", data):
            k = m.group(1).decode()
            out[k] = out.get(k, 0) + 1
        return out

    def tail(self, n=600):
        try:
            with open(os.path.join(self.wd, "sipp.out"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


def pct(sorted_list, q):
    if not sorted_list:
        return None
    return sorted_list[min(len(sorted_list) - 1, int(len(sorted_list) * q))]


def num(stats, key):
    try:
        return int(float(stats.get(key, "0") or 0))
    except ValueError:
        return 0


def run_step(system, part, transport, rate, duration, wd, inf, bench_dir):
    n = max(1, int(round(rate * duration)))
    if part == "register":
        target, scen = system.reg_addr, "register_outbound.xml"
        tflag = "u1" if transport == "udp" else "t1"
    else:
        target, scen = system.core_addr, "caller.xml"
        tflag = "u1"
    args = ["-inf", inf, "-t", tflag, "-r", str(rate), "-rp", "1000",
            "-m", str(n), "-l", str(max(200, rate)),
            "-trace_stat", "-stf", "stat.csv", "-fd", "1",
            "-trace_rtt", "-rtt_freq", "1000",
            "-trace_err", "-error_file", "err.log",
            # Every wait for an answer ends after 5 s, also behind an
            # optional 100 (sipp arms a recv's own timeout="" only when
            # the call reaches that recv, not while it may still take the
            # optional ones before it).
            "-recv_timeout", "5000"]
    # A call fails 5 s after its last request at most (timeout="5000"):
    # sipp is done 10 s after the step, or stuck (seen over TCP when the
    # system stops reading): then it is stopped by PID.
    sp = Sipp(wd, target, os.path.join(SCEN, scen), args,
              limit=duration + 10)
    groups = system.groups()
    s0 = cpu_state(groups)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    sp.start()
    rc = sp.wait()
    wall = time.monotonic() - t0
    cpu = cpu_delta(s0, system.groups())
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    st = sp.stats()
    rt = sp.rtts()
    ok = num(st, "SuccessfulCall(C)")
    created = num(st, "TotalCallCreated")
    failed = num(st, "FailedCall(C)")
    not_ok = max(created - ok, failed, n - ok if rc is None else 0)
    setup = rt.get(1, [])
    lat = sorted(r for _, r in setup)
    if setup:
        t_first = min(t - r for t, r in setup)
        t_last = max(t for t, _ in setup)
        span = max((t_last - t_first) / 1000.0, ok / rate)
    else:
        span = duration
    goodput = ok / span if ok else 0.0
    fail_pct = 100.0 * not_ok / max(1, created or n)
    p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
    held = (ok > 0 and fail_pct <= HOLD_FAIL_PCT and
            goodput >= HOLD_GOODPUT * rate and p99 is not None and
            p99 <= HOLD_P99_MS)
    rec = {"bench": "sipp", "part": part, "system": system.name,
           "transport": transport, "rate": rate, "duration": duration,
           "calls": n, "created": created, "ok": ok, "failed": failed,
           "not_ok": not_ok, "fail_pct": round(fail_pct, 4),
           "attempted_per_s": round(created / span, 1) if created else 0,
           "goodput": round(goodput, 1), "p50_ms": p50, "p99_ms": p99,
           "max_ms": lat[-1] if lat else None,
           "held": held, "sipp_rc": rc, "sipp_wall_s": round(wall, 2),
           "sipp_cpu_s": round((ru1.ru_utime + ru1.ru_stime) -
                               (ru0.ru_utime + ru0.ru_stime), 2),
           "retransmissions": num(st, "Retransmissions(C)"),
           "failed_regexp": num(st, "FailedRegexpDoesntMatch(C)"),
           "failed_timeout": num(st, "FailedTimeoutOnRecv(C)"),
           "failed_unexpected": num(st, "FailedUnexpectedMessage(C)"),
           "failed_max_udp_retrans": num(st, "FailedMaxUDPRetrans(C)"),
           "loadavg_before": load0}
    if part == "calls":
        bye = sorted(r for _, r in rt.get(2, []))
        rec["bye_p99_ms"] = pct(bye, 0.99)
        rec["setup_target_met"] = bool(held and p99 is not None and
                                       p99 <= SETUP_TARGET_MS)
    for g, (ns, sw) in cpu.items():
        rec["cpu_pct_%s" % g] = round(100.0 * ns / 1e9 / wall, 1)
        rec["cpu_us_per_ok_%s" % g] = round(ns / 1e3 / ok, 1) if ok else None
        if system.name == "epsip":
            rec["switches_per_ok_%s" % g] = (round(sw / ok, 2) if ok
                                             else None)
    tot = sum(ns for ns, _ in cpu.values())
    rec["cpu_us_per_ok_total"] = round(tot / 1e3 / ok, 1) if ok else None
    rec["cpu_pct_total"] = round(100.0 * tot / 1e9 / wall, 1)
    if rc not in (0, 1):
        rec["sipp_tail"] = sp.tail()
    if rec["failed_unexpected"]:
        rec["unexpected"] = sp.unexpected()
    sp.stop()
    if not bench_dir.get("keep"):
        shutil.rmtree(wd, ignore_errors=True)
    return rec


# ---- phones (calls part) ----

def start_phones(system, nphones, per_phone, tmp, limit):
    phones = []
    for i in range(nphones):
        wd = os.path.join(tmp, "phone-%s-%d" % (system.name, i))
        os.makedirs(wd)
        inf = os.path.join(wd, "phones.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for j in range(per_phone):
                k = i * per_phone + j + 1
                f.write("p%06d;00000000-0000-1000-8000-1%011d\n" % (k, k))
        sp = Sipp(wd, system.reg_addr, os.path.join(SCEN, "phone_register.xml"),
                  ["-oocsf", os.path.join(SCEN, "phone_answer_ooc.xml"),
                   "-inf", inf, "-t", "t1", "-r", "1000", "-rp", "1000",
                   "-m", str(per_phone), "-d", str(int(limit * 1000)),
                   "-trace_logs", "-log_file", "phone.log"], limit)
        phones.append(sp.start())
    return phones


def phones_registered(phones):
    n = 0
    for sp in phones:
        try:
            with open(os.path.join(sp.wd, "phone.log")) as f:
                n += sum(1 for ln in f if "registered" in ln)
        except OSError:
            pass
    return n


# ---- ramps ----

def ramp(systems, part, transport, steps, duration, inf, tmp, out,
         past, deadline, keep, results):
    state = {s.name: {"bad_in_row": 0, "done": False, "held": None,
                      "held_setup50": None, "steps": 0}
             for s in systems}
    for i, rate in enumerate(steps):
        order = systems if i % 2 == 0 else list(reversed(systems))
        for s in order:
            st = state[s.name]
            if st["done"]:
                continue
            if time.monotonic() + duration + 10 > deadline:
                print("sipp bench: time limit, %s %s %s stops before %d/s"
                      % (part, transport, s.name, rate), file=sys.stderr)
                st["done"] = True
                st["cut_by_time_limit"] = True
                continue
            if not s.alive():
                print("sipp bench: %s is not running" % s.name,
                      file=sys.stderr)
                st["done"] = True
                st["died"] = True
                continue
            wd = os.path.join(tmp, "%s-%s-%s-%d" % (part, transport, s.name,
                                                   rate))
            settled, idle = settle(systems)
            rec = run_step(s, part, transport, rate, duration, wd, inf,
                           {"keep": keep})
            rec["settle_s"] = settled
            rec["started_idle"] = idle
            benchlib.emit(out, rec)
            results.append(rec)
            st["steps"] += 1
            if rec["held"]:
                st["bad_in_row"] = 0
                st["held"] = max(st["held"] or 0, rate)
                if rec.get("setup_target_met"):
                    st["held_setup50"] = max(st["held_setup50"] or 0, rate)
            else:
                st["bad_in_row"] += 1
                if st["bad_in_row"] >= past:
                    st["done"] = True
    for s in systems:
        st = state[s.name]
        rec = {"bench": "sipp-ramp", "part": part, "transport": transport,
               "system": s.name, "held_rate": st["held"] or 0,
               "steps_run": st["steps"],
               # held the last (highest) step: the ramp found no ceiling
               "held_top_step": bool(st["steps"] and st["held"] == steps[-1]),
               "cut_by_time_limit": bool(st.get("cut_by_time_limit")),
               "died": bool(st.get("died"))}
        if part == "calls":
            rec["held_rate_setup_p99_50ms"] = st["held_setup50"] or 0
        benchlib.emit(out, rec)
        results.append(rec)


def write_plot_data(results, d):
    for r in results:
        if r.get("bench") != "sipp":
            continue
        name = os.path.join(d, "sipp-%s-%s-%s.dat" % (
            r["part"], r["transport"], r["system"]))
        new = not os.path.exists(name)
        with open(name, "a") as f:
            if new:
                f.write("# offered/s goodput/s p99_ms fail_pct p50_ms\n")
            f.write("%s %s %s %s %s\n" % (
                r["rate"], r["goodput"],
                r["p99_ms"] if r["p99_ms"] is not None else "NaN",
                r["fail_pct"],
                r["p50_ms"] if r["p50_ms"] is not None else "NaN"))


def plot(d):
    gp = shutil.which("gnuplot")
    if not gp:
        print("sipp bench: gnuplot not installed, no plots",
              file=sys.stderr)
        return
    for part, tr in (("register", "udp"), ("register", "tcp"),
                     ("calls", "udp")):
        if not glob.glob(os.path.join(d, "sipp-%s-%s-*.dat" % (part, tr))):
            continue
        r = subprocess.run(
            [gp, "-e", "dir='%s'; part='%s'; tr='%s'" % (d, part, tr),
             os.path.join(HERE, "sipp_plot.gp")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            print("gnuplot: %s" % r.stdout.decode(errors="replace")[-800:],
                  file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", help="raw.jsonl to append to")
    ap.add_argument("--dir", required=True, help="results dir (plots)")
    ap.add_argument("--steps", default="1000,2000,3000,5000,7500,10000,"
                    "12500,15000,20000", help="REGISTER/s per step")
    ap.add_argument("--call-steps", default="250,500,1000,1500,2000,3000,"
                    "4000,5000,7500", help="calls/s per step")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--call-duration", type=float, default=10.0)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--phone-users", type=int, default=500)
    ap.add_argument("--past", type=int, default=3,
                    help="a ramp stops after this many steps in a row "
                    "that did not hold (3: the first one and two more)")
    ap.add_argument("--parts", default="register,calls")
    ap.add_argument("--transports", default="udp,tcp")
    ap.add_argument("--systems", default="epsip,kamailio")
    ap.add_argument("--limit", type=float, default=1500,
                    help="seconds for the whole bench (steps that would "
                    "end later are skipped)")
    ap.add_argument("--keep", action="store_true",
                    help="keep sipp's files of every step (in the temp "
                    "dir, printed)")
    a = ap.parse_args()
    benchlib.install_signal_handlers()
    deadline = time.monotonic() + a.limit
    if not os.access(SIPP, os.X_OK):
        raise SystemExit("sipp bench: sipp not installed "
                         "(apt-get install sip-tester)")
    names = a.systems.split(",")
    if "kamailio" in names and not kamailio.available():
        print("sipp bench: no Kamailio (%s): EPSIP alone" %
              kamailio.why_unavailable(), file=sys.stderr)
        names.remove("kamailio")
    os.makedirs(a.dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="epsip-sipp-bench-")
    systems, phones, results = [], [], []
    try:
        users = os.path.join(tmp, "users.csv")
        with open(users, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(1, a.users + 1):
                f.write("u%06d;00000000-0000-1000-8000-%012d\n" % (i, i))
        for n in names:
            s = Epsip(a.bin) if n == "epsip" else KamailioEdgeRegistrar()
            systems.append(s)   # stop() copes with a half start
            s.start()
        steps = [int(x) for x in a.steps.split(",") if x]
        if "register" in a.parts.split(","):
            for tr in a.transports.split(","):
                ramp(systems, "register", tr, steps, a.duration, users, tmp,
                     a.out, a.past, deadline, a.keep, results)
        if "calls" in a.parts.split(","):
            callees = os.path.join(tmp, "callees.csv")
            with open(callees, "w") as f:
                f.write("SEQUENTIAL\n")
                for k in range(1, a.phones * a.phone_users + 1):
                    f.write("p%06d\n" % k)
            left = max(60.0, deadline - time.monotonic())
            for s in systems:
                phones += start_phones(s, a.phones, a.phone_users, tmp,
                                       left + 30)
            want = a.phones * a.phone_users * len(systems)
            t_end = time.monotonic() + 60
            while phones_registered(phones) < want and \
                    time.monotonic() < t_end:
                time.sleep(0.5)
            got = phones_registered(phones)
            benchlib.emit(a.out, {"bench": "sipp-phones",
                                  "phones_per_system": a.phones,
                                  "users_per_phone": a.phone_users,
                                  "registered": got, "wanted": want})
            if got < want:
                print("sipp bench: only %d of %d phone users registered"
                      % (got, want), file=sys.stderr)
            ramp(systems, "calls", "udp",
                 [int(x) for x in a.call_steps.split(",") if x],
                 a.call_duration, callees, tmp, a.out, a.past, deadline,
                 a.keep, results)
    finally:
        for sp in phones:
            sp.stop()
        for s in systems:
            s.stop()
        if a.keep:
            print("sipp bench: files kept in %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    write_plot_data(results, a.dir)
    plot(a.dir)


if __name__ == "__main__":
    main()
