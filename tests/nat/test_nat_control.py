"""Control: without outbound and without keep-alives the same NAT forgets
the phone.  A plain UDP phone (no reg-id, no +sip.instance, never pings)
registers through the NAT, is reachable at first, and after the NAT timeout
the binding is gone: EPSIP still sends the request to the old public
address (seen on the wire), but nothing reaches the phone."""
import time

import lab as labmod
from edge import wait_for


def test_plain_registration_unreachable_after_nat_timeout(world):
    w = world
    phone = w.phone("phone", "udp", user="bob", local_ip=labmod.PHONE_IP,
                    port=5070)
    ok = phone.register(expires=120, outbound=False)
    assert ok is not None and ok.status == 200
    assert "outbound" not in (ok.get("require") or "")
    # (stats are gathered from the services every so often)
    wait_for(lambda: w.edge.counter("registrations.active") >= 1,
             timeout=5, what="registrations.active >= 1")
    ct = w.lab.conntrack("udp", sport=5070, dport=5060)
    assert ct, "no NAT binding after registering"
    caller = w.phone("public", "udp", user="alice",
                     local_ip=labmod.CALLER_IP)

    # Reachable while the binding is fresh (this also refreshes it).
    caller.request("MESSAGE", "sip:bob@example.com", body="before",
                   extra="Content-Type: text/plain\r\n")
    msg = phone.recv(timeout=5, want=lambda m: m.method == "MESSAGE")
    assert msg is not None and msg.body == b"before"
    phone.reply(msg, 200)
    assert caller.recv(timeout=5, want=lambda m: m.status == 200) is not None
    t0 = time.monotonic()

    # The NAT binding really expires: gone within the NAT timeout (+ slack
    # for the conntrack garbage collector), and not before most of it.
    wait_for(lambda: not w.lab.conntrack("udp", sport=5070, dport=5060),
             timeout=labmod.NAT_TIMEOUT["udp"] + 8, interval=0.5,
             what="NAT binding to expire")
    gone_after = time.monotonic() - t0
    assert gone_after >= labmod.NAT_TIMEOUT["udp"] - 3, gone_after
    # EPSIP still holds the registration (expires 120 s): only the NAT
    # forgot.
    assert w.edge.counter("registrations.active") >= 1

    caller.request("MESSAGE", "sip:bob@example.com", body="after",
                   extra="Content-Type: text/plain\r\n")
    assert phone.recv_raw(timeout=5) is None, \
        "the phone was reached without a NAT binding"
    final = caller.recv(timeout=3, want=lambda m: m.status is not None and
                        m.status >= 200)
    assert final is None or final.status >= 300, final
    # On the wire: EPSIP did send it to the NAT's old public address, where
    # the NAT dropped it.
    sent = wait_for(lambda: [
        p for p in labmod.packets(w.capture.text())
        if p[0] == labmod.EDGE_IP and p[2] == labmod.NAT_OUTSIDE_IP and
        p[3] == 5070 and "MESSAGE sip:" in p[4] and "\nafter" in p[4]],
        timeout=3, what="MESSAGE towards the NAT on the wire")
    assert sent
    assert not w.lab.conntrack("udp", sport=5070, dport=5060)
