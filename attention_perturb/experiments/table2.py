"""Table 2 of the paper: test score and attention/gradient Pearson correlation per method, as mean ±
std over seeds next to the paper's numbers (`paper_table2.json`).

Runs live at `<out>/<method>/seed_<n>/` (an `allennlp train` serialization dir whose `metrics.json`
holds `test_<metric>` and `test_pearson`); `robustness-table` reuses their `model.tar.gz`.
"""
import copy
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from allennlp.common.params import _replace_none

from attention_perturb.errors import UsageError
from attention_perturb.provenance import provenance_summary, run_provenance
from attention_perturb.experiments.epochs import duration_seconds, epoch_costs, seconds_over_every_process
from attention_perturb.experiments.methods import methods, title
from attention_perturb.training.runs import is_finished
from attention_perturb.experiments.statistics import mean_ci, paired_difference

PAPER = json.loads((Path(__file__).parent / "paper_table2.json").read_text())


def in_registry_order(present) -> List[str]:
    """The methods of `present` in the registry's order (the order of every table), then any the
    registry does not hold, by name."""
    registered = list(methods())
    return sorted(present, key=lambda method: (registered.index(method) if method in registered else len(registered), method))


class EpsilonChoice(NamedTuple):
    value: Optional[float]  # None: the config's own default
    source: str


class Run(NamedTuple):
    method: str
    seed: int
    epsilon: EpsilonChoice
    directory: Path

    @property
    def finished(self) -> bool:
        return is_finished(self.directory)


def run_directory(output_dir: Path, method: str, seed: int) -> Path:
    return Path(output_dir) / method / f"seed_{seed}"


def plan_runs(output_dir: Path, methods: Sequence[str], seeds: Sequence[int],
              epsilons: Dict[str, EpsilonChoice]) -> List[Run]:
    return [Run(method, seed, epsilons[method], run_directory(output_dir, method, seed))
            for method in methods for seed in seeds]


def read_run(run_directory: Path) -> Dict[str, Any]:
    """What Table 2 takes from a finished run, and what `reproduce-table2 --record` keeps of it:
    {"metrics": its metrics.json, "epsilon": the ε it trained with, "provenance": `run_provenance`,
    "epochs": `epoch_costs`, where the epochs' files have them}."""
    metrics = json.loads((run_directory / "metrics.json").read_text())
    run = {"metrics": metrics, "epsilon": trained_epsilon(run_directory), "provenance": run_provenance(run_directory)}
    epochs = epoch_costs(run_directory, metrics.get("epoch"))
    return run if epochs is None else {**run, "epochs": epochs}


def run_scores(metrics: Dict[str, Any], metric: str, where: str) -> Tuple[float, float]:
    """(test score in %, test Pearson) of one finished run's `metrics`, read from `where`."""
    missing = [key for key in (f"test_{metric}", "test_pearson") if key not in metrics]
    if missing:
        raise UsageError(f"{where}: no {missing} (was the config trained with a test_data_path?)")
    return 100.0 * metrics[f"test_{metric}"], metrics["test_pearson"]


AGREEMENT_PREFIXES = ("pearson", "kendall", "top")


def test_agreements(metrics: Dict[str, Any]) -> Dict[str, float]:
    """The test agreements in a run's metrics by name (`pearson`, `kendall`, `top5`,
    `pearson_leave_one_out`, ...), without the counts of skipped instances."""
    return {key[len("test_"):]: value for key, value in metrics.items() if key.startswith("test_")
            and key[len("test_"):].startswith(AGREEMENT_PREFIXES) and not key.endswith("_skipped")}


def run_agreements(metrics: Dict[str, Any]) -> Dict[str, float]:
    """Every test agreement of a finished run's metrics but the Table-2 `pearson`, by name."""
    agreements = test_agreements(metrics)
    agreements.pop("pearson", None)
    return agreements


