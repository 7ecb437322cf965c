"""Mutation score per module (issue 14, item 5): mutmut 3 mutates one module of the package at a
time and runs that module's own test files against each mutant.

    make mutation                                            # the five modules
    .venv/bin/python benchmarks/mutation/run.py predictors interpret       # after `make mutation` once
    .venv/bin/python benchmarks/mutation/run.py robustness --recheck       # survivors again, with today's tests
    .venv/bin/python benchmarks/mutation/run.py data --retest-survivors    # the same, by mutmut in a fresh workdir

Each module works in runs/mutation/<module>/, a copy of the repository's tracked and untracked
(not ignored) files with a `[mutmut]` section added to its setup.cfg; mutmut keeps its verdicts
there, so a rerun resumes where the last one stopped (`--fresh` starts over). The script prints
one Markdown row per module, and writes each module's survivors, with their diffs, to
runs/mutation/<module>/survivors.txt.

Score = killed ÷ (checked mutants − equivalent), where timeouts count as killed (the mutant hung
the test) and mutants no test reaches count as survivors; a module is done when none is left
unchecked. Equivalent mutants are those listed in
benchmarks/mutation/equivalent.txt, one `<mutant name>  <why>` per line, judged by reading them.

Every module of the package has a row (`top` is the top-level helpers, tested by their tests/test_<module>.py).
mutmut's verdicts of a module are also kept in the committed record
benchmarks/mutation/verdicts/<module>.json (the commit checked out when it was saved, the test
files, and mutmut's own `.meta` files: per source file, each function's hash and each mutant's exit
code), saved every few minutes while mutmut runs and when it stops, and put back into a fresh
workdir before mutmut starts: a sitting without runs/ resumes where the last one stopped, and
mutmut tests again only the mutants of functions whose code changed since.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]
MUTMUT_LIBRARY = REPO / ".mutmut"  # `make mutation` installs benchmarks/mutation/requirements.txt there
sys.path.insert(0, str(REPO))
from attention_perturb.files import write_atomically  # noqa: E402

# The module's own test files (the scoping): its test folder.
MODULE_TESTS = {
    "perturbations": ["tests/perturbations/"],
    "interpret": ["tests/interpret/"],
    # allennlp's interpreters reach the predictor's gradient hooks: their tests drive that path.
    "predictors": ["tests/predictors/", "tests/interpret/test_saliency_interpreters.py"],
    "robustness": ["tests/robustness/"],
    "training": ["tests/training/"],
    # A command parses, calls one library function and prints: its CLI tests sit beside that function's.
    "commands": ["tests/commands/", "tests/robustness/test_attack.py", "tests/serve/test_serve_compare.py",
                 "tests/experiments/test_results.py", "tests/experiments/test_sweep.py",
                 "tests/experiments/test_reproduce_table2.py", "tests/tune/test_tune_cli.py", "tests/tune/test_report.py",
                 "tests/predictors/test_attention_saliency.py"],  # predict's, beside the predictor's
    # `sweep run`'s trials are Ray Tune trials (sweep_run.py); the CLI's error table holds the search's refusals.
    "tune": ["tests/tune/", "tests/experiments/test_sweep.py", "tests/commands/test_cli_errors.py"],
    "data": ["tests/data/"],
    "models": ["tests/models/"],
    "modules": ["tests/modules/"],
    "substitutions": ["tests/substitutions/"],
    # The table and sweep commands' tests, the user errors', seeds' and configs' tables drive these functions too.
    "experiments": ["tests/experiments/", "tests/commands/test_robustness_table_cli.py",
                    "tests/commands/test_cli_errors.py", "tests/commands/test_flags_reach_the_library.py",
                    "tests/test_seeds.py", "tests/test_training_configs_table.py"],
    "serve": ["tests/serve/"],
}
# What each module's row mutates: its folder, or the top-level helpers for `top`.
TOP_LEVEL = ["attention_perturb/archives.py", "attention_perturb/checks.py", "attention_perturb/files.py",
             "attention_perturb/provenance.py"]
MODULE_TESTS["top"] = [f"tests/test_{Path(source).stem}.py" for source in TOP_LEVEL]  # tests/ mirrors the package
VERDICTS = REPO / "benchmarks" / "mutation" / "verdicts"
SAVE_EVERY_SECONDS = 300
# What the tests read besides the package and tests/ (mutmut copies tests/ and setup.cfg itself);
# .allennlp_plugins makes `python -m allennlp` in a test's subprocess (run from mutants/) load the mutated package.
ALSO_COPY = ["fixtures/", "training_configs/", "data/", "benchmarks/", "docs/", ".allennlp_plugins"]
MUTMUT = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
# Forked from a fork server, not from the process that ran the suite: torch's thread pools do not
# survive a fork (every mutant then hangs until its timeout). One thread per mutant, as the run
# tests --max-children mutants at once.
MUTMUT_ENVIRONMENT = {**os.environ, "PYTHONPATH": str(MUTMUT_LIBRARY), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def copy_repository(destination: Path) -> None:
    """The files git would commit, as they are in the working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def prepare(module: str, workdir: Path) -> None:
    copy_repository(workdir)
    mutated = TOP_LEVEL if module == "top" else [f"attention_perturb/{module}/*"]
    selection, also_copy, only_mutate = ("\n    ".join(paths) for paths in (MODULE_TESTS[module], ALSO_COPY, mutated))
    with open(workdir / "setup.cfg", "a") as config:
        config.write(f"""
[mutmut]
source_paths = attention_perturb/
only_mutate =
    {only_mutate}
pytest_add_cli_args_test_selection =
    {selection}
also_copy =
    {also_copy}
process_isolation = forkserver
""")
    # The package finds WordNet under <package root>/../.venv/nltk_data; in mutants/ that is here.
    (workdir / "mutants").mkdir()
    (workdir / "mutants" / ".venv").symlink_to(REPO / ".venv")


