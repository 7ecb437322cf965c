"""`allennlp stability` end to end, through allennlp's own entry point (tests/cli.py)."""
import argparse
import functools
import json
import random

import numpy
import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from scipy.spatial.distance import jensenshannon

from attention_perturb.errors import EmptyDatasetError, SettingError
from attention_perturb.robustness.stability import stability_file
from attention_perturb.data.dataset_readers.sst import SstTreesReader
from attention_perturb.substitutions.wordnet import WordNetSubstitutions

from tests.archives import archive_without_attention, second_seed_archive, vanilla_archive  # noqa: F401
from tests.cli import in_process

DATA = "fixtures/sst/test.txt"


def stability(*args):
    return in_process("stability", *args, check=False)


def test_stability_end_to_end(tmp_path, vanilla_archive, second_seed_archive):  # noqa: F811
    output = tmp_path / "stability.json"
    result = stability(vanilla_archive, DATA, "--second-archive", second_seed_archive, "--noise-std", "0.1",
                       "--top-k", "3", "--output-file", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert output.read_text() == json.dumps(report, indent=2) + "\n" == result.stdout  # indented, as printed
    assert report["instances"] == 12
    # Every option reached the measures: the same call in this process gives the same report.
    expected = stability_file(vanilla_archive, DATA, second_archive=second_seed_archive, noise_std=0.1, top_k=3)
    assert report == pytest.approx(json.loads(json.dumps(expected)), abs=1e-12)
    assert report != pytest.approx(json.loads(json.dumps(stability_file(vanilla_archive, DATA, second_archive=second_seed_archive))))


def test_archive_without_attention_gives_a_one_line_error_and_no_output(tmp_path, archive_without_attention):  # noqa: F811
    output = tmp_path / "out.json"
    result = stability(archive_without_attention, DATA, "--output-file", str(output))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {archive_without_attention}: stability needs an attention model "
        "(attention_classifier, seat_classifier, flat_classifier); this archive holds a BasicClassifier, which has no attention"
    )
    assert not output.exists()


