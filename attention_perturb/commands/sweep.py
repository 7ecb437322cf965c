import argparse
import shlex
import sys

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.arguments import RAY_ADDRESS_HELP
from attention_perturb.commands.errors import reporting_errors


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
        run.add_argument("--num-cpus", type=int, default=None,
                         help="CPUs the local Ray may use (default: every CPU Ray finds on this machine)")
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
    from attention_perturb.tune.sweep_run import run_sweep

    run_sweep(args.grid, args.output_dir, args.record, args.methods, args.dry_run, args.num_cpus, args.cpus_per_trial,
              args.ray_address, args.include_package, report=lambda line: print(line, flush=True))


def report_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.experiments.sweep_report import report_sweep

    command = "allennlp " + " ".join(shlex.quote(argument) for argument in sys.argv[1:])
    for line in report_sweep(args.output_dir, args.record, args.metric, command):
        print(line)
