"""Each flag of each of the package's commands, and its default, reaches the library function under
its own name.

The library functions are tested on their own (real searches, sweeps, tables, attacks and servers
take seconds to minutes each); here each is replaced by a recorder of its arguments, bound to its
real signature, so that a flag passed to the wrong parameter, or not at all, or a changed default,
is seen at once."""
import inspect
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import attention_perturb.commands.attack
import attention_perturb.commands.make_dataset
import attention_perturb.commands.reproduce_table2
import attention_perturb.commands.results
import attention_perturb.commands.robustness_table
import attention_perturb.commands.stability
import attention_perturb.commands.visualize
import attention_perturb.experiments.sweep_report
import attention_perturb.serve.app
import attention_perturb.serve.comparison
import attention_perturb.serve.server
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


def test_reproduce_table2_passes_every_flag(monkeypatch, capsys):
    command = attention_perturb.commands.reproduce_table2
    choices = recorder(monkeypatch, command, "choose_epsilons", returns={"attention_iat": "chosen"})
    calls = recorder(monkeypatch, command, "reproduce_table2")
    run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "-o", "table2")
    run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "babi2", "-o", "table2", "--seeds", "5", "--methods",
            "vanilla", "attention_iat", "--epsilon", "attention_iat=2.5", "--search-log-dir", "logs", "--config-pattern",
            "c/{dataset}_{method}.jsonnet", "--overrides", '{"trainer.num_epochs": 1}', "--jobs", "3",
            "--threads-per-job", "2", "--dry-run", "--record", "r.json", "--include-package", "attention_perturb")
    every_method = ["vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat"]
    assert choices == [{"dataset": "sst", "methods": every_method, "given": {}, "search_log_dir": None},
                       {"dataset": "babi2", "methods": ["vanilla", "attention_iat"], "given": {"attention_iat": 2.5},
                        "search_log_dir": Path("logs")}]
    assert [without_report(call, monkeypatch) for call in calls] == [
        {"dataset": "sst", "seeds": 1, "output_dir": Path("table2"), "methods": every_method,
         "epsilons": {"attention_iat": "chosen"}, "config_pattern": "training_configs/{dataset}_{method}.jsonnet",
         "overrides": {}, "jobs": 2, "threads_per_job": None, "dry_run": False, "record": None, "include_packages": []},
        {"dataset": "babi2", "seeds": 5, "output_dir": Path("table2"), "methods": ["vanilla", "attention_iat"],
         "epsilons": {"attention_iat": "chosen"}, "config_pattern": "c/{dataset}_{method}.jsonnet",
         "overrides": {"trainer.num_epochs": 1}, "jobs": 3, "threads_per_job": 2, "dry_run": True, "record": "r.json",
         "include_packages": ["attention_perturb"]},
    ]


class AttackReport:
    """What `attack_file` returns, as far as the command reads it."""

    def metrics(self):
        return {"success_rate": 0.5}

    def records(self):
        return [{"tokens": ["a"]}]


@pytest.mark.parametrize("flags, expected", [
    ([], {"budget": None, "max_instances": None, "max_candidates": None, "top_k": 5, "batch_size": 256,
          "cuda_device": -1, "antonyms": "direct_and_indirect", "antonym_success": "unchanged_prediction"}),
    (["--budget", "40", "--max-instances", "7", "--max-candidates", "3", "--top-k", "2", "--batch-size", "8",
      "--cuda-device", "1", "--antonyms", "direct", "--antonym-success", "higher_confidence"],
     {"budget": 40, "max_instances": 7, "max_candidates": 3, "top_k": 2, "batch_size": 8, "cuda_device": 1,
      "antonyms": "direct", "antonym_success": "higher_confidence"}),
])
def test_attack_passes_every_flag(monkeypatch, capsys, flags, expected):
    calls = recorder(monkeypatch, attention_perturb.commands.attack, "attack_file", returns=AttackReport())
    assert json.loads(run_cli(monkeypatch, capsys, "attack", "model.tar.gz", "test.txt", "--kind", "antonym",
                              *flags)) == {"success_rate": 0.5}
    assert calls == [{"archive_file": "model.tar.gz", "input_file": "test.txt", "kind": "antonym", **expected}]


@pytest.mark.parametrize("flags, expected", [
    ([], {"noise_std": 0.01, "synonym_words": 1, "second_archive": None, "top_k": 5, "seed": 0, "max_instances": None,
          "batch_size": 64, "cuda_device": -1, "pgd_radius": 0.01, "pgd_steps": 10, "pgd_clip": False}),
    (["--noise-std", "0.5", "--synonym-words", "2", "--second-archive", "other.tar.gz", "--top-k", "3", "--seed", "4",
      "--max-instances", "9", "--batch-size", "16", "--cuda-device", "0", "--pgd-radius", "0.2", "--pgd-steps", "6",
      "--pgd-clip"],
     {"noise_std": 0.5, "synonym_words": 2, "second_archive": "other.tar.gz", "top_k": 3, "seed": 4, "max_instances": 9,
      "batch_size": 16, "cuda_device": 0, "pgd_radius": 0.2, "pgd_steps": 6, "pgd_clip": True}),
])
def test_stability_passes_every_flag(monkeypatch, capsys, flags, expected):
    calls = recorder(monkeypatch, attention_perturb.commands.stability, "stability_file", returns={"jsd": 0.25})
    assert json.loads(run_cli(monkeypatch, capsys, "stability", "model.tar.gz", "test.txt", *flags)) == {"jsd": 0.25}
    assert calls == [{"archive_file": "model.tar.gz", "input_file": "test.txt", **expected}]


