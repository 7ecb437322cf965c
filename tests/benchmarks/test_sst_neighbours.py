"""benchmarks/sst_neighbours.sh, dry-run: it trains every run of its plan at every seed, and each
run's settings (λ2 of SEAT, BAT's contrastive weight, the seed) reach the model that the printed
`allennlp train` command would build; it then measures with SEAT's clamped attack into the records
the results files read. Nothing is trained or written."""
import json
import os
import shlex
import subprocess
from collections import defaultdict

import pytest
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model

from tests.conftest import REPO_ROOT

SIX = ("vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat")
PLAN = json.loads((REPO_ROOT / "benchmarks/sst_neighbours.json").read_text())


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    six, out = tmp_path_factory.mktemp("six"), tmp_path_factory.mktemp("out") / "neighbours"
    for method in SIX:
        for seed in (1, 2, 3):
            (six / method / f"seed_{seed}").mkdir(parents=True)
            (six / method / f"seed_{seed}" / "model.tar.gz").write_bytes(b"")
    result = subprocess.run(["bash", "benchmarks/sst_neighbours.sh", str(six), "3"], cwd=REPO_ROOT, capture_output=True,
                            text=True, env={**os.environ, "DRY_RUN": "1", "OUT": str(out)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not out.exists()  # a dry run changes nothing
    return six, out, [shlex.split(line) for line in result.stdout.splitlines()]


def trainings(commands):
    """{run name: {seed: (config, overrides)}} of the printed `allennlp train` commands."""
    found = defaultdict(dict)
    for command in commands:
        if command[:4] == [".venv/bin/python", "-m", "allennlp", "train"]:
            config, directory, overrides = command[4], command[command.index("-s") + 1], command[command.index("-o") + 1]
            name, seed_folder = directory.split("/")[-2:]
            found[name][int(seed_folder.split("_")[1])] = (config, json.loads(overrides))
    return found


def built_model(config, overrides):
    params = Params.from_file(config, params_overrides=json.dumps(
        {**overrides, "model.text_field_embedder.token_embedders.tokens.pretrained_file": None}))
    vocab = Vocabulary({"labels": {"positive": 1, "negative": 1}, "tokens": {"good": 1, "bad": 1}})
    return params, Model.from_params(vocab=vocab, params=params.pop("model"))


def test_every_planned_run_trains_at_every_seed_with_its_settings_in_the_model(dry_run):
    _, out, commands = dry_run
    found = trainings(commands)
    assert list(found) == [run["name"] for run in PLAN["runs"]]
    for run in PLAN["runs"]:
        assert sorted(found[run["name"]]) == [1, 2, 3], run["name"]
        for seed, (config, overrides) in found[run["name"]].items():
            assert config == run["config"]
            assert {key: overrides[key] for key in ("random_seed", "numpy_seed", "pytorch_seed")} == dict.fromkeys(
                ("random_seed", "numpy_seed", "pytorch_seed"), seed)
            params, model = built_model(config, overrides)
            assert params["random_seed"] == seed
            for key, value in run["overrides"].items():  # e.g. model.top_k_weight -> model.top_k_weight
                assert key.startswith("model.") and getattr(model, key[len("model."):]) == value, (run["name"], key)
    for name in found:  # the six methods are linked, never trained
        assert name not in SIX
    assert [c for c in commands if c[:2] == ["ln", "-sfn"]] == [
        ["ln", "-sfn", str((dry_run[0] / m / f"seed_{s}").resolve()), f"{out}/{m}/seed_{s}"] for s in (1, 2, 3) for m in SIX]


def test_the_sweeps_span_what_the_issue_asks(dry_run):
    found = trainings(dry_run[2])

    def values(prefix, attribute):
        return sorted({getattr(built_model(*found[name][1])[1], attribute) for name in found if name.startswith(prefix)})

    # λ2: at least 4 values × 3 seeds, the authors' 1000 among them, all with the code's clamp.
    assert values("seat_coded_l2_", "top_k_weight") == [1.0, 10.0, 100.0, 1000.0]
    assert values("seat_coded_l2_", "clip_to_unit_interval") == [True]
    # BAT-Triplet's contrastive weight (the issue's β): several values below the paper's 1.
    assert values("bat_lambda_", "contrastive_weight") == [0.03, 0.1, 0.3, 1.0]
    assert values("bat_lambda_", "variant") == ["triplet"]
    # FLAT and its -adv baseline, which differ in the word masks alone.
    assert found["flat_adv"][1][0] == "training_configs/sst_flat_adv.jsonnet" and "flat" in found
    # The authors' selection rule only where the run's name says so.
    for name, seeds in found.items():
        params, _ = built_model(*seeds[1])
        assert (params["trainer"]["validation_metric"] == "+macro_f1") == name.endswith("_test_selected"), name


def test_the_archives_are_measured_with_the_clamped_attack_into_the_committed_records(dry_run):
    _, out, commands = dry_run
    [table] = [c for c in commands if c[:4] == [".venv/bin/python", "-m", "allennlp", "robustness-table"]]
    assert table[table.index("--archives") + 1] == str(out) and "--pgd-clip" in table
    assert table[table.index("--record") + 1] == "benchmarks/results/sst_neighbours_record.json"
    assert table[table.index("--data") + 1] == "data/sst/test.txt" and table[table.index("--budget") + 1] == "40"
    [protocol] = [c for c in commands if c[:2] == [".venv/bin/python", "benchmarks/sst_bat_protocol.py"]]
    assert protocol[protocol.index("--record") + 1] == "benchmarks/results/sst_neighbours_bat_protocol_record.json"
    assert protocol[protocol.index("--methods") + 1:protocol.index("--max-instances")] == PLAN["bat_protocol_methods"]
    assert commands[-1] == [".venv/bin/python", "-m", "allennlp", "results", "benchmarks/results"]
    # Trainings come before any measure.
    positions = [index for index, command in enumerate(commands) if command[3:4] == ["train"]]
    assert max(positions) < commands.index(table)


def test_a_missing_archive_of_the_six_stops_it_before_anything_runs(tmp_path):
    """Every archive but the last of the six (attention_iat, seed 2): nothing is linked or trained."""
    for method in SIX:
        for seed in (1, 2):
            if (method, seed) != ("attention_iat", 2):
                (tmp_path / method / f"seed_{seed}").mkdir(parents=True)
                (tmp_path / method / f"seed_{seed}" / "model.tar.gz").write_bytes(b"")
    result = subprocess.run(["bash", "benchmarks/sst_neighbours.sh", str(tmp_path), "2"], cwd=REPO_ROOT, capture_output=True,
                            text=True, env={**os.environ, "DRY_RUN": "1", "OUT": str(tmp_path / "out")}, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert f"missing {tmp_path}/attention_iat/seed_2/model.tar.gz: run reproduce-table2 first" in result.stderr
