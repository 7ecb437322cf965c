"""Each flag of the commands that start trainings, and of their report verbs, reaches the library
function under its own name.

The library functions are tested on their own (real searches, sweeps and tables take a minute each);
here each is replaced by a recorder of its arguments, bound to its real signature, so that a flag
passed to the wrong parameter, or not at all, is seen at once."""
import inspect
import sys

import pytest

import attention_perturb.commands.robustness_table
import attention_perturb.experiments.sweep_report
import attention_perturb.tune.plot
import attention_perturb.tune.report
import attention_perturb.tune.search
import attention_perturb.tune.sweep_run
from tests.cli import FlushedLines, run_cli


def recorder(monkeypatch, module, name, returns=None):
    """Replaces `module.name` by a function recording its arguments by parameter name."""
    real, calls = getattr(module, name), []

    def record(*args, **kwargs):
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        return returns

    monkeypatch.setattr(module, name, record)
    return calls


def without_report(arguments, monkeypatch):
    """The arguments less `report`, which must print each line and flush it (a log read while a long
    search runs, or a pipe, sees it at once)."""
    report = arguments.pop("report")
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", FlushedLines())
        report("a line")
        assert sys.stdout.flushed == "a line\n"
    return arguments


def test_sweep_run_passes_every_flag(monkeypatch, capsys):
    calls = recorder(monkeypatch, attention_perturb.tune.sweep_run, "run_sweep")
    # allennlp gives `sweep` (not its verbs) the --include-package of every plugin command.
    run_cli(monkeypatch, capsys, "sweep", "--include-package", "attention_perturb", "run", "--grid", "grid.json",
            "-o", "study", "--num-cpus", "3", "--cpus-per-trial", "2", "--ray-address", "head:6379", "--dry-run",
            "--record", "study.json", "--methods", "vanilla", "attention_iat")
    run_cli(monkeypatch, capsys, "sweep", "run", "--grid", "grid.json", "-o", "study")
    assert [without_report(call, monkeypatch) for call in calls] == [
        {"grid_file": "grid.json", "output_dir": "study", "record": "study.json", "methods": ["vanilla", "attention_iat"],
         "dry_run": True, "num_cpus": 3, "cpus_per_trial": 2, "ray_address": "head:6379", "include_packages": ["attention_perturb"]},
        {"grid_file": "grid.json", "output_dir": "study", "record": None, "methods": None, "dry_run": False,
         "num_cpus": None, "cpus_per_trial": 1, "ray_address": None, "include_packages": []},
    ]


def test_tune_search_passes_every_flag(monkeypatch, capsys):
    calls = recorder(monkeypatch, attention_perturb.tune.search, "search")
    run_cli(monkeypatch, capsys, "tune", "search", "--experiment-name", "eps", "--num-cpus", "4", "--num-gpus", "1",
            "--cpus-per-trial", "2", "--gpus-per-trial", "0.5", "--log-dir", "logs", "--search-space", "space.json",
            "--num-samples", "7", "--base-config", "base.jsonnet", "--include-package", "attention_perturb", "-o", '{"a": 1}',
            "--ray-address", "head:6379", "--random-seed", "9", "--search-strategy", "other")
    run_cli(monkeypatch, capsys, "tune", "search", "--experiment-name", "eps", "--search_space", "space.json",
            "--base-config", "base.jsonnet")
    assert [without_report(call, monkeypatch) for call in calls] == [
        {"experiment_name": "eps", "base_config": "base.jsonnet", "search_space": "space.json", "log_dir": "logs",
         "num_samples": 7, "random_seed": 9, "overrides": '{"a": 1}', "num_cpus": 4, "num_gpus": 1, "cpus_per_trial": 2,
         "gpus_per_trial": 0.5, "ray_address": "head:6379", "search_strategy": "other", "include_packages": ["attention_perturb"]},
        {"experiment_name": "eps", "base_config": "base.jsonnet", "search_space": "space.json", "log_dir": "./logs",
         "num_samples": 1, "random_seed": 0, "overrides": "", "num_cpus": 1, "num_gpus": None, "cpus_per_trial": 1,
         "gpus_per_trial": None, "ray_address": None, "search_strategy": "variant-generation", "include_packages": []},
    ]


