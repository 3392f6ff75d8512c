"""Two browser phones, JsSIP and SIP.js in Debian's chromium, register
through EPSIP over secure WebSocket (RFC 7118) with outbound (RFC 5626)
and call each other: each library calls once, the callee answers, ICE
connects and audio flows both ways, the caller's BYE ends the call
(issue 11).

The scenario runs once (conftest.py's `world`, driver.mjs); each test
judges one thing it shows, from what crossed each page's WebSocket (the
SIP trace), the libraries' own events, the peer connections' states and
statistics, and EPSIP's GET /flows.  A test whose step the scenario never
reached fails naming the step where it stopped."""
import re

import pytest

from conftest import ADDRESS, AORS, CALLS, WSS_PORT
from sip import SipMessage, uri_of  # tests/integration

NAME = {"jssip": "JsSIP", "sipjs": "SIP.js"}
CALL_UP = {"jssip": "confirmed", "sipjs": "established"}
CALL_IDS = ["%s-calls-%s" % (c["caller"], c["callee"]) for c in CALLS]


def call_tag(n):
    c = CALLS[n]
    return "call %d (%s calls %s)" % (n + 1, NAME[c["caller"]],
                                      NAME[c["callee"]])


def trace(world, lib, direction):
    """The SIP messages `lib`'s page sent ("out") or received ("in"), in
    order; CRLF keep-alives left out."""
    p = world.phones.get(lib) or {}
    return [SipMessage(m["text"].encode()) for m in p.get("trace", [])
            if m["dir"] == direction and m["text"].strip()]


def requests(world, lib, direction, method):
    return [m for m in trace(world, lib, direction) if m.method == method]


def responses(world, lib, direction, method, status=None):
    return [m for m in trace(world, lib, direction)
            if m.status is not None and m.cseq_method == method and
            (status is None or m.status == status)]


def events(world, lib, what):
    p = world.phones.get(lib) or {}
    return [e for e in p.get("events", []) if e["what"] == what]


def of_call(msgs, call_id):
    return [m for m in msgs if m.get("call-id") == call_id]


def invite_call_id(world, n):
    """The Call-ID of call n, from the INVITE its caller sent."""
    caller = CALLS[n]["caller"]
    invites = requests(world, caller, "out", "INVITE")
    earlier = _calls_before(caller, n)
    assert len(invites) > earlier, (
        "%s sent no INVITE for %s" % (NAME[caller], call_tag(n)))
    return invites[earlier].get("call-id")


def _calls_before(lib, n):
    return sum(1 for c in CALLS[:n] if c["caller"] == lib)


def test_namespace_has_only_loopback_and_the_documentation_address(world):
    """EPSIP and chromium ran where the only addresses are 127.0.0.1 and
    192.0.2.1 (no IPv6, not even link-local)."""
    found = sorted((line.split()[1], line.split()[3])
                   for line in world.addresses.splitlines() if line.strip())
    assert found == [("epsip0", "%s/24" % ADDRESS), ("lo", "127.0.0.1/8")], \
        world.addresses


def test_chromium_without_the_test_ca_refuses_the_edge_certificate(world):
    """The phones' trust comes from the test CA in the NSS database and
    from nothing else: the same chromium with an empty database cannot
    open the WebSocket."""
    assert world.untrusted is not None, (
        "the check without the CA did not run: %s" % world.failed)
    assert world.untrusted["opened"] is False, world.untrusted
    # Refused for its certificate, not for anything else (no listener).
    assert any("ERR_CERT_AUTHORITY_INVALID" in line
               for line in world.untrusted["console"]), world.untrusted
    # And the same edge is trusted with the CA.
    world.step("JsSIP registers over WSS")


@pytest.mark.parametrize("lib", ["jssip", "sipjs"])
def test_phone_registers_over_wss_with_outbound(world, lib):
    world.step("%s registers over WSS" % NAME[lib])
    opened = events(world, lib, "websocket open")
    assert opened and opened[0]["protocol"] == "sip", (
        "no WebSocket with subprotocol sip: %s" % opened)
    regs = requests(world, lib, "out", "REGISTER")
    assert regs, "%s sent no REGISTER" % NAME[lib]
    contact = regs[0].get("contact")
    # RFC 5626 §4.2.1: reg-id and +sip.instance; RFC 7118 §5: transport=ws.
    assert "reg-id=1" in contact and "+sip.instance=" in contact, contact
    assert ";transport=ws" in uri_of(contact), contact
    supported = ",".join(regs[0].all("supported"))
    assert "outbound" in supported, supported
    oks = responses(world, lib, "in", "REGISTER", 200)
    assert oks, "no 200 to REGISTER crossed %s's WebSocket: %s" % (
        NAME[lib], [m.start for m in trace(world, lib, "in")])
    # The edge took it as an outbound registration (RFC 5626 §5.1, EP-04)...
    assert "outbound" in ",".join(oks[0].all("require")), oks[0].raw
    # ...and the library accepted the 200: it found its own Contact in it.
    got = events(world, lib, "registered")
    assert got and got[0]["status"] == 200, got


