import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Callable, List

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError

from attention_perturb.commands.errors import StoppedBeforeTheEnd, reporting_errors
from attention_perturb.commands.arguments import RAY_ADDRESS_HELP


RECORD_HELP = ("a JSON record of finished runs (test and per-epoch validation metrics) to commit, so that a "
               "study spans sittings whose run folders are gone")


@Subcommand.register("sweep")
class Sweep(Subcommand):
    """`allennlp sweep run --grid GRID.json -o runs/study` trains every cell of a grid of config
    overrides × seeds (see `attention_perturb/experiments/sweep.py` for the grid file) as Ray Tune trials,
    each a real `allennlp train`; rerunning resumes (finished runs are kept). `allennlp sweep report
    -o runs/study` writes report.md / report.json: per cell mean ± 95 % CI over seeds of the test
    score and every agreement, paired differences to vanilla at equal seeds, the ε chosen per method
    by validation score, and figures of agreement against ε and against epoch. Run folders do not
    outlive their sitting on every machine: `--record FILE` on both verbs keeps each finished run's
    metrics in a file to commit, and a later sitting trains only the runs it lacks and reports on all."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="A grid of runs over seeds and its report.")
        verbs = subparser.add_subparsers(title="verbs", metavar="{run,report}")
        run = verbs.add_parser("run", help="train (or resume) every cell and seed of a grid")
        run.add_argument("--grid", required=True, help="the grid file (JSON)")
        run.add_argument("-o", "--output-dir", required=True)
        run.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1, help="CPUs the local Ray may use")
        run.add_argument("--cpus-per-trial", type=int, default=1,
                         help="CPUs (and torch threads) of each training; trainings run side by side")
        run.add_argument("--ray-address", default=None, help=RAY_ADDRESS_HELP)
        run.add_argument("--dry-run", action="store_true", help="print the plan and exit")
        run.add_argument("--record", default=None, help=RECORD_HELP + "; its runs are not trained again")
        run.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                         help="train only these methods' cells this time (e.g. the cheap ones first); it ends with "
                         "status 0 once they are finished, and a later run without it trains the rest (a report "
                         "before then covers the finished cells only)")
        reporting_errors(run, run_from_args)
        report = verbs.add_parser("report", help="mean ± CI per cell, paired differences, figures")
        report.add_argument("-o", "--output-dir", required=True)
        report.add_argument("--metric", default="f1", help="test score reported and validation score choosing ε")
        report.add_argument("--record", default=None, help=RECORD_HELP + "; the report covers its runs too, and "
                            "the folder's finished runs are added to it")
        reporting_errors(report, report_from_args)
        subparser.set_defaults(func=lambda args: subparser.print_help())
        return subparser


def run_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.training.runs import is_finished
    from attention_perturb.experiments.record import recording
    from attention_perturb.experiments.sweep import plan_trials, read_grid, recorded_runs, save_grid, trial_name, update_record

    grid = read_grid(Path(args.grid))
    output_dir = Path(args.output_dir).resolve()
    recorded = set()
    if args.record:
        recorded = {trial_name(cell, seed) for cell, seeds in recorded_runs(Path(args.record), grid).items()
                    for seed in seeds}
    trials = [trial for trial in plan_trials(output_dir, grid) if trial.name not in recorded]
    total = len(trials) + len(recorded)
    left_for_later = []
    if args.methods:
        args.methods = list(dict.fromkeys(args.methods))
        unknown = sorted(set(args.methods) - set(grid["methods"]))
        if unknown:
            raise ConfigurationError(f"--methods: {', '.join(unknown)} not among the grid's methods ({', '.join(grid['methods'])})")
        left_for_later = [trial for trial in trials if trial.environment["METHOD"] not in args.methods]
        trials = [trial for trial in trials if trial.environment["METHOD"] in args.methods]
    for config in sorted({trial.config for trial in trials}):
        if not Path(config).is_file():
            raise FileNotFoundError(f"{args.grid}: config {config} does not exist")
    pending = [trial for trial in trials if not is_finished(trial.serialization_dir)]
    left_unfinished = [trial for trial in left_for_later if not is_finished(trial.serialization_dir)]
    print(f"{output_dir}: {total - len(pending) - len(left_unfinished)} of {total} runs finished"
          + (f" ({len(recorded)} in {args.record})" if recorded else "") + f", {len(pending)} to run"
          + (f", {len(left_unfinished)} of other methods left for a later run" if left_unfinished else ""), flush=True)
    if args.dry_run:
        for trial in pending:
            print(f"  {trial.name}: {trial.config} -o {trial.overrides}")
        return
    save_grid(output_dir, grid)

    def record_the_finished_runs() -> None:
        if args.record:
            update_record(Path(args.record), output_dir, grid)

    with recording(record_the_finished_runs):
        if pending:
            train(args, output_dir, pending, total - len(left_unfinished), record_the_finished_runs)
    unfinished = [trial.name for trial in trials if not is_finished(trial.serialization_dir)]
    if unfinished:
        raise StoppedBeforeTheEnd(f"sweep stopped with {len(unfinished) + len(left_unfinished)} of {total} runs "
                                  f"unfinished; rerun to resume")
    if left_unfinished:
        print(f"every run of {', '.join(args.methods)} finished; {len(left_unfinished)} runs of other methods are "
              f"left: rerun without --methods to train them")
        return
    print(f"all {total} runs finished; next: allennlp sweep report -o {args.output_dir}"
          + (f" --record {args.record}" if args.record else ""))


def train(args: argparse.Namespace, output_dir: Path, pending: List, total: int,
          after_each_trial: Callable[[], None]) -> None:
    import ray

    from attention_perturb.training.runs import thread_environment
    from attention_perturb.tune.search import run_trials, start_ray

    settings = {"base_config": None, "include_packages": args.include_package, "overrides": "", "cwd": os.getcwd()}
    for trial in pending:
        trial.environment.update(thread_environment(args.cpus_per_trial))
    start_ray(args.ray_address, args.num_cpus, 0)
    try:
        run_trials(output_dir, pending, settings, {"cpu": args.cpus_per_trial}, total, after_each_trial)
    finally:
        ray.shutdown()


def report_from_args(args: argparse.Namespace) -> None:
    import json

    from attention_perturb.experiments.sweep import GRID_FILE, collect, grid_of_record, update_record
    from attention_perturb.experiments.sweep_report import write_report

    output_dir = Path(args.output_dir)
    grid_file = output_dir / GRID_FILE
    if grid_file.is_file():
        grid = json.loads(grid_file.read_text())
    else:  # the record alone: its sitting's folder is gone
        grid = grid_of_record(Path(args.record)) if args.record else None
        if grid is None:
            raise FileNotFoundError(f"-o: {grid_file} does not exist (not a sweep folder?)")
        output_dir.mkdir(parents=True, exist_ok=True)
    results = update_record(Path(args.record), output_dir, grid) if args.record else collect(output_dir, grid)
    if not results:
        raise FileNotFoundError(f"-o: {output_dir} has no finished runs yet")
    command = "allennlp " + " ".join(shlex.quote(argument) for argument in sys.argv[1:])
    print(write_report(output_dir, grid, results, args.metric, command))
    print(f"written to {output_dir / 'report.md'}")
    if args.record:
        print(f"{sum(map(len, results.values()))} finished runs of this grid's seeds in {args.record}")
