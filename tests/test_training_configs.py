"""Every shipped training config parses and names registered components; the new datasets have
one per method."""
import functools
import glob

import pytest
from allennlp.common import Params
from allennlp.data import DatasetReader
from allennlp.models import Model

from attention_perturb.perturbations import Perturbation
from tests.conftest import METHODS, REPO_ROOT

CONFIGS = sorted(glob.glob("training_configs/**/*.jsonnet", root_dir=REPO_ROOT, recursive=True))
# training_configs/<dataset>.jsonnet trains the method its METHOD variable names.
GENERIC = {config for config in CONFIGS if "std.extVar('METHOD')" in (REPO_ROOT / config).read_text()}
PERTURBATIONS = {
    "vanilla": "none", "word_at": "word_adversarial", "word_iat": "word_interpretable",
    "attention_rp": "attention_random", "attention_at": "attention_adversarial", "attention_iat": "attention_interpretable",
}


# A search trial's sampled values, as `tune search` sets them (training_configs/search/search.libsonnet).
TRIAL = {"EPSILON": "2.5", "SEED": "7", "CUDA_DEVICE": "-1", "NUM_EPOCHS": "3"}


@functools.lru_cache(maxsize=None)
def parsed(config, method=None):
    ext_vars = {"METHOD": method} if method is not None else TRIAL if config.startswith("training_configs/search/") else None
    return Params.from_file(config, ext_vars=ext_vars).as_dict()


def test_every_folder_of_configs_is_found():
    assert len(CONFIGS) > 100 and "training_configs/sst_attention_iat.jsonnet" in CONFIGS
    assert "training_configs/search/sst_attention_iat.jsonnet" in CONFIGS and GENERIC < set(CONFIGS)


@pytest.mark.parametrize("config", CONFIGS)
def test_config_parses_and_names_registered_types(config):
    for method in METHODS if config in GENERIC else [None]:
        params = parsed(config, method)
        assert Model.by_name(params["model"]["type"])
        assert DatasetReader.by_name(params["dataset_reader"]["type"])
        perturbation = params["model"].get("perturbation")
        if perturbation is not None:
            assert Perturbation.by_name(perturbation["type"])
        if method is not None:
            assert perturbation["type"] == PERTURBATIONS[method]
        if config.startswith("training_configs/search/"):
            assert params["random_seed"] == params["numpy_seed"] == params["pytorch_seed"] == 7
            assert params["trainer"]["num_epochs"] == 3 and params["trainer"]["cuda_device"] == -1
            assert perturbation["type"] == "none" or perturbation["epsilon"] == 2.5


@pytest.mark.parametrize("dataset, reader, model, min_count", [
    ("imdb", "text_classification", "attention_classifier", 10),
    ("20news", "text_classification", "attention_classifier", 2),
    ("agnews", "text_classification", "attention_classifier", 5),
    ("cnn", "cnn", "attention_pair_classifier", 8),
    ("cnn_sample", "cnn", "attention_pair_classifier", 8),
    ("snli_reduced", "nli", "attention_pair_classifier", None),  # every word kept, as Jain & Wallace's NLI
    ("multinli_reduced", "nli", "attention_pair_classifier", None),
])
def test_new_datasets_have_a_config_per_method_with_the_paper_settings(dataset, reader, model, min_count):
    for method in METHODS:
        params = parsed(f"training_configs/{dataset}_{method}.jsonnet")
        assert params["dataset_reader"]["type"] == reader and params["model"]["type"] == model
        assert params["model"]["perturbation"]["type"] == PERTURBATIONS[method]
        assert params["train_data_path"] == f"data/{dataset}/train.jsonl"
        assert params["test_data_path"] == f"data/{dataset}/test.jsonl"
        assert params.get("vocabulary", {}).get("min_count") == (min_count and {"tokens": min_count})
        embedder = params["model"]["text_field_embedder"]["token_embedders"]["tokens"]
        assert embedder["embedding_dim"] == 300 and embedder["pretrained_file"] is not None
        encoders = [params["model"][key] for key in ("encoder", "passage_encoder", "question_encoder") if key in params["model"]]
        assert encoders and all(e["bidirectional"] and 2 * e["hidden_size"] == 256 for e in encoders)
    if dataset.startswith("cnn"):
        added = params["vocabulary"]["tokens_to_add"]
        assert added["tokens"] == added["labels"] and "@entity0" in added["labels"] and "@entity583" in added["labels"]
