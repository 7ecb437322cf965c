import argparse
import json
from typing import Dict

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.arguments import positive_int
from attention_perturb.commands.errors import reporting_errors
from attention_perturb.files import write_atomically
from attention_perturb.robustness.attack import ANTONYM_RESOURCES, ANTONYM_SUCCESS, attack_file
from attention_perturb.substitutions.wordnet import KINDS

@Subcommand.register("attack")
class Attack(Subcommand):
    """`allennlp attack model.tar.gz data --kind synonym|antonym`: a greedy WordNet
    word-substitution attack (PWWS for synonyms, BAT's one-word antonym attack) on an
    `attention_classifier` archive. Prints after-attack accuracy, the attack success rate, mean
    words changed and queries, and FLAT's interpretation consistency (Kendall τ, top-k
    intersection) of attention and gradient importance between inputs and their adversarial
    examples, as JSON; `--output-file` writes one JSON line per instance."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Attack a classifier with WordNet substitutions.")
        subparser.add_argument("archive_file", help="model.tar.gz of an attention_classifier")
        subparser.add_argument("input_file", help="data in the format of the archive's dataset reader")
        subparser.add_argument("--kind", required=True, choices=KINDS, help="synonym (oversensitivity) or antonym (undersensitivity)")
        subparser.add_argument("--budget", type=positive_int, help="model queries per instance (default: no limit)")
        subparser.add_argument("--max-instances", type=positive_int, help="attack only the first N instances")
        subparser.add_argument("--max-candidates", type=positive_int, help="substitutes per word (default: all in the vocabulary)")
        subparser.add_argument("--antonyms", choices=ANTONYM_RESOURCES, default="direct_and_indirect",
                               help="the word's direct WordNet antonyms only (as BAT's code, no indirect ones), or also the satellites' indirect ones")
        subparser.add_argument("--antonym-success", choices=ANTONYM_SUCCESS, default="unchanged_prediction",
                               help="an antonym succeeds if the prediction stays (BAT §2.2), or if P(y) also rises (BAT's code)")
        subparser.add_argument("--top-k", type=positive_int, default=5, help="k of the top-k intersection (FLAT: 5)")
        subparser.add_argument("--batch-size", type=positive_int, default=256, help="sentences per forward pass")
        subparser.add_argument("--output-file", help="JSON lines: tokens, adversarial tokens, changed positions, labels")
        subparser.add_argument("--metrics-file", help="also write the metrics here as JSON")
        subparser.add_argument("--cuda-device", type=int, default=-1)
        reporting_errors(subparser, attack_from_args)
        return subparser


def attack_from_args(args: argparse.Namespace) -> Dict[str, float]:
    report = attack_file(
        args.archive_file, args.input_file, args.kind, args.budget, args.max_instances, args.max_candidates,
        args.top_k, args.batch_size, args.cuda_device, args.antonyms, args.antonym_success,
    )
    metrics = report.metrics()
    if args.output_file:
        write_atomically(args.output_file, "".join(json.dumps(record) + "\n" for record in report.records()))
    if args.metrics_file:
        write_atomically(args.metrics_file, json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    return metrics
