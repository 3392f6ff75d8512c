#!/usr/bin/python3
"""Many flows ending at once: does every FLOW_CLOSED reach the registrar?

One run = one fresh pooled edge.  K TCP flows each register one AoR
(outbound REGISTER, 200 OK), so the embedded registrar holds K bindings
that name those flows.  Then all K flows end at once, either
  --how rst:   the clients reset every connection, or
  --how crash: the flow-manager child that owns them is SIGKILLed
and 3 s later we read the edge's counters: ipc.send_dropped, how many
FLOW_CLOSED the log says were not queued, and registrations.active (the
bindings the registrar still holds for flows that no longer exist).
"""
import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import register_rate  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--flows", type=int, default=3000)
    ap.add_argument("--flows-per-child", type=int, default=4096)
    ap.add_argument("--how", choices=("rst", "crash"), required=True)
    ap.add_argument("--src-base", type=int, default=100)
    benchlib.round_args(ap)
    a, rec = benchlib.parse_round(ap, "closed_burst")
    rec.update({"flows": a.flows, "flows_per_child": a.flows_per_child,
                "how": a.how})
    edge = benchlib.Edge(a.bin, ["--flows-per-child", str(a.flows_per_child),
                                 "--domain", "example.com"])
    flows = []
    try:
        edge.start()
        ep = select.epoll()
        for i in range(a.flows):
            f = register_rate.Flow("tcp", "127.0.0.%d" % a.src_base,
                                   edge.sip_addr, i, "cb")
            flows.append(f)
            ep.register(f.sock.fileno(), select.EPOLLIN)
        byfd = {f.sock.fileno(): f for f in flows}
        want = {}
        for f in flows:
            want[f.register("cb%d" % f.index)] = f
        deadline = time.monotonic() + 30
        statuses = {}
        while want and time.monotonic() < deadline:
            for fd, _ in ep.poll(0.1):
                for st, cid in byfd[fd].responses():
                    if st >= 200 and want.pop(cid, None) is not None:
                        statuses[st] = statuses.get(st, 0) + 1
        rec["register_statuses"] = statuses
        benchlib.wait_for(lambda: edge.stats().get("services", {}).get(
            "registrar-bridge", {}).get("counters", {}).get(
            "registrations.active", 0) >= statuses.get(200, 0), 10,
            interval=0.2, what="registrations.active")
        st = edge.stats()["services"]
        rec["registrations_before"] = st["registrar-bridge"]["counters"][
            "registrations.active"]
        t0 = time.monotonic()
        if a.how == "rst":
            for f in flows:
                f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
                f.sock.close()
            flows = []
        else:
            kids = st["flow-manager"].get("children", {})
            busiest = max(kids.values(), key=lambda c: c.get("flows", 0))
            edge.remember()
            if edge.known.get(busiest["pid"]) is None:
                raise RuntimeError("child pid not ours")
            os.kill(busiest["pid"], signal.SIGKILL)
            rec["killed_child_flows"] = busiest.get("flows")
        time.sleep(3.0)
        st = edge.stats()
        rec["seconds_after"] = round(time.monotonic() - t0, 1)
        rec["registrations_after"] = st["services"]["registrar-bridge"][
            "counters"].get("registrations.active")
        tot = st.get("totals", {})
        rec["ipc_send_dropped"] = tot.get("ipc.send_dropped", 0)
        rec["flows_closed_at_router"] = tot.get("flows.closed", 0)
        rec["router_flow_closed_dropped"] = tot.get(
            "router.flow_closed_dropped", 0)
        rec["stop_s"] = edge.stop()
        rec["log_flow_closed_not_queued"] = edge.logs().count(
            "FLOW_CLOSED not queued for the router")
        benchlib.emit(a.out, rec)
    finally:
        for f in flows:
            try:
                f.sock.close()
            except OSError:
                pass
        if edge.proc is not None:
            edge.stop()
        edge.cleanup()


if __name__ == "__main__":
    main()
