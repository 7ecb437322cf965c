"""Every user error of every command the package adds or changes is one line `error: …` naming the
file, key or flag (status 1), and leaves nothing written; argparse's own refusals keep its form
(status 2, the flag named on the last line). One table, run through allennlp's own entry point.

Arguments and messages name `{tmp}`, a folder `bad_inputs` fills with the bad files, and
`{archive}`, a tiny trained model (only for the cases that need one)."""
import json
import shutil

import pytest

from tests.archives import vanilla_archive  # noqa: F401  (a session fixture: one tiny trained model)
from tests.cli import in_process
from tests.conftest import REPO_ROOT

GRID = {"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet", "methods": ["vanilla"], "seeds": 1}


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def finished_trial(trial, metrics, config):
    """A `run_*/trial/` serialization dir as `allennlp train` leaves it."""
    write_json(trial / "metrics.json", metrics)
    write_json(trial / "config.json", config)
    (trial / "model.tar.gz").write_bytes(b"")


@pytest.fixture
def bad_inputs(tmp_path):
    tmp = tmp_path
    (tmp / "grid_not_json.json").write_text('{"config": "x",\n "methods": [vanilla]}\n')
    write_json(tmp / "grid_unknown_key.json", {**GRID, "epochs": 3})
    write_json(tmp / "grid_no_config_file.json", {**GRID, "config": "nowhere/{method}.jsonnet"})
    write_json(tmp / "grid_other.json", {**GRID, "seeds": 2})
    write_json(tmp / "grid.json", GRID)
    write_json(tmp / "started_sweep" / "sweep.json", {**GRID, "seeds": [1, 2, 3]})
    (tmp / "empty_sweep").mkdir()
    write_json(tmp / "empty_sweep" / "sweep.json", {**GRID, "seeds": [1]})
    write_json(tmp / "space_bad_strategy.json", {"EPSILON": {"sampling strategy": "gauss", "bounds": [0, 1]}})
    write_json(tmp / "space_bad_bounds.json", {"EPSILON": {"sampling strategy": "uniform", "bounds": [3, 1]}})
    (tmp / "space_not_json.json").write_text('{\n  "EPSILON": 1,\n}\n')
    write_json(tmp / "searches" / "e" / "search.json", {"settings": {
        "base_config": "/elsewhere/base.jsonnet", "search_space": {"EPSILON": 1}, "overrides": "", "random_seed": 0},
        "trials": []})
    config = {"model": {"perturbation": {"type": "attention_interpretable", "epsilon": 2.0}},
              "trainer": {"validation_metric": "+f1"}}
    finished_trial(tmp / "experiment" / "run_000" / "trial", {"best_validation_f1": 0.8}, config)
    finished_trial(tmp / "mixed" / "run_000" / "trial", {"best_validation_f1": 0.8}, config)
    finished_trial(tmp / "mixed" / "run_001" / "trial", {"best_validation_loss": 0.3},
                   {**config, "trainer": {"validation_metric": "-loss"}})
    # A search whose trial was trained without F1 on validation: reproduce-table2 cannot rank it.
    finished_trial(tmp / "searches_no_f1" / "sst_attention_iat" / "run_000" / "trial", {"best_validation_accuracy": 0.8},
                   config)
    (tmp / "results.jsonl").write_text(json.dumps({"model": "m", "best_validation_f1": 0.8, "EPSILON": 1.0,
                                                   "trainer.validation_metric": "+f1"}) + "\n")
    (tmp / "results_not_jsonl.jsonl").write_text("<<<<<<< HEAD\n")
    (tmp / "notes.tar.gz").write_text("not an archive")
    (tmp / "empty.txt").write_text("")
    (tmp / "dump_bad_line.jsonl").write_text('{"tokens": ["a"], "attention": [1.0], "gradient_importance": [1.0]}\n{"tok')
    (tmp / "dump_not_saliency.jsonl").write_text('{"tokens": ["a"], "label": "positive"}\n')
    (tmp / "dump_a.jsonl").write_text('{"tokens": ["a"], "attention": [1.0], "gradient_importance": [1.0]}\n')
    (tmp / "dump_b.jsonl").write_text('{"tokens": ["b"], "attention": [1.0], "gradient_importance": [1.0]}\n')
    (tmp / "dump_errors_only.jsonl").write_text('{"line": 1, "error": "input line 1: empty sentence"}\n')
    (tmp / "exists").mkdir()
    (tmp / "no_archives").mkdir()
    shutil.copytree("fixtures/agnews", tmp / "agnews")
    with open(tmp / "agnews" / "ag_news_csv" / "test.csv", "a") as table:
        table.write('"7","Title","Text"\n')
    test_rows = len((tmp / "agnews" / "ag_news_csv" / "test.csv").read_text().splitlines())
    return tmp, test_rows


