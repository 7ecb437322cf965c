import json
import os
import pathlib
import tempfile

import allennlp.common.testing.test_case as allennlp_test_case
import pytest

import attention_perturb  # noqa: F401  (registers every component)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
METHODS = ["vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat"]


@pytest.fixture(scope="session", autouse=True)
def run_from_repo_root():
    """Configs and fixtures name data paths relative to the repository root, as the README's
    commands do. Session-scoped, so that module-scoped fixtures, made before any test's own
    fixtures, read them from there too, wherever pytest was started; a test that changes directory
    does so with `monkeypatch.chdir`, which changes it back."""
    started_in = os.getcwd()
    os.chdir(REPO_ROOT)
    yield
    os.chdir(started_in)


def pytest_configure(config):
    """allennlp's test cases work in one folder made when `allennlp.common.testing` is imported and
    removed after every test. Test processes forked after that import (mutmut's, two at a time) shared
    it and removed it under each other's tests, which then failed: false kills. Each test session
    gets its own."""
    allennlp_test_case.TEST_DIR = tempfile.mkdtemp(prefix="allennlp_tests")
    # mutmut's stats run (MUTANT_UNDER_TEST=stats) records which tests reach which functions, in this
    # process. A Ray Tune trial's worker inheriting the variable tried to record too, from a folder
    # without mutmut's configuration, and failed its trial. mutmut keeps a process-local copy, so
    # this process goes on recording; child processes run the code unmutated, as no stats come back
    # from them anyway.
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        del os.environ["MUTANT_UNDER_TEST"]


@pytest.fixture
def kept_figures(monkeypatch):
    """The matplotlib figures the code under test closes, kept open so that the test can read them
    back (what each axis plotted, its labels, limits and colours); closed after the test."""
    import matplotlib.pyplot as plt

    close, figures = plt.close, []
    monkeypatch.setattr(plt, "close", figures.append)
    yield figures
    for figure in figures:
        close(figure)


def pytest_collection_modifyitems(items):
    """Tests marked `long` start first, the longest (`seconds`, as measured in the suite) first of all.
    `make test`'s workers (--dist load --maxschedchunk 1) each start with two consecutive tests of
    this list and then take the next one whenever they have fewer than two queued, so the short
    tests fill in around the long ones instead of a long one running alone at the end.

    A mutmut run testing one mutant (benchmarks/mutation/run.py) stops at the first failing test:
    there the quickest tests go first, by the durations mutmut measured (its mutmut-stats.json)."""
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        durations = json.loads(pathlib.Path("mutmut-stats.json").read_text())["duration_by_test"]
        items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
        return

    def expected_seconds(item):
        marker = item.get_closest_marker("long")
        return 0 if marker is None else marker.kwargs.get("seconds", 60)

    items.sort(key=expected_seconds, reverse=True)
