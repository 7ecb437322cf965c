import argparse
import json
import logging
import os
from pathlib import Path

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.arguments import RAY_ADDRESS_HELP
from attention_perturb.commands.errors import StoppedBeforeTheEnd, reporting_errors
from attention_perturb.errors import UsageError

logger = logging.getLogger(__name__)

SEARCH_STRATEGY = "variant-generation"
RESUME_FLAGS = {
    "base_config": "--base-config",
    "search_space": "--search-space",
    "overrides": "--overrides",
    "random_seed": "--random-seed",
}


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


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


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


def _overrides(args: argparse.Namespace, num_gpus: int) -> str:
    try:
        overrides = json.loads(args.overrides) if args.overrides else {}
    except json.JSONDecodeError as error:
        raise UsageError(f"--overrides: not valid JSON ({error})") from error
    if num_gpus == 0:  # as allentune: without GPUs every trial trains on the CPU
        overrides["trainer.cuda_device"] = -1
    return json.dumps(overrides) if overrides else ""


def search_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.training.runs import is_finished
    from attention_perturb.tune.experiment import Experiment
    from attention_perturb.tune.search_space import read_search_space

    if args.search_strategy != SEARCH_STRATEGY:
        raise UsageError(f"--search-strategy: only {SEARCH_STRATEGY} (random search) is supported, got {args.search_strategy!r}")
    if args.num_samples < 1:
        raise UsageError(f"--num-samples: must be at least 1, got {args.num_samples}")
    if not Path(args.base_config).is_file():
        raise FileNotFoundError(f"--base-config: {args.base_config} does not exist")
    if args.with_server:
        logger.warning("--with-server is ignored: Ray Tune 2.x has no Tune server")
    space = read_search_space(args.search_space)
    num_gpus = _visible_gpus() if args.num_gpus is None else args.num_gpus
    # Checked before the plan is saved: a plan saved with bad overrides would refuse the corrected rerun.
    trial_overrides = _overrides(args, num_gpus)
    gpus_per_trial = (1 if num_gpus else 0) if args.gpus_per_trial is None else args.gpus_per_trial

    experiment = Experiment(Path(args.log_dir).resolve() / args.experiment_name)
    settings = {
        "base_config": os.path.abspath(args.base_config),
        "search_space": json.loads(Path(args.search_space).read_text()),
        "overrides": args.overrides,
        "random_seed": args.random_seed,
    }
    experiment.check_settings(settings, RESUME_FLAGS)
    trials = experiment.plan(space, args.random_seed, args.num_samples)
    experiment.save_plan(settings, trials)
    pending = [trial for trial in trials if not is_finished(trial.serialization_dir)]
    print(f"{experiment.directory}: {len(trials) - len(pending)} of {len(trials)} trials finished, "
          f"running {len(pending)}", flush=True)
    if pending:
        from attention_perturb.tune.search import run_trials, start_ray
        import ray

        trial_settings = {
            "base_config": settings["base_config"],
            "include_packages": args.include_package,
            "overrides": trial_overrides,
            "cwd": os.getcwd(),
        }
        start_ray(args.ray_address, args.num_cpus, num_gpus)
        try:
            run_trials(experiment.directory, pending, trial_settings,
                       {"cpu": args.cpus_per_trial, "gpu": gpus_per_trial}, len(trials))
        finally:
            ray.shutdown()
    unfinished = [trial.name for trial in trials if not is_finished(trial.serialization_dir)]
    if unfinished:  # Ray Tune returns normally when stopped by Ctrl-C
        raise StoppedBeforeTheEnd(f"search stopped with {len(unfinished)} of {len(trials)} trials unfinished "
                                  f"({', '.join(unfinished)}); rerun the same command to resume")
    print(f"all {len(trials)} trials finished; next: allennlp tune report --log-dir {experiment.directory}")


def report_from_args(args: argparse.Namespace) -> None:
    from attention_perturb.tune.report import (
        best_trial, collect_results, default_performance_metric, markdown_table, sampled_hyperparameters,
        write_results,
    )

    directory = Path(args.log_dir)
    frame = collect_results(directory, args.model)
    if args.throttle:
        frame["dataset_reader.sample"] = args.throttle
    metric = args.performance_metric or default_performance_metric(frame)
    table = markdown_table(frame, metric, sampled_hyperparameters(directory, frame))
    output_file = directory / "results.jsonl"
    write_results(frame, output_file)
    best = best_trial(frame, metric)
    print(f"results written to {output_file}")
    print(f"total experiments: {len(frame)}")
    print(table)
    print(f"best perf: {best[metric]} ({best['trial']})")


def plot_from_args(args: argparse.Namespace) -> None:
    import pandas as pd

    from attention_perturb.tune.plot import draw, read_results
    from attention_perturb.tune.report import default_performance_metric

    rows, columns = args.subplots
    if rows * columns > 1 and len(args.result_file) > rows * columns:
        raise UsageError(f"--subplots {rows} {columns}: fewer axes than the {len(args.result_file)} result files")
    frames = [read_results(path, args.model_field) for path in args.result_file]
    metric_field = args.performance_metric_field or default_performance_metric(pd.concat(frames, ignore_index=True))
    for path, frame in zip(args.result_file, frames):
        if metric_field not in frame:
            raise UsageError(f"{path}: no field {metric_field!r} in its records (--performance-metric-field)")
    groups = [pd.concat(frames, ignore_index=True)] if rows * columns == 1 else frames
    label = args.performance_metric or metric_field.replace("best_validation_", "")
    draw(groups, Path(args.output_file), (rows, columns), tuple(args.figsize), args.data_name, args.x,
         args.model_field, metric_field, label, args.duration_field, args.x_axis_time, not args.no_errorbar,
         args.logx, args.legend_location, args.fontsize, args.linestyle, args.linewidth)
    print(f"saving to {args.output_file}")