def checked_out_commit() -> str:
    """The repository's HEAD, with "+uncommitted" when the package or its tests differ from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(["git", "status", "--porcelain", "--", "attention_perturb", "tests"],
                             cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    return head + ("+uncommitted" if changed else "")


def read_meta(path: Path, attempts: int = 20) -> dict:
    """A mutmut `.meta` file, read again while it is half written: mutmut rewrites it in place
    after each verdict, and a save every few minutes can read it in between."""
    for attempt in range(attempts):
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)


def save_verdicts(module: str, workdir: Path) -> None:
    """mutmut's `.meta` files of the module's workdir into its committed record (only files with
    verdicts), under the commit checked out when saved and the test files the module's mutants ran
    against. Each verdict holds for the code whose hash its `.meta` file keeps beside it: mutmut tests
    again every mutant of a function whose code changed since."""
    metas = {str(meta.relative_to(workdir / "mutants")): read_meta(meta)
             for meta in sorted((workdir / "mutants").rglob("*.py.meta"))}
    if metas:
        record = {"commit": checked_out_commit(), "tests": MODULE_TESTS[module], "meta_files": metas}
        write_atomically(VERDICTS / f"{module}.json", json.dumps(record, indent=1, sort_keys=True) + "\n")


def restore_verdicts(module: str, workdir: Path) -> int:
    """The committed record's `.meta` files into a fresh workdir's mutants/; returns how many."""
    record = VERDICTS / f"{module}.json"
    if not record.is_file():
        return 0
    metas = json.loads(record.read_text())["meta_files"]
    for name, meta in metas.items():
        target = workdir / "mutants" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(meta))
    return len(metas)


def forget_survivors(workdir: Path, statuses: dict, timeouts: bool = False, equivalent=()) -> int:
    """Sets the verdict of every mutant that `statuses` (the workdir's `verdicts()`) shows checked
    but not killed (a timeout is a kill, unless `timeouts`) back to unchecked in the workdir's mutmut
    `.meta` files, so that `mutmut run` tests them again with the tests the workdir holds and
    mutmut's own choice of the tests that reach each function; returns how many. The mutants named
    in `equivalent` keep their verdict: they survive any test, and each costs every test that reaches it.

    mutmut's timeout is wall-clock time, (estimated test time + 1 s) × 15: a mutant tested while
    other work held the CPUs can time out without hanging, a false kill that `timeouts` retests."""
    kept = ("killed", "not checked") if timeouts else ("killed", "timeout", "not checked")
    alive = {name for name, status in statuses.items() if status not in kept and name not in equivalent}
    for meta_path in (workdir / "mutants").rglob("*.py.meta"):
        meta = json.loads(meta_path.read_text())
        forgotten = alive.intersection(meta["exit_code_by_key"])
        if forgotten:
            meta["exit_code_by_key"].update(dict.fromkeys(forgotten))
            meta_path.write_text(json.dumps(meta))
    return len(alive)


def run_mutmut(module: str, workdir: Path, max_children: int) -> None:
    """`mutmut run` in the workdir, its verdicts saved into the record every SAVE_EVERY_SECONDS and
    when it ends, however it ends."""
    process = subprocess.Popen(MUTMUT + ["run", "--max-children", str(max_children)], cwd=workdir, env=MUTMUT_ENVIRONMENT)
    try:
        while True:
            try:
                process.wait(timeout=SAVE_EVERY_SECONDS)
                break
            except subprocess.TimeoutExpired:
                save_verdicts(module, workdir)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()
        save_verdicts(module, workdir)
    if process.returncode != 0:
        sys.exit(f"{module}: mutmut run exited with {process.returncode}")


def verdicts(workdir: Path) -> dict:
    """mutant name -> mutmut's status, from the .meta files mutmut writes beside each source."""
    sys.path.insert(0, str(MUTMUT_LIBRARY))  # only where `make mutation` installed it
    from mutmut.stats import status_by_exit_code

    statuses = {}
    for meta in (workdir / "mutants").rglob("*.py.meta"):
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            statuses[name] = status_by_exit_code[exit_code]
    return statuses


def equivalent_mutants() -> dict:
    listed = {}
    for line in (REPO / "benchmarks" / "mutation" / "equivalent.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.strip().partition(" ")
            listed[name] = why.strip()
    return listed


def score(module: str, workdir: Path, equivalent: dict) -> str:
    statuses = verdicts(workdir)
    counts = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    checked = {name: status for name, status in statuses.items() if status != "not checked"}
    survivors = sorted(name for name, status in checked.items() if status not in ("killed", "timeout"))
    judged_equivalent = [name for name in survivors if name in equivalent]
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    with open(workdir / "survivors.txt", "w") as out:
        for name in survivors:
            shown = subprocess.run(MUTMUT + ["show", name], cwd=workdir, env=MUTMUT_ENVIRONMENT,
                                   capture_output=True, text=True)
            mark = f"  [equivalent: {equivalent[name]}]" if name in equivalent else ""
            out.write(f"### {name} ({checked[name]}){mark}\n{shown.stdout}\n")
    return table_row(module, len(statuses), counts.get("not checked", 0), killed, counts.get("survived", 0),
                     counts.get("no tests", 0), len(judged_equivalent))


def table_row(label: str, mutants: int, unchecked: int, killed: int, survived: int, no_tests, equivalent: int) -> str:
    """One row of the printed table; the score leaves out the mutants judged equivalent."""
    scored = mutants - unchecked - equivalent
    percent = f"{100 * killed / scored:.1f} %" if scored else "—"
    return f"| {label} | {mutants} | {unchecked} | {killed} | {survived} | {no_tests} | {equivalent} | {percent} |"


def recheck(module: str, workdir: Path, statuses: dict, at_once: int) -> List[str]:
    """The survivors of an earlier run tested again with the repository's current tests (the "after"
    rows): each in a copy of mutmut's `mutants/` with `MUTANT_UNDER_TEST` set, as `mutmut run <name>`
    tests it, but with the whole module test folder; `at_once` mutants at a time, as mutmut's
    --max-children. Every checked mutant that mutmut did not report killed in `statuses` (the run's
    verdicts()) is retested (timeouts too).

    The copy gets today's tests/ and what they read (ALSO_COPY) in place of the run's; the tests must
    pass there with no mutant active first, or nothing is rechecked. A mutant is killed when pytest
    reports failing tests (exit code 1) or runs past ten times that clean run (a hang, which mutmut
    also counts as killed); any other exit stops the recheck. Returns the mutants still passing."""
    survivors = sorted(name for name, status in statuses.items() if status not in ("killed", "not checked"))
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "mutants"
        shutil.copytree(workdir / "mutants", copy, symlinks=True)
        for name in ["tests/", *ALSO_COPY]:
            source, target = REPO / name, copy / name
            if target.is_dir():
                shutil.rmtree(target)  # a test file deleted since the run must not run
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            elif source.exists():
                shutil.copy2(source, target)

        def run_tests(mutant: str, timeout=None) -> int:
            return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *MODULE_TESTS[module]],
                                  cwd=copy, env={**MUTMUT_ENVIRONMENT, "MUTANT_UNDER_TEST": mutant},
                                  capture_output=True, timeout=timeout).returncode

        started = time.monotonic()
        clean = run_tests("")  # no mutant's name: every function runs its original
        if clean != 0:
            sys.exit(f"{module}: the current tests fail with no mutant active in a copy of {workdir / 'mutants'} "
                     f"(pytest exit code {clean}); nothing rechecked")
        limit = 10 * (time.monotonic() - started)

        def passes(mutant: str) -> bool:
            try:
                code = run_tests(mutant, limit)
            except subprocess.TimeoutExpired:
                code = "timeout"
            if code not in (0, 1, "timeout"):
                raise RuntimeError(f"{mutant}: pytest exit code {code}, neither passed nor failed; recheck stopped")
            print(f"{'survived' if code == 0 else 'killed'}  {mutant}" + (" (timeout)" if code == "timeout" else ""), flush=True)
            return code == 0

        pool = ThreadPoolExecutor(max_workers=at_once)
        try:
            return [mutant for mutant, passed in zip(survivors, pool.map(passes, survivors)) if passed]
        finally:
            pool.shutdown(cancel_futures=True)  # on an error or Ctrl-C, start no further mutant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULE_TESTS), choices=list(MODULE_TESTS))
    parser.add_argument("--workdir", type=Path, default=REPO / "runs" / "mutation")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (also by --recheck)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier verdicts")
    parser.add_argument("--report-only", action="store_true", help="print the table from earlier verdicts")
    parser.add_argument("--retest-survivors", action="store_true",
                        help="a fresh workdir with today's tests and the record's verdicts, in which mutmut tests again every "
                             "mutant not killed (the after row, from mutmut's own run)")
    parser.add_argument("--retest-timeouts", action="store_true",
                        help="with --retest-survivors: the timeouts too (mutmut's timeout is wall-clock, so a mutant "
                             "tested while the CPUs were busy can time out without hanging)")
    parser.add_argument("--recheck", action="store_true",
                        help="test an earlier run's mutants not killed (timeouts included) again with the current tests; print the after row")
    args = parser.parse_args()
    if args.retest_timeouts and not args.retest_survivors:
        parser.error("--retest-timeouts goes with --retest-survivors")
    equivalent = equivalent_mutants()
    rows = []
    for module in args.modules:
        workdir = args.workdir / module
        if args.recheck:
            statuses = verdicts(workdir)
            still = recheck(module, workdir, statuses, args.max_children)
            judged = [name for name in still if name in equivalent]
            checked = sum(status != "not checked" for status in statuses.values())
            rows.append(table_row(f"{module}, after", len(statuses), len(statuses) - checked, checked - len(still),
                                  len(still), "—", len(judged)))
            continue
        if args.retest_survivors and workdir.exists():
            save_verdicts(module, workdir)  # the workdir's tests are the old ones: start from its verdicts
        if (args.fresh or args.retest_survivors) and workdir.exists():
            shutil.rmtree(workdir)
        if not args.report_only:
            if not workdir.exists():
                prepare(module, workdir)
                if not args.fresh:
                    print(f"{module}: {restore_verdicts(module, workdir)} files' verdicts from {VERDICTS / module}.json",
                          flush=True)
                if args.retest_survivors:
                    forgotten = forget_survivors(workdir, verdicts(workdir), args.retest_timeouts, equivalent)
                    print(f"{module}: {forgotten} mutants not killed"
                          f"{' or timed out' if args.retest_timeouts else ''} and not listed as equivalent to test again",
                          flush=True)
            run_mutmut(module, workdir, args.max_children)
        rows.append(score(module, workdir, equivalent))
    print("| module | mutants | not yet checked | killed | survived | no test reaches | equivalent | killed ÷ checked non-equivalent |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
