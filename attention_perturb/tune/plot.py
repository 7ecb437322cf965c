"""Figures from `results.jsonl` files: expected validation performance against the number of
trials (Dodge et al. 2019, Fig. 1 style) and a hyperparameter against validation performance
(the paper's Figure 4: ε against validation score, one series per method)."""
from pathlib import Path
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402

from attention_perturb.errors import SettingError, UsageError   # noqa: E402
from attention_perturb.files import write_atomically  # noqa: E402
from attention_perturb.tune.expected_performance import expected_max_performance  # noqa: E402
from attention_perturb.tune.report import lower_is_better  # noqa: E402


def read_results(path: str, model_field: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise SettingError("result_file", f"{path} is not a file")
    try:
        frame = pd.read_json(path, lines=True)
    except ValueError as error:  # pandas' own, for a line that is not a JSON object
        raise SettingError("result_file", f"{path} is not a results.jsonl of `allennlp tune report` ({error})") from None
    if model_field not in frame:
        raise UsageError(f"{path}: no field {model_field!r} in its records (--model-field)")
    return frame


def resolve_field(frame: pd.DataFrame, name: str) -> str:
    """`name` itself, else the one column matching it case-insensitively (`epsilon` -> `EPSILON`),
    else the one dotted config key ending in it (`epsilon` -> `model.perturbation.epsilon`)."""
    if name in frame:
        return name
    for candidates in (
        [c for c in frame.columns if c.lower() == name.lower()],
        [c for c in frame.columns if c.lower().endswith("." + name.lower())],
    ):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise SettingError("x", f"{name}: ambiguous, matches {candidates}")
    raise SettingError("x", f"{name}: no such field in the result files")


def plot_expected_performance(
    axis, frame: pd.DataFrame, model_field: str, metric_field: str, duration_field: str,
    x_axis_time: bool, errorbar: bool, linestyle: str, linewidth: float,
) -> None:
    lower = lower_is_better(frame, metric_field)
    for model, group in frame.groupby(model_field, sort=True):
        expected = expected_max_performance(group[metric_field].to_numpy(), lower_is_better=lower)
        trials = np.arange(1, len(expected.mean) + 1)
        x = trials * group[duration_field].mean() if x_axis_time else trials
        line, = axis.plot(x, expected.mean, label=str(model), linestyle=linestyle, linewidth=linewidth)
        if errorbar:  # the band stops at the best score seen
            low, high = expected.mean - expected.std, expected.mean + expected.std
            low, high = (np.maximum(low, expected.best), high) if lower else (low, np.minimum(high, expected.best))
            axis.fill_between(x, low, high, alpha=0.15, color=line.get_color())
    axis.set_xlabel("Training duration (s)" if x_axis_time else "Hyperparameter assignments")
    if not x_axis_time:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_against_field(axis, frame: pd.DataFrame, model_field: str, metric_field: str, x_field: str) -> None:
    """One scatter per model of `x_field` against `metric_field`, with a line through the means of
    six equal-width bins of x to show the trend."""
    for model, group in frame.groupby(model_field, sort=True):
        points = axis.scatter(group[x_field], group[metric_field], s=14, alpha=0.6, label=str(model))
        bins = pd.cut(group[x_field], bins=min(6, len(group)))
        means = group.groupby(bins, observed=True)[[x_field, metric_field]].mean()
        axis.plot(means[x_field], means[metric_field], color=points.get_facecolor()[0], linewidth=1.5)
    axis.set_xlabel("ε" if x_field.lower().endswith("epsilon") else x_field)


def draw(
    groups: List[pd.DataFrame], output_file: Path, subplots, figsize, data_name: str, x: str,
    model_field: str, metric_field: str, performance_metric: str, duration_field: str, x_axis_time: bool,
    errorbar: bool, logx: bool, legend_location: str, fontsize: int, linestyle: str, linewidth: float,
) -> None:
    """Draws one axis per group (all result files on one axis for a 1x1 grid) and saves the image
    through a temporary file."""
    figure, axes = plt.subplots(*subplots, figsize=figsize, squeeze=False)
    for axis, frame in zip(axes.flat, groups):
        if x == "trials":
            plot_expected_performance(axis, frame, model_field, metric_field, duration_field, x_axis_time,
                                      errorbar, linestyle, linewidth)
            axis.set_ylabel(f"Expected validation {performance_metric}", fontsize=fontsize)
        else:
            field = resolve_field(frame, x)
            plot_against_field(axis, frame, model_field, metric_field, field)
            axis.set_ylabel(f"Validation {performance_metric}", fontsize=fontsize)
        if logx:
            axis.set_xscale("log")
        axis.set_title(data_name, fontsize=fontsize)
        axis.legend(loc=legend_location, fontsize=max(fontsize - 4, 6))
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(groups):]:
        axis.set_visible(False)
    figure.tight_layout()
    try:
        write_atomically(output_file, lambda path: figure.savefig(path, dpi=150, format=output_file.suffix.lstrip(".") or "png"))
    finally:
        plt.close(figure)


def plot(result_files: Sequence[str], output_file: str, subplots: Sequence[int] = (1, 1),
         figsize: Sequence[float] = (7, 5), data_name: str = "", x: str = "trials", model_field: str = "model",
         performance_metric_field: Optional[str] = None, performance_metric: Optional[str] = None,
         duration_field: str = "training_duration", x_axis_time: bool = False, errorbar: bool = True,
         logx: bool = False, legend_location: str = "lower right", fontsize: int = 12, linestyle: str = "-",
         linewidth: float = 2) -> None:
    """allentune's plot of one or more `results.jsonl`: expected validation performance against the
    number of trials (Dodge et al. 2019), or, with `x` a hyperparameter, the paper's Figure 4."""
    import pandas as pd

    from attention_perturb.tune.report import default_performance_metric

    rows, columns = subplots
    if rows * columns > 1 and len(result_files) > rows * columns:
        raise SettingError("subplots", f"{rows} {columns}: fewer axes than the {len(result_files)} result files")
    frames = [read_results(path, model_field) for path in result_files]
    metric_field = performance_metric_field or default_performance_metric(pd.concat(frames, ignore_index=True))
    for path, frame in zip(result_files, frames):
        if metric_field not in frame:
            raise SettingError("performance_metric_field", f"{path} has no field {metric_field!r} in its records")
    groups = [pd.concat(frames, ignore_index=True)] if rows * columns == 1 else frames
    label = performance_metric or metric_field.replace("best_validation_", "")
    draw(groups, Path(output_file), (rows, columns), tuple(figsize), data_name, x, model_field, metric_field, label,
         duration_field, x_axis_time, errorbar, logx, legend_location, fontsize, linestyle, linewidth)
