"""The compose set under test: deploy/docker/docker-compose.yml with
compose.test.yml over it, under the project name and image run.sh chose
for this run, driven through docker-compose 1.29 or Compose v2 (run.sh
says which in $EPSIP_COMPOSE), and DockerEdge, the set seen as an Edge
(tests/integration/edge.py) that phones can talk to."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from edge import Edge, free_port, wait_for  # noqa: E402

FILES = [os.path.join(ROOT, "deploy", "docker", "docker-compose.yml"),
         os.path.join(HERE, "compose.test.yml")]
# The container whose health check speaks for the set.
SERVICE = "epsipd"
# How many flow-manager containers a set runs unless a test says.
FLOW_MANAGERS = 3
# How much of the set's logs a failure report shows.
LOG_TAIL = int(os.environ.get("EPSIP_LOG_TAIL", "6000"))


def docker(*args, timeout=60, check=True):
    """`docker ARGS`: its standard output, stripped."""
    r = subprocess.run(["docker"] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("docker %s exited %d: %s" % (
            " ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout.strip()


class ComposeSet:
    """One compose project.  Each call names the project and every file,
    so what one test starts another can stop.  `env` adds variables the
    compose files substitute (EPSIP_DOCKER_CONF, ...)."""

    def __init__(self, env, project=None, image=None):
        self.project = project or os.environ["EPSIP_DOCKER_PROJECT"]
        self.env = dict(os.environ)
        self.env["EPSIP_DOCKER_IMAGE"] = image or os.environ[
            "EPSIP_DOCKER_IMAGE"]
        self.env.update(env)
        self.command = shlex.split(os.environ.get("EPSIP_COMPOSE",
                                                  "docker-compose"))

    def run(self, *args, timeout=120, check=True):
        cmd = self.command + ["-p", self.project]
        for f in FILES:
            cmd += ["-f", f]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s exited %d:\n%s%s" % (
                " ".join(cmd + list(args)), r.returncode, r.stdout,
                r.stderr))
        return r.stdout

    def up(self, scale=None):
        """Start the set from the image already built (run.sh); `scale`:
        {service: how many containers}."""
        args = ["up", "-d", "--no-build"]
        for service, n in (scale or {}).items():
            args += ["--scale", "%s=%d" % (service, n)]
        self.run(*args)

    def containers(self, service=SERVICE):
        return self.run("ps", "-q", service).split()

    def inspect(self, container):
        return json.loads(docker("inspect", container))[0]

    def health(self, container):
        """(status, the last probe's output) of a container."""
        health = self.inspect(container)["State"].get("Health") or {}
        probes = health.get("Log") or [{}]
        return health.get("Status"), probes[-1].get("Output", "")

    def wait_healthy(self, service=SERVICE, timeout=60):
        """Every container of `service` healthy by Docker's own check;
        fails at once when one turns unhealthy or stops."""
        def all_healthy():
            ids = self.containers(service)
            assert ids, "no container of %s" % service
            for c in ids:
                state = self.inspect(c)["State"]
                assert state["Status"] in ("created", "running"), \
                    "%s is %s:\n%s" % (c, state["Status"], self.logs())
                status, out = self.health(c)
                assert status != "unhealthy", "%s unhealthy: %s" % (c, out)
                if status != "healthy":
                    return False
            return ids
        return wait_for(all_healthy, timeout=timeout, interval=0.5,
                        what="%s healthy" % service)

    def restart(self, service=None):
        """`compose restart` of one service, or of every one."""
        self.run("restart", *([service] if service else []))

    def docker_logs(self, container):
        r = subprocess.run(["docker", "logs", container],
                           capture_output=True, text=True, timeout=30)
        return r.stdout + r.stderr

    def kill(self, container):
        """SIGKILL to a container's PID 1, from the host: it and all it
        started die at once, as in a crash or an OOM kill.  Not `docker
        kill`, which Docker takes for a stop by hand that no restart
        policy undoes."""
        os.kill(self.inspect(container)["State"]["Pid"], signal.SIGKILL)

    def logs(self, tail=200):
        return self.run("logs", "--no-color", "--tail", str(tail),
                        check=False)

    def down(self):
        """Containers, volumes and networks of the project, gone."""
        self.run("down", "-v", "--remove-orphans", "-t", "10")


class DockerEdge(Edge):
    """The compose set as an Edge: SIP on 127.0.0.1 and the stats
    endpoint on loopback ports of its own, in an epsip.conf mounted over
    the image's (`config`: more keys for it).  stats(), counter() and
    wait_counter() are Edge's, over the stats port."""

    def __init__(self, config=None, scale=None):
        self.tmp = tempfile.mkdtemp(prefix="epsip-docker-")
        scale = dict(scale or {})
        scale.setdefault("flow-manager", FLOW_MANAGERS)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.stats_port = free_port()
        self.sip_addr = (self.host, self.port)
        self.scale = scale
        self.proc = None
        conf = os.path.join(self.tmp, "epsip.conf")
        keys = {"listen": "%s:%d" % self.sip_addr,
                "stats": "127.0.0.1:%d" % self.stats_port,
                "log-level": "debug"}
        keys.update(config or {})
        with open(conf, "w") as f:
            f.write("# epsip.conf of the docker tests (tests/docker)\n")
            for key, value in keys.items():
                f.write("%s = %s\n" % (key, value))
        # Read inside the container by the epsip user (UID 10001).
        os.chmod(conf, 0o644)
        self.compose = ComposeSet({"EPSIP_DOCKER_CONF": conf})

    def start(self):
        try:
            self.compose.up(self.scale)
            self._wait_healthy()
        except (AssertionError, TimeoutError) as e:
            raise AssertionError("%s\n---- compose logs ----\n%s" % (
                e, self.logs()[-LOG_TAIL:])) from None
        return self

    def _wait_healthy(self):
        self.containers = self.compose.wait_healthy()
        wait_for(self.healthy, timeout=15, what="GET /health 200")

    def healthy(self):
        return self.http("/health")[0] == 200

    def restart(self):
        """`compose restart` of the whole set: every container stops
        (SIGTERM) and starts again with the same volumes."""
        self.compose.restart()
        self._wait_healthy()

    def restarts(self, service=SERVICE):
        """How often Docker's restart policy restarted each container of
        `service`."""
        return {c: self.compose.inspect(c)["RestartCount"]
                for c in self.compose.containers(service)}

    def logs(self):
        return self.compose.logs()

    def stop(self, timeout=None):
        self.compose.down()
        return []

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
