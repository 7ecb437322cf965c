import argparse
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from allennlp.common.checks import ConfigurationError
from allennlp.common.params import Params

from attention_perturb.errors import UsageError
from attention_perturb.files import write_atomically
from attention_perturb.training.resume import resumable, resume_flags
from attention_perturb.tune.experiment import SEED_KEYS
from attention_perturb.tune.record import FROM_RECORD, RecordError, merge, read_record, recording, write_record
from attention_perturb.tune.table2 import (
    METHODS, PAPER, EpsilonChoice, Run, choose_epsilons, overrides_not_held, plan_runs, read_run, run_directory,
    run_scores, table2_of_runs, trained_epsilon,
)

CONFIG_PATTERN = "training_configs/{dataset}_{method}.jsonnet"
DEFAULT_JOBS = 2


@Subcommand.register("reproduce-table2")
class ReproduceTable2(Subcommand):
    """`allennlp reproduce-table2 --dataset sst --seeds 3 -o runs/table2/sst`: trains each method
    once per seed (seeds 1..N) into `<out>/<method>/seed_<n>/` and writes Table 2's rows (test score
    and attention/gradient Pearson correlation, mean ± std over seeds, beside the paper's numbers)
    to `<out>/table2.md`. ε per method: `--epsilon method=value`, else the best trial of a finished
    `allennlp tune search` in `<search-log-dir>/<dataset>_<method>`, else the config's default.
    Finished runs are kept and interrupted ones continue from their last epoch (allennlp's
    `--recover`), so rerunning the command resumes; a kept run trained with another ε, or whose
    config.json does not hold a value of `--overrides`, is refused; `--record FILE` keeps the finished runs'
    metrics in a file to commit, so that a later sitting without the run folders trains only the
    runs it lacks; `--dry-run` prints the plan only."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Train the six methods and write Table 2.")
        subparser.add_argument("--dataset", required=True, choices=sorted(PAPER["datasets"]))
        subparser.add_argument("--seeds", type=int, default=1, help="number of seeds (1..N) per method")
        subparser.add_argument("-o", "--output-dir", required=True, help="runs go to <out>/<method>/seed_<n>/")
        subparser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
        subparser.add_argument("--epsilon", nargs="+", default=[], metavar="METHOD=VALUE", help="ε for a method")
        subparser.add_argument("--search-log-dir", default=None,
                               help="--log-dir of the searches, one experiment per method named <dataset>_<method>")
        subparser.add_argument("--config-pattern", default=CONFIG_PATTERN,
                               help="training config per run; {dataset} and {method} are filled in (METHOD and "
                               "DATASET are also set in the environment)")
        subparser.add_argument("--overrides", default="", help="JSON overrides for every run")
        subparser.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                               help="trainings run side by side (default %(default)s: on 2 cores two 1-thread "
                               "trainings finish a block sooner than one 2-thread training at a time; "
                               "benchmarks/side_by_side.py measures it)")
        subparser.add_argument("--threads-per-job", type=int, default=None,
                               help="torch threads of each training (default: the CPU count divided by --jobs)")
        subparser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
        subparser.add_argument("--record", default=None,
                               help="a JSON record of finished runs' metrics, to commit: its runs are not trained "
                               "again and count in the table, and each run is added to it as soon as it finishes")
        reporting_errors(subparser, reproduce_table2_from_args)
        return subparser


def parse_epsilons(pairs: List[str]) -> Dict[str, float]:
    epsilons = {}
    for pair in pairs:
        method, _, value = pair.partition("=")
        if method not in METHODS or method == "vanilla":
            raise UsageError(f"--epsilon {pair}: method must be one of {METHODS[1:]}")
        try:
            epsilons[method] = float(value)
        except ValueError as error:
            raise UsageError(f"--epsilon {pair}: {value!r} is not a number") from error
    return epsilons


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


def thread_environment(threads: int) -> Dict[str, str]:
    """Caps a training's torch (OpenMP / MKL) threads."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def threads_per_job(jobs: int, requested: Optional[int]) -> int:
    if jobs < 1:
        raise UsageError(f"--jobs: must be at least 1, got {jobs}")
    if requested is not None and requested < 1:
        raise UsageError(f"--threads-per-job: must be at least 1, got {requested}")
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


