"""The browser test's own network namespace: loopback plus one veth
interface holding 192.0.2.1/24 (a documentation address, RFC 5737); its
peer, also inside, has no address at all, and IPv6 is off in the
namespace, so no link-local address appears either.

EPSIP and chromium both run inside it.  The dummy interface is there for
WebRTC: chromium gathers no ICE candidate on loopback, so with loopback
alone a call never gets a candidate pair (and JsSIP, which has no
gathering timeout, waits in answer() forever).  Nothing in the namespace
routes anywhere else: both ends of the veth pair are inside it.  (A veth
pair rather than a dummy device: a kernel without the dummy module has
veth, which the NAT lab needs anyway.)

    ns = Netns().up()           # ip netns add, lo up, dummy 192.0.2.1/24
    ns.exec_prefix()            # ["ip", "netns", "exec", NAME]
    with ns.inside(): ...       # sockets opened in the block live inside
    ns.down()                   # ip netns del (the veth pair goes with it)
"""
import contextlib
import ctypes
import os
import random
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

PREFIX = "epsip-browser-"
ADDRESS = "192.0.2.1"
PREFIXLEN = 24


def run(*cmd, ns=None):
    if ns is not None:
        cmd = ("ip", "netns", "exec", ns) + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=20)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stderr.strip()))
    return p.stdout


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


class Netns:
    def __init__(self):
        self.name = "%s%d-%05x" % (PREFIX, os.getpid(),
                                   random.getrandbits(20))
        self.ifname = "epsip0"
        self.peer = "epsip1"
        self.created = False

    def up(self):
        run("ip", "netns", "add", self.name)
        self.created = True
        try:
            run("ip", "link", "set", "lo", "up", ns=self.name)
            # No IPv6 link-local address on the veths (these sysctls are
            # the namespace's own).
            for key in ("all", "default"):
                run("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % key,
                    ns=self.name)
            # Both ends made inside the namespace: nothing ever appears in
            # the host's.
            run("ip", "-n", self.name, "link", "add", self.ifname,
                "type", "veth", "peer", "name", self.peer)
            run("ip", "-n", self.name, "addr", "add",
                "%s/%d" % (ADDRESS, PREFIXLEN), "dev", self.ifname)
            for dev in (self.peer, self.ifname):
                run("ip", "-n", self.name, "link", "set", dev, "up")
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        """Delete the namespace.  Callers stop their processes in it first:
        a process still inside keeps the namespace (not its name) alive."""
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
            self.created = False

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def addresses(self):
        """Every IPv4/IPv6 address inside, as `ip -o addr` prints them."""
        return run("ip", "-n", self.name, "-o", "addr", "show")

    @contextlib.contextmanager
    def inside(self):
        """Run the block (on this thread) inside the namespace: a socket
        stays in the namespace it was opened in."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            _setns(there)
            try:
                yield
            finally:
                _setns(here)
        finally:
            os.close(here)
            os.close(there)


def leftovers():
    """This suite's namespaces still present (any run)."""
    out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    return [l.split()[0] for l in out.splitlines() if l.startswith(PREFIX)]
