#!/usr/bin/python3
"""Shed, don't collapse (issue 7 §4): EPSIP's REGISTER goodput at twice the
rate it holds, over UDP, with bench/register_flood.c as the client.

One run = one fresh edge on its embedded defaults (`make run`).  A ramp of
--duration s steps finds the held rate with the rule of bench/sipp_bench.py
(<= 0.1 % of REGISTERs fail or time out -- a 503 is a failure here, as it is
to sipp --, goodput >= 90 % of the offered rate, p99 <= 200 ms); the ramp
stops after two steps in a row that do not hold.  Then the same edge is
offered twice the held rate for --overload-duration s, and the record says
what reached the phones: goodput (200 OK/s) as a share of the held rate
(target >= 90 %), the 503s, the time-outs, the admitted REGISTERs' p99, and
the edge's own counters of what it shed and where.

The client retransmits like a phone (0.5, 1, 2 s; gives up after 5 s), so a
request the edge neither answers nor sheds comes back and costs again.
Between steps the edge is left to go idle (< 10 % of a core).

Writes one JSON line per step and per run to --out; prints a summary with
the medians over --runs runs.  Every process started here is stopped by
PID; temporary directories are removed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

HOLD_FAIL_PCT = 0.1
HOLD_GOODPUT = 0.90
HOLD_P99_MS = 200.0
IDLE_PCT = 10.0
IDLE_LIMIT_S = 20.0
SHED_COUNTERS = ("overload.shed.early", "overload.shed", "overload.refused",
                 "udp.dropped.kernel", "udp.backpressure",
                 "ipc.offers_refused", "sip.in.retransmissions",
                 "udp.dropped.router_busy")


def edge_cpu_ns(edge):
    return sum(benchlib.cpu_ns(p) for p in edge.all_pids())


def settle(edge):
    """Seconds until the edge is idle (it may be working off a backlog)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < IDLE_LIMIT_S:
        c0 = edge_cpu_ns(edge)
        time.sleep(0.5)
        if 100.0 * (edge_cpu_ns(edge) - c0) / 0.5e9 < IDLE_PCT:
            break
    return round(time.monotonic() - t0, 1)


def totals(edge):
    return edge.stats().get("totals", {})


def flood(args, edge, rate, seconds):
    """One step: the client's record plus the edge's CPU and counters."""
    settled = settle(edge)
    before = totals(edge)
    c0, t0 = edge_cpu_ns(edge), time.monotonic()
    out = subprocess.run(
        [args.flood, "127.0.0.1", str(edge.port), str(rate), str(seconds),
         str(args.users), str(args.sockets)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=seconds + 60,
        check=True)
    wall = time.monotonic() - t0
    rec = json.loads(out.stdout)
    cpu = edge_cpu_ns(edge) - c0
    time.sleep(1.1)     # the services report their counters once a second
    after = totals(edge)
    rec.update({
        "settled_s": settled,
        "edge_cpu_pct": round(100.0 * cpu / 1e9 / wall, 1),
        "edge_us_per_ok": (round(cpu / 1e3 / rec["ok"], 1)
                           if rec["ok"] else None),
        "edge": {k: after.get(k, 0) - before.get(k, 0)
                 for k in SHED_COUNTERS},
    })
    bad = rec["failed"] + rec["timeout"] + rec["shed_503"]
    rec["fail_pct"] = round(100.0 * bad / max(1, rec["started"]), 3)
    rec["held"] = (rec["fail_pct"] <= HOLD_FAIL_PCT and
                   rec["ok_per_s"] >= HOLD_GOODPUT * rate and
                   rec["p99_ms"] <= HOLD_P99_MS)
    return rec


def one_run(args, run):
    edge = benchlib.Edge(args.bin).start()
    try:
        held, misses = 0, 0
        for rate in args.steps:
            rec = flood(args, edge, rate, args.duration)
            rec.update({"run": run, "kind": "ramp", "rate": rate})
            benchlib.emit(args.out, rec)
            if rec["held"]:
                held, misses = max(held, rate), 0
            else:
                misses += 1
                if misses == 2:
                    break
        result = {"run": run, "kind": "overload", "held_rate": held}
        if held:
            rate = 2 * held
            rec = flood(args, edge, rate, args.overload_duration)
            rec.update({"run": run, "kind": "step", "rate": rate})
            benchlib.emit(args.out, rec)
            result.update({
                "offered": rate,
                "ok_per_s": rec["ok_per_s"],
                "goodput_of_held": round(rec["ok_per_s"] / held, 3),
                "shed_503": rec["shed_503"],
                "timeout": rec["timeout"],
                "p99_ms": rec["p99_ms"],
                "edge_cpu_pct": rec["edge_cpu_pct"],
                "client_cpu_pct": rec["client_cpu_pct"],
                "client_kernel_drops": rec["client_kernel_drops"],
                "edge": rec["edge"],
            })
            # Back to the held rate: the edge recovers, nothing sticks.
            rec = flood(args, edge, held, args.duration)
            rec.update({"run": run, "kind": "after", "rate": held})
            benchlib.emit(args.out, rec)
            result["held_again_after"] = rec["held"]
        benchlib.emit(args.out, result)
        return result
    finally:
        edge.stop()
        edge.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--flood", default=None,
                    help="register_flood binary (default BIN/register_flood)")
    ap.add_argument("--steps", default="5000,10000,15000,20000,25000,30000")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--overload-duration", type=float, default=20.0)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--sockets", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.steps = [int(s) for s in args.steps.split(",")]
    args.flood = args.flood or os.path.join(args.bin, "register_flood")
    benchlib.install_signal_handlers()
    results = [one_run(args, r) for r in range(args.runs)]
    done = [r for r in results if r["held_rate"]]
    if not done:
        print("no run held any step")
        return 1
    med = {k: statistics.median(r[k] for r in done)
           for k in ("held_rate", "offered", "ok_per_s", "goodput_of_held",
                     "p99_ms", "edge_cpu_pct", "client_cpu_pct")}
    print("overload, median of %d runs: held %d/s; offered %d/s -> "
          "%.0f 200 OK/s = %.0f %% of held (target >= 90 %%), p99 %.1f ms; "
          "edge CPU %.0f %%, client CPU %.0f %%" % (
              len(done), med["held_rate"], med["offered"], med["ok_per_s"],
              100 * med["goodput_of_held"], med["p99_ms"],
              med["edge_cpu_pct"], med["client_cpu_pct"]))
    print("per run goodput of held: %s" % ", ".join(
        "%.0f %%" % (100 * r["goodput_of_held"]) for r in done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
