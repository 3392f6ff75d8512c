#!/usr/bin/python3
"""Flow load on a real EPSIP: open K TCP flows, prove each is owned by a
child (CRLF ping "\\r\\n\\r\\n" answered by the "\\r\\n" pong), then account.

One run = one fresh edge.  Prints (and appends to --out) one JSON record:

  accept:  t_all_s (first connect .. last pong, all workers), flows_per_s,
           per-flow latency (connect start .. pong) p50/p99/max, failures
  held:    flows.open.tcp from /stats, flows ponged
  memory:  private KiB (Private_Clean+Private_Dirty, smaps_rollup) summed
           over the flow-manager parent and all its children, at 0 flows
           (before) and with K flows; per flow = difference / K.  The same
           for the whole edge (epsipd and every descendant).
  counts:  flow-manager processes and threads (/proc/PID/task) at 0 and K
  cpu:     whole edge, % of one core, while the K flows sit idle
  teardown: seconds from the clients' close (RST) until the flow-manager is
           back to its process count at 0 flows and flows.open.tcp is 0

The load comes from --workers processes (each below the 20,000 descriptor
limit), worker i binding 127.0.0.<src_base+i>; each keeps at most --window
connections between connect() and pong, so the listen backlog (1024) is not
overrun (--window 0: no limit, a burst).
"""
import argparse
import errno
import multiprocessing as mp
import os
import resource
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

PING = b"\r\n\r\n"
IP_BIND_ADDRESS_NO_PORT = 24
RST = struct.pack("ii", 1, 0)


def worker(conn, dest, src_ip, n, window, deadline_s):
    """Open n flows from src_ip, report, hold them until told to close."""
    benchlib.install_signal_handlers()
    benchlib.raise_nofile()
    held = []
    try:
        msg = conn.recv()           # ("go", t0)
        t0 = msg[1]
        while time.monotonic() < t0:
            pass
        res = open_flows(dest, src_ip, n, window, t0, deadline_s, held)
        res["src"] = src_ip
        ru = resource.getrusage(resource.RUSAGE_SELF)
        res["client_cpu_s"] = ru.ru_utime + ru.ru_stime
        conn.send(res)
        # Hold; notice flows the edge closes meanwhile.
        if conn.poll(deadline_s) and conn.recv() == "close":
            eofs = count_eofs(held)
            for s in held:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
                    s.close()
                except OSError:
                    pass
            held = []
            conn.send({"closed_by_edge_while_held": eofs,
                       "t_closed": time.monotonic()})
    except (benchlib.Interrupted, EOFError, BrokenPipeError):
        pass
    finally:
        for s in held:
            try:
                s.close()
            except OSError:
                pass


def count_eofs(socks):
    """Flows the edge closed while we held them (readable = EOF/RST)."""
    n = 0
    for i in range(0, len(socks), 1000):
        chunk = socks[i:i + 1000]
        p = select.poll()
        for s in chunk:
            p.register(s.fileno(), select.POLLIN)
        for fd, ev in p.poll(0):
            n += 1
    return n


def open_flows(dest, src_ip, n, window, t0, deadline_s, held):
    ep = select.epoll()
    pending = {}            # fd -> [sock, state, t_start, attempts]
    lat = []
    failures = {}
    retries = 0
    started = 0
    todo_retry = []
    window = window if window > 0 else n
    deadline = t0 + deadline_s
    t_last_connect_ok = t0

    def fail(reason):
        failures[reason] = failures.get(reason, 0) + 1

    def start(attempts):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((src_ip, 0))
        ts = time.monotonic()
        rc = s.connect_ex(dest)
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            fail(errno.errorcode.get(rc, str(rc)))
            return
        pending[s.fileno()] = [s, 0, ts, attempts]
        ep.register(s.fileno(), select.EPOLLOUT)

    def drop(fd, reason, retry=True):
        s, _, _, attempts = pending.pop(fd)
        try:
            ep.unregister(fd)
        except OSError:
            pass
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        s.close()
        if retry and attempts < 3:
            todo_retry.append(attempts + 1)
        else:
            fail(reason)

    while len(held) + sum(failures.values()) < n:
        now = time.monotonic()
        if now > deadline:
            fail("timeout")
            break
        while len(pending) < window and (todo_retry or started < n):
            if todo_retry:
                retries += 1
                start(todo_retry.pop())
            else:
                started += 1
                start(1)
        for fd, ev in ep.poll(0.2):
            ent = pending.get(fd)
            if ent is None:
                continue
            s, state, ts, _ = ent
            if state == 0:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    drop(fd, "connect:" + errno.errorcode.get(err, str(err)))
                    continue
                t_last_connect_ok = time.monotonic()
                try:
                    s.send(PING)
                except OSError as e:
                    drop(fd, "send:" + errno.errorcode.get(e.errno, "?"))
                    continue
                ent[1] = 1
                ep.modify(fd, select.EPOLLIN)
            else:
                try:
                    data = s.recv(64)
                except BlockingIOError:
                    continue
                except OSError as e:
                    drop(fd, "recv:" + errno.errorcode.get(e.errno, "?"))
                    continue
                if not data:
                    drop(fd, "eof")
                    continue
                if b"\r\n" in data:
                    t = time.monotonic()
                    lat.append(t - ts)
                    ep.unregister(fd)
                    del pending[fd]
                    held.append(s)
    t_done = time.monotonic()
    # Whatever is still pending at the deadline is a failure.
    for fd in list(pending):
        drop(fd, "timeout", retry=False)
    ep.close()
    lat.sort()
    return {"ok": len(held), "failures": failures, "retries": retries,
            "t_done": t_done, "t_last_connect_ok": t_last_connect_ok,
            "lat_p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "lat_p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None,
            "lat_max_ms": 1000 * lat[-1] if lat else None}