@pytest.mark.parametrize("lib", ["jssip", "sipjs"])
def test_phone_answers_the_registrars_digest_challenges(world, lib):
    """The phones are users of the registrar (epsipctl user add): the
    first REGISTER gets 401 with SHA-256 and MD5 challenges, the next
    carries MD5 credentials (the libraries know only MD5, and keep only
    the last challenge, MD5) and gets 200; a call's first INVITE gets 407,
    the next carries Proxy-Authorization."""
    world.step("%s registers over WSS" % NAME[lib])
    got = [m for m in trace(world, lib, "in")
           if m.status is not None and m.cseq_method == "REGISTER"]
    assert [m.status for m in got[:2]] == [401, 200], got
    algorithms = [re.search(r"algorithm=([\w-]+)", v).group(1)
                  for v in got[0].rows("www-authenticate")]
    assert algorithms == ["SHA-256", "MD5"], got[0].raw
    regs = requests(world, lib, "out", "REGISTER")
    assert regs[0].get("authorization") is None, regs[0].raw
    creds = regs[1].rows("authorization")
    assert len(creds) == 1 and "algorithm=MD5" in creds[0] and \
        'realm="example.com"' in creds[0] and "qop=auth" in creds[0], creds
    n = next(i for i, c in enumerate(CALLS) if c["caller"] == lib)
    world.step("%s: the call is up on both phones" % call_tag(n))
    call_id = invite_call_id(world, n)
    assert [m.status for m in of_call(responses(world, lib, "in", "INVITE"),
                                      call_id) if m.status >= 200] == \
        [407, 200]
    invites = of_call(requests(world, lib, "out", "INVITE"), call_id)
    assert len(invites) == 2 and invites[0].get("proxy-authorization") \
        is None and invites[1].get("proxy-authorization"), invites


def test_edge_lists_both_wss_flows_with_their_aors(world):
    world.step("SIP.js registers over WSS")
    check_flows(world, "registered")


def check_flows(world, when):
    answer = world.flows.get(when)
    assert answer is not None, "GET /flows was not asked when %s" % when
    assert answer["status"] == 200, answer
    doc = answer["json"]
    assert doc["complete"] is True, doc
    flows = doc["flows"]
    assert doc["total"] == 2 and len(flows) == 2, doc
    assert {f["transport"] for f in flows} == {"wss"}, flows
    assert {f["local"] for f in flows} == {"%s:%d" % (ADDRESS, WSS_PORT)}, \
        flows
    assert sorted(f["aor"] for f in flows) == sorted(AORS.values()), flows


@pytest.mark.parametrize("n", range(len(CALLS)), ids=CALL_IDS)
def test_invite_reaches_the_callee(world, n):
    caller, callee = CALLS[n]["caller"], CALLS[n]["callee"]
    world.step("%s: the INVITE reaches %s" % (call_tag(n), NAME[callee]))
    call_id = invite_call_id(world, n)
    invites = of_call(requests(world, callee, "in", "INVITE"), call_id)
    assert len(invites) == 1, "%s got %d INVITEs of %s" % (
        NAME[callee], len(invites), call_id)
    inv = invites[0]
    assert AORS[caller] in inv.get("from"), inv.get("from")
    # Over the callee's own flow (EP-10): the edge Record-Routes itself.
    assert inv.all("record-route"), inv.raw
    got = [e for e in events(world, callee, "invite received")
           if e["from"] == AORS[caller]]
    assert got, events(world, callee, "invite received")


@pytest.mark.parametrize("n", range(len(CALLS)), ids=CALL_IDS)
def test_call_is_up_on_both_phones(world, n):
    caller, callee = CALLS[n]["caller"], CALLS[n]["callee"]
    world.step("%s: the call is up on both phones" % call_tag(n))
    call_id = invite_call_id(world, n)
    oks = of_call(responses(world, caller, "in", "INVITE", 200), call_id)
    assert oks, "no 200 to the INVITE reached %s" % NAME[caller]
    acks = of_call(requests(world, callee, "in", "ACK"), call_id)
    assert acks, "the ACK did not reach %s" % NAME[callee]
    for lib in (caller, callee):
        assert events(world, lib, CALL_UP[lib]), (
            "%s never said %s" % (NAME[lib], CALL_UP[lib]))


@pytest.mark.parametrize("n", range(len(CALLS)), ids=CALL_IDS)
def test_ice_connects_and_audio_flows_both_ways(world, n):
    world.step("%s: ICE connects on both phones" % call_tag(n))
    media = world.step("%s: audio both ways" % call_tag(n))["media"]
    for lib, m in media.items():
        pair = m["pair"]
        assert pair and pair["state"] == "succeeded", (NAME[lib], m)
        assert pair["local"].startswith(ADDRESS + ":"), (NAME[lib], pair)
        assert pair["remote"].startswith(ADDRESS + ":"), (NAME[lib], pair)
        assert m["packetsReceived"] > 0 and m["packetsSent"] > 0, (
            NAME[lib], m)


@pytest.mark.parametrize("n", range(len(CALLS)), ids=CALL_IDS)
def test_edge_holds_two_wss_flows_during_the_call(world, n):
    world.step("%s: audio both ways" % call_tag(n))
    check_flows(world, "call %d up" % (n + 1))


@pytest.mark.parametrize("n", range(len(CALLS)), ids=CALL_IDS)
def test_bye_ends_the_call_on_both_phones(world, n):
    c = CALLS[n]
    hanger = c[c["hangup"]]
    other = c["callee"] if hanger == c["caller"] else c["caller"]
    world.step("%s: %s's BYE ends the call on both phones"
               % (call_tag(n), NAME[hanger]))
    call_id = invite_call_id(world, n)
    assert of_call(requests(world, hanger, "out", "BYE"), call_id), (
        "%s sent no BYE" % NAME[hanger])
    assert of_call(requests(world, other, "in", "BYE"), call_id), (
        "the BYE did not reach %s" % NAME[other])
    assert of_call(responses(world, other, "out", "BYE", 200), call_id), (
        "%s did not answer the BYE 200" % NAME[other])
    assert of_call(responses(world, hanger, "in", "BYE", 200), call_id), (
        "the 200 to the BYE did not reach %s" % NAME[hanger])
    ended = {"jssip": "ended", "sipjs": "terminated"}
    for lib in (hanger, other):
        assert events(world, lib, ended[lib]), (
            "%s never said %s" % (NAME[lib], ended[lib]))
