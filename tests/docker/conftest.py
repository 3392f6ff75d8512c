"""Fixtures for the docker tests: the compose set (compose.py), started
once per module and taken down, volumes and all, whatever happens."""
import os

import pytest

from compose import LOG_TAIL, DockerEdge


@pytest.fixture(scope="module")
def make_docker_edge(request):
    edges = []

    def make(config=None, scale=None):
        """A compose set with `config` (epsip.conf keys) and `scale`
        ({service: containers}), started and healthy."""
        e = DockerEdge(config, scale)
        edges.append(e)
        return e.start()

    yield make
    for e in edges:
        try:
            e.stop()
        finally:
            e.cleanup()


@pytest.fixture(scope="module")
def edge(make_docker_edge):
    e = make_docker_edge()
    yield e
    # epsipd never fell over behind the tests' backs.
    assert set(e.restarts().values()) == {0}, e.restarts()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with the set's logs (a failed start's
    error carries them already)."""
    outcome = yield
    rep = outcome.get_result()
    edge = getattr(item, "funcargs", {}).get("edge")
    if rep.when == "call" and rep.failed and isinstance(edge, DockerEdge):
        rep.sections.append(("compose logs", edge.logs()[-LOG_TAIL:]))


def pytest_collection_modifyitems(config, items):
    """run.sh sets EPSIP_DOCKER_SKIP to the reason the tests cannot run
    here (no engine, no compose, no base image): every test is then
    reported skipped with it, so a run says what did not run."""
    why = os.environ.get("EPSIP_DOCKER_SKIP")
    if why:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=why))
