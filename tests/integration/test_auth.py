"""Who may register (issue 12 §1-2, docs/security.md): the embedded
registrar's digest authentication and `auth = protected`, through the real
executables over real sockets.

With no user configured, a loopback phone registers as before and a phone
anywhere else gets 403 naming the fix; the address judged is the flow's
(here a client named by a PROXY protocol header, as behind a load
balancer), never a Via.  `epsipctl user add` reads the password from
standard input and the running bridge sees the user at once; then every
REGISTER gets 401 with SHA-256 and MD5 challenges, INVITE and MESSAGE get
407, and the right answer with either algorithm gets through.  Wrong
passwords and unknown users get the same answer; stale and replayed nonces
get stale=true.  In upstream mode the upstream's 401 and 407 pass through
untouched."""
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from edge import free_port, wait_for
from sip import Phone, rand, uri_of
from upstream import FakeUpstream, register_answer_headers

FORBIDDEN = "Forbidden: add a user (epsipctl user add) or set auth = none"
HASH = {"SHA-256": hashlib.sha256, "MD5": hashlib.md5}


def epsipctl(edge, *args, stdin=None):
    return subprocess.run([os.path.join(edge.bin_dir, "epsipctl"),
                           "--state-dir", edge.state_dir] + list(args),
                          input=stdin, capture_output=True, text=True,
                          timeout=30)


def add_user(edge, aor, password):
    r = epsipctl(edge, "user", "add", aor, stdin=password + "\n")
    assert r.returncode == 0, r.stderr
    return r


def challenges(msg, name):
    """Each challenge of header `name` as a dict of its parameters."""
    out = []
    for value in msg.rows(name):
        assert value.startswith("Digest "), value
        out.append({k.lower(): v.strip('"') for k, v in re.findall(
            r'([A-Za-z-]+)=("[^"]*"|[^,\s]+)', value[7:])})
    return out


def answer(ch, user, password, method, uri, nc=1, header="Authorization"):
    """An Authorization (or Proxy-Authorization) line for challenge ch."""
    h = HASH[ch["algorithm"]]

    def hx(s):
        return h(s.encode()).hexdigest()
    cnonce = rand(12)
    ha1 = hx("%s:%s:%s" % (user, ch["realm"], password))
    ha2 = hx("%s:%s" % (method, uri))
    resp = hx("%s:%s:%08x:%s:auth:%s" % (ha1, ch["nonce"], nc, cnonce, ha2))
    return ('%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%08x\r\n'
            % (header, user, ch["realm"], ch["nonce"], uri, resp,
               ch["algorithm"], cnonce, nc))


def pick(chs, algorithm):
    return next(c for c in chs if c["algorithm"] == algorithm)


def balancer_edge(make_edge, *args):
    """An edge whose TCP clients come through a "balancer" on loopback
    with a PROXY header: the flow's address is the client it names."""
    port = free_port()
    return make_edge("--proxy-protocol", "127.0.0.1:%d" % port,
                     "--proxy-from", "127.0.0.1", *args, port=port)


def far_phone(edge, user, client="192.0.2.66"):
    """A TCP phone at a documentation address, behind the balancer."""
    phone = Phone(edge, "tcp", user=user)
    phone.send(b"PROXY TCP4 %s 127.0.0.1 40123 %d\r\n" % (
        client.encode(), edge.port))
    return phone


def near_phone(edge, transport, user=None):
    """A phone on loopback: over UDP straight to the edge, over TCP
    through the balancer, which names a loopback client."""
    if transport == "udp":
        return Phone(edge, "udp", user=user)
    return far_phone(edge, user or "u" + rand(6), client="127.0.0.9")


def register_with_password(phone, password, algorithm="SHA-256"):
    """REGISTER, answer the 401's `algorithm` challenge; the final answer."""
    first = phone.register()
    assert first is not None and first.status == 401, first
    ch = pick(challenges(first, "www-authenticate"), algorithm)
    return phone.register(extra=answer(ch, phone.user, password, "REGISTER",
                                       "sip:%s" % phone.domain))


