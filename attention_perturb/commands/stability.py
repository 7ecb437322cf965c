import argparse
import itertools
import json
import os
from typing import Dict, Optional

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from allennlp.common.checks import ConfigurationError

from attention_perturb.archives import load_model_archive
from attention_perturb.commands.attack import positive_int
from attention_perturb.files import write_atomically
from attention_perturb.robustness.stability import attention_model, stability_report


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


def stability_file(
    archive_file: str,
    input_file: str,
    noise_std: float = 0.01,
    synonym_words: int = 1,
    second_archive: Optional[str] = None,
    top_k: int = 5,
    seed: int = 0,
    max_instances: Optional[int] = None,
    batch_size: int = 64,
    cuda_device: int = -1,
    pgd_radius: float = 0.01,
    pgd_steps: int = 10,
    pgd_clip: bool = False,
) -> Dict[str, float]:
    """`stability_report` of an archive on a data file, read with the archive's dataset reader."""
    if second_archive is not None and not os.path.exists(second_archive):
        raise ConfigurationError(f"--second-archive: {second_archive} does not exist")
    archive = load_model_archive(archive_file, cuda_device=cuda_device)
    attention_model(archive.model, archive_file)
    instances = list(itertools.islice(archive.validation_dataset_reader.read(input_file), max_instances))
    if not instances:
        raise ConfigurationError(f"{input_file}: no instances to measure")
    second_model = second_instances = None
    if second_archive is not None:
        second = load_model_archive(second_archive, cuda_device=cuda_device)
        second_model = attention_model(second.model, second_archive)
        second_instances = list(itertools.islice(second.validation_dataset_reader.read(input_file), max_instances))
    return stability_report(
        archive.model, instances, noise_std, synonym_words, second_model, second_instances,
        top_k=top_k, batch_size=batch_size, seed=seed, source=archive_file, pgd_radius=pgd_radius, pgd_steps=pgd_steps,
        pgd_clip=pgd_clip,
    )


def stability_from_args(args: argparse.Namespace) -> Dict[str, float]:
    report = stability_file(
        args.archive_file, args.input_file, args.noise_std, args.synonym_words, args.second_archive,
        args.top_k, args.seed, args.max_instances, args.batch_size, args.cuda_device, args.pgd_radius, args.pgd_steps, args.pgd_clip,
    )
    if args.output_file:
        write_atomically(args.output_file, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report
