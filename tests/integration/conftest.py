"""Fixtures: a running EPSIP per test, cleaned up whatever happens."""
import os

import pytest

from edge import Edge


@pytest.fixture
def make_edge(request):
    edges = []

    def make(*args, healthy=True, **kw):
        """healthy=False: return as soon as epsipd runs (a test of a
        start that must fail)."""
        e = Edge(*args, **kw)
        edges.append(e)
        return e.start() if healthy else e.spawn()

    yield make
    failed = request.node.rep_call.failed if hasattr(
        request.node, "rep_call") else False
    for e in edges:
        counters = e.counters_text() if failed else ""
        leftover = e.stop()
        reports = e.sanitizer_reports()
        if failed or reports:
            print("---- epsip log (%s) ----\n%s" % (e.tmp, e.logs()[-int(os.environ.get("EPSIP_LOG_TAIL", "6000")):]))
        if counters:
            print("---- counters at the failure ----\n" + counters)
        e.cleanup()
        assert not leftover, "processes left behind: %s" % leftover
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture
def edge(make_edge):
    return make_edge()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
