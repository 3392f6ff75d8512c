"""Start and stop Debian's HAProxy for a test: an L4 (TCP mode) load
balancer on loopback in front of EPSIP edges, sending each edge a PROXY
protocol header (docs/deployment.md, "Behind a load balancer").

    if not haproxy.available():
        pytest.skip(haproxy.why_unavailable())
    lb = Haproxy([("a", edge_a.sip_addr, "send-proxy"),
                  ("b", edge_b.sip_addr, "send-proxy-v2")]).start()
    lb.sip_addr                 # ("127.0.0.1", port): phones connect here
    lb.stop()                   # SIGTERM by PID, SIGKILL if need be, rm tmp

The configuration is the shipped deploy/topologies/haproxy.cfg with the
test's addresses (rewrite()), written into a temp dir of the test's own,
checked with "haproxy -c", and run in the foreground (-db) so that the
process started is the one stopped (daemon.py does the running).  It binds only 127.0.0.1, on a port
from free_port(); health checks every 200 ms mark a dead edge down at
the first failure, and a connection refused by a dead edge is sent to
another (redispatch).
"""
import os

from daemon import Daemon
from edge import executable, free_port


def binary():
    """The haproxy executable ($HAPROXY_BIN, else PATH, else /usr/sbin),
    or None."""
    return executable("HAPROXY_BIN", "haproxy")


def why_unavailable():
    if binary() is None:
        return "haproxy not installed (apt-get install haproxy)"
    return None


def available():
    return why_unavailable() is None


SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "..", "deploy", "topologies", "haproxy.cfg")
# A dead edge is marked down at the first failed check, 200 ms apart.
FAST_CHECKS = "check inter 200ms fall 1 rise 1"


def rewrite(shipped, port, servers):
    """The shipped configuration with the test's addresses: the frontend
    bound to 127.0.0.1:port, `servers` instead of the shipped ones, and
    fast checks.  Fails if the file no longer has the lines replaced."""
    out, done = [], set()
    for line in shipped.splitlines():
        word = line.split()[0] if line.split() else ""
        indent = line[:len(line) - len(line.lstrip())]
        if word == "bind":
            out.append("%sbind 127.0.0.1:%d" % (indent, port))
        elif word == "default-server":
            out.append("%sdefault-server %s" % (indent, FAST_CHECKS))
        elif word == "server":
            if "server" not in done:
                out += ["%sserver %s %s:%d %s" % (indent, name, addr[0],
                                                  addr[1], proxy)
                        for name, addr, proxy in servers]
        else:
            out.append(line)
            continue
        done.add(word)
    assert done == {"bind", "default-server", "server"}, done
    return "\n".join(out) + "\n"


def listening(port, host_hex="0100007F"):
    """A TCP socket listens on 127.0.0.1:port (read from /proc/net/tcp,
    so that asking does not itself make a connection to an edge)."""
    want = "%s:%04X" % (host_hex, port)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    return False


class Haproxy(Daemon):
    name = "haproxy"
    tmp_prefix = "epsip-haproxy-"

    def __init__(self, servers, port=None):
        """servers: (name, (host, port), "send-proxy" | "send-proxy-v2")."""
        super().__init__()
        self.port = port or free_port()
        self.sip_addr = ("127.0.0.1", self.port)   # a sip.Phone's "edge"
        self.servers = servers

    def config(self):
        with open(SHIPPED) as f:
            return rewrite(f.read(), self.port, self.servers)

    def prepare(self):
        self.cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(self.config())

    def check_cmd(self):
        return [binary(), "-c", "-f", self.cfg]

    def run_cmd(self):
        return [binary(), "-db", "-f", self.cfg]

    def is_up(self):
        return listening(self.port)

    def up_what(self):
        return "haproxy to listen on 127.0.0.1:%d" % self.port
