"""`allennlp reproduce-table2`'s block: the six methods (or some) × seeds trained side by side into
`<out>/<method>/seed_<n>/`, resumable, recorded, and tabulated as the paper's Table 2."""
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from allennlp.common.checks import ConfigurationError
from allennlp.common.params import Params

from attention_perturb.errors import SettingError
from attention_perturb.experiments.methods import config_for
from attention_perturb.experiments.record import FROM_RECORD, RecordError, merge, read_record, recording, write_record
from attention_perturb.experiments.table2 import (
    PAPER, EpsilonChoice, Run, overrides_not_held, plan_runs, read_run, run_directory, run_scores, table2_of_runs,
    trained_epsilon,
)
from attention_perturb.files import write_atomically
from attention_perturb.training.runs import SEED_KEYS, resumable, resume_flags, thread_environment

CONFIG_PATTERN = "training_configs/{dataset}_{method}.jsonnet"
DEFAULT_JOBS = 2


def config_epsilon(config: str, method: str, dataset: str) -> float:
    params = Params.from_file(config, ext_vars={"METHOD": method, "DATASET": dataset})
    return params.as_dict(quiet=True)["model"]["perturbation"]["epsilon"]


def run_overrides(run: Run, user_overrides: Dict) -> str:
    overrides = {**user_overrides, **{key: run.seed for key in SEED_KEYS}}
    if run.epsilon.value is not None:
        overrides["model.perturbation.epsilon"] = run.epsilon.value
    return json.dumps(overrides)


def describe(run: Run, config: str, record: Optional[str]) -> str:
    epsilon = "no ε" if run.epsilon.value is None else f"ε={run.epsilon.value:g} ({run.epsilon.source})"
    if run.finished:
        status = "finished"
    elif record:
        status = f"finished, in {record}"
    else:
        status = f"{'resume' if resumable(run.directory) else 'train'} {config}"
    return f"{run.method} seed {run.seed}: {epsilon}; {status} -> {run.directory}"


def threads_per_job_of(jobs: int, requested: Optional[int]) -> int:
    """Each training's torch threads: `requested`, else the CPU count divided by `jobs`."""
    if jobs < 1:
        raise SettingError("jobs", f"must be at least 1, got {jobs}")
    if requested is not None and requested < 1:
        raise SettingError("threads_per_job", f"must be at least 1, got {requested}")
    return requested or max(1, (os.cpu_count() or 1) // jobs)


def train(run: Run, config: str, dataset: str, overrides: str, include_packages: List[str], threads: int) -> None:
    resume = resume_flags(run.directory)
    command = [sys.executable, "-m", "allennlp", "train", config, "-s", str(run.directory), "-o", overrides, *resume]
    log_file = run.directory.with_suffix(".log")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    for package in include_packages:
        command += ["--include-package", package]
    with open(log_file, "a" if resume else "w") as log:
        environment = {**os.environ, **thread_environment(threads), "METHOD": run.method, "DATASET": dataset}
        completed = subprocess.run(command, env=environment,
                                   stdout=log, stderr=subprocess.STDOUT)
    if completed.returncode != 0 or not run.finished:
        hint = f"; it was resuming {run.directory}: remove that folder to train afresh" if resume else ""
        raise RuntimeError(
            f"{run.method} seed {run.seed}: allennlp train exited with {completed.returncode}; see {log_file}{hint}"
        )


def run_side_by_side(work: Callable[[Run], None], runs: List[Run], jobs: int) -> None:
    """`work(run)` for every run, `jobs` at a time, in plan order. After a failure no further run
    starts; the ones under way finish, then the first failure is raised."""
    failures: List[Exception] = []

    def unless_failed(run: Run) -> None:
        if failures:
            return
        try:
            work(run)
        except Exception as error:  # re-raised below, once the runs under way have ended
            failures.append(error)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(unless_failed, runs))
    if failures:
        raise failures[0]


