"""Small trained archives shared by the robustness tests: import the fixtures into a test module."""
import os

import pytest
from allennlp.commands.train import train_model_from_file

from tests.conftest import REPO_ROOT


def train_tiny(serialization_dir, method="vanilla", seed=7, config="fixtures/sst_tiny.jsonnet", **environment):
    """Trains the tiny SST fixture config in-process and returns its archive path."""
    previous = dict(os.environ)
    os.environ.update({"METHOD": method, **environment})
    cwd = os.getcwd()
    try:
        os.chdir(REPO_ROOT)
        train_model_from_file(
            config, str(serialization_dir),
            overrides=f'{{"random_seed": {seed}, "numpy_seed": {seed}, "pytorch_seed": {seed}}}',
        )
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(previous)
    return str(serialization_dir / "model.tar.gz")


@pytest.fixture(scope="session")
def vanilla_archive(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("vanilla"))


@pytest.fixture(scope="session")
def second_seed_archive(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("vanilla_seed2"), seed=8)
