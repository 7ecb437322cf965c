"""`allennlp tune plot` on hand-made results.jsonl files of two methods (in process, no Ray)."""
import json

import matplotlib.pyplot as plt
import pytest

from attention_perturb.errors import UsageError
from attention_perturb.tune import plot
from tests.cli import run_cli
from tests.experiments.test_heatmaps import png_size


def results_file(path, model, scores, epsilons):
    records = [
        {"model": model, "trial": f"run_{i:03d}", "best_validation_f1": score, "EPSILON": epsilon,
         "model.perturbation.epsilon": epsilon, "training_duration": 10.0 + i, "trainer.validation_metric": "+f1"}
        for i, (score, epsilon) in enumerate(zip(scores, epsilons))
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


@pytest.fixture
def two_methods(tmp_path):
    return [
        results_file(tmp_path / "at.jsonl", "sst_attention_at", [0.80, 0.82, 0.81, 0.79], [1.0, 5.0, 12.0, 29.0]),
        results_file(tmp_path / "word.jsonl", "sst_word_at", [0.81, 0.78, 0.70, 0.65], [2.0, 8.0, 20.0, 27.0]),
    ]


def test_expected_performance_curves_one_per_method(tmp_path, two_methods, monkeypatch, capsys, kept_figures):
    output_file = tmp_path / "evp.png"
    run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file", str(output_file),
            "--data-name", "SST")
    assert output_file.read_bytes()[:4] == b"\x89PNG"
    axis = kept_figures[0].axes[0]
    curves = {line.get_label(): line.get_ydata() for line in axis.get_lines()}
    # n = 1: the mean score; n = 4: Σ v_(i) ((i/4)^4 - ((i-1)/4)^4) over the sorted scores.
    at = sorted([0.80, 0.82, 0.81, 0.79])
    assert curves["sst_attention_at"][0] == pytest.approx(sum(at) / 4)
    assert curves["sst_attention_at"][3] == pytest.approx(sum(v * ((i / 4) ** 4 - ((i - 1) / 4) ** 4) for i, v in enumerate(at, 1)))
    assert len(curves["sst_word_at"]) == 4
    assert axis.get_ylabel() == "Expected validation f1"
    assert len(axis.collections) == 2  # one ±std band per method


def test_figure4_epsilon_against_validation_score(tmp_path, two_methods, monkeypatch, capsys, kept_figures):
    run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file",
            str(tmp_path / "figure4.png"), "--data-name", "SST", "--x", "epsilon")
    axis = kept_figures[0].axes[0]
    points = {c.get_label(): c.get_offsets() for c in axis.collections}
    assert points["sst_word_at"][:, 0].tolist() == [2.0, 8.0, 20.0, 27.0]
    assert points["sst_word_at"][:, 1].tolist() == pytest.approx([0.81, 0.78, 0.70, 0.65])
    assert axis.get_xlabel() == "ε"


def test_one_axis_per_file_time_axis_and_bad_fields(tmp_path, two_methods, monkeypatch, capsys):
    run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file",
            str(tmp_path / "grid.png"), "--data-name", "SST", "--subplots", "1", "2", "--x-axis-time")
    assert (tmp_path / "grid.png").is_file()
    with pytest.raises(UsageError, match="no field 'best_validation_accuracy'"):
        run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file",
                str(tmp_path / "bad.png"), "--data-name", "SST", "--performance-metric-field", "best_validation_accuracy",
                "--traceback")
    with pytest.raises(UsageError, match="^x: lr: no such field"):
        run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file",
                str(tmp_path / "bad.png"), "--data-name", "SST", "--x", "lr", "--traceback")
    assert not (tmp_path / "bad.png").exists()


def test_the_defaults_draw_allentunes_figure(tmp_path, two_methods, kept_figures):
    """`plot` as a library call, every default: one 7 × 5 in axis at 150 dpi, a solid line of width 2
    per method over integer trial counts, its ±std band clipped at the best score, the legend at the
    lower right, a light grid."""
    from attention_perturb.tune.expected_performance import expected_max_performance

    plot.plot(two_methods, str(tmp_path / "evp.png"))
    assert png_size(tmp_path / "evp.png") == (1050, 750)
    (axis,) = kept_figures[0].axes
    assert axis.get_title() == "" and axis.get_xlabel() == "Hyperparameter assignments"
    assert axis.get_xscale() == "linear" and axis.xaxis.get_major_locator()._integer
    assert axis.get_ylabel() == "Expected validation f1" and axis.yaxis.label.get_fontsize() == 12
    legend = axis.get_legend()
    assert legend._loc == 4 and legend.get_texts()[0].get_fontsize() == 8  # "lower right"; 12 − 4
    assert [text.get_text() for text in legend.get_texts()] == ["sst_attention_at", "sst_word_at"]
    assert axis.xaxis.get_gridlines()[0].get_visible() and axis.xaxis.get_gridlines()[0].get_alpha() == 0.3
    line, band = axis.get_lines()[0], axis.collections[0]
    assert line.get_linestyle() == "-" and line.get_linewidth() == 2 and list(line.get_xdata()) == [1, 2, 3, 4]
    expected = expected_max_performance([0.80, 0.82, 0.81, 0.79])
    assert band.get_alpha() == 0.15 and tuple(band.get_facecolor()[0][:3]) == plt.matplotlib.colors.to_rgb(line.get_color())
    upper = band.get_paths()[0].vertices[:, 1]
    assert upper.max() == pytest.approx(min((expected.mean + expected.std).max(), 0.82))  # clipped at the best
    assert upper.min() == pytest.approx((expected.mean - expected.std).min())


