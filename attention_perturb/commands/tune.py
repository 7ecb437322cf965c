import argparse
import logging

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.arguments import RAY_ADDRESS_HELP
from attention_perturb.commands.errors import reporting_errors
from attention_perturb.tune.experiment import SEARCH_STRATEGY

logger = logging.getLogger(__name__)



@Subcommand.register("tune")
class Tune(Subcommand):
    """`allennlp tune search | report | plot`: allentune's hyperparameter search on Ray Tune 2.x,
    with allentune's flags, search-space files and results.jsonl. Each trial is an `allennlp train`
    of `--base-config` with the trial's sampled values as environment variables (read there with
    `std.extVar`), serialized to `<log-dir>/<experiment-name>/run_NNN/trial/`. Rerunning a search
    resumes it: finished trials are kept, interrupted ones continue from their last checkpoint."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Hyperparameter search on Ray Tune.")
        verbs = subparser.add_subparsers(title="verbs", metavar="{search,report,plot}")
        add_search_parser(verbs)
        add_report_parser(verbs)
        add_plot_parser(verbs)
        subparser.set_defaults(func=lambda args: subparser.print_help())
        return subparser


def add_search_parser(verbs) -> None:
    search = verbs.add_parser("search", description="Random search with Ray Tune (allentune search).",
                              help="run (or resume) a search")
    search.add_argument("--experiment-name", required=True, help="a name for the experiment")
    search.add_argument("--num-cpus", type=int, default=1, help="CPUs the local Ray may use")
    search.add_argument("--num-gpus", type=int, default=None, help="GPUs the local Ray may use (default: all visible)")
    search.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs reserved for each trial")
    search.add_argument("--gpus-per-trial", type=float, default=None,
                        help="GPUs reserved for each trial (default: 1 if GPUs are used, else 0)")
    search.add_argument("--log-dir", default="./logs", help="trials go to <log-dir>/<experiment-name>/")
    search.add_argument("--search-space", "--search_space", "-e", dest="search_space", required=True,
                        help="allentune search-space JSON: environment variable -> value or sampling block")
    search.add_argument("--num-samples", type=int, default=1, help="number of trials to draw")
    search.add_argument("--base-config", required=True, help="training config reading the variables with std.extVar")
    search.add_argument("--include-package", action="append", default=[], help="packages each trial imports")
    search.add_argument("-o", "--overrides", default="", help="JSON overrides for every trial's config")
    search.add_argument("--ray-address", default=None, help=RAY_ADDRESS_HELP)
    search.add_argument("--random-seed", type=int, default=0,
                        help="seed of the trial draws (trial k's values depend only on it and k)")
    search.add_argument("--search-strategy", default=SEARCH_STRATEGY, help="only variant-generation (random search)")
    search.add_argument("--with-server", action="store_true", help="ignored: Ray Tune 2.x has no Tune server")
    search.add_argument("--server-port", type=int, default=10000, help="ignored with --with-server")
    reporting_errors(search, search_from_args)


def add_report_parser(verbs) -> None:
    report = verbs.add_parser("report", description="results.jsonl and a table of a search (allentune report).",
                              help="collect a search's results")
    report.add_argument("--log-dir", "--logdir", dest="log_dir", required=True, help="<log-dir>/<experiment-name>")
    report.add_argument("--performance-metric", "--performance_metric", dest="performance_metric", default=None,
                        help="metric to rank by (default: best_validation_ + the trainer's validation_metric)")
    report.add_argument("--model", default=None, help="series name recorded as `model` (default: experiment name)")
    report.add_argument("--throttle", type=int, default=None, help="recorded as dataset_reader.sample, as allentune")
    reporting_errors(report, report_from_args)


def add_plot_parser(verbs) -> None:
    plot = verbs.add_parser("plot", description="Expected validation performance or a hyperparameter against the "
                            "validation score (allentune plot).", help="plot results.jsonl files")
    plot.add_argument("--result-file", nargs="+", required=True, help="results.jsonl of one or more searches")
    plot.add_argument("--output-file", required=True, help="image to write (e.g. fig.png)")
    plot.add_argument("--data-name", required=True, help="plot title")
    plot.add_argument("--x", default="trials",
                      help="'trials' (expected performance curve) or a field such as epsilon (Figure 4)")
    plot.add_argument("--performance-metric-field", default=None,
                      help="field holding the score (default: best_validation_ + the trainer's validation_metric)")
    plot.add_argument("--performance-metric", default=None, help="axis label of the score (default: from the field)")
    plot.add_argument("--model-field", default="model", help="field naming each series")
    plot.add_argument("--duration-field", default="training_duration")
    plot.add_argument("--x-axis-time", action="store_true", help="expected performance against training time")
    plot.add_argument("--plot-errorbar", action="store_true", help="kept for allentune; the band is drawn by default")
    plot.add_argument("--no-errorbar", action="store_true", help="leave out the ±1 std band")
    plot.add_argument("--logx", action="store_true")
    plot.add_argument("--legend-location", default="lower right")
    plot.add_argument("--fontsize", type=int, default=12)
    plot.add_argument("--linestyle", default="-")
    plot.add_argument("--linewidth", type=float, default=2)
    plot.add_argument("--subplots", nargs=2, type=int, default=[1, 1],
                      help="rows cols; 1 1 puts every result file on one axis, else one file per axis")
    plot.add_argument("--figsize", nargs=2, type=float, default=[7, 5])
    reporting_errors(plot, plot_from_args)


def search_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.tune.search import search

    if args.with_server:
        logger.warning("--with-server is ignored: Ray Tune 2.x has no Tune server")
    search(args.experiment_name, args.base_config, args.search_space, args.log_dir, args.num_samples, args.random_seed,
           args.overrides, args.num_cpus, args.num_gpus, args.cpus_per_trial, args.gpus_per_trial, args.ray_address,
           args.search_strategy, args.include_package, report=lambda line: print(line, flush=True))


def report_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.tune.report import report

    for line in report(args.log_dir, args.model, args.throttle, args.performance_metric):
        print(line)


def plot_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.tune.plot import plot

    plot(args.result_file, args.output_file, args.subplots, args.figsize, args.data_name, args.x, args.model_field,
         args.performance_metric_field, args.performance_metric, args.duration_field, args.x_axis_time,
         not args.no_errorbar, args.logx, args.legend_location, args.fontsize, args.linestyle, args.linewidth)
    print(f"saving to {args.output_file}")