# --dry-run: every check comes before the plan is printed, and a check a bug skipped then ends in a wrong
# exit status at once instead of Table 2's trainings on the real SST configs.
REPRODUCE = ("reproduce-table2", "--dataset", "sst", "-o", "{tmp}/table2", "--dry-run")
SEARCH = ("tune", "search", "--experiment-name", "e", "--log-dir", "{tmp}/searches", "--base-config",
          "fixtures/tune/sst_tiny_search.jsonnet")

# (command, expected last line of stderr). Status 1 unless the line is argparse's ("allennlp ...").
CASES = [
    # make-dataset
    (("make-dataset", "imdb", "{tmp}/nowhere", "-o", "{tmp}/imdb"),
     "error: expected one folder matching **/train under {tmp}/nowhere, found none"),
    (("make-dataset", "agnews", "fixtures/agnews", "-o", "{tmp}/exists"),
     "error: {tmp}/exists already exists; remove it or choose another -o"),
    (("make-dataset", "sst", "fixtures/sst", "-o", "{tmp}/sst", "--protocol", "reduced"),
     "error: --protocol: sst has no reduced protocol (those with one: cnn, multinli, snli)"),
    (("make-dataset", "agnews", "{tmp}/agnews", "-o", "{tmp}/agnews_out"),
     "error: {tmp}/agnews/ag_news_csv/test.csv:{test_rows}: unknown class '7' (expected 1..4)"),
    (("make-dataset", "babi", "fixtures/babi", "-o", "{tmp}/babi", "--task", "4"),
     "error: expected one file matching **/en-10k/qa4_*_train.txt under fixtures/babi, found none"),
    # tune search
    ((*SEARCH, "--search-space", "{tmp}/space_bad_strategy.json"),
     "error: {tmp}/space_bad_strategy.json: EPSILON: \"sampling strategy\" must be one of "
     "['uniform', 'loguniform', 'integer', 'choice'], got 'gauss'"),
    ((*SEARCH, "--search-space", "{tmp}/space_bad_bounds.json"),
     "error: {tmp}/space_bad_bounds.json: EPSILON: \"bounds\" need lo < hi, got [3, 1]"),
    ((*SEARCH, "--search-space", "{tmp}/space_not_json.json"),
     "error: {tmp}/space_not_json.json: line 3: not valid JSON (Expecting property name enclosed in double quotes)"),
    ((*SEARCH, "--search-space", "{tmp}/nowhere.json"), "error: --search-space: {tmp}/nowhere.json is not a file"),
    (("tune", "search", "--experiment-name", "e", "--log-dir", "{tmp}/searches", "--base-config", "{tmp}/nowhere.jsonnet",
      "--search-space", "fixtures/tune/search_space.json"), "error: --base-config: {tmp}/nowhere.jsonnet does not exist"),
    ((*SEARCH, "--search-space", "fixtures/tune/search_space.json", "--num-samples", "0"),
     "error: --num-samples: must be at least 1, got 0"),
    (("tune", "search", "--experiment-name", "e", "--log-dir", "{tmp}/new_searches", "--base-config",
      "fixtures/tune/sst_tiny_search.jsonnet", "--search-space", "fixtures/tune/search_space.json", "-o", "{{trainer"),
     "error: --overrides: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ((*SEARCH, "--search-space", "fixtures/tune/search_space.json", "--num-gpus", "0"),
     "error: --base-config: '{repo}/fixtures/tune/sst_tiny_search.jsonnet' differs from '/elsewhere/base.jsonnet' that "
     "{tmp}/searches/e/search.json was started with; rerun with the same value or choose another experiment name"),
    ((*SEARCH, "--search-space", "fixtures/tune/search_space.json", "--search-strategy", "hyperopt"),
     "error: --search-strategy: only variant-generation (random search) is supported, got 'hyperopt'"),
    # tune report
    (("tune", "report", "--log-dir", "{tmp}/nowhere"), "error: {tmp}/nowhere: no finished trials (run_*/trial/metrics.json)"),
    (("tune", "report", "--log-dir", "{tmp}/experiment", "--performance-metric", "best_validation_f2"),
     "error: --performance-metric: 'best_validation_f2' is not a recorded metric; best_validation_* metrics are "
     "['best_validation_f1']"),
    (("tune", "report", "--log-dir", "{tmp}/mixed"),
     "error: --performance-metric: needed, as the trials' trainer.validation_metric is ['+f1', '-loss']"),
    # tune plot
    (("tune", "plot", "--result-file", "{tmp}/nowhere.jsonl", "--output-file", "{tmp}/plot.png", "--data-name", "SST"),
     "error: --result-file: {tmp}/nowhere.jsonl is not a file"),
    (("tune", "plot", "--result-file", "{tmp}/results_not_jsonl.jsonl", "--output-file", "{tmp}/plot.png",
      "--data-name", "SST"), "error: --result-file: {tmp}/results_not_jsonl.jsonl is not a results.jsonl of "
     "`allennlp tune report` (Expected object or value at position 0)"),
    (("tune", "plot", "--result-file", "{tmp}/results.jsonl", "--output-file", "{tmp}/plot.png", "--data-name", "SST",
      "--performance-metric-field", "best_validation_accuracy"),
     "error: --performance-metric-field: {tmp}/results.jsonl has no field 'best_validation_accuracy' in its records"),
    (("tune", "plot", "--result-file", "{tmp}/results.jsonl", "--output-file", "{tmp}/plot.png", "--data-name", "SST",
      "--model-field", "method"), "error: {tmp}/results.jsonl: no field 'method' in its records (--model-field)"),
    (("tune", "plot", "--result-file", "{tmp}/results.jsonl", "--output-file", "{tmp}/plot.png", "--data-name", "SST",
      "--x", "lr"), "error: --x: lr: no such field in the result files"),
    (("tune", "plot", "--result-file", "{tmp}/results.jsonl", "{tmp}/results.jsonl", "{tmp}/results.jsonl",
      "--output-file", "{tmp}/plot.png", "--data-name", "SST", "--subplots", "1", "2"),
     "error: --subplots: 1 2: fewer axes than the 3 result files"),
    # sweep run / report
    (("sweep", "run", "--grid", "{tmp}/grid_not_json.json", "-o", "{tmp}/sweep"),
     "error: {tmp}/grid_not_json.json:2: not valid JSON (Expecting value)"),
    (("sweep", "run", "--grid", "{tmp}/grid_unknown_key.json", "-o", "{tmp}/sweep"),
     "error: {tmp}/grid_unknown_key.json: unknown keys ['epochs']; a grid file has "
     "['config', 'dataset', 'grid', 'methods', 'overrides', 'seeds', 'variants']"),
    (("sweep", "run", "--grid", "{tmp}/nowhere.json", "-o", "{tmp}/sweep"), "error: --grid: {tmp}/nowhere.json is not a file"),
    (("sweep", "run", "--grid", "{tmp}/grid_no_config_file.json", "-o", "{tmp}/sweep"),
     "error: {tmp}/grid_no_config_file.json: config nowhere/vanilla.jsonnet does not exist"),
    (("sweep", "run", "--grid", "{tmp}/grid.json", "-o", "{tmp}/sweep", "--methods", "word_at"),
     "error: --methods: word_at not among the grid's methods (vanilla)"),
    (("sweep", "run", "--grid", "{tmp}/grid.json", "-o", "{tmp}/started_sweep"),
     "error: {tmp}/started_sweep/sweep.json: this folder was started with another grid; rerun with that grid file "
     "or choose another -o"),
    (("sweep", "report", "-o", "{tmp}/nowhere"), "error: --output-dir: {tmp}/nowhere/sweep.json does not exist (not a sweep folder?)"),
    (("sweep", "report", "-o", "{tmp}/empty_sweep"), "error: --output-dir: {tmp}/empty_sweep has no finished runs yet"),
    # reproduce-table2
    ((*REPRODUCE, "--epsilon", "vanilla=3"),
     "error: --epsilon vanilla=3: method must be one of ['word_at', 'word_iat', 'attention_rp', 'attention_at', "
     "'attention_iat']"),
    ((*REPRODUCE, "--epsilon", "word_at=big"), "error: --epsilon word_at=big: 'big' is not a number"),
    ((*REPRODUCE, "--epsilon", "attention_iat=3=4"), "error: --epsilon attention_iat=3=4: '3=4' is not a number"),
    ((*REPRODUCE, "--methods", "nonesuch", "vanilla", "other"),
     "error: --methods: nonesuch, other not among the registered methods trained by a perturbation (vanilla, word_at, "
     "word_iat, attention_rp, attention_at, attention_iat; training_configs/lib/methods.libsonnet)"),
    ((*REPRODUCE, "--seeds", "0"), "error: --seeds: must be at least 1, got 0"),
    ((*REPRODUCE, "--jobs", "0"), "error: --jobs: must be at least 1, got 0"),
    ((*REPRODUCE, "--threads-per-job", "0"), "error: --threads-per-job: must be at least 1, got 0"),
    ((*REPRODUCE, "--overrides", "[1"),
     "error: --overrides: not valid JSON (Expecting ',' delimiter: line 1 column 3 (char 2))"),
    ((*REPRODUCE, "--config-pattern", "{tmp}/{{dataset}}_{{method}}.jsonnet", "--methods", "vanilla"),
     "error: --config-pattern: {tmp}/sst_vanilla.jsonnet (for vanilla) does not exist"),
    ((*REPRODUCE, "--methods", "attention_iat", "--search-log-dir", "{tmp}/searches_no_f1"),
     "error: --search-log-dir: {tmp}/searches_no_f1/sst_attention_iat/run_000/trial/metrics.json has no "
     "best_validation_f1"),
    ((*REPRODUCE, "--record", "{tmp}/exists"), "error: {tmp}/exists: --record must name a file, not a folder"),
    # robustness-table
    (("robustness-table", "--archives", "{tmp}/nowhere", "--data", "fixtures/sst/test.txt", "-o", "{tmp}/table.md"),
     "error: --archives: {tmp}/nowhere is not a folder"),
    (("robustness-table", "--archives", "{tmp}/no_archives", "--data", "fixtures/sst/test.txt", "-o", "{tmp}/table.md"),
     "error: --archives: no <method>/model.tar.gz or <method>/seed_<n>/model.tar.gz under {tmp}/no_archives"),
    (("robustness-table", "--archives", "{tmp}/no_archives", "--data", "fixtures/sst/test.txt", "-o", "{tmp}/table.md",
      "--top-k", "0"), "allennlp robustness-table: error: argument --top-k: must be >= 1, got 0"),
    # attack / stability / visualize
    (("attack", "{tmp}/notes.tar.gz", "fixtures/sst/test.txt", "--kind", "synonym"),
     "error: not a model archive: {tmp}/notes.tar.gz (ReadError: not a gzip file)"),
    (("attack", "{tmp}/notes.tar.gz", "fixtures/sst/test.txt", "--kind", "hyponym"),
     "allennlp attack: error: argument --kind: invalid choice: 'hyponym' (choose from 'synonym', 'antonym')"),
    (("stability", "{tmp}/notes.tar.gz", "fixtures/sst/test.txt"),
     "error: not a model archive: {tmp}/notes.tar.gz (ReadError: not a gzip file)"),
    (("stability", "{tmp}/notes.tar.gz", "fixtures/sst/test.txt", "--second-archive", "{tmp}/nowhere.tar.gz"),
     "error: --second-archive: {tmp}/nowhere.tar.gz does not exist"),
    (("visualize", "{tmp}/dump_bad_line.jsonl", "-o", "{tmp}/figures"),
     "error: {tmp}/dump_bad_line.jsonl:2: malformed JSON (Unterminated string starting at)"),
    (("visualize", "{tmp}/dump_not_saliency.jsonl", "-o", "{tmp}/figures"),
     "error: {tmp}/dump_not_saliency.jsonl:1: not an attention_saliency record (missing ['attention', "
     "'gradient_importance'])"),
    (("visualize", "{tmp}/dump_errors_only.jsonl", "-o", "{tmp}/figures"),
     "error: {tmp}/dump_errors_only.jsonl: no predictions to draw"),
    (("visualize", "{tmp}/dump_a.jsonl", "{tmp}/dump_b.jsonl", "-o", "{tmp}/figures"),
     "error: {tmp}/dump_b.jsonl: its sentences differ from {tmp}/dump_a.jsonl; dump the same inputs with each model"),
    (("visualize", "{tmp}/dump_a.jsonl", "{tmp}/dump_b.jsonl", "-o", "{tmp}/figures", "--names", "A"),
     "error: --names: 1 names for 2 dumps"),
    # allennlp's evaluate and predict, as the plugin changes them
    (("evaluate", "{tmp}/notes.tar.gz", "fixtures/sst/test.txt"),
     "error: not a model archive: {tmp}/notes.tar.gz (ReadError: not a gzip file)"),
    (("predict", "{tmp}/notes.tar.gz", "fixtures/sst/test.txt", "--predictor", "attention_saliency", "--output-file",
      "{tmp}/predictions.jsonl"), "error: not a model archive: {tmp}/notes.tar.gz (ReadError: not a gzip file)"),
]