def reproduce_table2_from_args(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise UsageError(f"--seeds: must be at least 1, got {args.seeds}")
    threads = threads_per_job(args.jobs, args.threads_per_job)
    try:
        user_overrides = json.loads(args.overrides) if args.overrides else {}
    except json.JSONDecodeError as error:
        raise UsageError(f"--overrides: not valid JSON ({error})") from error
    seeded = [key for key in SEED_KEYS if key in user_overrides]
    if seeded:
        raise UsageError(f"--overrides: {', '.join(seeded)} is each run's own seed (1..--seeds); leave it out")
    configs = {method: args.config_pattern.format(dataset=args.dataset, method=method) for method in args.methods}
    for method, config in configs.items():
        if not Path(config).is_file():
            raise FileNotFoundError(f"--config-pattern: {config} (for {method}) does not exist")
    epsilons = choose_epsilons(args.dataset, args.methods, parse_epsilons(args.epsilon),
                               Path(args.search_log_dir) if args.search_log_dir else None)
    for method, choice in epsilons.items():
        if method != "vanilla" and choice.value is None:
            epsilons[method] = EpsilonChoice(config_epsilon(configs[method], method, args.dataset), choice.source)
    output_dir = Path(args.output_dir)
    runs = plan_runs(output_dir, args.methods, range(1, args.seeds + 1), epsilons)
    identity = {"dataset": args.dataset, "config_pattern": args.config_pattern, "overrides": user_overrides}
    recorded = read_record(Path(args.record), identity) if args.record else {}

    def in_record(run: Run) -> Optional[Dict]:
        return None if run.finished else recorded.get(run.method, {}).get(run.seed)

    for run in runs:
        wanted = f"not {run.epsilon.value} ({run.epsilon.source})"
        if in_record(run) is not None and run.epsilon.value is not None and in_record(run)["epsilon"] != run.epsilon.value:
            raise RecordError(f"{args.record}: {run.method} seed {run.seed} was trained with ε={in_record(run)['epsilon']}, "
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
        print(describe(run, configs[run.method], args.record if in_record(run) is not None else None), flush=True)
    if args.dry_run:
        return

    metric = PAPER["datasets"][args.dataset]["metric"]
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
            if args.record:
                write_record(Path(args.record), identity, results)

    def train_and_report(run: Run) -> None:
        train(run, configs[run.method], args.dataset, run_overrides(run, user_overrides), args.include_package, threads)
        if args.record:  # now, not at the block's end: a block killed later (SIGKILL, a sitting's end) keeps this run
            collect_and_record()
        score, corr = run_scores(read_run(run.directory)["metrics"], metric, str(run.directory / "metrics.json"))
        print(f"[{runs.index(run) + 1}/{len(runs)}] {run.method} seed {run.seed}: test {score:.2f} %, "
              f"Pearson {corr:.3f}", flush=True)

    with recording(collect_and_record):
        run_side_by_side(train_and_report, pending, args.jobs)
    write_table(args, output_dir, runs, results)


def write_table(args: argparse.Namespace, output_dir: Path, runs: List[Run], results: Dict) -> None:
    planned = {method: {run.seed: results[method][run.seed] for run in runs if run.method == method}
               for method in args.methods}

    def where(method: str, seed: int) -> str:
        if results[method][seed].get(FROM_RECORD):
            return f"{args.record}: {method} seed {seed}"
        return str(run_directory(output_dir, method, seed) / "metrics.json")

    table = table2_of_runs(args.dataset, planned, where)
    from_record = [f"{run.method} seed {run.seed}" for run in runs if results[run.method][run.seed].get(FROM_RECORD)]
    if from_record:
        table += (f"\nRead from {args.record} (trained in an earlier sitting, whose run folders are gone): "
                  + ", ".join(from_record) + ".\n")
    write_atomically(output_dir / "table2.md", table)
    print(table)
    print(f"written to {output_dir / 'table2.md'}")