def test_tune_search_warns_that_with_server_is_ignored(monkeypatch, capsys, caplog):
    recorder(monkeypatch, attention_perturb.tune.search, "search")
    run_cli(monkeypatch, capsys, "tune", "search", "--experiment-name", "eps", "--search-space", "space.json",
            "--base-config", "base.jsonnet", "--with-server")
    assert "--with-server is ignored: Ray Tune 2.x has no Tune server" in caplog.messages


@pytest.mark.parametrize("flags, expected", [
    ([], {"second_folder": None, "json_file": None, "figure": None, "record": None, "jobs": 1,
          "options": {"noise_std": 0.01, "top_k": 5, "budget": None, "max_instances": None, "batch_size": 64,
                      "cuda_device": -1, "pgd_clip": False}}),
    (["--second-archives", "seeds2", "--json-file", "t.json", "--figure", "p.png", "--record", "r.json", "--jobs", "3",
      "--noise-std", "0.5", "--top-k", "2", "--budget", "30", "--max-instances", "8", "--batch-size", "4",
      "--cuda-device", "1", "--pgd-clip"],
     {"second_folder": "seeds2", "json_file": "t.json", "figure": "p.png", "record": "r.json", "jobs": 3,
      "options": {"noise_std": 0.5, "top_k": 2, "budget": 30, "max_instances": 8, "batch_size": 4, "cuda_device": 1,
                  "pgd_clip": True}}),
])
def test_robustness_table_passes_every_flag(monkeypatch, capsys, flags, expected):
    calls = recorder(monkeypatch, attention_perturb.commands.robustness_table, "write_robustness_table",
                     returns=("| the table |\n", {}))
    printed = run_cli(monkeypatch, capsys, "robustness-table", "--archives", "a", "b", "--data", "test.txt",
                      "-o", "table.md", *flags)
    assert calls == [{"folders": ["a", "b"], "data_file": "test.txt", "output_file": "table.md", **expected}]
    assert printed == "| the table |\n"


def test_sweep_report_passes_its_flags_and_the_command_as_typed(monkeypatch, capsys):
    calls = recorder(monkeypatch, attention_perturb.experiments.sweep_report, "report_sweep", returns=["one", "two"])
    printed = run_cli(monkeypatch, capsys, "sweep", "report", "-o", "my study", "--metric", "accuracy", "--record", "r.json")
    assert calls == [{"output_dir": "my study", "record": "r.json", "metric": "accuracy",
                      "command": "allennlp sweep report -o 'my study' --metric accuracy --record r.json"}]
    assert printed == "one\ntwo\n"


def test_tune_report_and_plot_pass_every_flag(monkeypatch, capsys):
    reports = recorder(monkeypatch, attention_perturb.tune.report, "report", returns=["a table"])
    assert run_cli(monkeypatch, capsys, "tune", "report", "--logdir", "logs/eps", "--performance_metric", "best_f1",
                   "--model", "iAT", "--throttle", "50") == "a table\n"
    assert reports == [{"log_dir": "logs/eps", "model": "iAT", "throttle": 50, "performance_metric": "best_f1"}]
    plots = recorder(monkeypatch, attention_perturb.tune.plot, "plot")
    printed = run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", "a.jsonl", "b.jsonl", "--output-file", "f.png",
                      "--data-name", "SST", "--x", "epsilon", "--performance-metric-field", "best_f1",
                      "--performance-metric", "F1", "--model-field", "method", "--duration-field", "seconds",
                      "--x-axis-time", "--no-errorbar", "--logx", "--legend-location", "upper left", "--fontsize", "9",
                      "--linestyle", ":", "--linewidth", "1.5", "--subplots", "1", "2", "--figsize", "8", "4")
    assert plots == [{"result_files": ["a.jsonl", "b.jsonl"], "output_file": "f.png", "subplots": [1, 2],
                      "figsize": [8.0, 4.0], "data_name": "SST", "x": "epsilon", "model_field": "method",
                      "performance_metric_field": "best_f1", "performance_metric": "F1", "duration_field": "seconds",
                      "x_axis_time": True, "errorbar": False, "logx": True, "legend_location": "upper left",
                      "fontsize": 9, "linestyle": ":", "linewidth": 1.5}]
    assert printed == "saving to f.png\n"
