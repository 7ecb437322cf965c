"""`allennlp tune plot` on hand-made results.jsonl files of two methods (in process, no Ray)."""
import json

import matplotlib.pyplot as plt
import pytest

from attention_perturb.errors import UsageError
from attention_perturb.tune import plot
from tests.cli import run_cli


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


def captured_figure(monkeypatch):
    """Keeps the figure `draw` would close, to look at what was plotted."""
    figures = []
    monkeypatch.setattr(plot.plt, "close", figures.append)
    return figures


def test_expected_performance_curves_one_per_method(tmp_path, two_methods, monkeypatch, capsys):
    figures = captured_figure(monkeypatch)
    output_file = tmp_path / "evp.png"
    run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file", str(output_file),
            "--data-name", "SST")
    assert output_file.read_bytes()[:4] == b"\x89PNG"
    axis = figures[0].axes[0]
    curves = {line.get_label(): line.get_ydata() for line in axis.get_lines()}
    # n = 1: the mean score; n = 4: Σ v_(i) ((i/4)^4 - ((i-1)/4)^4) over the sorted scores.
    at = sorted([0.80, 0.82, 0.81, 0.79])
    assert curves["sst_attention_at"][0] == pytest.approx(sum(at) / 4)
    assert curves["sst_attention_at"][3] == pytest.approx(sum(v * ((i / 4) ** 4 - ((i - 1) / 4) ** 4) for i, v in enumerate(at, 1)))
    assert len(curves["sst_word_at"]) == 4
    assert axis.get_ylabel() == "Expected validation f1"
    assert len(axis.collections) == 2  # one ±std band per method
    plt.close(figures[0])


def test_figure4_epsilon_against_validation_score(tmp_path, two_methods, monkeypatch, capsys):
    figures = captured_figure(monkeypatch)
    run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", *two_methods, "--output-file",
            str(tmp_path / "figure4.png"), "--data-name", "SST", "--x", "epsilon")
    axis = figures[0].axes[0]
    points = {c.get_label(): c.get_offsets() for c in axis.collections}
    assert points["sst_word_at"][:, 0].tolist() == [2.0, 8.0, 20.0, 27.0]
    assert points["sst_word_at"][:, 1].tolist() == pytest.approx([0.81, 0.78, 0.70, 0.65])
    assert axis.get_xlabel() == "ε"
    plt.close(figures[0])


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
