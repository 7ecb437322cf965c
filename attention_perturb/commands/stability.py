import argparse
import json
from typing import Dict

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors

from attention_perturb.commands.arguments import positive_int
from attention_perturb.files import write_atomically
from attention_perturb.robustness.stability import stability_file


@Subcommand.register("stability")
class Stability(Subcommand):
    """`allennlp stability model.tar.gz data [--second-archive other_seed.tar.gz]`: SEAT's
    stability of an attention model — attention JSD and prediction TVD under SEAT's worst-case
    (PGD) embedding perturbation as its code measures Table 1 (--pgd-radius, --pgd-steps; with
    --pgd-clip also with the code's clamp of the perturbed embeddings to [0, 1]), under
    Gaussian embedding noise (--noise-std), under synonym substitution (--synonym-words WordNet synonyms), and
    against a second model trained with another random seed — plus ERASER's comprehensiveness
    and sufficiency of the attention's top-k tokens. Every measure is taken on a float64 copy of
    the model. Prints the means as JSON."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Measure attention stability and faithfulness.")
        subparser.add_argument("archive_file", help="model.tar.gz of an attention model")
        subparser.add_argument("input_file", help="data in the format of the archive's dataset reader")
        subparser.add_argument("--pgd-radius", type=float, default=0.01,
                               help="L∞ radius of SEAT's worst-case embedding perturbation (its code's --x_pgd_radius)")
        subparser.add_argument("--pgd-steps", type=positive_int, default=10, help="PGD steps of that perturbation")
        subparser.add_argument("--pgd-clip", action="store_true",
                               help="also measure at that perturbation as SEAT's code runs it, every PGD iterate clamped "
                                    "to [0, 1] (pgd_clip_jsd, pgd_clip_tvd)")
        subparser.add_argument("--noise-std", type=float, default=0.01, help="σ of the Gaussian embedding noise")
        subparser.add_argument("--synonym-words", type=positive_int, default=1, help="words replaced by a synonym (SEAT: N = 1)")
        subparser.add_argument("--second-archive", help="the same model trained with another random seed")
        subparser.add_argument("--top-k", type=positive_int, default=5, help="attended tokens forming the rationale")
        subparser.add_argument("--seed", type=int, default=0, help="seeds the noise and the substituted positions")
        subparser.add_argument("--max-instances", type=positive_int, help="only the first N instances")
        subparser.add_argument("--batch-size", type=positive_int, default=64)
        subparser.add_argument("--output-file", help="also write the measures here as JSON")
        subparser.add_argument("--cuda-device", type=int, default=-1)
        reporting_errors(subparser, stability_from_args)
        return subparser


def stability_from_args(args: argparse.Namespace) -> Dict[str, float]:
    report = stability_file(
        args.archive_file, args.input_file, args.noise_std, args.synonym_words, args.second_archive,
        args.top_k, args.seed, args.max_instances, args.batch_size, args.cuda_device, args.pgd_radius, args.pgd_steps, args.pgd_clip,
    )
    if args.output_file:
        write_atomically(args.output_file, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report
