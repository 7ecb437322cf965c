import argparse
import json
from pathlib import Path
from typing import Dict, List

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from attention_perturb.errors import UsageError
from attention_perturb.experiments.methods import trained_by_perturbation
from attention_perturb.experiments.reproduce_table2 import CONFIG_PATTERN, DEFAULT_JOBS, reproduce_table2
from attention_perturb.experiments.table2 import PAPER
from attention_perturb.tune.best_trial import choose_epsilons


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
        subparser.add_argument("--methods", nargs="+", metavar="METHOD",
                               help="methods to train (default: every method of training_configs/lib/methods.libsonnet "
                               "trained by a perturbation: the paper's six and any registered since)")
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


def parse_epsilons(pairs: List[str], methods: List[str]) -> Dict[str, float]:
    epsilons = {}
    for pair in pairs:
        method, _, value = pair.partition("=")
        if method not in methods or method == "vanilla":
            raise UsageError(f"--epsilon {pair}: method must be one of {[m for m in methods if m != 'vanilla']}")
        try:
            epsilons[method] = float(value)
        except ValueError as error:
            raise UsageError(f"--epsilon {pair}: {value!r} is not a number") from error
    return epsilons


def reproduce_table2_from_args(args: argparse.Namespace) -> None:
    try:
        overrides = json.loads(args.overrides) if args.overrides else {}
    except json.JSONDecodeError as error:
        raise UsageError(f"--overrides: not valid JSON ({error})") from error
    available = trained_by_perturbation()
    unknown = [method for method in args.methods or [] if method not in available]
    if unknown:
        raise UsageError(f"--methods: {', '.join(unknown)} not among the registered methods trained by a "
                         f"perturbation ({', '.join(available)}; training_configs/lib/methods.libsonnet)")
    methods = args.methods or available
    epsilons = choose_epsilons(args.dataset, methods, parse_epsilons(args.epsilon, available),
                               Path(args.search_log_dir) if args.search_log_dir else None)
    reproduce_table2(args.dataset, args.seeds, Path(args.output_dir), methods, epsilons, args.config_pattern,
                     overrides, args.jobs, args.threads_per_job, args.dry_run, args.record, args.include_package,
                     report=lambda line: print(line, flush=True))
