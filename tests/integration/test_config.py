"""Configuration: defaults, a commented file, flags over the file, and a
one-line error naming the key with exit status 2 for anything bad."""
import os
import subprocess

from edge import BIN
from sip import Phone

EPSIPD = os.path.join(BIN, "epsipd")


def run(*args):
    return subprocess.run([EPSIPD] + list(args), capture_output=True,
                          text=True, timeout=10)


def test_bad_value_is_one_line_naming_the_key_and_exit_2():
    r = run("--flow-timer", "abc", "-n")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "flow-timer" in lines[0]


def test_unknown_key_in_file_names_file_line_and_key(tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("# comment\nlisten = 127.0.0.1:5099\nflow-timr = 30\n")
    r = run("--config", str(conf), "-n")
    assert r.returncode == 2
    assert r.stderr.strip() == "epsipd: %s:3: flow-timr: unknown key" % conf


def test_check_only_accepts_commented_file(tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("# EPSIP\n\nlisten = 127.0.0.1:5099   # phones\n"
                    "domain = example.com\nrecord-route = outbound\n")
    r = run("--config", str(conf), "-n")
    assert r.returncode == 0 and "configuration OK" in r.stdout


def test_help_lists_every_flag_the_issue_names():
    r = run("--help")
    assert r.returncode == 0
    for flag in ("--listen", "--domain", "--run-dir", "--stats", "--config",
                 "--flows-per-child", "--flow-timer", "--log-level"):
        assert flag in r.stdout


def test_flags_override_the_file(make_edge, tmp_path):
    conf = tmp_path / "epsip.conf"
    conf.write_text("flow-timer = 77\nflow-timer = 66   # last one wins\n")
    edge = make_edge("--config", str(conf), "--flow-timer", "42")
    resp = Phone(edge, "tcp").register()
    assert resp.get("flow-timer") == "42"
    with open(os.path.join(edge.run_dir, "epsip.conf")) as f:
        assert "flow-timer = 42" in f.read()


def test_environment_variables_configure_the_edge(make_edge, monkeypatch):
    # Containers and systemd EnvironmentFile=: EPSIP_<FLAG>.
    monkeypatch.setenv("EPSIP_FLOW_TIMER", "37")
    edge = make_edge()
    assert Phone(edge, "udp").register().get("flow-timer") == "37"


def test_bad_environment_value_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.setenv("EPSIP_LISTEN", "nowhere")
    r = run("-n")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("epsipd: EPSIP_LISTEN: listen:")
