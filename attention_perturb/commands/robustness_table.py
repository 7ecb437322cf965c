import argparse

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.arguments import positive_int
from attention_perturb.commands.errors import reporting_errors
from attention_perturb.experiments.robustness_table import write_robustness_table


@Subcommand.register("robustness-table")
class RobustnessTable(Subcommand):
    """`allennlp robustness-table --archives runs/sst_methods --data data/sst/test.txt -o table.md`:
    one markdown table comparing every `<method>/model.tar.gz` under the archive folder(s): test
    score (F1 for two labels, else accuracy), attention/gradient Pearson agreement, SEAT's JSD/TVD
    stability (SEAT's worst-case embedding perturbation, embedding noise, synonym substitution, and
    another seed's model), after-attack accuracy and synonym/antonym attack success rates of
    `allennlp attack`, and ERASER comprehensiveness/sufficiency of the top-k attention.

    A method folder may instead hold one archive per seed, `<method>/seed_<n>/model.tar.gz` (the
    layout of `reproduce-table2`): every measure is then taken on each seed and the table gives
    mean ± std over seeds (sample standard deviation); the seed columns compare each seed's model
    with the method's next seed (the last with the first), unless --second-archives names another
    folder. Below the table, each method's difference to vanilla at equal seeds (mean ± 95 % CI).
    `--figure` draws the Pareto picture (`experiments/pareto.py`): clean test score against
    after-attack accuracy and against SEAT's PGD JSD and TVD (log axes), one point per method with
    its 95 % CI over seeds as error bars, the Pareto frontier, labels that overlap nothing.

    `--record FILE` lets the seeds span sittings whose archives are gone: each seed's measures are
    kept there as soon as they are taken, under the options that shaped them (data, noise, top-k,
    budget, instances, batch size), and a later call measures only the seeds the record lacks. Seeds
    are measured in turn, every method's first, then every method's second, so that a sitting that
    ends part-way leaves whole seeds. The seed columns of a seed measured in a sitting compare it
    with the archives present in that sitting."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Compare methods' robustness in one table.")
        subparser.add_argument("--archives", nargs="+", required=True, help="folders holding <method>/model.tar.gz")
        subparser.add_argument("--data", required=True, help="evaluation data in the archives' reader format")
        subparser.add_argument("-o", "--output-file", required=True, help="the markdown table")
        subparser.add_argument("--json-file", help="also write every measure per method and seed as JSON")
        subparser.add_argument("--figure", help="also draw the Pareto picture (PNG): test score against after-attack "
                                                "accuracy, SEAT's PGD JSD and TVD (log), 95 %% CIs, frontiers")
        subparser.add_argument("--second-archives", help="a folder with the same methods trained with another seed "
                                                         "(default: each seed's next seed, where a method has several)")
        subparser.add_argument("--noise-std", type=float, default=0.01)
        subparser.add_argument("--pgd-clip", action="store_true",
                               help="also measure SEAT's PGD as its code runs it, every iterate clamped to [0, 1] "
                                    "(columns JSD/TVD PGD clipped)")
        subparser.add_argument("--top-k", type=positive_int, default=5)
        subparser.add_argument("--budget", type=positive_int, help="attack queries per instance (default: no limit)")
        subparser.add_argument("--max-instances", type=positive_int, help="only the first N instances")
        subparser.add_argument("--record", help="a JSON record of each method's and seed's measures (seed_<n> layout), to "
                                                "commit: seeds it holds are not measured again, their archives may be "
                                                "gone, and the table covers them; new seeds are added as they finish")
        subparser.add_argument("--batch-size", type=positive_int, default=64)
        subparser.add_argument("--jobs", type=positive_int, default=1,
                               help="archives measured at a time, each in its own process of one thread")
        subparser.add_argument("--cuda-device", type=int, default=-1)
        reporting_errors(subparser, robustness_table_from_args)
        return subparser


def robustness_table_from_args(args: argparse.Namespace):
    table, rows = write_robustness_table(
        args.archives, args.data, args.output_file, args.second_archives, args.json_file, args.figure, args.record,
        args.jobs, noise_std=args.noise_std, top_k=args.top_k, budget=args.budget, max_instances=args.max_instances,
        batch_size=args.batch_size, cuda_device=args.cuda_device, pgd_clip=args.pgd_clip,
    )
    print(table, end="")
    return rows