def test_without_users_loopback_registers_and_a_far_client_gets_403(
        make_edge):
    edge = balancer_edge(make_edge)
    # Its Via and Contact say 127.0.0.1 (the test's socket): only the
    # flow's address, the client the PROXY header names, counts.
    far = far_phone(edge, "mallory")
    resp = far.register()
    assert resp is not None and resp.status == 403
    assert resp.start == "SIP/2.0 403 " + FORBIDDEN
    assert resp.get("www-authenticate") is None
    assert "127.0.0.1" in resp.get("via")
    # Loopback, UDP and TCP: as `make run` with a local sipp always did.
    for transport in ("udp", "tcp"):
        ok = near_phone(edge, transport).register()
        assert ok is not None and ok.status == 200
    # A call from far away is refused the same way.
    far.request("INVITE", "sip:someone@example.com")
    resp = far.recv(want=lambda m: m.status is not None and m.status >= 200)
    assert resp.status == 403 and resp.start.endswith(FORBIDDEN)
    for _ in range(5):
        assert far.register().status == 403
    edge.wait_counter("auth.forbidden_no_users", 7)
    log = edge.logs()
    assert re.search(r"auth: REGISTER from 192\.0\.2\.66:40123 answered "
                     r"403: .*epsipctl user add USER@DOMAIN.*auth = none",
                     log), log[-2000:]
    # At most one such line a second, with the count since the last.
    lines = re.findall(r"answered 403: auth = protected.*\((\d+) such 403s",
                       log)
    assert 1 <= len(lines) < 7, lines
    far.close()


def test_a_user_added_while_running_is_asked_for_and_registers(make_edge):
    edge = balancer_edge(make_edge)
    r = add_user(edge, "alice@Example.com", "wonder land")
    assert r.stdout == "added alice@example.com\n"
    assert epsipctl(edge, "user", "list").stdout == "alice@example.com\n"
    # Now even loopback is asked (protected: a user exists).
    phones = []
    for transport, algorithm in (("udp", "SHA-256"), ("tcp", "MD5")):
        alice = near_phone(edge, transport, user="alice")
        first = alice.register()
        assert first.status == 401 and first.start.endswith("Unauthorized")
        chs = challenges(first, "www-authenticate")
        # RFC 8760 §2.4: SHA-256 first, MD5 too; one nonce, qop=auth.
        assert [c["algorithm"] for c in chs] == ["SHA-256", "MD5"]
        assert {c["realm"] for c in chs} == {"example.com"}
        assert chs[0]["nonce"] == chs[1]["nonce"]
        assert all(c["qop"] == "auth" and "stale" not in c for c in chs)
        ok = alice.register(extra=answer(pick(chs, algorithm), "alice",
                                         "wonder land", "REGISTER",
                                         "sip:example.com"))
        assert ok.status == 200, ok
        assert ok.get("require") == "outbound" and ok.get("path")
        phones.append(alice)
    # A phone far away registers the same way.
    far = far_phone(edge, "alice")
    phones.append(far)
    assert register_with_password(far, "wonder land").status == 200
    edge.wait_counter("auth.ok", 3)
    edge.wait_counter("registrations.active", 3)
    stats = edge.next_stats_round("registrar-bridge")
    assert edge.counter("auth.challenges", stats=stats) == 3
    assert edge.counter("auth.forbidden_no_users", stats=stats) == 0
    assert edge.counter("registrations.active", stats=stats) == 3
    for p in phones:
        p.close()


def test_wrong_password_and_unknown_user_get_the_same_401(make_edge):
    edge = make_edge()
    add_user(edge, "bob@example.com", "right")
    answers = []
    for user, password in (("bob", "wrong"), ("nobody", "wrong")):
        phone = Phone(edge, "udp", user=user)
        resp = register_with_password(phone, password)
        assert resp.status == 401
        chs = challenges(resp, "www-authenticate")
        for c in chs:
            c.pop("nonce")
        answers.append((resp.start, [sorted(c.items()) for c in chs]))
        phone.close()
    assert answers[0] == answers[1]
    assert "stale" not in str(answers[0])
    edge.wait_counter("auth.failures.unknown_user", 1)
    assert edge.counter("auth.failures.bad_response") == 1


