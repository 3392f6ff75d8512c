#!/usr/bin/python3
"""Summarize bench results: summarize.py RESULT_DIR > summary.md

Reads RESULT_DIR/raw.jsonl (one record per run, from flows.py and
register_rate.py) and prints Markdown tables of medians with [min-max]
over the runs of each label, and the paper/pooled ratios computed round by
round (both runs of a ratio come from the same round, minutes apart).
"""
import json
import os
import statistics
import sys


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def get(r, key):
    v = r
    for k in key.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def stat(recs, key, fmt="%.0f"):
    vals = [get(r, key) for r in recs]
    vals = [v for v in vals if isinstance(v, (int, float))]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return fmt % med
    return (fmt + " [" + fmt + "–" + fmt + "]") % (med, min(vals), max(vals))


def by_label(recs, bench):
    out = {}
    for r in recs:
        if r.get("bench") == bench:
            out.setdefault(r["label"], []).append(r)
    return out


def order(labels):
    def key(lbl):
        return (0 if "paper" in lbl else 1, len(lbl), lbl)
    return sorted(labels, key=key)


def flows_table(groups):
    cols = [
        ("runs", None, None),
        ("flows/child", "flows_per_child", "%d"),
        ("flows asked", "flows", "%d"),
        ("flows held (pong)", "ponged", "%d"),
        ("flows.open.tcp", "flows_open_tcp", "%d"),
        ("private KiB/flow (fm)", "fm_private_kib_per_flow", "%.2f"),
        ("private KiB/flow (edge)", "edge_private_kib_per_flow", "%.2f"),
        ("MemAvailable KiB/flow (system)", "system_memavailable_kib_per_flow",
         "%.1f"),
        ("processes/flow", "fm_processes_per_flow", "%.4f"),
        ("threads/flow", "fm_threads_per_flow", "%.4f"),
        ("fm processes", "fm_after.processes", "%d"),
        ("fm threads", "fm_after.threads", "%d"),
        ("max fds in a child", "fm_after.fds_max_child", "%d"),
        ("flows accepted/s", "flows_per_s", "%.0f"),
        ("edge CPU µs per flow opened", "edge_cpu_us_per_flow_open", "%.0f"),
        ("listen queue overflows (TcpExt, system)", "listen_overflows",
         "%d"),
        ("connect→pong p50 ms", "lat_p50_ms", "%.1f"),
        ("connect→pong p99 ms", "lat_p99_ms", "%.1f"),
        ("connect→pong max ms", "lat_max_ms", "%.1f"),
        ("idle CPU % (edge, flows held)", "edge_cpu_pct_idle_flows", "%.2f"),
        ("teardown s", "teardown_s", "%.1f"),
        ("ipc.send_dropped after close (failed nng sends)",
         "totals:ipc.send_dropped", "%d"),
        ("FLOW_CLOSED lost (log lines / router.flow_closed_dropped)",
         "lost_flow_closed", "%d"),
    ]
    labels = order(groups)
    lines = ["| measure | " + " | ".join(labels) + " |",
             "|---|" + "---|" * len(labels)]
    for name, key, fmt in cols:
        row = []
        for lbl in labels:
            rs = groups[lbl]
            if key is None:
                row.append(str(len(rs)))
            elif key.startswith("totals:"):
                # the totals dict has dotted keys
                vals = [r.get("totals", {}).get(key[7:], 0) for r in rs]
                row.append(stat([{"v": v} for v in vals], "v", fmt))
            elif key == "lost_flow_closed":
                # Before router_link.c every failed send was a lost
                # FLOW_CLOSED (logged); since, only the counter says so.
                vals = [r.get("log_flow_closed_not_queued", 0) +
                        r.get("totals", {}).get(
                            "router.flow_closed_dropped", 0) for r in rs]
                row.append(stat([{"v": v} for v in vals], "v", fmt))
            else:
                row.append(stat(rs, key, fmt))
        lines.append("| %s | %s |" % (name, " | ".join(row)))
    return "\n".join(lines)