def fm_snapshot(edge):
    pids = edge.fm_pids()
    a = benchlib.account(pids)
    a["fds_max_child"] = max((benchlib.nfds(p) for p in pids[1:]), default=0)
    a["fds_parent"] = benchlib.nfds(pids[0])
    return a


def edge_snapshot(edge):
    return benchlib.account(edge.all_pids())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--flows-per-child", type=int, required=True)
    ap.add_argument("--flows", type=int, required=True)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--window", type=int, default=128,
                    help="per worker, connections between connect and pong")
    ap.add_argument("--src-base", type=int, default=10,
                    help="worker i binds 127.0.0.(src_base+i)")
    ap.add_argument("--deadline", type=float, default=90.0)
    ap.add_argument("--cpu-sample", type=float, default=3.0)
    benchlib.round_args(ap)
    a, rec = benchlib.parse_round(ap, "flows")

    rec.update({"flows_per_child": a.flows_per_child, "flows": a.flows,
                "workers": a.workers, "window": a.window})
    per = benchlib.shares(a.flows, a.workers)
    if max(per) > benchlib.raise_nofile() - 100:
        sys.exit("flows.py: %d flows per worker exceed the fd limit; "
                 "add --workers" % max(per))
    if a.flows_per_child == 1:
        # Paper mode: ~14 threads (PIDs) per flow.  Refuse to crowd the
        # shared machine: keep 4000 PIDs free for everybody else.
        pid_max = int(open("/proc/sys/kernel/pid_max").read())
        need = 15 * a.flows + 4000
        free = pid_max - benchlib.machine_threads()
        if need > free:
            sys.exit("flows.py: paper mode with %d flows needs ~%d PIDs, "
                     "only %d free" % (a.flows, need, free))

    ctx = mp.get_context("fork")
    edge = benchlib.Edge(a.bin, ["--flows-per-child", str(a.flows_per_child)])
    workers = []
    try:
        edge.start()
        dest = edge.sip_addr
        for i in range(a.workers):
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=worker, args=(
                child_end, dest, "127.0.0.%d" % (a.src_base + i), per[i],
                a.window, a.deadline), daemon=True)
            p.start()
            workers.append((p, parent_end))
        time.sleep(1.0)     # the edge's first stats, a pooled child ready
        rec["fm_before"] = fm_snapshot(edge)
        rec["edge_before"] = edge_snapshot(edge)
        rec["system_before"] = benchlib.meminfo()
        ld0 = benchlib.listen_drops()
        roles = edge.roles()
        ns0 = benchlib.cpu_snapshot(roles)
        t0 = time.monotonic() + 0.05
        for _, c in workers:
            c.send(("go", t0))
        results = []
        for p, c in workers:
            if not c.poll(a.deadline + 10):
                raise RuntimeError("worker did not report")
            results.append(c.recv())
        t_end = max(r["t_done"] for r in results)
        ok = sum(r["ok"] for r in results)
        ld1 = benchlib.listen_drops()
        rec["listen_overflows"] = (ld1.get("ListenOverflows", 0) -
                                   ld0.get("ListenOverflows", 0))
        # Edge CPU spent taking the flows (children born meanwhile start
        # from 0 ticks).
        roles = edge.roles()
        opened = benchlib.cpu_by_role(roles, ns0)
        rec["open_cpu_ms_by_process"] = {
            k: round(v / 1e6, 1) for k, v in sorted(opened.items())}
        rec["edge_cpu_us_per_flow_open"] = (
            sum(opened.values()) / 1e3 / ok) if ok else None
        fails = {}
        for r in results:
            for k, v in r["failures"].items():
                fails[k] = fails.get(k, 0) + v
        rec.update({
            "ponged": ok, "failures": fails,
            "retries": sum(r["retries"] for r in results),
            "t_all_s": t_end - t0,
            "flows_per_s": ok / (t_end - t0) if t_end > t0 else None,
            "lat_p50_ms": max(r["lat_p50_ms"] or 0 for r in results),
            "lat_p99_ms": max(r["lat_p99_ms"] or 0 for r in results),
            "lat_max_ms": max(r["lat_max_ms"] or 0 for r in results),
            "client_cpu_s": sum(r["client_cpu_s"] for r in results)})
        # The edge's own view: every ponged flow counted open.
        try:
            benchlib.wait_for(
                lambda: (edge.fm_counter("flows.open.tcp") or 0) >= ok, 10,
                what="flows.open.tcp >= %d" % ok)
        except TimeoutError:
            pass
        time.sleep(1.0)     # let the children settle (stats, heaps)
        rec["flows_open_tcp"] = edge.fm_counter("flows.open.tcp")
        rec["fm_after"] = fm = fm_snapshot(edge)
        rec["edge_after"] = edge_snapshot(edge)
        b = rec["fm_before"]
        if ok:
            rec["fm_private_kib_per_flow"] = (
                fm["private_kib"] - b["private_kib"]) / ok
            rec["fm_processes_per_flow"] = (
                fm["processes"] - b["processes"]) / ok
            rec["fm_threads_per_flow"] = (fm["threads"] - b["threads"]) / ok
            rec["edge_private_kib_per_flow"] = (
                rec["edge_after"]["private_kib"] -
                rec["edge_before"]["private_kib"]) / ok
        rec["system_after"] = sysm = benchlib.meminfo()
        if ok:
            sb = rec["system_before"]
            rec["system_slab_kib_per_flow"] = (
                sysm["Slab"] - sb["Slab"]) / ok
            rec["system_memavailable_kib_per_flow"] = (
                sb["MemAvailable"] - sysm["MemAvailable"]) / ok
            rec["system_tcp_mem_pages"] = sysm["tcp_mem_pages"]
        # Idle: K flows held, nothing sent; who burns CPU?
        roles = edge.roles()
        ns0 = benchlib.cpu_snapshot(roles)
        m0 = time.monotonic()
        time.sleep(a.cpu_sample)
        idle = benchlib.cpu_by_role(roles, ns0)
        dt = time.monotonic() - m0
        rec["idle_cpu_pct_by_process"] = {
            k: round(100.0 * v / 1e9 / dt, 2) for k, v in sorted(idle.items())}
        rec["edge_cpu_pct_idle_flows"] = 100.0 * sum(idle.values()) / 1e9 / dt
        edge.remember()
        # Close from the client side (RST); time the edge's clean-up.
        tc = time.monotonic()
        for _, c in workers:
            c.send("close")
        eofs = 0
        for _, c in workers:
            if c.poll(30):
                eofs += c.recv()["closed_by_edge_while_held"]
        rec["closed_by_edge_while_held"] = eofs
        # Paper mode: every child exits with its flow.  Pooled: children
        # stay (empty) by design, so only the open-flow gauge counts.
        # The gauge reaches /stats once a second: +-1 s resolution.
        want_procs = b["processes"] if a.flows_per_child == 1 else 1 << 30
        try:
            benchlib.wait_for(
                lambda: len(edge.fm_pids()) <= want_procs and
                edge.fm_counter("flows.open.tcp") == 0, 30,
                interval=0.1, what="teardown")
            rec["teardown_s"] = time.monotonic() - tc
        except TimeoutError:
            rec["teardown_s"] = None
        rec["fm_processes_after_close"] = len(edge.fm_pids())
        log = benchlib.finish_record(edge, rec)
        rec["log_flow_closed_not_queued"] = log.count(
            "FLOW_CLOSED not queued for the router")
        benchlib.emit(a.out, rec)
    finally:
        benchlib.teardown(edge, workers)


if __name__ == "__main__":
    main()
