#!/usr/bin/python3
"""Markdown for bench/sipp_bench.py's records: sipp_summary.py RESULT_DIR

Also used by summarize.py (render()).  Ratios are EPSIP ÷ Kamailio from
the same run (the steps of both systems interleave).  CPU per operation
is compared at the highest offered rate that BOTH systems held (so that
neither number is inflated by a queue or deflated by idle time).
"""
import json
import os
import sys

ORDER = ("epsip", "kamailio")
# The parts of a run: (part, transport, its row in the held-rates table,
# the title of its section).
PARTS = (
    ("register", "udp", "REGISTER/s over UDP (u1)",
     "REGISTER, one UDP socket (sipp -t u1)"),
    ("register", "tcp", "REGISTER/s over TCP (t1)",
     "REGISTER, one TCP connection (sipp -t t1)"),
    ("calls", "udp", "calls/s to phones on TCP flows",
     "Calls: caller (UDP) on the core side → phones registered over TCP"),
)


def f(v, fmt="%.0f"):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return fmt % v


def ratio(a, b, fmt="%.2f"):
    if a is None or b is None or not b:
        return "-"
    return fmt % (float(a) / float(b))


def steps_of(recs, part, tr):
    return [r for r in recs if r.get("bench") == "sipp" and
            r["part"] == part and r["transport"] == tr]


def ramp_of(recs, part, tr, system):
    for r in recs:
        if (r.get("bench") == "sipp-ramp" and r["part"] == part and
                r["transport"] == tr and r["system"] == system):
            return r
    return None


def at(recs, system, rate):
    for r in recs:
        if r["system"] == system and r["rate"] == rate:
            return r
    return None


def common_held(steps):
    held = {}
    for r in steps:
        if r["held"]:
            held.setdefault(r["system"], set()).add(r["rate"])
    both = set.intersection(*held.values()) if len(held) == 2 else set()
    return max(both) if both else None


def step_table(steps, part):
    op = "call" if part == "calls" else "REGISTER"
    lat = "setup (INVITE→200)" if part == "calls" else "REGISTER→200"
    lines = ["| offered /s | system | goodput (200 OK/s) | fail %% | "
             "%s p50 ms | p99 ms | CPU µs/%s, system | edge | "
             "registrar | thread switches/%s (EPSIP) | CPU %% (1 core = 100) "
             "| sipp's CPU s | held | not OK: why |" % (lat, op, op),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(steps, key=lambda r: (r["rate"],
                                          ORDER.index(r["system"]))):
        reg = r.get("cpu_us_per_ok_registrar")
        lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | "
                     "%s | %s | %s | %s |" % (
                         r["rate"], r["system"], f(r["goodput"]),
                         f(r["fail_pct"], "%.2f"), f(r["p50_ms"]),
                         f(r["p99_ms"]), f(r["cpu_us_per_ok_total"]),
                         f(r.get("cpu_us_per_ok_edge")),
                         f(reg) if r["system"] == "kamailio" else
                         "(embedded)",
                         f(r.get("switches_per_ok_edge"), "%.1f"),
                         f(r["cpu_pct_total"]), f(r["sipp_cpu_s"], "%.1f"),
                         f(r["held"]), why(r)))
    return "\n".join(lines)


def why(r):
    """What the calls that did not end in a checked 200 met."""
    if not r["not_ok"]:
        return ""
    parts = ["%s ×%d" % (k.replace("SIP/2.0 ", ""), v)
             for k, v in sorted(r.get("unexpected", {}).items())]
    for key, name in (("failed_timeout", "no answer in 5 s"),
                      ("failed_regexp", "200 without outbound headers"),
                      ("failed_max_udp_retrans", "UDP retransmissions out")):
        if r.get(key):
            parts.append("%s ×%d" % (name, r[key]))
    rest = r["not_ok"] - r["failed"]
    if rest > 0:
        parts.append("unfinished when sipp was stopped ×%d" % rest)
    return ", ".join(parts)


