"""Listing the flows held: GET /flows and `epsipctl flows` (issue 10 §8).

epsipd asks every flow-manager child for its flows (FLOWS_QUERY), which
filters them by AoR, transport and instance and answers FLOWS; epsipd
merges the answers, sorted by instance, child and slot, and serves one
page of them.  The AoR of a flow is the To URI of the last 2xx REGISTER
the router sent down it (FLOW_SET_TIMER carries it to the child).
"""
import json
import os
import signal
import subprocess
import urllib.parse

from edge import http_get, wait_for
from sip import Phone, token_fields, uri_of, uri_user


def epsipctl(edge, *args):
    return subprocess.run(
        [os.path.join(edge.bin_dir, "epsipctl"), "--stats",
         "127.0.0.1:%d" % edge.stats_port] + list(args),
        capture_output=True, text=True, timeout=30)


def flows(edge, **query):
    """GET /flows with `query`: the answer's document."""
    path = "/flows"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    status, body = http_get(edge.stats_port, path, 5)
    assert status == 200, (status, body)
    return json.loads(body)


def registered(edge, transport, n, prefix):
    out = []
    for i in range(n):
        p = Phone(edge, transport, user="%s%d" % (prefix, i))
        resp = p.register()
        assert resp is not None and resp.status == 200, resp
        p.token = token_fields(uri_user(uri_of(resp.get("path"))))
        out.append(p)
    return out


def token_id(phone):
    t = phone.token
    return "%d.%d.%d.%d" % (t["instance"], t["child"], t["slot"],
                            t["generation"])


def remote_of(phone):
    return "%s:%d" % tuple(phone.local)


def listed_once(doc, phone):
    """The one flow of `doc` from phone's address over its transport."""
    mine = [f for f in doc["flows"] if f["remote"] == remote_of(phone) and
            f["transport"] == phone.transport]
    assert len(mine) == 1, (remote_of(phone), doc)
    return mine[0]


def test_every_registered_flow_is_listed_once_with_its_aor(make_edge):
    edge = make_edge("--flow-managers", "2")
    phones = (registered(edge, "udp", 4, "u") +
              registered(edge, "tcp", 4, "t"))
    doc = flows(edge, limit=1000)
    assert doc["complete"] is True
    assert doc["total"] == len(phones) == len(doc["flows"])
    assert doc["offset"] == 0 and doc["limit"] == 1000
    for p in phones:
        f = listed_once(doc, p)
        assert f["aor"] == p.aor()
        assert f["id"] == token_id(p)
        assert f["instance"] == p.token["instance"]
        assert f["child"] == p.token["child"]
        assert f["local"] == "127.0.0.1:%d" % edge.port
        assert f["age_s"] >= 0 and f["idle_s"] >= 0
        assert f["flow_timer"] > 0
    order = [(f["instance"], f["child"], f["slot"]) for f in doc["flows"]]
    assert order == sorted(order)

    # The same through epsipctl, as JSON and as a table.
    r = epsipctl(edge, "flows", "--json", "--limit", "1000")
    assert r.returncode == 0, r.stderr
    assert sorted(f["id"] for f in json.loads(r.stdout)["flows"]) == \
        sorted(f["id"] for f in doc["flows"])
    r = epsipctl(edge, "flows")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TOKEN-ID", "TRANSPORT", "REMOTE", "LOCAL",
                                "AOR", "AGE", "IDLE"]
    for p in phones:
        row = [l.split() for l in lines if remote_of(p) in l.split()]
        assert len(row) == 1 and row[0][0] == token_id(p), (p.aor(), lines)
        assert row[0][1] == p.transport and row[0][4] == p.aor()
    assert "%d of %d flows (offset 0)" % (len(phones), len(phones)) in \
        r.stdout


