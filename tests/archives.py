"""Small trained archives shared by the tests: import the fixtures into a test module."""
import json
import os

import pytest
from allennlp.commands.train import train_model_from_file

from tests.conftest import REPO_ROOT


def train_tiny(serialization_dir, method="vanilla", seed=7, config="fixtures/sst_tiny.jsonnet", overrides=None,
               **environment):
    """Trains the tiny SST fixture config in-process (with `overrides`, a dict, beside the seeds)
    and returns its archive path."""
    previous = dict(os.environ)
    os.environ.update({"METHOD": method, **environment})
    cwd = os.getcwd()
    try:
        os.chdir(REPO_ROOT)
        train_model_from_file(
            config, str(serialization_dir),
            overrides=json.dumps({"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed, **(overrides or {})}),
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
def attention_iat_archive(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("attention_iat"), method="attention_iat")


@pytest.fixture(scope="session")
def second_seed_archive(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("vanilla_seed2"), seed=8)


@pytest.fixture(scope="session")
def archive_without_attention(tmp_path_factory):
    """allennlp's own bag-of-embeddings `basic_classifier` on the same data: no attention."""
    from allennlp.commands.train import train_model
    from allennlp.common import Params

    serialization_dir = tmp_path_factory.mktemp("basic_classifier")
    params = Params({
        "dataset_reader": {"type": "sst_trees"},
        "train_data_path": str(REPO_ROOT / "fixtures/sst/train.txt"),
        "validation_data_path": str(REPO_ROOT / "fixtures/sst/dev.txt"),
        "model": {
            "type": "basic_classifier",
            "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
            "seq2vec_encoder": {"type": "boe", "embedding_dim": 4},
        },
        "data_loader": {"batch_size": 8},
        "trainer": {"num_epochs": 1, "optimizer": "adam", "cuda_device": -1},
    })
    train_model(params, str(serialization_dir))
    return str(serialization_dir / "model.tar.gz")