def reproduce_table2(dataset: str, seeds: int, output_dir: Path, methods: Sequence[str],
                     epsilons: Dict[str, EpsilonChoice], config_pattern: str = CONFIG_PATTERN,
                     overrides: Optional[Dict[str, Any]] = None, jobs: int = DEFAULT_JOBS,
                     threads_per_job: Optional[int] = None, dry_run: bool = False, record: Optional[str] = None,
                     include_packages: Sequence[str] = (), report: Callable[[str], None] = print) -> None:
    """Trains each of `methods` once per seed 1..`seeds` into `<output_dir>/<method>/seed_<n>/` at its
    ε (`epsilons`: a value, or None for the config's default), `jobs` trainings side by side, and
    writes Table 2 (`table2_of_runs`) to `<output_dir>/table2.md`. Finished runs are kept and
    interrupted ones continue (`--recover`); a kept run trained with another ε or without an
    override is refused. `record`: a JSON record of the finished runs (see `record.py`), updated as
    each finishes, whose runs are not trained again. `report` receives the plan, each finished run
    and the table."""
    if seeds < 1:
        raise SettingError("seeds", f"must be at least 1, got {seeds}")
    threads = threads_per_job_of(jobs, threads_per_job)
    user_overrides = dict(overrides or {})
    seeded = [key for key in SEED_KEYS if key in user_overrides]
    if seeded:
        raise SettingError("overrides", f"{', '.join(seeded)} is each run's own seed (1..--seeds); leave it out")
    configs = {method: config_for(config_pattern, dataset, method) for method in methods}
    for method, config in configs.items():
        if not Path(config).is_file():
            raise SettingError("config_pattern", f"{config} (for {method}) does not exist")
    epsilons = dict(epsilons)
    for method, choice in epsilons.items():
        if method != "vanilla" and choice.value is None:
            epsilons[method] = EpsilonChoice(config_epsilon(configs[method], method, dataset), choice.source)
    output_dir = Path(output_dir)
    runs = plan_runs(output_dir, methods, range(1, seeds + 1), epsilons)
    identity = {"dataset": dataset, "config_pattern": config_pattern, "overrides": user_overrides}
    recorded = read_record(Path(record), identity) if record else {}

    def in_record(run: Run) -> Optional[Dict]:
        return None if run.finished else recorded.get(run.method, {}).get(run.seed)

    for run in runs:
        wanted = f"not {run.epsilon.value} ({run.epsilon.source})"
        if in_record(run) is not None and run.epsilon.value is not None and in_record(run)["epsilon"] != run.epsilon.value:
            raise RecordError(f"{record}: {run.method} seed {run.seed} was trained with ε={in_record(run)['epsilon']}, "
                              f"{wanted}; choose another --record")
        started = in_record(run) is None and (run.finished or resumable(run.directory))
        if started and run.epsilon.value is not None and trained_epsilon(run.directory) != run.epsilon.value:
            raise ConfigurationError(f"{run.directory} was trained with ε={trained_epsilon(run.directory)}, {wanted}; "
                                     f"remove it or choose another -o")
        # ε is checked above: run_overrides puts the chosen ε over any in --overrides.
        checked = {key: value for key, value in user_overrides.items()
                   if not (key == "model.perturbation.epsilon" and run.epsilon.value is not None)}
        differing = overrides_not_held(run.directory, checked) if started else []
        if differing:
            raise ConfigurationError(f"{run.directory} was trained with {', '.join(differing)}, not as --overrides "
                                     f"says; remove it or choose another -o")
        report(describe(run, configs[run.method], record if in_record(run) is not None else None))
    if dry_run:
        return

    metric = PAPER["datasets"][dataset]["metric"]
    pending = [run for run in runs if not run.finished and in_record(run) is None]

    results: Dict[str, Dict[int, Dict]] = {}
    one_writer = threading.Lock()  # --jobs runs finish side by side

    def collect_and_record() -> None:
        with one_writer:
            folders: Dict[str, Dict[int, Dict]] = {}
            for run in runs:
                if run.finished:
                    folders.setdefault(run.method, {})[run.seed] = read_run(run.directory)
            results.update(merge(recorded, folders))
            if record:
                write_record(Path(record), identity, results)

    def train_and_report(run: Run) -> None:
        train(run, configs[run.method], dataset, run_overrides(run, user_overrides), include_packages, threads)
        if record:  # now, not at the block's end: a block killed later (SIGKILL, a sitting's end) keeps this run
            collect_and_record()
        score, corr = run_scores(read_run(run.directory)["metrics"], metric, str(run.directory / "metrics.json"))
        report(f"[{runs.index(run) + 1}/{len(runs)}] {run.method} seed {run.seed}: test {score:.2f} %, "
               f"Pearson {corr:.3f}")

    with recording(collect_and_record):
        run_side_by_side(train_and_report, pending, jobs)
    report(write_table(dataset, methods, output_dir, runs, results, record))


def write_table(dataset: str, methods: Sequence[str], output_dir: Path, runs: List[Run], results: Dict,
                record: Optional[str]) -> str:
    """Writes `<output_dir>/table2.md`; returns its text and where it went."""
    planned = {method: {run.seed: results[method][run.seed] for run in runs if run.method == method}
               for method in methods}

    def where(method: str, seed: int) -> str:
        if results[method][seed].get(FROM_RECORD):
            return f"{record}: {method} seed {seed}"
        return str(run_directory(output_dir, method, seed) / "metrics.json")

    table = table2_of_runs(dataset, planned, where)
    from_record = [f"{run.method} seed {run.seed}" for run in runs if results[run.method][run.seed].get(FROM_RECORD)]
    if from_record:
        table += (f"\nRead from {record} (trained in an earlier sitting, whose run folders are gone): "
                  + ", ".join(from_record) + ".\n")
    write_atomically(output_dir / "table2.md", table)
    return f"{table}\nwritten to {output_dir / 'table2.md'}"