def test_filters_by_aor_transport_and_instance(make_edge):
    edge = make_edge("--flow-managers", "2")
    udp = registered(edge, "udp", 6, "fu")
    tcp = registered(edge, "tcp", 6, "ft")
    everyone = udp + tcp

    one = tcp[3]
    doc = flows(edge, aor=one.aor())
    assert doc["total"] == 1 and doc["flows"][0]["id"] == token_id(one)
    assert flows(edge, aor="sip:nobody@example.com")["total"] == 0

    for transport, group in (("udp", udp), ("tcp", tcp)):
        doc = flows(edge, transport=transport)
        assert doc["total"] == len(group)
        assert {f["id"] for f in doc["flows"]} == \
            {token_id(p) for p in group}

    for instance in (1, 2):
        doc = flows(edge, instance=instance)
        want = {token_id(p) for p in everyone
                if p.token["instance"] == instance}
        assert {f["id"] for f in doc["flows"]} == want
        assert doc["complete"] is True

    doc = flows(edge, aor=one.aor(), transport="udp")
    assert doc["total"] == 0

    r = epsipctl(edge, "flows", "--aor", one.aor(), "--transport", "tcp",
                 "--json")
    assert r.returncode == 0, r.stderr
    assert [f["id"] for f in json.loads(r.stdout)["flows"]] == \
        [token_id(one)]
    r = epsipctl(edge, "flows", "--instance", str(one.token["instance"]))
    assert r.returncode == 0 and token_id(one) in r.stdout, r

    for bad in ("transport=sctp", "instance=0", "limit=1001", "limit=0",
                "offset=-1", "colour=blue"):
        status, body = http_get(edge.stats_port, "/flows?" + bad, 5)
        assert status == 400, (bad, status, body)


def test_pages_are_disjoint_and_cover_every_flow(make_edge):
    edge = make_edge("--flow-managers", "2")
    phones = (registered(edge, "udp", 5, "pu") +
              registered(edge, "tcp", 5, "pt"))
    whole = [f["id"] for f in flows(edge)["flows"]]
    assert len(whole) == len(phones)
    pages = []
    for offset in range(0, len(phones) + 3, 3):
        doc = flows(edge, offset=offset, limit=3)
        assert doc["total"] == len(phones)
        assert doc["offset"] == offset and doc["limit"] == 3
        assert len(doc["flows"]) == min(3, max(0, len(phones) - offset))
        pages.append([f["id"] for f in doc["flows"]])
    seen = [i for page in pages for i in page]
    assert seen == whole and len(set(seen)) == len(seen)

    r = epsipctl(edge, "flows", "--offset", "9", "--limit", "3")
    assert r.returncode == 0, r.stderr
    assert "1 of %d flows (offset 9)" % len(phones) in r.stdout


def test_a_closed_flow_is_no_longer_listed(make_edge):
    edge = make_edge("--flow-managers", "2")
    tcp = registered(edge, "tcp", 3, "ct")
    gone = tcp[1]
    assert flows(edge, aor=gone.aor())["total"] == 1
    gone.close()
    assert wait_for(lambda: flows(edge, aor=gone.aor())["total"] == 0,
                    timeout=5)
    left = {f["id"] for f in flows(edge)["flows"]}
    assert left == {token_id(tcp[0]), token_id(tcp[2])}


def test_a_child_that_does_not_answer_makes_the_listing_incomplete(
        make_edge):
    # A child a flow: stopping one child silences exactly one flow.
    edge = make_edge("--flows-per-child", "1")
    tcp = registered(edge, "tcp", 3, "st")
    assert wait_for(lambda: flows(edge)["total"] == 3, timeout=5)
    mute = tcp[1]
    kid = edge.children()["fm1-c%d" % mute.token["child"]]
    os.kill(kid["pid"], signal.SIGSTOP)
    try:
        doc = flows(edge)
        assert doc["complete"] is False
        assert doc["total"] == 2
        assert token_id(mute) not in {f["id"] for f in doc["flows"]}
        r = epsipctl(edge, "flows")
        assert r.returncode == 0, r.stderr
        assert "2 of 2 flows (offset 0)" in r.stdout
        assert "incomplete" in r.stdout
    finally:
        os.kill(kid["pid"], signal.SIGCONT)
    # Its late answer to the round that ended is dropped; the next round
    # hears it again.
    doc = flows(edge)
    assert doc["complete"] is True and doc["total"] == 3


def test_a_child_stopped_before_it_was_ever_asked_answers_once_resumed(
        make_edge):
    # epsipd's first dial to it cannot finish while it is stopped; the
    # query waits on the link, and the loop does not.
    edge = make_edge("--flows-per-child", "1")
    tcp = registered(edge, "tcp", 2, "cold")
    kids = wait_for(lambda: len(edge.children()) == 2 and edge.children(),
                    timeout=5)
    mute = kids["fm1-c%d" % tcp[0].token["child"]]
    os.kill(mute["pid"], signal.SIGSTOP)
    try:
        for _ in range(3):
            doc = flows(edge)
            assert doc["complete"] is False
            assert [f["id"] for f in doc["flows"]] == [token_id(tcp[1])]
        assert edge.healthy()
    finally:
        os.kill(mute["pid"], signal.SIGCONT)
    assert wait_for(lambda: flows(edge)["complete"], timeout=5)
    assert flows(edge)["total"] == 2