def test_invite_and_message_are_challenged_with_407_then_delivered(
        make_edge):
    edge = make_edge()
    add_user(edge, "alice@example.com", "a-pass")
    add_user(edge, "bob@example.com", "b-pass")
    bob = Phone(edge, "tcp", user="bob")
    assert register_with_password(bob, "b-pass").status == 200
    alice = Phone(edge, "udp", user="alice")
    assert register_with_password(alice, "a-pass", "MD5").status == 200

    call_id = rand(12)
    alice.request("INVITE", "sip:bob@example.com", call_id=call_id,
                  branch="z9hG4bK" + rand(10), from_tag="a1")
    resp = alice.recv(want=lambda m: m.status is not None and
                      m.status >= 200)
    assert resp.status == 407
    assert resp.start == "SIP/2.0 407 Proxy Authentication Required"
    chs = challenges(resp, "proxy-authenticate")
    assert [c["algorithm"] for c in chs] == ["SHA-256", "MD5"]
    assert resp.get("www-authenticate") is None
    # The ACK of the 407, then the INVITE again with credentials.
    via = resp.rows("via")[0]
    alice.send("ACK sip:bob@example.com SIP/2.0\r\nVia: %s\r\n"
               "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
               "CSeq: %s ACK\r\nContent-Length: 0\r\n\r\n" % (
                   via, resp.get("from"), resp.get("to"), call_id,
                   resp.get("cseq").split()[0]))
    alice.request("INVITE", "sip:bob@example.com", call_id=call_id,
                  from_tag="a1", extra=answer(
                      chs[0], "alice", "a-pass", "INVITE",
                      "sip:bob@example.com", header="Proxy-Authorization"))
    inv = bob.recv(timeout=5, want=lambda m: m.method == "INVITE")
    assert inv is not None, "the authorized INVITE did not reach bob"
    # Credentials stay in the request: the proxy does not consume them.
    assert inv.get("proxy-authorization") is not None
    bob.reply(inv, 486, "Busy Here", to_tag="b1")
    busy = alice.recv(want=lambda m: m.status == 486)
    assert busy is not None
    # A MESSAGE without credentials: 407, and bob never sees it.
    alice.request("MESSAGE", "sip:bob@example.com", body="hi")
    resp = alice.recv(want=lambda m: m.status is not None and
                      m.cseq_method == "MESSAGE")
    assert resp.status == 407
    assert bob.recv(timeout=0.5, want=lambda m: m.method == "MESSAGE") \
        is None
    # Credentials of another user than the From: 403.
    ch = challenges(resp, "proxy-authenticate")[0]
    alice.request("MESSAGE", "sip:bob@example.com", body="hi", extra=answer(
        ch, "bob", "b-pass", "MESSAGE", "sip:bob@example.com",
        header="Proxy-Authorization"))
    resp = alice.recv(want=lambda m: m.status is not None and
                      m.cseq_method == "MESSAGE")
    assert resp.status == 403
    for p in (alice, bob):
        p.close()


def test_an_expired_nonce_gets_stale_true_and_a_replay_is_refused(
        make_edge):
    # Whole seconds: a nonce may go stale up to a second early.
    edge = make_edge("--auth-nonce-lifetime", "3")
    add_user(edge, "carol@example.com", "c-pass")
    carol = Phone(edge, "tcp", user="carol")
    first = carol.register()
    ch = pick(challenges(first, "www-authenticate"), "SHA-256")
    creds = answer(ch, "carol", "c-pass", "REGISTER", "sip:example.com")
    assert carol.register(extra=creds).status == 200
    # The same credentials again over TCP (no transaction to absorb it):
    # nc did not grow, so it is a replay.
    resp = carol.register(extra=creds)
    assert resp.status == 401
    assert all(c.get("stale") == "true" for c in challenges(
        resp, "www-authenticate"))
    edge.wait_counter("auth.failures.replay", 1)
    # The next count of the same nonce is fine...
    assert carol.register(extra=answer(ch, "carol", "c-pass", "REGISTER",
                                       "sip:example.com", nc=2)).status \
        == 200
    # ...until it expires: stale=true, and the fresh nonce works.
    time.sleep(3.5)
    resp = carol.register(extra=answer(ch, "carol", "c-pass", "REGISTER",
                                       "sip:example.com", nc=3))
    assert resp.status == 401
    fresh = challenges(resp, "www-authenticate")
    assert fresh[0]["stale"] == "true" and fresh[0]["nonce"] != ch["nonce"]
    assert carol.register(extra=answer(fresh[0], "carol", "c-pass",
                                       "REGISTER", "sip:example.com")
                          ).status == 200
    edge.wait_counter("auth.failures.stale", 1)
    carol.close()


