"""Boot a Debian bookworm under systemd-nspawn for a test of the systemd
unit (test_systemd_unit.py): systemd as PID 1 of a container, the edge
installed into it by bind mounts, sharing the host's network so the test
talks to it on loopback.

    why = Container.why_unavailable()
    with Container(dest, ["/usr/libexec/epsip", ...], log) as c:
        c.run("systemctl", "start", "epsip")

The root file system is built once with debootstrap (minbase, systemd,
dbus; about 30 s, needs deb.debian.org) and kept in
/var/cache/epsip-test-systemd; the runtime libraries of the executables
under test are added to it when missing.  The container mounts it
read-only under a tmpfs (--volatile=overlay): nothing a test does is
kept, and two tests can share it.  Stopping sends nspawn SIGTERM, which
halts the container; its mounts live in nspawn's own mount namespace and
go with it.
"""
import fcntl
import os
import shutil
import signal
import subprocess
import time

CACHE = os.environ.get("EPSIP_SYSTEMD_CACHE",
                       "/var/cache/epsip-test-systemd")
ROOT = os.path.join(CACHE, "bookworm")
MIRROR = "http://deb.debian.org/debian"
BOOT_TIMEOUT = 30


class Unavailable(Exception):
    """This machine cannot run the container; the message says why."""


def _tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _package_of(path):
    """The Debian package that installed the library at path, or None.
    dpkg knows a file by the name it was installed under, which on a
    merged /usr may be the /lib or the /usr/lib one."""
    real = os.path.realpath(path)
    candidates = [path, real]
    for p in (path, real):
        if p.startswith("/usr/"):
            candidates.append(p[len("/usr"):])
        else:
            candidates.append("/usr" + p)
    for c in candidates:
        r = subprocess.run(["dpkg-query", "-S", c], capture_output=True,
                           text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


def runtime_packages(executables):
    """The packages of every library the executables load (ldd)."""
    packages = set()
    for exe in executables:
        r = subprocess.run(["ldd", exe], capture_output=True, text=True,
                           check=True)
        for line in r.stdout.splitlines():
            words = line.split()
            if "=>" in words and len(words) > words.index("=>") + 1:
                lib = words[words.index("=>") + 1]
                if lib.startswith("/"):
                    package = _package_of(lib)
                    if package is None:
                        raise Unavailable("no package has %s" % lib)
                    packages.add(package)
    return sorted(packages)


def _installed_in_root(package):
    r = subprocess.run(["dpkg-query", "--admindir",
                        os.path.join(ROOT, "var/lib/dpkg"), "-W",
                        "-f=${Status}", package], capture_output=True,
                       text=True)
    return r.returncode == 0 and r.stdout.endswith(" installed")


def prepare_root(executables):
    """ROOT, built when missing, with the executables' libraries."""
    os.makedirs(CACHE, exist_ok=True)
    log = os.path.join(CACHE, "prepare.log")
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isdir(ROOT):
            tmp = ROOT + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            with open(log, "w") as out:
                r = subprocess.run(["debootstrap", "--variant=minbase",
                                    "--include=systemd,systemd-sysv,dbus",
                                    "bookworm", tmp, MIRROR], stdout=out,
                                   stderr=subprocess.STDOUT, timeout=600)
            if r.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise Unavailable("debootstrap failed:\n" + _tail(log))
            os.rename(tmp, ROOT)
        missing = [p for p in runtime_packages(executables)
                   if not _installed_in_root(p)]
        if missing:
            script = ("apt-get update -qq && apt-get install -y -qq "
                      "--no-install-recommends %s && apt-get clean"
                      % " ".join(missing))
            with open(log, "a") as out:
                r = subprocess.run(["chroot", ROOT, "sh", "-c", script],
                                   stdout=out, stderr=subprocess.STDOUT,
                                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:"
                                        "/bin", "DEBIAN_FRONTEND":
                                        "noninteractive"}, timeout=600)
            if r.returncode != 0:
                raise Unavailable("installing %s into %s failed:\n%s"
                                  % (" ".join(missing), ROOT, _tail(log)))
    return ROOT


class Container:
    def __init__(self, dest, paths, log_path):
        """paths: absolute paths inside the container that are bound,
        read-only, from the same path under dest."""
        self.dest = dest
        self.paths = paths
        self.log_path = log_path
        self.name = "epsip-test-%d" % os.getpid()
        self.proc = None
        self.leader = None

    @staticmethod
    def why_unavailable():
        if os.geteuid() != 0:
            return "not root (systemd-nspawn needs root)"
        for tool in ("systemd-nspawn", "nsenter", "debootstrap", "chroot",
                     "dpkg-query", "ldd"):
            if shutil.which(tool) is None:
                return "%s not installed (apt-get install systemd-container " \
                    "debootstrap)" % tool
        return None

    def start(self, executables):
        root = prepare_root(executables)
        cmd = ["systemd-nspawn", "--quiet", "--directory", root,
               "--volatile=overlay", "--boot", "--machine", self.name,
               "--console=pipe"]
        # Without systemd as the host's init there is no bus to register
        # the machine with or to ask for a scope: stay in our own cgroup.
        if not os.path.isdir("/run/systemd/system"):
            cmd += ["--register=no", "--keep-unit"]
        for p in self.paths:
            cmd.append("--bind-ro=%s:%s" % (self.dest + p, p))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            self.leader = self._wait_for_init()
            state = self._wait_for_boot()
        except (Unavailable, subprocess.TimeoutExpired) as e:
            self.stop()
            raise Unavailable("the container did not boot: %s\n%s"
                              % (e, _tail(self.log_path)))
        if state not in ("running", "degraded"):
            failed = self.run("systemctl", "--failed", "--no-pager").stdout
            self.stop()
            raise Unavailable("the container's systemd is %r:\n%s"
                              % (state, failed))
        return self

    def _wait_for_init(self):
        """The PID (on the host) of the container's systemd."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable("systemd-nspawn exited %d"
                                  % self.proc.returncode)
            path = "/proc/%d/task/%d/children" % (self.proc.pid,
                                                  self.proc.pid)
            try:
                with open(path) as f:
                    children = [int(w) for w in f.read().split()]
            except OSError:
                children = []
            for pid in children:
                try:
                    with open("/proc/%d/comm" % pid) as f:
                        if f.read().strip() == "systemd":
                            return pid
                except OSError:
                    pass
            time.sleep(0.1)
        raise Unavailable("no systemd in the container after %d s"
                          % BOOT_TIMEOUT)

    def _wait_for_boot(self):
        """systemd's state once it has started what it starts at boot.
        Until its manager socket exists, systemctl cannot ask."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            r = self.run("systemctl", "is-system-running", "--wait",
                         timeout=BOOT_TIMEOUT)
            state = r.stdout.strip()
            # "offline": systemctl found no manager to ask yet -- on a
            # loaded machine its socket comes up after nspawn's child is
            # there (seen in a full make test).
            if (state and state not in ("offline", "initializing",
                                        "starting")) or \
                    time.monotonic() > deadline:
                return state or r.stderr.strip()
            time.sleep(0.2)

    def run(self, *cmd, timeout=60):
        """cmd inside the container: CompletedProcess, text."""
        return subprocess.run(["nsenter", "--target", str(self.leader),
                               "--all", "--"] + list(cmd),
                              capture_output=True, text=True,
                              timeout=timeout)

    def stop(self):
        """Halt the container (SIGKILL after 20 s); True if it halted."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False
        finally:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