def register_table(groups):
    labels = order(groups)
    lines = ["| run | runs | flows × window | 200 OK/s | edge CPU µs/REGISTER"
             " | child | fm parent | router | bridge | thread switches/REGISTER"
             " | latency p50 ms"
             " | p99 ms | lost | non-200 | edge CPU % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lbl in labels:
        rs = groups[lbl]
        non200 = [{"v": sum(v for k, v in r.get("statuses", {}).items()
                            if k != "200")} for r in rs]
        lines.append("| %s | %d | %d × %d | %s | %s | %s | %s | %s | %s"
                     " | %s | %s"
                     " | %s | %s | %s | %s |" % (
                         lbl, len(rs), rs[0]["flows"], rs[0]["window"],
                         stat(rs, "ok_per_s"),
                         stat(rs, "edge_cpu_us_per_register"),
                         stat(rs, "edge_cpu_us_per_register_by_process."
                              "fm-child"),
                         stat(rs, "edge_cpu_us_per_register_by_process."
                              "flow-manager"),
                         stat(rs, "edge_cpu_us_per_register_by_process."
                              "sip-router"),
                         stat(rs, "edge_cpu_us_per_register_by_process."
                              "registrar-bridge"),
                         stat(rs, "edge_switches_per_register", "%.1f"),
                         stat(rs, "lat_p50_ms", "%.2f"),
                         stat(rs, "lat_p99_ms", "%.2f"),
                         stat(rs, "lost"), stat(non200, "v"),
                         stat(rs, "edge_cpu_pct")))
    return "\n".join(lines)


def ratios(recs, pairs, title="paper ÷ pooled"):
    """Median [min-max] over rounds of a/b for each (name, a, b, metric)."""
    lines = ["| ratio %s (same round) | rounds | median "
             "[min–max] |" % title, "|---|---|---|"]
    for name, lp, lq, key in pairs:
        byround = {}
        for r in recs:
            if r.get("label") in (lp, lq):
                byround.setdefault(r.get("round"), {})[r["label"]] = r
        vals = []
        for rnd, d in sorted(byround.items()):
            if lp in d and lq in d:
                a, b = get(d[lp], key), get(d[lq], key)
                if isinstance(a, (int, float)) and isinstance(
                        b, (int, float)) and b:
                    vals.append(a / b)
        if vals:
            lines.append("| %s (%s ÷ %s) | %d | %s |" % (
                name, lp, lq, len(vals), "%.2f [%.2f–%.2f]" % (
                    statistics.median(vals), min(vals), max(vals))))
    return "\n".join(lines)


def main():
    d = sys.argv[1]
    recs = load(os.path.join(d, "raw.jsonl"))
    print("# EPSIP bench summary (%s)\n" % os.path.basename(d.rstrip("/")))
    try:
        with open(os.path.join(d, "machine.txt")) as f:
            print("```\n" + f.read().rstrip() + "\n```\n")
    except OSError:
        pass
    print("Medians over runs, [min–max] where more than one run.\n")
    fl = by_label(recs, "flows")
    if fl:
        print("## Flows (TCP, CRLF ping answered by a child)\n")
        print(flows_table(fl) + "\n")
    rg = by_label(recs, "register")
    if rg:
        print("## REGISTER through the edge (embedded registrar, or Kamailio for up-*-kamailio-*)\n")
        print("CPU columns: µs of CPU per 200 OK in each kind of process.\n")
        print(register_table(rg) + "\n")
    cb = by_label(recs, "closed_burst")
    if cb:
        print("## Many flows ending at once (FLOW_CLOSED to the registrar)\n")
        print("| run | flows (each with a binding) | how | failed nng "
              "sends (ipc.send_dropped) | FLOW_CLOSED lost | bindings left "
              "for dead flows (3 s later) |")
        print("|---|---|---|---|---|---|")
        for lbl in sorted(cb):
            for r in cb[lbl]:
                print("| %s | %d | %s | %d | %d | %s of %s |" % (
                    lbl, r["flows"], r["how"], r["ipc_send_dropped"],
                    r.get("log_flow_closed_not_queued", 0) +
                    (r.get("router_flow_closed_dropped") or 0),
                    r["registrations_after"], r["registrations_before"]))
        print()
    paper = [l for l in fl if l.startswith("paper-")]
    pooled = [l for l in fl if l.startswith("pooled4096-") and
              l.split("-")[1] == (paper[0].split("-")[1] if paper else "")]
    pairs = []
    if paper and pooled:
        p, q = paper[0], pooled[0]
        pairs += [
            ("private KiB per flow", p, q, "fm_private_kib_per_flow"),
            ("flows accepted/s", p, q, "flows_per_s"),
            ("edge CPU per flow opened", p, q, "edge_cpu_us_per_flow_open"),
            ("idle CPU with flows held", p, q, "edge_cpu_pct_idle_flows"),
        ]
    for t in ("udp", "tcp"):
        pairs += [("REGISTER 200 OK/s %s" % t, "reg-%s-paper" % t,
                   "reg-%s-pooled4096" % t, "ok_per_s"),
                  ("edge CPU per REGISTER %s" % t, "reg-%s-paper" % t,
                   "reg-%s-pooled4096" % t, "edge_cpu_us_per_register"),
                  ("unloaded REGISTER latency %s" % t, "lat-%s-paper" % t,
                   "lat-%s-pooled4096" % t, "lat_p50_ms")]
    if pairs and any(r.get("label", "").startswith(("paper", "reg-"))
                     for r in recs):
        print("## Paper vs pooled, round by round\n")
        print(ratios(recs, pairs) + "\n")
    up = []
    for t in ("udp", "tcp"):
        a, b = "up-%s-kamailio-%s" % (t, t), "up-%s-embedded" % t
        up += [("REGISTER 200 OK/s %s" % t, a, b, "ok_per_s"),
               ("edge CPU per REGISTER %s" % t, a, b,
                "edge_cpu_us_per_register"),
               ("latency p50 %s" % t, a, b, "lat_p50_ms")]
    if any(r.get("label", "").startswith("up-") for r in recs):
        print("## In front of Kamailio vs embedded registrar, round by "
              "round\n")
        print(ratios(recs, up, "Kamailio upstream ÷ embedded") + "\n")
    # bench/sipp_bench.py's records: EPSIP vs a Kamailio edge + registrar.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sipp_summary  # noqa: E402
    print(sipp_summary.render(recs))


if __name__ == "__main__":
    main()