def run_resources(run: Dict[str, Any]) -> Tuple[float, float]:
    """(seconds per epoch, training and validation together; peak RSS in MiB of the training
    process) of one finished run (`read_run`), over every process that trained it when its epochs
    are known; from metrics.json alone (a record made before they were kept) they are the last
    process's: allennlp's `training_duration` ÷ (`epoch` + 1) and `peak_worker_0_memory_MB`."""
    metrics, epochs = run["metrics"], run.get("epochs")
    if epochs:
        return (seconds_over_every_process([epoch["training_duration"] for epoch in epochs]) / len(epochs),
                max(epoch["peak_worker_0_memory_MB"] for epoch in epochs))
    return duration_seconds(metrics["training_duration"]) / (metrics["epoch"] + 1), metrics["peak_worker_0_memory_MB"]


def overrides_not_held(run_directory: Path, overrides: Dict[str, Any]) -> List[str]:
    """`key=value` (the trained value, or `absent`) for each override that the run's config.json
    does not hold. As allennlp applies them: a dotted key names a path (a number indexes a list),
    its value replaces what is there whole, an object included, and the string "None" is null
    (allennlp's own `_replace_none`, on a copy: it rewrites in place)."""
    config = json.loads((run_directory / "config.json").read_text())
    differing = []
    for key, wanted in overrides.items():
        node: Any = config
        for part in key.split("."):
            if isinstance(node, list) and part.isdecimal() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        if node is _ABSENT or not same_json(node, _replace_none(copy.deepcopy(wanted))):
            differing.append(f"{key}={'absent' if node is _ABSENT else json.dumps(node)}")
    return differing


def same_json(first: Any, second: Any) -> bool:
    """Equal as JSON values: 1 and 1.0 alike (jsonnet's numbers are doubles), true and 1 not."""
    if isinstance(first, bool) or isinstance(second, bool):
        return type(first) is type(second) and first == second
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(same_json(first[key], second[key]) for key in first)
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(same_json(a, b) for a, b in zip(first, second))
    return first == second


_ABSENT = object()


def trained_epsilon(run_directory: Path) -> Optional[float]:
    """The ε a run trained with, from its config.json (None for vanilla)."""
    config = json.loads((run_directory / "config.json").read_text())
    return config["model"]["perturbation"].get("epsilon")


