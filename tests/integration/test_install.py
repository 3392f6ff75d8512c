"""`make install` (issue 10 §7): every file goes where the systemd unit
expects it, under DESTDIR and PREFIX.  The installed epsipd, started
through its link on the PATH, finds the services beside its real file and
answers /health, and epsipctl, through its link, reads its status.  The
man pages format without a warning.  A second install keeps the operator's
epsip.conf.  The executables installed are the ones under test
(EPSIP_BIN), through INSTALL_BINS."""
import os
import shutil
import stat
import subprocess

import pytest

from edge import BIN

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = ("epsip-flow-manager", "epsip-registrar-bridge",
            "epsip-sip-router")
TOOLS = ("epsipctl",)

EXPECTED = {
    "etc/epsip/epsip.conf": "0644",
    "etc/epsip/epsip.conf.example": "0644",
    "usr/lib/systemd/system/epsip.service": "0644",
    "usr/libexec/epsip/epsipd": "0755",
    "usr/libexec/epsip/epsip-flow-manager": "0755",
    "usr/libexec/epsip/epsip-registrar-bridge": "0755",
    "usr/libexec/epsip/epsip-sip-router": "0755",
    "usr/libexec/epsip/epsipctl": "0755",
    "usr/sbin/epsipd": "-> ../libexec/epsip/epsipd",
    "usr/sbin/epsipctl": "-> ../libexec/epsip/epsipctl",
    "usr/share/man/man5/epsip.conf.5": "0644",
    "usr/share/man/man8/epsipd.8": "0644",
    "usr/share/man/man8/epsipctl.8": "0644",
    "usr/share/doc/epsip/architecture.md": "0644",
    "usr/share/doc/epsip/configuration.md": "0644",
    "usr/share/doc/epsip/deployment.md": "0644",
    "usr/share/doc/epsip/operations.md": "0644",
    "usr/share/doc/epsip/security.md": "0644",
    "usr/share/doc/epsip/transports.md": "0644",
}


def make_install(destdir, prefix="/usr"):
    bins = [os.path.join(BIN, b) for b in ("epsipd",) + SERVICES + TOOLS]
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT,
                        "install", "DESTDIR=%s" % destdir,
                        "PREFIX=%s" % prefix,
                        "INSTALL_BINS=%s" % " ".join(bins)],
                       capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def installed(destdir):
    """{relative path: "0644" or "-> link target"} of every file."""
    out = {}
    for top, _, files in os.walk(destdir):
        for name in files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, destdir)
            if os.path.islink(path):
                out[rel] = "-> " + os.readlink(path)
            else:
                out[rel] = "%04o" % stat.S_IMODE(os.stat(path).st_mode)
    return out


def unit_paths(unit):
    """The absolute paths the unit runs and points at."""
    paths = []
    with open(unit) as f:
        text = f.read().replace("\\\n", " ")
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStartPre"):
            words = value.split()
            paths.append(words[0])
            if "--libexec-dir" in words:
                paths.append(words[words.index("--libexec-dir") + 1])
        elif key == "Documentation":
            paths.append(value[len("file:"):])
    return paths


def test_install_puts_every_file_where_the_unit_expects_it(tmp_path):
    dest = str(tmp_path / "root")
    make_install(dest)
    assert installed(dest) == EXPECTED
    paths = unit_paths(os.path.join(
        dest, "usr/lib/systemd/system/epsip.service"))
    assert "/usr/libexec/epsip/epsipd" in paths
    assert "/usr/libexec/epsip" in paths
    for path in paths:
        assert os.path.exists(dest + path), path
        assert not path.startswith("/usr/local/"), path


def test_installed_epsipd_on_the_path_starts_and_answers_health(
        make_edge, tmp_path):
    dest = str(tmp_path / "root")
    make_install(dest)
    edge = make_edge("--config", os.path.join(dest, "etc/epsip/epsip.conf"),
                     bin_dir=os.path.join(dest, "usr/sbin"))
    status, body = edge.http("/health")
    assert status == 200 and b'"ok"' in body
    # Found through /proc/self/exe: the services run from libexec.
    libexec = os.path.join(dest, "usr/libexec/epsip")
    services = edge.stats()["services"]
    for name in ("flow-manager", "registrar-bridge", "sip-router"):
        exe = os.readlink("/proc/%d/exe" % services[name]["pid"])
        assert exe == os.path.join(libexec, "epsip-" + name)
    r = subprocess.run([os.path.join(dest, "usr/sbin/epsipctl"), "--stats",
                        "127.0.0.1:%d" % edge.stats_port, "status"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("health: ok\n")


@pytest.mark.skipif(shutil.which("groff") is None, reason="no groff")
def test_installed_man_pages_format_without_warnings(tmp_path):
    dest = str(tmp_path / "root")
    make_install(dest)
    for page in ("man5/epsip.conf.5", "man8/epsipd.8", "man8/epsipctl.8"):
        r = subprocess.run(["groff", "-mdoc", "-Tutf8", "-ww", "-z",
                            os.path.join(dest, "usr/share/man", page)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", page + ": " + r.stderr


def test_install_again_keeps_the_operators_epsip_conf(tmp_path):
    dest = str(tmp_path / "root")
    make_install(dest)
    conf = os.path.join(dest, "etc/epsip/epsip.conf")
    with open(conf, "w") as f:
        f.write("flow-timer = 42\n")
    make_install(dest)
    with open(conf) as f:
        assert f.read() == "flow-timer = 42\n"
    with open(conf + ".example") as f, \
            open(os.path.join(ROOT, "deploy/epsip.conf.example")) as g:
        assert f.read() == g.read()
