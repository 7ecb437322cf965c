"""The mutation runner's committed record of mutmut's verdicts: saved from a workdir and put back into
a fresh one unchanged, so that a sitting without runs/ resumes where the last one stopped."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("mutation_run", Path("benchmarks/mutation/run.py"))
run = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(run)

META = {"exit_code_by_key": {"attention_perturb.checks.x_check__mutmut_1": 1, "attention_perturb.checks.x_check__mutmut_2": None},
        "hash_by_function_name": {"x_check": "abc"}, "durations_by_key": {}}


def test_verdicts_saved_from_one_workdir_come_back_in_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "VERDICTS", tmp_path / "verdicts")
    first = tmp_path / "first"
    for name, meta in (("attention_perturb/checks.py.meta", META),
                       ("attention_perturb/data/x.py.meta", {**META, "hash_by_function_name": {"y": "def"}})):
        (first / "mutants" / name).parent.mkdir(parents=True, exist_ok=True)
        (first / "mutants" / name).write_text(json.dumps(meta))
    run.save_verdicts("top", first)
    record = json.loads((tmp_path / "verdicts" / "top.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert record["commit"] in (head, head + "+uncommitted")  # the record names the code it judged
    assert record["tests"] == ["tests/test_archives.py", "tests/test_checks.py", "tests/test_files.py", "tests/test_provenance.py"]
    second = tmp_path / "second"
    assert run.restore_verdicts("top", second) == 2
    for meta in (first / "mutants").rglob("*.meta"):
        assert json.loads((second / meta.relative_to(first)).read_text()) == json.loads(meta.read_text())
    assert run.restore_verdicts("commands", second) == 0  # no record of that module yet


def test_forgetting_survivors_leaves_kills_and_unchecked_mutants_as_they_were(tmp_path):
    codes = {"attention_perturb.checks.x_check__mutmut_1": 1, "attention_perturb.checks.x_check__mutmut_2": 0,
             "attention_perturb.checks.x_check__mutmut_3": 36, "attention_perturb.checks.x_check__mutmut_4": 33,
             "attention_perturb.checks.x_check__mutmut_5": None}
    meta = tmp_path / "mutants" / "attention_perturb" / "checks.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({**META, "exit_code_by_key": codes}))
    statuses = {"attention_perturb.checks.x_check__mutmut_1": "killed", "attention_perturb.checks.x_check__mutmut_2": "survived",
                "attention_perturb.checks.x_check__mutmut_3": "timeout", "attention_perturb.checks.x_check__mutmut_4": "no tests",
                "attention_perturb.checks.x_check__mutmut_5": "not checked"}
    assert run.forget_survivors(tmp_path, statuses) == 2
    after = json.loads(meta.read_text())
    assert after["exit_code_by_key"] == {**codes, "attention_perturb.checks.x_check__mutmut_2": None,
                                         "attention_perturb.checks.x_check__mutmut_4": None}
    assert {key: value for key, value in after.items() if key != "exit_code_by_key"} == \
        {key: value for key, value in META.items() if key != "exit_code_by_key"}


def test_timeouts_are_forgotten_only_when_asked(tmp_path):
    """mutmut's timeout is wall-clock: timeouts of a run that shared the CPUs can be retested."""
    codes = {"attention_perturb.checks.x_check__mutmut_1": 1, "attention_perturb.checks.x_check__mutmut_2": -24,
             "attention_perturb.checks.x_check__mutmut_3": 0}
    statuses = {"attention_perturb.checks.x_check__mutmut_1": "killed", "attention_perturb.checks.x_check__mutmut_2": "timeout",
                "attention_perturb.checks.x_check__mutmut_3": "survived"}
    meta = tmp_path / "mutants" / "attention_perturb" / "checks.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({**META, "exit_code_by_key": codes}))
    assert run.forget_survivors(tmp_path, statuses) == 1
    assert json.loads(meta.read_text())["exit_code_by_key"]["attention_perturb.checks.x_check__mutmut_2"] == -24
    assert run.forget_survivors(tmp_path, statuses, timeouts=True) == 2
    assert json.loads(meta.read_text())["exit_code_by_key"] == {**codes, "attention_perturb.checks.x_check__mutmut_2": None,
                                                                "attention_perturb.checks.x_check__mutmut_3": None}