def mean_std(values: Sequence[float], digits: int) -> str:
    """`mean ± sample std` over seeds; one seed prints its value alone."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def paired_differences_markdown(scores: Dict[str, Dict[int, Tuple[float, float]]], header: str) -> List[str]:
    """Mean ± 95 % CI of each method's score and Corr., and of its difference to vanilla over the
    seeds both have, each method's run paired with vanilla's run of its seed."""
    vanilla = scores["vanilla"]
    lines = ["", f"Mean ± 95 % CI (Student t) over seeds, and the paired difference to vanilla at equal seeds "
             f"(* where its CI excludes zero):", "",
             f"| Model | seeds | {header} | Corr. | Δ {header} | Δ Corr. |", "|---|---|---|---|---|---|"]
    for method in in_registry_order(scores):
        runs = scores[method]
        row = [mean_ci([s for s, _ in runs.values()]).format(2), mean_ci([c for _, c in runs.values()]).format(3)]
        for position, digits in ((0, 2), (1, 3)):
            if method == "vanilla":
                row.append("-")
                continue
            difference = paired_difference({seed: run[position] for seed, run in runs.items()},
                                            {seed: run[position] for seed, run in vanilla.items()})
            if difference.count == 0:  # no seed in common with vanilla
                row.append("-")
                continue
            row.append(difference.format(digits) + (" *" if difference.excludes_zero else ""))
        paired = len(set(runs) & set(vanilla))
        seeds = f"{len(runs)} ({paired} paired)" if paired != len(runs) else f"{len(runs)}"
        lines.append(f"| {title(method)} | {seeds} | " + " | ".join(row) + " |")
    return lines


def table2_markdown(dataset: str, scores: Dict[str, Dict[int, Tuple[float, float]]],
                    epsilons: Dict[str, Optional[float]],
                    agreements: Optional[Dict[str, Dict[int, Dict[str, float]]]] = None,
                    resources: Optional[Dict[str, Dict[int, Tuple[float, float]]]] = None) -> str:
    """Rows in the paper's method order for each method in `scores` ({seed: (score, corr)}), then,
    if `agreements` (per method, per seed: {name: value}) has any, a second table of every further
    agreement measure, mean ± std over seeds, and, given `resources` (per method, per seed:
    `run_resources`), each method's seconds per epoch and peak RSS."""
    paper = PAPER["datasets"][dataset]
    header = paper["header"]
    lines = [
        f"{paper['title']}: test {header} and Pearson correlation (Corr.) between attention and gradient "
        f"word importance; ours = mean ± std over seeds.",
        "",
        f"| Model | ε | seeds | {header} (ours) | {header} (paper) | Corr. (ours) | Corr. (paper) |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in in_registry_order(scores):
        runs = list(scores[method].values())
        epsilon = epsilons[method]
        paper_score, paper_corr = paper["rows"].get(method, (None, None))
        lines.append(
            f"| {title(method)} | {'-' if epsilon is None else f'{epsilon:g}'} | {len(runs)} | "
            f"{mean_std([s for s, _ in runs], 2)} | {'-' if paper_score is None else f'{paper_score:.2f}'} | "
            f"{mean_std([c for _, c in runs], 3)} | {'-' if paper_corr is None else f'{paper_corr:.3f}'} |"
        )
    if "vanilla" in scores and len(scores["vanilla"]) > 1:
        lines += paired_differences_markdown(scores, header)
    names = sorted({name for runs in (agreements or {}).values() for run in runs.values() for name in run})
    if names:
        lines += ["", "Further agreements between attention and word importance (test set; see "
                  "`model.agreement_measures`), mean ± std over seeds:", "",
                  "| Model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for method in in_registry_order((agreements or {})):
            runs = list(agreements[method].values())
            values = [mean_std([run[name] for run in runs if name in run], 3)
                      if any(name in run for run in runs) else "-" for name in names]
            lines.append(f"| {title(method)} | " + " | ".join(values) + " |")
    if resources:
        lines += ["", "Cost per run: seconds per epoch (training and validation; mean ± std over seeds) and the "
                  "training process's peak RSS (allennlp's `peak_worker_0_memory_MB`; the largest over seeds), both over "
                  "every process that trained a resumed run:", "",
                  "| Model | s / epoch | peak RSS [GiB] |", "|---|---|---|"]
        for method in in_registry_order(resources):
            seconds, rss = zip(*resources[method].values())
            lines.append(f"| {title(method)} | {mean_std(list(seconds), 1)} | {max(rss) / 1024:.2f} |")
    return "\n".join(lines) + "\n"


def table2_of_runs(dataset: str, runs: Dict[str, Dict[int, Dict[str, Any]]],
                   where: Callable[[str, int], str]) -> str:
    """Table 2 (`table2_markdown`, then the runs' provenance) of finished runs {method: {seed: run}}
    in `read_run`'s form, from a block's folders or its record alike; each method's seeds in order,
    its ε that of its first seed. `where(method, seed)` names a run in errors."""
    metric = PAPER["datasets"][dataset]["metric"]

    def per_method(read: Callable[[Dict[str, Any], str], Any]) -> Dict[str, Dict[int, Any]]:
        return {method: {seed: read(seeds[seed], where(method, seed)) for seed in sorted(seeds)}
                for method, seeds in runs.items()}

    scores = per_method(lambda run, place: run_scores(run["metrics"], metric, place))
    epsilons = {method: seeds[min(seeds)]["epsilon"] for method, seeds in runs.items()}
    agreements = per_method(lambda run, place: run_agreements(run["metrics"]))
    resources = per_method(lambda run, place: run_resources(run))
    provenances = [run.get("provenance") for seeds in runs.values() for _, run in sorted(seeds.items())]
    return table2_markdown(dataset, scores, epsilons, agreements, resources) + "\n" + provenance_summary(provenances) + "\n"
