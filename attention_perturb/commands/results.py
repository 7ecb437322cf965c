import argparse
import sys
from pathlib import Path

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from attention_perturb.experiments.results import regenerate


@Subcommand.register("results")
class Results(Subcommand):
    """`allennlp results [benchmarks/results] [--check]`: makes every generated section of the
    folder's results files (`<!-- begin KIND ... -->` … `<!-- end KIND -->`: Table 2, the
    importance measures, a sweep's report and figures) anew from the committed records they name
    (see `attention_perturb/experiments/results.py`). `--check` writes nothing, lists the files that would
    change, and exits with status 1 if any would."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__,
                                      help="Regenerate the results files from their records.")
        subparser.add_argument("folder", nargs="?", default="benchmarks/results", help="the results folder")
        subparser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
        reporting_errors(subparser, results_from_args)
        return subparser


def results_from_args(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: no such results folder")
    changed = regenerate(folder, check=args.check)
    for path in changed:
        print(f"{'would change' if args.check else 'rewritten'}: {path}")
    if args.check and changed:
        sys.exit(1)
    if not changed:
        print(f"{folder}: every generated section matches its record")
