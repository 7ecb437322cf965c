"""Every split, sampler and search draw obeys its seed and changes with it: make-dataset's held-out
splits (`--seed`), the tune search's trial draws (`--random-seed`), the seeds a sweep and
reproduce-table2 give each run (as the built config holds them), and the synonym positions of the
robustness measures."""
import csv
import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from allennlp.common import Params
from allennlp.data import Vocabulary

from attention_perturb.data.builders import make_dataset
from tests.cli import in_process, run_cli
from tests.experiments.test_reproduce_table2 import finished_run

SPLITS = ("train", "validation", "test")


def splits(folder):
    return {split: (folder / f"{split}.jsonl").read_text() for split in SPLITS}


@pytest.mark.parametrize("name, raw, options, seeded", [
    ("babi", "fixtures/babi", [], True),  # 15 % of train held out
    ("snli", "fixtures/snli_partial", ["--protocol", "reduced"], True),  # 10 % of dev held out
    ("multinli", "fixtures/multinli_partial", ["--protocol", "reduced"], True),
    ("imdb", "fixtures/imdb", [], True),  # 20 % of train held out, a random 20 % of test kept
    ("20news", "fixtures/20news", [], True),  # stratified test and validation
    ("agnews", "fixtures/agnews", [], True),
    ("sst", "fixtures/sst", [], False),  # the release's own splits
    ("cnn", "fixtures/cnn", ["--protocol", "reduced"], False),
])
def test_make_dataset_splits_follow_the_seed_flag(tmp_path, name, raw, options, seeded):
    for seed in (1, 2):
        in_process("make-dataset", name, raw, "-o", tmp_path / f"cli_{seed}", "--seed", seed, *options)
        assert json.loads((tmp_path / f"cli_{seed}" / "meta.json").read_text())["seed"] == seed
    protocol = options[1] if options else "full"
    make_dataset(name, raw, str(tmp_path / "again_1"), seed=1, protocol=protocol)
    assert splits(tmp_path / "cli_1") == splits(tmp_path / "again_1")  # the flag is the seed, and it repeats
    first, second = splits(tmp_path / "cli_1"), splits(tmp_path / "cli_2")
    if seeded:
        assert first["validation"] != second["validation"]
    else:
        assert first == second


@pytest.mark.parametrize("seed", [1, 2])
def test_agnews_validation_is_the_seeded_shuffles_first_15_percent(tmp_path, seed):
    """AG News keeps World (class 1) and Business (class 3) descriptions of train.csv in file order;
    validation is the round(15 %) examples at the first positions of `random.Random(seed)`'s
    shuffle of their positions, kept in file order."""
    with open("fixtures/agnews/ag_news_csv/train.csv", newline="") as table:
        examples = [{"text": row[2], "label": {"1": "negative", "3": "positive"}[row[0]]}
                    for row in csv.reader(table) if row and row[0] in ("1", "3")]
    positions = list(range(len(examples)))
    random.Random(seed).shuffle(positions)
    held = set(positions[:round(0.15 * len(examples))])
    in_process("make-dataset", "agnews", "fixtures/agnews", "-o", tmp_path / "agnews", "--seed", seed)
    validation = [json.loads(line) for line in (tmp_path / "agnews" / "validation.jsonl").read_text().splitlines()]
    assert validation == [example for index, example in enumerate(examples) if index in held]


def finished_search_trials(experiment, count):
    for index in range(count):
        trial = experiment / f"run_{index:03d}" / "trial"
        trial.mkdir(parents=True)
        (trial / "metrics.json").write_text("{}")
        (trial / "model.tar.gz").write_bytes(b"")


def drawn_environments(log_dir, seed, samples):
    """The trials `tune search --random-seed SEED` plans (their folders already finished, so no
    training starts), as search.json records them."""
    finished_search_trials(log_dir / "e", samples)
    in_process("tune", "search", "--experiment-name", "e", "--log-dir", log_dir, "--search-space",
               "fixtures/tune/search_space.json", "--base-config", "fixtures/tune/sst_tiny_search.jsonnet",
               "--num-samples", samples, "--random-seed", seed, "--num-gpus", "0")
    return [trial["environment"] for trial in json.loads((log_dir / "e" / "search.json").read_text())["trials"]]


def test_the_search_draws_each_trial_from_its_seed_and_index(tmp_path):
    """fixtures/tune/search_space.json: EPSILON uniform on [0, 30), then SEED an integer in
    [0, 1000), drawn in that order from one numpy generator seeded with [--random-seed, trial
    index] (Ray's domains draw `uniform(lo, hi)` and `integers(lo, hi)` from it)."""
    def expected(seed, index):
        generator = np.random.default_rng([seed, index])
        epsilon, trial_seed = generator.uniform(0, 30, size=1)[0], generator.integers(0, 1000, size=1)[0]
        return {"EPSILON": json.dumps(float(epsilon)), "SEED": json.dumps(int(trial_seed)), "CUDA_DEVICE": "-1",
                "NUM_EPOCHS": "1"}

    five = drawn_environments(tmp_path / "five", 5, 3)
    assert five == [expected(5, index) for index in range(3)]
    six = drawn_environments(tmp_path / "six", 6, 3)
    assert six == [expected(6, index) for index in range(3)]
    assert all(a["EPSILON"] != b["EPSILON"] for a, b in zip(five, six))
    assert drawn_environments(tmp_path / "fewer", 5, 2) == five[:2]  # trial k does not depend on how many


