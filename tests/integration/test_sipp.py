"""A real third-party SIP stack as the phone: sipp registers through the
edge with outbound, checks Path/Require/Flow-Timer, and answers the call
that the edge delivers over its flow (call flows a and b)."""
import os
import shutil
import subprocess

import pytest

from edge import free_port, wait_for
from sip import Phone, uri_of

SCENARIO = os.path.join(os.path.dirname(__file__), "..", "sipp",
                        "outbound_phone_answers.xml")


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_phone_registers_and_answers_over_its_flow(edge, transport,
                                                         tmp_path):
    port = free_port()
    sipp = subprocess.Popen(
        ["sipp", "127.0.0.1:%d" % edge.port, "-sf", SCENARIO, "-s", "bob",
         "-m", "1", "-t", transport, "-cid_str", "sipp-call-%u",
         "-i", "127.0.0.1", "-p", str(port),
         "-timeout", "20", "-timeout_error", "-nostdin",
         "-trace_err", "-error_file", str(tmp_path / "sipp.err")],
        # sipp maps an incoming INVITE to a call by Call-ID: the caller
        # below uses the Call-ID of sipp's registration call ("-cid_str").
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path))
    try:
        wait_for(lambda: edge.counter("registrar.register.ok") >= 1,
                 what="sipp registration")
        alice = Phone(edge, "udp", user="alice")
        assert alice.register().status == 200
        alice.request("INVITE", "sip:bob@example.com", call_id="sipp-call-1")
        ok = alice.recv(timeout=5, want=lambda m: m.status == 200 and
                        m.cseq_method == "INVITE")
        assert ok is not None
        routes = list(reversed(ok.all("record-route")))
        target = uri_of(ok.get("contact"))
        from_tag = ok.get("from").split("tag=")[1]
        to_tag = ok.get("to").split("tag=")[1]
        alice.request("ACK", target, to="sip:bob@example.com",
                      call_id="sipp-call-1", routes=routes,
                      from_tag=from_tag, to_tag=to_tag,
                      cseq=int(ok.get("cseq").split()[0]))
        alice.request("BYE", target, to="sip:bob@example.com",
                      call_id="sipp-call-1", routes=routes,
                      from_tag=from_tag, to_tag=to_tag)
        bye_ok = alice.recv(timeout=5, want=lambda m: m.status == 200 and
                            m.cseq_method == "BYE")
        assert bye_ok is not None
        rc = sipp.wait(timeout=10)
        err = sipp.stderr.read().decode(errors="replace")
        errfile = tmp_path / "sipp.err"
        assert rc == 0, "sipp failed (%d): %s %s" % (
            rc, err, errfile.read_text() if errfile.exists() else "")
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