def test_make_dataset_and_visualize_pass_every_flag(monkeypatch, capsys):
    builds = recorder(monkeypatch, attention_perturb.commands.make_dataset, "make_dataset", returns={"train": 3, "test": 1})
    assert run_cli(monkeypatch, capsys, "make-dataset", "babi", "raw", "-o", "out") == "wrote out: train 3, test 1\n"
    run_cli(monkeypatch, capsys, "make-dataset", "snli", "raw", "-o", "out", "--seed", "3", "--task", "2",
            "--skip-invalid", "--protocol", "reduced")
    assert builds == [
        {"name": "babi", "raw_dir": "raw", "output_dir": "out", "seed": 16377, "task": 1, "skip_invalid": False,
         "protocol": "full"},
        {"name": "snli", "raw_dir": "raw", "output_dir": "out", "seed": 3, "task": 2, "skip_invalid": True,
         "protocol": "reduced"},
    ]
    drawings = recorder(monkeypatch, attention_perturb.commands.visualize, "visualize",
                        returns={"html": "f/heatmaps.html", "png": "f/heatmaps.png"})
    assert run_cli(monkeypatch, capsys, "visualize", "a.jsonl", "b.jsonl", "-o", "f") == \
        "wrote f/heatmaps.html and f/heatmaps.png\n"
    run_cli(monkeypatch, capsys, "visualize", "a.jsonl", "-o", "f", "--names", "plain", "--max-sentences", "3")
    assert drawings == [{"dump_paths": ["a.jsonl", "b.jsonl"], "output_dir": "f", "names": None, "max_sentences": 10},
                        {"dump_paths": ["a.jsonl"], "output_dir": "f", "names": ["plain"], "max_sentences": 3}]


def test_serve_compare_passes_every_flag(monkeypatch, capsys):
    models = recorder(monkeypatch, attention_perturb.serve.comparison, "ModelComparison",
                      returns=SimpleNamespace(models=["one", "two"]))
    examples = recorder(monkeypatch, attention_perturb.serve.comparison, "read_examples", returns=["an example"])
    sockets = recorder(monkeypatch, attention_perturb.serve.server, "bound_socket", returns="the socket")
    monkeypatch.setattr(attention_perturb.serve.server, "address", lambda sock: f"http://{sock}/")
    apps = recorder(monkeypatch, attention_perturb.serve.app, "create_app", returns="the app")
    served = []
    monkeypatch.setattr(attention_perturb.serve.server, "uvicorn_server",
                        lambda app: SimpleNamespace(run=lambda sockets: served.append((app, sockets))))
    threads = torch.get_num_threads()
    try:
        assert run_cli(monkeypatch, capsys, "serve-compare", "a.tar.gz", "b.tar.gz") == \
            "serving 2 model(s) at http://the socket/ (Ctrl-C stops)\n"
        run_cli(monkeypatch, capsys, "serve-compare", "a.tar.gz", "--names", "plain", "--examples", "e.jsonl",
                "--host", "127.0.0.2", "--port", "0", "--max-words", "7", "--threads", "3", "--cuda-device", "1")
    finally:
        torch.set_num_threads(threads)
    assert models == [
        {"archive_files": ["a.tar.gz", "b.tar.gz"], "names": None, "max_words": 300, "cuda_device": -1, "workers": 2},
        {"archive_files": ["a.tar.gz"], "names": ["plain"], "max_words": 7, "cuda_device": 1, "workers": 3},
    ]
    assert [call["path"] for call in examples] == ["e.jsonl"]  # no --examples, no examples read
    assert sockets == [{"host": "127.0.0.1", "port": 8000}, {"host": "127.0.0.2", "port": 0}]
    assert [call["examples"] for call in apps] == [[], ["an example"]]
    assert served == [("the app", ["the socket"])] * 2


@pytest.mark.parametrize("flags, folder, check", [([], "benchmarks/results", False), (["fixtures", "--check"], "fixtures", True)])
def test_results_passes_its_folder_and_check(monkeypatch, capsys, flags, folder, check):
    calls = recorder(monkeypatch, attention_perturb.commands.results, "regenerate", returns=[])
    assert run_cli(monkeypatch, capsys, "results", *flags) == f"{folder}: every generated section matches its record\n"
    assert calls == [{"folder": Path(folder), "check": check}]
