"""A tenth method in two files (docs/adding_a_method.md): its registered class in a module of its own and
its entry in training_configs/lib/methods.libsonnet. Nothing else is edited, and it appears in
`reproduce-table2 --dry-run`, a sweep grid, `robustness-table` (trained from the tiny SST fixture) and
`benchmarks/step_time.py`, each in its place in the registry's order."""
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import in_process

REPO = Path(__file__).resolve().parents[2]
# File one: the method's class. A new perturbation of attention scores, here noise scaled to ε.
TOY_MODULE = '''
import torch

from attention_perturb.perturbations.base import ATTENTION, Perturbation, per_instance_unit


@Perturbation.register("toy_noise")
class ToyNoise(Perturbation):
    """Uniform noise on the attention scores, scaled to ε (a toy: the tenth method of the docs)."""

    target = ATTENTION
    needs_gradient = False

    def __call__(self, values, gradient, mask, **context):
        return self.epsilon * per_instance_unit(torch.rand_like(values) - 0.5, mask)
'''
# File two: its registry entry, after the nine.
ENTRY = "  { name: 'toy_noise', title: 'Toy noise', family: 'attention', perturbation: { type: 'toy_noise', epsilon: 0.5 } },\n"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The repository's configs, fixtures and SST data with the toy method added, as the working
    directory of the commands, and its module importable (`toy_method`)."""
    root = tmp_path_factory.mktemp("checkout")
    for folder in ("training_configs", "fixtures"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "data").mkdir()
    (root / "data" / "sst").symlink_to(REPO / "data" / "sst")
    registry = root / "training_configs" / "lib" / "methods.libsonnet"
    registry.write_text(registry.read_text().replace("\n];\n", "\n" + ENTRY + "];\n"))
    (root / "toy_method.py").write_text(TOY_MODULE)
    sys.path.insert(0, str(root))
    importlib.import_module("toy_method")
    yield root
    sys.path.remove(str(root))


def test_the_registry_has_it_after_the_nine(checkout, monkeypatch):
    from attention_perturb.experiments.methods import config_for, methods, trained_by_perturbation

    monkeypatch.chdir(checkout)
    assert list(methods())[-1] == "toy_noise" and len(methods()) == 10
    assert trained_by_perturbation()[-1] == "toy_noise"
    assert config_for("training_configs/{dataset}_{method}.jsonnet", "sst", "toy_noise") == "training_configs/sst.jsonnet"


def test_reproduce_table2_plans_it_with_its_registered_epsilon(checkout, monkeypatch, tmp_path):
    monkeypatch.chdir(checkout)
    plan = in_process("reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods", "vanilla", "toy_noise",
                      "-o", tmp_path / "out", "--dry-run").stdout
    assert f"toy_noise seed 2: ε=0.5 (config default); train training_configs/sst.jsonnet -> {tmp_path / 'out'}" in plan
    assert plan.index("vanilla seed 1") < plan.index("toy_noise seed 1")


def test_a_sweep_grid_trains_it_with_the_datasets_config(checkout, monkeypatch, tmp_path):
    monkeypatch.chdir(checkout)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet",
                                "methods": ["vanilla", "toy_noise"], "seeds": 1,
                                "grid": {"model.perturbation.epsilon": {"values": [0.1, 1], "methods": ["toy_noise"]}}}))
    plan = in_process("sweep", "run", "--grid", grid, "-o", tmp_path / "out", "--dry-run").stdout
    assert "toy_noise__epsilon=0.1__seed_1: training_configs/sst.jsonnet -o" in plan
    assert "toy_noise__epsilon=1__seed_1: training_configs/sst.jsonnet -o" in plan


@pytest.mark.long
def test_the_robustness_table_gives_it_a_row_after_vanilla(checkout, monkeypatch, tmp_path):
    monkeypatch.chdir(checkout)
    archives = tmp_path / "archives"
    for method in ("toy_noise", "vanilla"):
        in_process("train", "fixtures/sst_tiny.jsonnet", "-s", archives / method, env={"METHOD": method})
    table = tmp_path / "table.md"
    in_process("robustness-table", "--archives", archives, "--data", "fixtures/sst/test.txt", "-o", table,
               "--budget", "3", "--max-instances", "4")
    rows = [line.split("|")[1].strip() for line in table.read_text().splitlines() if line.startswith("| ")][1:]
    assert rows[:2] == ["vanilla", "toy_noise"]
    config = json.loads((archives / "toy_noise" / "config.json").read_text())
    assert config["model"]["perturbation"] == {"type": "toy_noise", "epsilon": 0.5}


@pytest.mark.long
def test_the_step_time_benchmark_times_it(checkout):
    python_path = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []  # kept: mutmut's is there
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "step_time.py"), "--methods", "toy_noise",
                             "--batches", "2", "--threads", "1", "--include-package", "toy_method"],
                            cwd=checkout, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(REPO), *python_path])})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line.split()[0] for line in result.stdout.splitlines() if line.split()]
    assert "toy_noise" in lines and lines.index("vanilla") < lines.index("toy_noise")


def test_method_names_by_family_in_the_registrys_order(checkout, monkeypatch):
    from attention_perturb.experiments.methods import method_names

    monkeypatch.chdir(checkout)
    assert method_names() == ["vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat",
                              "seat", "flat", "bat", "toy_noise"]
    assert method_names("attention") == ["attention_rp", "attention_at", "attention_iat", "toy_noise"]
    assert method_names("neighbour") == ["seat", "flat", "bat"]


@pytest.mark.parametrize("entry", ["{ name: 'x', title: 'X', family: 'other' }", "{ name: 'x', family: 'word' }",
                                   "{ title: 'X', family: 'word' }"])
def test_a_registry_entry_without_its_keys_is_refused_naming_its_position(tmp_path, entry):
    from attention_perturb.errors import SettingError
    from attention_perturb.experiments.methods import methods

    registry = tmp_path / "methods.libsonnet"
    registry.write_text("{ registry: [ { name: 'vanilla', title: 'Vanilla', family: 'baseline' }, %s ] }" % entry)
    with pytest.raises(SettingError) as raised:
        methods(registry)
    assert str(raised.value).startswith("registry[1]: ") and f"{registry}: needs a 'name', a 'title' and a " \
           "'family' among ('baseline', 'word', 'attention', 'neighbour'), got {" in str(raised.value)
