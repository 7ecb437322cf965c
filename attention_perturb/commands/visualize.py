import argparse

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from attention_perturb.experiments.heatmaps import visualize


@Subcommand.register("visualize")
class Visualize(Subcommand):
    """`allennlp visualize dump.jsonl [dump2.jsonl ...] -o figures/`: Figure-3 style heatmaps of
    `attention_saliency` predictor dumps. Per sentence, one row coloured by attention and one by
    gradient importance for each model, side by side; written as one self-contained
    `heatmaps.html` and as `heatmaps.png` (matplotlib)."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Draw attention/gradient heatmaps.")
        subparser.add_argument("dumps", nargs="+", help="JSON-lines outputs of the attention_saliency predictor")
        subparser.add_argument("-o", "--output-dir", required=True)
        subparser.add_argument("--names", nargs="+", help="one model name per dump (default: file names)")
        subparser.add_argument("--max-sentences", type=int, default=10, help="sentences in the PNG")
        reporting_errors(subparser, visualize_from_args)
        return subparser


def visualize_from_args(args: argparse.Namespace) -> None:
    written = visualize(args.dumps, args.output_dir, args.names, args.max_sentences)
    print(f"wrote {written['html']} and {written['png']}")