def test_a_loss_on_a_log_time_axis_one_axis_per_file(tmp_path, kept_figures):
    """A metric the trainer minimised: the expected lowest loss, its band clipped at the lowest;
    against training time (n × mean duration) on a log axis; a 2 × 2 grid hides the axes no file uses."""
    from attention_perturb.tune.expected_performance import expected_max_performance

    records = [{"model": "sst_vanilla", "best_validation_perplexity": loss, "training_duration": 10.0 + 2 * i,
                "trainer.validation_metric": "-perplexity"} for i, loss in enumerate([0.5, 0.3, 0.4])]
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(record) + "\n" for record in records))
    plot.plot([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], str(tmp_path / "loss.png"), subplots=(2, 2),
              x_axis_time=True, logx=True, data_name="SST", fontsize=8, linestyle=":", linewidth=1,
              legend_location="upper left")
    axes = kept_figures[0].axes
    assert [axis.get_visible() for axis in axes] == [True, True, False, False]
    axis = axes[0]
    assert axis.get_xscale() == "log" and axis.get_xlabel() == "Training duration (s)" and axis.get_title() == "SST"
    assert axis.title.get_fontsize() == 8 and axis.get_legend()._loc == 2  # "upper left"
    assert axis.get_legend().get_texts()[0].get_fontsize() == 6  # 8 − 4, but never below 6
    line = axis.get_lines()[0]
    assert list(line.get_xdata()) == pytest.approx([12.0, 24.0, 36.0])  # n × 12 s
    expected = expected_max_performance([0.5, 0.3, 0.4], lower_is_better=True)
    assert list(line.get_ydata()) == pytest.approx(list(expected.mean)) and line.get_ydata()[-1] < line.get_ydata()[0]
    assert line.get_linestyle() == ":" and line.get_linewidth() == 1
    lower = axis.collections[0].get_paths()[0].vertices[:, 1]
    assert lower.min() == pytest.approx(max((expected.mean - expected.std).min(), 0.3))  # clipped at the lowest
    assert axis.get_ylabel() == "Expected validation perplexity"


def test_figure4s_trend_line_goes_through_the_means_of_six_bins(tmp_path, kept_figures):
    epsilons = [0.0, 1.0, 6.0, 7.0, 11.0, 14.0, 21.0, 24.0, 30.0]
    scores = [0.5, 0.7, 0.6, 0.8, 0.75, 0.7, 0.65, 0.6, 0.4]
    path = results_file(tmp_path / "at.jsonl", "sst_attention_at", scores, epsilons)
    plot.plot([path], str(tmp_path / "f4.png"), x="model.perturbation.epsilon")
    axis = kept_figures[0].axes[0]
    points, (trend,) = axis.collections[0], axis.get_lines()
    assert points.get_sizes().tolist() == [14] and points.get_alpha() == 0.6
    # Six bins of width 5 over [0, 30]: {0, 1}, {6, 7}, {11, 14}, none, {21, 24}, {30}; the empty one is left out.
    assert list(trend.get_xdata()) == pytest.approx([0.5, 6.5, 12.5, 22.5, 30.0])
    assert list(trend.get_ydata()) == pytest.approx([0.6, 0.7, 0.725, 0.625, 0.4])
    assert tuple(trend.get_color()) == tuple(points.get_facecolor()[0]) and trend.get_linewidth() == 1.5
    assert axis.get_xlabel() == "ε" and axis.get_ylabel() == "Validation f1"


def test_a_field_is_found_by_case_or_as_the_end_of_one_dotted_key():
    import pandas as pd

    from attention_perturb.errors import SettingError

    frame = pd.DataFrame(columns=["EPSILON", "model.dropout", "a.lr", "b.lr", "model.lr_x"])
    assert plot.resolve_field(frame, "epsilon") == "EPSILON" and plot.resolve_field(frame, "EPSILON") == "EPSILON"
    assert plot.resolve_field(frame, "dropout") == "model.dropout"
    with pytest.raises(SettingError) as raised:
        plot.resolve_field(frame, "lr")
    assert str(raised.value) == "x: lr: ambiguous, matches ['a.lr', 'b.lr']"
    with pytest.raises(SettingError) as raised:
        plot.resolve_field(frame, "x")  # "model.lr_x" ends in "x", not in ".x"
    assert str(raised.value) == "x: x: no such field in the result files"
