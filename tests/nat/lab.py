"""A three-namespace NAT lab: phone -- nat -- public.

    phone ns                 nat ns                        public ns
    192.0.2.2/24  ---veth--- 192.0.2.1/24 | 203.0.113.1/24 ---veth--- 203.0.113.10/24 (EPSIP)
    default via 192.0.2.1    masquerade 192.0.2.0/24              203.0.113.20/24 (caller)
                             out of the outside veth

The NAT's conntrack timeouts are set INSIDE the nat namespace (these
sysctls are per network namespace; the lab checks the host's are left
alone).  Every name carries a per-run id, and teardown deletes the
namespaces (which takes their veths with them) whatever happened.

Sockets are opened inside a namespace with setns(2) on the calling thread
(`with lab.inside("phone"): socket.socket(...)`): a socket stays in the
namespace it was created in, so the test process can drive phones and
callers on either side of the NAT directly.
"""
import contextlib
import ctypes
import os
import random
import re
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

PHONE_IP = "192.0.2.2"
NAT_INSIDE_IP = "192.0.2.1"
NAT_OUTSIDE_IP = "203.0.113.1"
EDGE_IP = "203.0.113.10"
CALLER_IP = "203.0.113.20"

# NAT binding lifetimes in seconds.  TCP is longer because baresip's libre
# never sends CRLF keep-alives more often than every 16-20 s (it raises any
# Flow-Timer below 20 s to 20 s), so the TCP lab advertises Flow-Timer 20.
# TLS is TCP to the NAT: the same established-TCP conntrack timeout.
NAT_TIMEOUT = {"udp": 20, "tcp": 30, "tls": 30}

SYSCTLS = {
    "net.netfilter.nf_conntrack_udp_timeout": NAT_TIMEOUT["udp"],
    "net.netfilter.nf_conntrack_udp_timeout_stream": NAT_TIMEOUT["udp"],
    "net.netfilter.nf_conntrack_tcp_timeout_established": NAT_TIMEOUT["tcp"],
}


def run(*cmd, check=True, ns=None, input=None):
    if ns is not None:
        cmd = ("ip", "netns", "exec", ns) + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       input=input, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stderr.strip()))
    return p.stdout


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