def test_user_del_and_list(make_edge):
    edge = make_edge()
    add_user(edge, "dave@example.com", "d1")
    add_user(edge, "erin@example.com", "erin's long passphrase")
    r = add_user(edge, "dave@example.com", "d2")
    assert r.stdout == "changed the password of dave@example.com\n"
    assert epsipctl(edge, "user", "list").stdout == \
        "dave@example.com\nerin@example.com\n"
    dave = Phone(edge, "udp", user="dave")
    assert register_with_password(dave, "d1").status == 401
    assert register_with_password(dave, "d2").status == 200
    r = epsipctl(edge, "user", "del", "dave@example.com")
    assert r.returncode == 0 and r.stdout == "removed dave@example.com\n"
    r = epsipctl(edge, "user", "del", "dave@example.com")
    assert r.returncode == 1 and "no such user" in r.stderr
    # Gone at once: the bridge reads the table per request.
    assert register_with_password(dave, "d2").status == 401
    # No password on standard input: refused, nothing stored.
    r = epsipctl(edge, "user", "add", "frank@example.com", stdin="")
    assert r.returncode == 2 and "standard input" in r.stderr
    assert epsipctl(edge, "user", "list").stdout == "erin@example.com\n"
    # The file holds HA1s, never the password.
    data = b""
    for name in ("registrar.sqlite", "registrar.sqlite-wal"):
        path = os.path.join(edge.state_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                data += f.read()
    assert hashlib.md5(b"erin:example.com:erin's long passphrase"
                       ).hexdigest().encode() in data
    assert b"long passphrase" not in data
    dave.close()


def test_epsipctl_served_domains_only(make_edge):
    edge = make_edge("--domain", "example.com")
    conf = os.path.join(edge.tmp, "epsip.conf")
    with open(conf, "w") as f:
        f.write("domain = example.com\nstate-dir = %s\n" % edge.state_dir)
    r = subprocess.run([os.path.join(edge.bin_dir, "epsipctl"), "--config",
                        conf, "user", "add", "x@example.org"],
                       input="pw\n", capture_output=True, text=True)
    assert r.returncode == 2 and "example.org is not a domain" in r.stderr
    r = subprocess.run([os.path.join(edge.bin_dir, "epsipctl"), "--config",
                        conf, "user", "add", "x@example.com"],
                       input="pw\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert epsipctl(edge, "user", "list").stdout == "x@example.com\n"


def test_auth_digest_asks_loopback_and_auth_none_asks_nobody(make_edge):
    edge = make_edge("--auth", "digest")
    resp = Phone(edge, "udp").register()
    assert resp.status == 401
    edge = balancer_edge(make_edge, "--auth", "none")
    add_user(edge, "gina@example.com", "g")
    assert far_phone(edge, "gina").register().status == 200
    assert Phone(edge, "udp").register().status == 200
    assert edge.counter("auth.challenges") == 0


def test_reload_turns_auth_none_into_protected(make_edge, tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("auth = none\n")
    edge = balancer_edge(make_edge, "--config", str(conf))
    assert far_phone(edge, "hal").register().status == 200
    conf.write_text("auth = protected\n")
    os.kill(edge.proc.pid, signal.SIGHUP)
    wait_for(lambda: edge.counter("config.reloads", "registrar-bridge")
             >= 1, what="the bridge reloaded")
    assert far_phone(edge, "hal").register().status == 403


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act for "
                    "another user")
def test_epsipctl_run_as_root_keeps_the_database_its_owners():
    # The systemd unit's state directory belongs to the epsip user; an
    # operator runs `sudo epsipctl user add`.  Here: nobody's directory.
    top = tempfile.mkdtemp(prefix="epsip-auth-owner-")
    try:
        state = os.path.join(top, "state")
        os.mkdir(state, 0o700)
        nobody = pwd.getpwnam("nobody")
        for d in (top, state):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        os.chmod(top, 0o755)
        from edge import BIN
        r = subprocess.run([os.path.join(BIN, "epsipctl"), "--state-dir",
                            state, "user", "add", "ivy@example.com"],
                           input="pw\n", capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        names = os.listdir(state)
        assert "registrar.sqlite" in names
        for name in names:
            st = os.stat(os.path.join(state, name))
            assert st.st_uid == nobody.pw_uid, name
            assert st.st_mode & 0o077 == 0, name
    finally:
        shutil.rmtree(top, ignore_errors=True)


SIPP_DIGEST = os.path.join(os.path.dirname(__file__), "..", "sipp",
                           "register_digest.xml")


def run_sipp(edge, transport, password, tmp_path):
    return subprocess.run(
        ["sipp", "127.0.0.1:%d" % edge.port, "-sf", SIPP_DIGEST, "-s", "kim",
         "-au", "kim", "-ap", password, "-m", "1", "-t", transport,
         "-i", "127.0.0.1", "-p", str(free_port()), "-timeout", "10",
         "-timeout_error", "-nostdin", "-trace_err", "-error_file",
         str(tmp_path / ("sipp-%s.err" % transport))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        cwd=str(tmp_path), timeout=30)


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")
def test_sipp_registers_with_md5_when_it_is_offered_first(make_edge,
                                                           tmp_path):
    # A real third-party client.  sipp 3.6 reads only the first challenge
    # and knows only MD5: with the default order it gives up.
    edge = make_edge()
    add_user(edge, "kim@example.com", "kim's password")
    r = run_sipp(edge, "u1", "kim's password", tmp_path)
    err = tmp_path / "sipp-u1.err"
    said = r.stderr + (err.read_text() if err.exists() else "")
    assert r.returncode != 0
    assert "authentication must use MD5" in said, said
    edge.stop()
    edge = make_edge("--auth-algorithms", "md5-then-sha-256")
    add_user(edge, "kim@example.com", "kim's password")
    for transport in ("u1", "t1"):
        r = run_sipp(edge, transport, "kim's password", tmp_path)
        err = tmp_path / ("sipp-%s.err" % transport)
        assert r.returncode == 0, "sipp failed (%d): %s %s" % (
            r.returncode, r.stderr, err.read_text() if err.exists() else "")
    # A wrong password: the second REGISTER gets 401 again, not 200.
    assert run_sipp(edge, "u1", "wrong", tmp_path).returncode != 0
    edge.wait_counter("auth.ok", 2)
    assert edge.counter("auth.failures.bad_response") == 1


def test_upstream_401_and_407_pass_through_untouched(make_edge):
    up = FakeUpstream()
    try:
        core_port = free_port()
        port = free_port()
        edge = make_edge("--upstream", up.uri("udp"),
                         "--core-listen", "127.0.0.1:%d" % core_port,
                         "--proxy-protocol", "127.0.0.1:%d" % port,
                         "--proxy-from", "127.0.0.1", port=port)
        # A far client: the embedded rule would say 403; upstream decides.
        phone = far_phone(edge, "jay")
        challenge = ('WWW-Authenticate: Digest realm="upstream.example", '
                     'nonce="UP-NONCE-1", qop="auth", algorithm=MD5\r\n'
                     'WWW-Authenticate: Digest realm="upstream.example", '
                     'nonce="UP-NONCE-1", algorithm=SHA-256, qop="auth"')
        phone.register(timeout=0)
        got = up.recv(want=lambda m: m.method == "REGISTER")
        assert got is not None, "the REGISTER did not reach the upstream"
        up.answer(got, 401, "Unauthorized", extra=challenge)
        resp = phone.recv(want=lambda m: m.status is not None)
        assert resp.status == 401
        assert resp.rows("www-authenticate") == [
            'Digest realm="upstream.example", nonce="UP-NONCE-1", '
            'qop="auth", algorithm=MD5',
            'Digest realm="upstream.example", nonce="UP-NONCE-1", '
            'algorithm=SHA-256, qop="auth"']
        creds = ('Authorization: Digest username="jay", realm='
                 '"upstream.example", nonce="UP-NONCE-1", uri="sip:x", '
                 'response="0123", weird=unquoted\r\n')
        phone.register(timeout=0, extra=creds)
        got = up.recv(want=lambda m: m.method == "REGISTER" and
                      m.get("authorization") is not None)
        assert got is not None
        assert got.msg.rows("authorization") == [creds[15:-2]]
        up.answer(got, 200, extra=register_answer_headers(got.msg))
        assert phone.recv(want=lambda m: m.status == 200) is not None
        phone.request("INVITE", "sip:kim@upstream.example")
        got = up.recv(want=lambda m: m.method == "INVITE")
        up.answer(got, 407, "Proxy Authentication Required",
                  extra='Proxy-Authenticate: Digest realm="upstream.example"'
                  ', nonce="UP-2", qop="auth"')
        resp = phone.recv(want=lambda m: m.status is not None and
                          m.status >= 200)
        assert resp.status == 407
        assert resp.rows("proxy-authenticate") == [
            'Digest realm="upstream.example", nonce="UP-2", qop="auth"']
        assert edge.counter("auth.challenges") == 0
        assert edge.counter("auth.forbidden_no_users") == 0
        phone.close()
    finally:
        up.close()
