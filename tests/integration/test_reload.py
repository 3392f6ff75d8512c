"""Reloading the configuration while flows run (issue 10 §8): SIGHUP and
`epsipctl reload` apply the log level, the limits and the token keys in
every process, and no flow drops.  A file that does not check changes
nothing; flags keep their precedence over the file; keys that need a
restart keep their running value.  epsipctl's status, stats and reload
against a running epsipd."""
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request

from edge import Edge, free_port, wait_for
from sip import Phone, token_fields, uri_of, uri_user
from test_limits import closed_at_once, pinged


def sighup(edge):
    os.kill(edge.proc.pid, signal.SIGHUP)


def reloads(edge, name="config.reloads"):
    """{process: counter} of epsipd, every service and every child that
    has reported."""
    s = edge.stats()
    out = {"epsipd": s["epsipd"]["counters"].get(name, 0)}
    for svc_name, svc in s["services"].items():
        out[svc_name] = svc["counters"].get(name, 0)
        for child, c in svc.get("children", {}).items():
            if "counters" in c:
                out[child] = c["counters"].get(name, 0)
    return out


def wait_reloaded(edge, n):
    """Every process has applied n reloads (and said so in a report)."""
    return wait_for(lambda: all(v >= n for v in reloads(edge).values()),
                    what="config.reloads >= %d in every process" % n)


def epsipctl(edge, *args, stats=True):
    cmd = [os.path.join(edge.bin_dir, "epsipctl")]
    if stats:
        cmd += ["--stats", "127.0.0.1:%d" % edge.stats_port]
    return subprocess.run(cmd + list(args), capture_output=True, text=True,
                          timeout=30)


def http_post(port, path):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def write_key(path):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")


def secret(path):
    with open(str(path)) as f:
        return bytes.fromhex(f.read().strip())


def token_raw(token):
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def signed_by(token, key):
    """The token names key's id and carries its MAC (flow_token.h)."""
    raw = token_raw(token)
    mac = hmac.new(key, raw[:-16], hashlib.sha256).digest()[:16]
    return (raw[1] == hashlib.sha256(key).digest()[0] and
            hmac.compare_digest(mac, raw[-16:]))


def signed_with(token, key):
    """The same fields, signed with another key: a forgery."""
    raw = token_raw(token)
    body = raw[:1] + bytes([hashlib.sha256(key).digest()[0]]) + raw[2:-16]
    mac = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def crlf_pong(phone):
    phone.send(b"\r\n\r\n")
    return phone.recv_raw(timeout=2.0) == b"\r\n"