class Lab:
    def __init__(self):
        self.id = "%05x" % random.getrandbits(20)
        tag = "%d-%s" % (os.getpid(), self.id)
        self.ns = {"phone": "epsip-nat-phone-" + tag,
                   "nat": "epsip-nat-nat-" + tag,
                   "public": "epsip-nat-pub-" + tag}
        # Interface names live inside the namespaces, but keep them short
        # (IFNAMSIZ 15) and unique anyway.
        self.if_phone = "ep" + self.id     # in phone ns
        self.if_nat_in = "ei" + self.id    # in nat ns, inside
        self.if_nat_out = "eo" + self.id   # in nat ns, outside
        self.if_public = "eu" + self.id    # in public ns
        self.created = []

    # -- setup / teardown ---------------------------------------------------
    def up(self):
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self):
        host_before = {k: run("sysctl", "-n", k).strip() for k in SYSCTLS}
        for name in self.ns.values():
            run("ip", "netns", "add", name)
            self.created.append(name)
        P, N, U = self.ns["phone"], self.ns["nat"], self.ns["public"]
        # veth pairs created directly inside their namespaces: nothing is
        # ever left in the host namespace.
        run("ip", "link", "add", self.if_phone, "netns", P, "type", "veth",
            "peer", "name", self.if_nat_in, "netns", N)
        run("ip", "link", "add", self.if_nat_out, "netns", N, "type", "veth",
            "peer", "name", self.if_public, "netns", U)
        for ns in (P, N, U):
            run("ip", "link", "set", "lo", "up", ns=ns)
        run("ip", "addr", "add", PHONE_IP + "/24", "dev", self.if_phone, ns=P)
        run("ip", "link", "set", self.if_phone, "up", ns=P)
        run("ip", "route", "add", "default", "via", NAT_INSIDE_IP, ns=P)
        run("ip", "addr", "add", NAT_INSIDE_IP + "/24", "dev", self.if_nat_in,
            ns=N)
        run("ip", "addr", "add", NAT_OUTSIDE_IP + "/24", "dev",
            self.if_nat_out, ns=N)
        run("ip", "link", "set", self.if_nat_in, "up", ns=N)
        run("ip", "link", "set", self.if_nat_out, "up", ns=N)
        for ip in (EDGE_IP, CALLER_IP):
            run("ip", "addr", "add", ip + "/24", "dev", self.if_public,
                "nodad", ns=U)
        run("ip", "link", "set", self.if_public, "up", ns=U)
        run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=N)
        run("nft", "-f", "-", ns=N, input="""
table ip epsipnat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr 192.0.2.0/24 oifname "%s" masquerade
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "%s" oifname "%s" accept
    }
}
""" % (self.if_nat_out, self.if_nat_in, self.if_nat_out))
        for key, value in SYSCTLS.items():
            run("sysctl", "-qw", "%s=%d" % (key, value), ns=N)
            got = run("sysctl", "-n", key, ns=N).strip()
            assert got == str(value), (key, got)
        host_after = {k: run("sysctl", "-n", k).strip() for k in SYSCTLS}
        # The conntrack timeouts really are per namespace on this kernel.
        assert host_after == host_before, (host_before, host_after)
        # Sanity: the phone reaches the public side through the NAT.
        run("ping", "-c1", "-W2", EDGE_IP, ns=P) if _has("ping") else None

    def down(self):
        for name in reversed(self.created):
            # Processes still inside would keep the netns alive (not its
            # name): callers stop their own processes first.
            run("ip", "netns", "del", name, check=False)
        self.created = []

    # -- helpers ------------------------------------------------------------
    @contextlib.contextmanager
    def inside(self, which):
        """Run the block (on this thread) inside namespace `which`."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/" + self.ns[which], os.O_RDONLY)
        try:
            _setns(there)
            try:
                yield
            finally:
                _setns(here)
        finally:
            os.close(here)
            os.close(there)

    def exec_prefix(self, which):
        return ["ip", "netns", "exec", self.ns[which]]

    def conntrack(self, proto, sport=None, dport=None):
        """Conntrack entries of the NAT (list of lines) for proto, filtered
        on the original direction's source/destination port."""
        out = run("conntrack", "-L", "-p", proto, check=False, ns=self.ns["nat"])
        rows = []
        for line in out.splitlines():
            if not line.startswith(proto):
                continue
            first = {}
            for word in line.split():
                k, eq, v = word.partition("=")
                if eq and k not in first:
                    first[k] = v
            if first.get("src") != PHONE_IP:
                continue
            if sport is not None and first.get("sport") != str(sport):
                continue
            if dport is not None and first.get("dport") != str(dport):
                continue
            rows.append(line)
        return rows


def _has(cmd):
    return any(os.access(os.path.join(d, cmd), os.X_OK)
               for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"))


def leftovers():
    """Namespaces of this suite still present (any run)."""
    out = run("ip", "netns", "list", check=False)
    return [l.split()[0] for l in out.splitlines()
            if l.startswith("epsip-nat-")]


_PKT = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): ")


def packets(text):
    """tcpdump -n -A output as [(src, sport, dst, dport, payload text)].

    The payload keeps the IP/UDP/TCP headers as -A printed them; SIP text
    starts at the request or status line, so tests search it for
    substrings."""
    out, cur = [], None
    for line in text.splitlines():
        m = _PKT.match(line)
        if m:
            cur = [m.group(2), int(m.group(3)), m.group(4), int(m.group(5)),
                   []]
            out.append(cur)
        elif cur is not None:
            cur[4].append(line)
    return [(a, b, c, d, "\n".join(e)) for a, b, c, d, e in out]