def render(recs):
    out = []
    if not any(r.get("bench") == "sipp" for r in recs):
        return ""
    out.append("## sipp: EPSIP vs a Kamailio 5.6 edge + registrar "
               "(same run, steps interleaved)\n")
    out.append("A step holds when ≤ 0.1 % of calls fail, goodput ≥ 90 % of "
               "the offered rate and p99 ≤ 200 ms.  Latencies are sipp's "
               "(its clock counts whole milliseconds).  EPSIP: epsipd and "
               "every descendant, embedded registrar.  Kamailio: edge.cfg "
               "(outbound, path, rr; 2 UDP + 2 TCP workers) in front of "
               "registrar.cfg (usrloc, registrar; 2 UDP + 2 TCP workers); "
               "\"edge\" CPU is the Kamailio edge's processes, \"system\" "
               "adds the registrar's.\n")
    ph = [r for r in recs if r.get("bench") == "sipp-phones"]
    rows = []
    for part, tr, what, _ in PARTS:
        steps = steps_of(recs, part, tr)
        if not steps:
            continue
        e = ramp_of(recs, part, tr, "epsip")
        k = ramp_of(recs, part, tr, "kamailio")
        he = e["held_rate"] if e else None
        hk = k["held_rate"] if k else None
        top = [r for r in (e, k) if r and r.get("held_top_step")]
        rows.append("| held %s | %s%s | %s%s | %s%s |" % (
            what, "≥ " if e in top else "", f(he),
            "≥ " if k in top else "", f(hk),
            ratio(he, hk), " (a ramp held its top step)" if top else ""))
        if part == "calls":
            se = e.get("held_rate_setup_p99_50ms") if e else None
            sk = k.get("held_rate_setup_p99_50ms") if k else None
            rows.append("| held calls/s with setup p99 ≤ 50 ms | %s | %s | "
                        "%s |" % (f(se), f(sk), ratio(se, sk)))
        c = common_held(steps)
        if c is not None:
            re_, rk = at(steps, "epsip", c), at(steps, "kamailio", c)
            op = "call" if part == "calls" else "REGISTER"
            rows.append("| CPU µs per %s %s at %d/s: EPSIP ÷ Kamailio "
                        "edge | %s | %s | %s |" % (
                            op, tr.upper(), c, f(re_["cpu_us_per_ok_total"]),
                            f(rk.get("cpu_us_per_ok_edge")),
                            ratio(re_["cpu_us_per_ok_total"],
                                  rk.get("cpu_us_per_ok_edge"))))
            rows.append("| CPU µs per %s %s at %d/s: EPSIP ÷ Kamailio "
                        "edge + registrar | %s | %s | %s |" % (
                            op, tr.upper(), c, f(re_["cpu_us_per_ok_total"]),
                            f(rk["cpu_us_per_ok_total"]),
                            ratio(re_["cpu_us_per_ok_total"],
                                  rk["cpu_us_per_ok_total"])))
            rows.append("| p99 ms %s %s at %d/s | %s | %s | %s |" % (
                op, tr.upper(), c, f(re_["p99_ms"]), f(rk["p99_ms"]),
                ratio(re_["p99_ms"], rk["p99_ms"])))
    out.append("### Ratios, EPSIP ÷ Kamailio\n")
    out.append("| measure | EPSIP | Kamailio | EPSIP ÷ Kamailio |")
    out.append("|---|---|---|---|")
    out += rows
    out.append("")
    cut = [r for r in recs if r.get("bench") == "sipp-ramp" and
           (r.get("cut_by_time_limit") or r.get("died"))]
    for r in cut:
        out.append("- %s %s %s: %s\n" % (
            r["system"], r["part"], r["transport"],
            "stopped by the time limit" if r.get("cut_by_time_limit")
            else "system not running any more"))
    for part, tr, _, title in PARTS:
        steps = steps_of(recs, part, tr)
        if not steps:
            continue
        out.append("### %s\n" % title)
        if part == "calls" and ph:
            p = ph[-1]
            out.append("%d sipp phones per system, %d users each, one TCP "
                       "connection per phone (%d of %d users registered); "
                       "target: ≥ 1,500 calls/s with setup p99 ≤ 50 ms.\n"
                       % (p["phones_per_system"], p["users_per_phone"],
                          p["registered"], p["wanted"]))
        out.append(step_table(steps, part) + "\n")
        png = "sipp-%s-%s.png" % (part, tr)
        out.append("Plot: `%s`\n" % png)
    return "\n".join(out)


def main():
    d = sys.argv[1]
    recs = []
    with open(os.path.join(d, "raw.jsonl")) as fh:
        for line in fh:
            if line.strip():
                recs.append(json.loads(line))
    print(render(recs))


if __name__ == "__main__":
    main()