def test_the_commit_is_marked_when_the_package_or_its_tests_differ_from_it(tmp_path, monkeypatch):
    repository = tmp_path / "repository"
    (repository / "attention_perturb").mkdir(parents=True)
    (repository / "attention_perturb" / "checks.py").write_text("x = 1\n")
    (repository / "notes.txt").write_text("a\n")
    git = ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "first"], check=True)
    head = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.setattr(run, "REPO", repository)
    (repository / "notes.txt").write_text("b\n")  # neither the package nor its tests
    assert run.checked_out_commit() == head
    (repository / "attention_perturb" / "checks.py").write_text("x = 2\n")
    assert run.checked_out_commit() == head + "+uncommitted"


def test_mutants_listed_as_equivalent_are_not_tested_again(tmp_path):
    codes = {"attention_perturb.checks.x_check__mutmut_1": 0, "attention_perturb.checks.x_check__mutmut_2": 0}
    meta = tmp_path / "mutants" / "attention_perturb" / "checks.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({**META, "exit_code_by_key": codes}))
    statuses = dict.fromkeys(codes, "survived")
    equivalent = {"attention_perturb.checks.x_check__mutmut_2": "reads the same"}
    assert run.forget_survivors(tmp_path, statuses, equivalent=equivalent) == 1
    assert json.loads(meta.read_text())["exit_code_by_key"] == {**codes, "attention_perturb.checks.x_check__mutmut_1": None}


def test_a_mutant_runs_the_quickest_tests_first(tmp_path):
    """mutmut stops at a mutant's first failing test: the suite's conftest orders the tests by the
    durations in mutmut-stats.json (where mutmut runs pytest) when a mutant is under test, and
    leaves the order alone otherwise."""
    repository = Path(__file__).resolve().parents[2]
    target = "tests/test_files.py"

    def collected(mutant, durations):
        (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": durations}))
        environment = {key: value for key, value in os.environ.items() if key != "MUTANT_UNDER_TEST"}
        if mutant:
            environment["MUTANT_UNDER_TEST"] = mutant
        result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                 str(repository / target)], cwd=tmp_path, env=environment, capture_output=True,
                                text=True, check=True)
        return [line for line in result.stdout.splitlines() if line.startswith(f"{target}::")]

    in_file_order = collected(None, {"tests/test_files.py::test_text_is_utf8_whatever_the_locale": 0.0})
    assert len(in_file_order) > 3 and in_file_order[-1].endswith("test_text_is_utf8_whatever_the_locale")
    slowest_first = {test: float(len(in_file_order) - index) for index, test in enumerate(in_file_order)}
    assert collected("attention_perturb.files.x_write_atomically__mutmut_1", slowest_first) == in_file_order[::-1]


def test_a_meta_file_read_while_mutmut_rewrites_it_is_read_again(tmp_path, monkeypatch):
    """mutmut rewrites a `.meta` file in place after each verdict; the runner's save every few
    minutes can read it empty or cut short (a crash that stopped a run) and reads it again."""
    monkeypatch.setattr(run, "VERDICTS", tmp_path / "verdicts")
    meta = tmp_path / "mutants" / "attention_perturb" / "checks.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps(META))
    reads = iter(["", json.dumps(META)[:40], json.dumps(META)])  # as three reads in turn find it
    with monkeypatch.context() as rewritten:
        rewritten.setattr(run.Path, "read_text", lambda path: next(reads))
        rewritten.setattr(run.time, "sleep", lambda seconds: None)
        run.save_verdicts("top", tmp_path)
    record = json.loads((tmp_path / "verdicts" / "top.json").read_text())
    assert record["meta_files"] == {"attention_perturb/checks.py.meta": META}