def test_sighup_applies_log_level_and_a_lowered_max_flows_keeps_every_flow(
        make_edge, tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("log-level = info\nmax-flows = 10\n")
    edge = make_edge("--config", str(conf), log_level=None)
    phones = [Phone(edge, "tcp", user="held%d" % i) for i in range(2)]
    for p in phones:
        assert p.register().status == 200
    assert " debug " not in edge.logs()
    refused = edge.counter("flows.refused.limit")

    conf.write_text("log-level = debug\nmax-flows = 1\n")
    sighup(edge)
    wait_reloaded(edge, 1)
    logs = edge.logs()
    assert "max-flows 1 (was 10): 2 flows held" in logs
    # The child logs its reload at debug: it took the new level first.
    assert re.search(r" debug fm1-c\d+\[\d+\] flow=- reload: configuration "
                     r"applied", logs), logs[-3000:]
    # Past the lowered limit: a new connection is refused at once...
    assert closed_at_once(edge)
    edge.wait_counter("flows.refused.limit", refused + 1)
    # ...and both flows held, one more than the limit, keep answering.
    for p in phones:
        assert crlf_pong(p)
        assert p.register().status == 200
    assert edge.next_stats_round("flow-manager")["services"][
        "flow-manager"]["flows"] == 2

    conf.write_text("log-level = debug\nmax-flows = 10\n")
    sighup(edge)
    wait_reloaded(edge, 2)
    s, ok = pinged(edge)
    s.close()
    assert ok, "a new flow was refused under the raised max-flows"
    for p in phones:
        assert crlf_pong(p)


def test_rotated_key_signs_and_the_previous_one_still_verifies(make_edge,
                                                               tmp_path):
    old_key, new_key = tmp_path / "a.key", tmp_path / "b.key"
    conf = tmp_path / "epsip.conf"
    conf.write_text("key-file = %s\n" % old_key)
    edge = make_edge("--config", str(conf))
    bob = Phone(edge, "tcp", user="bob")
    old_token = uri_user(uri_of(bob.register().get("path")))
    assert signed_by(old_token, secret(old_key))    # epsipd created it

    # Rotation: a new key signs, the old one moves to previous-key-file.
    write_key(new_key)
    conf.write_text("key-file = %s\nprevious-key-file = %s\n" % (
        new_key, old_key))
    sighup(edge)
    wait_reloaded(edge, 1)
    new_token = uri_user(uri_of(bob.register().get("path")))
    assert signed_by(new_token, secret(new_key))
    assert not signed_by(new_token, secret(old_key))
    assert token_fields(new_token) == token_fields(old_token)  # same flow

    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    for token, text in ((old_token, "by the old token"),
                        (new_token, "by the new token")):
        alice.request("MESSAGE", "sip:bob@127.0.0.1", body=text, routes=[
            "<sip:%s@127.0.0.1:%d;lr>" % (token, edge.port)])
        msg = bob.recv(want=lambda m: m.method == "MESSAGE")
        assert msg is not None, "no MESSAGE " + text
        assert msg.body == text.encode()
    # Signed by neither key: forged.
    forged = signed_with(old_token, os.urandom(32))
    alice.request("MESSAGE", "sip:bob@127.0.0.1", routes=[
        "<sip:%s@127.0.0.1:%d;lr>" % (forged, edge.port)])
    resp = alice.recv(want=lambda m: m.status is not None)
    assert resp is not None and resp.status == 403
    # Through the registrar, whose binding now has the new token.
    alice.request("MESSAGE", "sip:bob@example.com", body="by the AoR")
    msg = bob.recv(want=lambda m: m.method == "MESSAGE")
    assert msg is not None and msg.body == b"by the AoR"


def test_a_bad_file_is_refused_logged_counted_and_nothing_changes(
        make_edge, tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("max-flows = 1\n")
    edge = make_edge("--config", str(conf))
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200
    effective = os.path.join(edge.run_dir, "epsip.conf")

    conf.write_text("max-flows = 5\nflow-timer = soon\n")
    sighup(edge)
    wait_for(lambda: reloads(edge, "config.reload_errors")["epsipd"] >= 1,
             what="config.reload_errors at epsipd")
    assert re.search(r" error epsipd\[\d+\] flow=- reload: %s:2: "
                     r"flow-timer: .*: running configuration kept" %
                     re.escape(str(conf)), edge.logs()), edge.logs()[-3000:]
    # Nothing changed: no service was told, the limit and the effective
    # file are the running ones, and the flow carries on.
    doc = edge.next_stats_round()
    assert reloads(edge)["flow-manager"] == 0, doc
    with open(effective) as f:
        assert "max-flows = 1\n" in f.read()
    assert edge.healthy()
    assert closed_at_once(edge)
    assert crlf_pong(bob) and bob.register().status == 200

    # epsipctl says the same, and fails.
    r = epsipctl(edge, "reload")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "reload refused (HTTP 422): %s:2: flow-timer" % conf in r.stderr

    conf.write_text("max-flows = 5\n")
    r = epsipctl(edge, "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "applied: max-flows\n" in r.stdout
    with open(effective) as f:
        assert "max-flows = 5\n" in f.read()
    wait_for(lambda: reloads(edge)["flow-manager"] >= 1,
             what="the flow-manager's reload")
    s, ok = pinged(edge)
    s.close()
    assert ok
    assert crlf_pong(bob)


def test_epsipctl_status_stats_and_reload(make_edge, tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("log-level = warn\n")   # --log-level debug wins
    edge = make_edge("--config", str(conf))
    pids = {name: svc["pid"] for name, svc in
            edge.stats()["services"].items()}

    r = epsipctl(edge, "status")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "health: ok"
    assert lines[1].startswith("epsipd ") and \
        ": pid %d, up " % edge.proc.pid in lines[1]
    assert lines[2].split() == ["SERVICE", "STATE", "PID", "UPTIME",
                                "RESTARTS"]
    rows = {l.split()[0]: l.split() for l in lines[3:]}
    assert set(rows) == set(pids)
    for name, pid in pids.items():
        assert rows[name][1:3] == ["ready", str(pid)]
        assert rows[name][4] == "0"

    r = epsipctl(edge, "stats")
    assert r.returncode == 0
    assert json.loads(r.stdout)["services"]["sip-router"]["pid"] == \
        pids["sip-router"]
    r = epsipctl(edge, "stats", "--flat")
    assert r.returncode == 0
    assert "services.sip-router.pid=%d" % pids["sip-router"] in \
        r.stdout.splitlines()

    # The flag keeps log-level at debug; flow-timer needs a restart.
    conf.write_text("log-level = warn\nflow-timer = 29\n")
    r = epsipctl(edge, "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ("reloaded: 3 services told\n"
                        "applied: nothing changed\n"
                        "changed, needs a restart: flow-timer\n")
    wait_reloaded(edge, 1)
    bob = Phone(edge, "tcp", user="bob")
    resp = bob.register()
    assert resp.status == 200 and resp.get("flow-timer") == "120"
    assert re.search(r" debug fm1-c\d+\[\d+\] flow=- reload: configuration "
                     r"applied", edge.logs())
    assert "reload: changed, but only a restart applies them (running " \
        "values kept): flow-timer" in edge.logs()

    # The endpoint from the file's stats key, as epsipd reads it.
    other = tmp_path / "ctl.conf"
    other.write_text("stats = 127.0.0.1:%d\nno such line\n" %
                     edge.stats_port)
    r = epsipctl(edge, "--config", str(other), "status", stats=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = epsipctl(edge, "--stats", "127.0.0.1:%d" % free_port(), "status",
                 stats=False)
    assert r.returncode == 3 and "cannot connect" in r.stderr
    r = epsipctl(edge, "drain")
    assert r.returncode == 2
    # The only flow-manager is not drained (test_flow_managers.py).
    r = epsipctl(edge, "drain", "1")
    assert r.returncode == 1 and "only flow-manager" in r.stderr
    # Only POST reloads.
    assert edge.http("/reload")[0] == 405


def test_reload_over_http_only_on_a_loopback_endpoint():
    edge = Edge()
    edge.args += ["--stats", "0.0.0.0:%d" % edge.stats_port]
    try:
        edge.start()
        status, body = http_post(edge.stats_port, "/reload")
        assert status == 403 and b"SIGHUP" in body
        r = epsipctl(edge, "--stats", "0.0.0.0:%d" % edge.stats_port,
                     "reload", stats=False)
        assert r.returncode == 1 and "loopback" in r.stderr
        r = epsipctl(edge, "--stats", "0.0.0.0:%d" % edge.stats_port,
                     "status", stats=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert reloads(edge)["epsipd"] == 0
        sighup(edge)
        wait_reloaded(edge, 1)
    finally:
        leftover = edge.stop()
        reports = edge.sanitizer_reports()
        edge.cleanup()
    assert not leftover and not reports, (leftover, reports)