# Cases that need a model archive that loads.
WITH_ARCHIVE = [
    (("evaluate", "{archive}", "{tmp}/empty.txt", "--output-file", "{tmp}/metrics.json"),
     "error: {tmp}/empty.txt: nothing to read: it holds no example"),
    (("predict", "{archive}", "{tmp}/empty.txt", "--predictor", "attention_saliency", "--output-file",
      "{tmp}/predictions.jsonl"), "error: {tmp}/empty.txt: nothing to predict: it holds no example"),
    (("attack", "{archive}", "{tmp}/empty.txt", "--kind", "synonym", "--output-file", "{tmp}/attack.jsonl"),
     "error: {tmp}/empty.txt: nothing to read: it holds no example"),
    (("stability", "{archive}", "{tmp}/empty.txt", "--output-file", "{tmp}/stability.json"),
     "error: {tmp}/empty.txt: nothing to read: it holds no example"),
    (("robustness-table", "--archives", "{tmp}/methods", "--data", "{tmp}/empty.txt", "-o", "{tmp}/table.md"),
     "error: {tmp}/empty.txt: nothing to read: it holds no example"),
]


def run_case(command, expected, tmp, **values):
    tmp_path, test_rows = tmp
    fill = {"tmp": tmp_path, "test_rows": test_rows, "repo": REPO_ROOT, **values}
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    result = in_process(*(part.format(**fill) for part in command), check=False)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines and lines[-1] == expected.format(**fill), "\n".join(lines[-3:])
    assert result.returncode == (2 if expected.startswith("allennlp ") else 1)
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before  # nothing written
    return lines[-1]


@pytest.mark.parametrize("command, expected", CASES, ids=[" ".join(c[:3]) for c, _ in CASES])
def test_a_user_error_is_one_line_naming_the_file_key_or_flag(command, expected, bad_inputs):
    run_case(command, expected, bad_inputs)


@pytest.mark.parametrize("command, expected", WITH_ARCHIVE, ids=[c[0] for c, _ in WITH_ARCHIVE])
def test_empty_data_for_a_model_is_one_line_naming_the_file(command, expected, bad_inputs, vanilla_archive):  # noqa: F811
    methods = bad_inputs[0] / "methods" / "vanilla"
    methods.mkdir(parents=True)
    (methods / "model.tar.gz").symlink_to(vanilla_archive)
    run_case(command, expected, bad_inputs, archive=vanilla_archive)