GRID = {"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet", "methods": ["vanilla", "attention_iat"],
        "seeds": [3, 11], "grid": {"model.perturbation.epsilon": {"values": [0.5, 2], "methods": ["attention_iat"]}},
        "variants": {"standardised": {"model.text_field_embedder.token_embedders.tokens.normalize": True}},
        "overrides": {"trainer.num_epochs": 1}}
SEED_KEYS = ("random_seed", "numpy_seed", "pytorch_seed")


def test_each_sweep_run_is_built_with_its_seed(tmp_path):
    """Every planned run's config, built as allennlp builds it (the config file, its environment
    and the run's overrides), holds the run's seed as allennlp's three seeds."""
    (tmp_path / "grid.json").write_text(json.dumps(GRID))
    plan = in_process("sweep", "run", "--grid", tmp_path / "grid.json", "-o", tmp_path / "out", "--dry-run").stdout
    runs = [line.strip().split(": ", 1) for line in plan.splitlines() if line.startswith("  ")]
    assert len(runs) == 2 * (1 + 2) * 2  # seeds × (vanilla + two ε of attention_iat) × variants
    for name, command in runs:
        config, overrides = command.split(" -o ", 1)
        seed = int(name.rsplit("__seed_", 1)[1])
        method = name.split("__")[0]
        built = Params.from_file(config, overrides, ext_vars={"METHOD": method, "DATASET": "sst"}).as_dict()
        assert [built[key] for key in SEED_KEYS] == [seed] * 3, name
        assert built["trainer"]["num_epochs"] == 1
    # A grid may not set a seed of its own: it would not be the run's.
    (tmp_path / "seeded.json").write_text(json.dumps({**GRID, "overrides": {"numpy_seed": 5}}))
    refused = in_process("sweep", "run", "--grid", tmp_path / "seeded.json", "-o", tmp_path / "out", "--dry-run",
                         check=False)
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'seeded.json'}: overrides sets numpy_seed: each run's seeds are its seed of 'seeds'")


def test_each_table2_run_is_built_with_its_seed_and_epsilon(tmp_path, monkeypatch, capsys):
    from attention_perturb.experiments import reproduce_table2

    built = {}

    def train(run, config, dataset, overrides, include_packages, threads):  # records what would be trained
        params = Params.from_file(config, overrides, ext_vars={"METHOD": run.method, "DATASET": dataset}).as_dict()
        built[(run.method, run.seed)] = params
        finished_run(run.directory, 0.8, 0.5, run.epsilon.value)

    monkeypatch.setattr(reproduce_table2, "train", train)
    run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--seeds", "3", "--methods", "vanilla",
            "attention_iat", "--epsilon", "attention_iat=2.5", "--overrides", '{"trainer.num_epochs": 1}',
            "-o", str(tmp_path / "out"), "--jobs", "1")
    assert sorted(built) == [(method, seed) for method in ("attention_iat", "vanilla") for seed in (1, 2, 3)]
    for (method, seed), params in built.items():
        assert [params[key] for key in SEED_KEYS] == [seed] * 3, (method, seed)
        assert params["trainer"]["num_epochs"] == 1
        assert params["model"]["perturbation"].get("epsilon") == (2.5 if method == "attention_iat" else None)
    refused = in_process("reproduce-table2", "--dataset", "sst", "--overrides", '{"random_seed": 7}', "-o",
                         tmp_path / "seeded", "--dry-run", check=False)
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: --overrides: random_seed is each run's own seed (1..--seeds); leave it out")


class EveryWordHasASynonym:
    """A substitution table offering each word the next vocabulary id: every position can change."""

    def in_vocabulary(self, word, own_id, kind, vocab, namespace):
        return [own_id + 1]


@pytest.mark.parametrize("seed", [1, 2])
def test_synonym_positions_are_the_seeds_draws(seed):
    """Two sentences of six substitutable words, two words each: the positions are
    `random.Random(seed).sample` of the six, one sentence after the other from the same stream."""
    from attention_perturb.robustness.stability import SynonymSubstitution

    vocab = Vocabulary({"tokens": {f"w{i}": 1 for i in range(20)}})  # ids 2.. (0 padding, 1 OOV)
    model = SimpleNamespace(vocab=vocab, _namespace="tokens")
    ids = torch.tensor([[2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13]])
    perturbed, changed = SynonymSubstitution(model, 2, seed, EveryWordHasASynonym())(ids)
    draws = random.Random(seed)
    expected = [sorted(draws.sample(range(6), 2)) for _ in range(2)]
    assert [sorted((row != original).nonzero().flatten().tolist()) for row, original in zip(perturbed, ids)] == expected
    assert changed.tolist() == [True, True]
    other = random.Random(3 - seed)
    assert expected != [sorted(other.sample(range(6), 2)) for _ in range(2)]  # the two seeds draw apart
