"""Issue 7 §2 (SP-06, SP-17): headers the edge does not own leave byte for
byte -- name case, order, comma lists, compact forms -- both on the INVITE
the home proxy forwards to a registered phone and on the phone's answer it
relays back to the caller."""
from sip import Phone

# What libosip2 would print differently: a header name's case, the
# spacing of a comma list, a compact form, no space after the colon.
CALLER_LINES = ("X-Custom-Header: Keep This Case\r\n"
                "P-Asserted-Identity: <sip:dave@example.test>\r\n"
                "User-Agent: Test UA/1.0\r\n"
                "Allow: INVITE, ACK, BYE\r\n"
                "s:Call  me back\r\n")
PHONE_LINES = ("X-Phone-Header: Mixed CASE\r\n"
               "Allow: INVITE, ACK, CANCEL\r\n"
               "server:Bob's  Phone\r\n")


def invite_at_phone(make_edge):
    """alice (UDP) INVITEs bob (TCP); returns (alice, bob, INVITE at bob)."""
    edge = make_edge()
    bob = Phone(edge, "tcp", user="bob")
    assert bob.register().status == 200
    alice = Phone(edge, "udp", user="alice")
    assert alice.register().status == 200
    alice.request("INVITE", bob.aor(), extra=CALLER_LINES)
    inv = bob.recv(want=lambda m: m.method == "INVITE")
    assert inv is not None, "INVITE did not reach the phone"
    return alice, bob, inv


def test_incoming_invite_reaches_the_phone_with_unowned_headers_unchanged(
        make_edge):
    _, _, inv = invite_at_phone(make_edge)
    assert CALLER_LINES.encode() in inv.raw, inv.raw.decode()


def test_the_phones_180_reaches_the_caller_with_its_own_headers_unchanged(
        make_edge):
    alice, bob, inv = invite_at_phone(make_edge)
    bob.reply(inv, 180, "Ringing", to_tag="b1", extra=PHONE_LINES)
    ringing = alice.recv(want=lambda m: m.status == 180)
    assert ringing is not None, "the 180 did not reach the caller"
    assert PHONE_LINES.encode() in ringing.raw, ringing.raw.decode()