@pytest.mark.parametrize("problem, message", [
    ("empty data", "empty.txt: nothing to read: it holds no example"),
    ("missing second archive", "second_archive: .*missing.tar.gz does not exist"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, problem, message, vanilla_archive):  # noqa: F811
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises((SettingError, EmptyDatasetError), match=message):
        if problem == "empty data":
            stability_file(vanilla_archive, str(empty))
        else:
            stability_file(vanilla_archive, DATA, second_archive=str(tmp_path / "missing.tar.gz"))


# Each option must reach the measures: the command's parser and `stability_from_args` in this
# process, checked against `expected_measures`, written out independently of the package's code.

def stability_in_process(*args):
    from attention_perturb.commands.stability import Stability, stability_from_args

    parser = argparse.ArgumentParser()
    Stability().add_subparser(parser.add_subparsers())
    return stability_from_args(parser.parse_args(["stability", *args]))


@pytest.fixture(scope="module")
def archive_with_synonyms(tmp_path_factory):
    """The tiny SST classifier with the words of DATA and their WordNet synonyms in its vocabulary
    (so that sentences have several substitutable words), its standardised embeddings trained at a
    high learning rate (so that its attention is far from uniform and moves measurably)."""
    wordnet = WordNetSubstitutions()
    words = sorted({token.text for instance in SstTreesReader().read(DATA) for token in instance["tokens"].tokens})
    synonyms = sorted({synonym for word in words for synonym in wordnet.synonyms(word)[:3]})
    config = Params.from_file("fixtures/sst_tiny.jsonnet", json.dumps({
        "vocabulary": {"tokens_to_add": {"tokens": words + synonyms}},
        "trainer": {"num_epochs": 2, "optimizer": {"lr": 0.02}},
        "model.text_field_embedder.token_embedders.tokens.normalize": True,
        "validation_data_path": None, "test_data_path": None, "evaluate_on_test": False,
    }), ext_vars={"METHOD": "vanilla"})
    directory = tmp_path_factory.mktemp("stability_synonyms")
    train_model(config, str(directory))
    return str(directory / "model.tar.gz")


@functools.lru_cache(maxsize=None)
def loaded(archive_file):
    archive = load_archive(archive_file)
    archive.model.eval().measure_agreement = False
    return archive.model, list(archive.validation_dataset_reader.read(DATA))


def expected_measures(archive_file, noise_std=0.01, synonym_words=1, seed=0, batch_size=64, max_instances=None):
    """SEAT's noise and synonym measures and the accuracy, from the model's own forward: per batch of
    `batch_size`, one N(0, noise_std²) draw of the (batch, length, dim) embeddings from a generator
    seeded with `seed`; per row, `synonym_words` positions drawn with random.Random(seed).sample
    among those whose word has an in-vocabulary WordNet synonym, replaced by the first one."""
    model, instances = loaded(archive_file)
    vocab, instances = model.vocab, instances[:max_instances]
    wordnet, unknown = WordNetSubstitutions(), vocab.get_token_index(vocab._oov_token)
    generator, sampler = torch.Generator().manual_seed(seed), random.Random(seed)
    measures = {name: [] for name in ("noise_jsd", "noise_tvd", "synonym_jsd", "synonym_tvd", "accuracy")}

    def attention_and_probabilities(ids, noise=None):
        embedder = model._text_field_embedder
        hook = embedder.register_forward_hook(lambda module, inputs, output: output + noise) if noise is not None else None
        try:
            with torch.no_grad():
                output = model(tokens={"tokens": {"tokens": ids}})
        finally:
            if hook is not None:
                hook.remove()
        return output["attention"].double().numpy(), output["probs"].double().numpy()

    def first_synonym(token_id):
        if token_id in (0, unknown):
            return None
        synonyms = wordnet.in_vocabulary(vocab.get_token_from_index(token_id), token_id, "synonym", vocab, "tokens")
        return synonyms[0] if synonyms else None

    def add(kind, first, second, lengths):
        for p, q, n in zip(first[0], second[0], lengths):
            measures[f"{kind}_jsd"].append(jensenshannon(p[:n], q[:n]) ** 2)  # natural log, as the package
        measures[f"{kind}_tvd"].extend(numpy.abs(first[1] - second[1]).sum(-1) / 2)

    for start in range(0, len(instances), batch_size):
        batch = Batch(instances[start : start + batch_size])
        batch.index_instances(vocab)
        tensors = batch.as_tensor_dict()
        ids, labels = tensors["tokens"]["tokens"]["tokens"], tensors["label"]
        lengths = (ids > 0).sum(1).tolist()
        clean = attention_and_probabilities(ids)
        measures["accuracy"].extend(clean[1].argmax(-1) == labels.numpy())
        noise = None
        if noise_std > 0:
            noise = noise_std * torch.randn((*ids.shape, model._text_field_embedder.get_output_dim()), generator=generator)
            noise = noise * (ids > 0).unsqueeze(-1)
        add("noise", clean, attention_and_probabilities(ids, noise), lengths)
        perturbed, rows = ids.clone(), []
        for row, sequence in enumerate(ids.tolist()):
            positions = [i for i, token_id in enumerate(sequence) if first_synonym(token_id) is not None]
            for position in sampler.sample(positions, min(synonym_words, len(positions))):
                perturbed[row, position] = first_synonym(sequence[position])
            if positions:
                rows.append(row)
        if rows:
            add("synonym", (clean[0][rows], clean[1][rows]), attention_and_probabilities(perturbed[rows]),
                [lengths[row] for row in rows])
    expected = {name: float(numpy.mean(values)) for name, values in measures.items()}
    expected["synonym_instances"], expected["instances"] = float(len(measures["synonym_jsd"])), float(len(instances))
    return expected


def assert_measures(report, expected):
    """The package computes the JSD in float32: measured within 5e-9 of these float64 values."""
    for name, value in expected.items():
        assert report[name] == pytest.approx(value, rel=1e-4, abs=1e-8), name


def test_noise_std_is_the_noise_of_the_measures(archive_with_synonyms):
    unperturbed = stability_in_process(archive_with_synonyms, DATA, "--noise-std", "0")
    assert unperturbed["noise_jsd"] == 0 and unperturbed["noise_tvd"] == 0  # the default σ (0.01) would move them
    report = stability_in_process(archive_with_synonyms, DATA, "--noise-std", "0.3")
    expected = expected_measures(archive_with_synonyms, noise_std=0.3)
    assert_measures(report, expected)
    assert expected["noise_jsd"] != pytest.approx(expected_measures(archive_with_synonyms)["noise_jsd"], rel=0.1)


def test_max_instances_measures_only_the_first_instances(archive_with_synonyms):
    report = stability_in_process(archive_with_synonyms, DATA, "--max-instances", "3")
    assert report["instances"] == 3
    assert_measures(report, expected_measures(archive_with_synonyms, max_instances=3))


def test_synonym_words_is_the_number_of_words_substituted(archive_with_synonyms):
    report = stability_in_process(archive_with_synonyms, DATA, "--synonym-words", "3")
    expected = expected_measures(archive_with_synonyms, synonym_words=3)
    assert_measures(report, expected)
    assert expected["synonym_jsd"] != pytest.approx(expected_measures(archive_with_synonyms)["synonym_jsd"], rel=1e-3)


def test_the_seed_draws_the_perturbations(archive_with_synonyms):
    first = stability_in_process(archive_with_synonyms, DATA, "--seed", "1", "--noise-std", "0.3")
    assert stability_in_process(archive_with_synonyms, DATA, "--seed", "1", "--noise-std", "0.3") == first
    second = stability_in_process(archive_with_synonyms, DATA, "--seed", "2", "--noise-std", "0.3")
    assert_measures(first, expected_measures(archive_with_synonyms, noise_std=0.3, seed=1))
    assert_measures(second, expected_measures(archive_with_synonyms, noise_std=0.3, seed=2))
    assert first["noise_jsd"] != pytest.approx(second["noise_jsd"], rel=1e-3)


def test_batch_size_groups_the_noise_draws_and_nothing_else(archive_with_synonyms):
    """One noise tensor is drawn per batch, so σ > 0 measures depend on the batch size; the
    others must not."""
    report = stability_in_process(archive_with_synonyms, DATA, "--batch-size", "5", "--noise-std", "0.3")
    expected = expected_measures(archive_with_synonyms, noise_std=0.3, batch_size=5)
    assert_measures(report, expected)
    whole = expected_measures(archive_with_synonyms, noise_std=0.3)
    assert expected["noise_jsd"] != pytest.approx(whole["noise_jsd"], rel=1e-3)
    for name in ("synonym_jsd", "synonym_tvd", "accuracy"):
        assert expected[name] == pytest.approx(whole[name], rel=1e-4), name


def test_pgd_clip_adds_the_clipped_pgd_measures(archive_with_synonyms):
    assert "pgd_clip_tvd" not in stability_in_process(archive_with_synonyms, DATA, "--max-instances", "2")
    clipped = stability_in_process(archive_with_synonyms, DATA, "--max-instances", "2", "--pgd-clip")
    assert {"pgd_clip_jsd", "pgd_clip_tvd"} <= set(clipped)
