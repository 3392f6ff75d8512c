"""A third-party daemon run for a test (haproxy.py, kamailio.py): its
configuration in a temp dir of its own, checked before it runs, the
daemon in the foreground with its output in a log there, a wait until it
is up, and a stop by PID.

A subclass says what differs:

    name                "haproxy": messages, log file name
    tmp_prefix          the temp dir's prefix
    prepare()           write self.cfg (and whatever else) into self.tmp
    check_cmd()         the command that checks the configuration
    run_cmd()           the command that runs the daemon in the foreground
    is_up()             whether it is up yet; what start() waits for
    up_what()           what is waited for, for the timeout's message

    d = Sub(...).start()        # or `with Sub(...) as d`
    d.log()                     # its output so far (also after stop())
    d.stop()                    # SIGTERM by PID, SIGKILL if need be, rm tmp
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from edge import descendants, wait_for

LOG_TAIL = 4000


class Daemon:
    name = "daemon"
    tmp_prefix = "epsip-daemon-"

    def __init__(self):
        self.tmp = None
        self.cfg = None
        self.proc = None
        self.pid = None
        self._last_log = ""

    def prepare(self):
        raise NotImplementedError

    def check_cmd(self):
        raise NotImplementedError

    def run_cmd(self):
        raise NotImplementedError

    def is_up(self):
        raise NotImplementedError

    def up_what(self):
        return "%s to start" % self.name

    def start(self, timeout=10.0):
        self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        self.log_path = os.path.join(self.tmp, self.name + ".log")
        self.prepare()
        check = subprocess.run(self.check_cmd(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
        if check.returncode != 0:
            self.cleanup()
            raise AssertionError("%s's configuration check failed:\n%s"
                                 % (self.name, check.stdout.decode(
                                     "utf-8", "replace")[-LOG_TAIL:]))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.run_cmd(), stdout=log,
                                         stderr=log,
                                         stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        try:
            wait_for(self._ready, timeout=timeout, what=self.up_what())
        except TimeoutError as e:
            self.stop()
            raise AssertionError("%s\n%s" % (e, self.log()[-LOG_TAIL:]))
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited %s:\n%s" % (
                self.name, self.proc.returncode, self.log()[-LOG_TAIL:]))
        return self.is_up()

    def log(self):
        """The daemon's output so far (kept in memory once stop() removed
        the temp dir, so a failing test can still print it)."""
        if self.tmp is None:
            return self._last_log
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def pids(self):
        """The main process and any it forked (only processes we
        started)."""
        return descendants(self.proc.pid) if self.proc is not None else []

    def stop(self, timeout=5.0, cleanup=True):
        """SIGTERM the main process (it stops any workers); SIGKILL
        whatever of ours is left after `timeout`; reap; remove the temp
        dir unless cleanup=False.  Returns the PIDs that needed SIGKILL
        (empty when the shutdown was clean)."""
        killed = []
        if self.proc is not None:
            pids = self.pids()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            # Workers may outlive the main process by a moment.  A PID is
            # ours only while its command line names our private cfg copy.
            deadline = time.monotonic() + 1.0
            alive = [p for p in pids if self._ours(p)]
            while alive and time.monotonic() < deadline:
                time.sleep(0.05)
                alive = [p for p in alive if self._ours(p)]
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            self.proc = None
        if cleanup:
            self.cleanup()
        return killed

    def _ours(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            return False
        return self.cfg.encode() in cmdline and _alive(pid)

    def cleanup(self):
        if self.tmp is not None:
            self._last_log = self.log()
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
