import argparse

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from attention_perturb.data.builders import DATASETS, PROTOCOLS, REDUCED_PROTOCOLS, make_dataset


@Subcommand.register("make-dataset")
class MakeDataset(Subcommand):
    """`allennlp make-dataset <name> <raw folder> -o data/<name>`: the paper's train / validation /
    test splits of a public raw download as JSON lines (`{"text", "label"}` for the binary
    classification datasets, `{"passage", "question", "label"}` for QA and NLI), deterministic for
    a seed, written all or nothing."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Build a dataset's splits.")
        subparser.add_argument("name", choices=sorted(DATASETS))
        subparser.add_argument("raw_dir", help="folder holding the raw download")
        subparser.add_argument("-o", "--output-dir", required=True)
        subparser.add_argument("--seed", type=int, default=16377, help="seed of the held-out splits")
        subparser.add_argument("--task", type=int, default=1, help="bAbI task number")
        subparser.add_argument("--skip-invalid", action="store_true", help="count and skip bad examples")
        subparser.add_argument(
            "--protocol", choices=PROTOCOLS, default="full",
            help="full: the paper's splits of the whole release (default); reduced: a partial release, "
                 + "; ".join(REDUCED_PROTOCOLS.values()),
        )
        reporting_errors(subparser, make_dataset_from_args)
        return subparser


def make_dataset_from_args(args: argparse.Namespace) -> None:
    sizes = make_dataset(args.name, args.raw_dir, args.output_dir, args.seed, args.task, args.skip_invalid, args.protocol)
    print(f"wrote {args.output_dir}: " + ", ".join(f"{split} {size}" for split, size in sizes.items()))
