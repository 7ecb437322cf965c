import json
import re

import numpy
import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive

from attention_perturb.errors import EmptyDatasetError, SettingError
from attention_perturb.data.dataset_readers.sst import SstTreesReader
from attention_perturb.robustness.attack import (
    FAILED, SKIPPED, SUCCEEDED, ModelQueries, attack_file, attack_instances, attackable_model,
)
from attention_perturb.substitutions import WordNetSubstitutions
from tests.archives import archive_without_attention  # noqa: F401
from tests.cli import in_process, run_cli
from tests.conftest import REPO_ROOT
from tests.devices import on_the_first_gpu
from tests.robustness.unreadable import with_two_indexer_reader, with_two_indexers, with_words_renamed

DATA = "fixtures/sst/train.txt"


@pytest.fixture(scope="module")
def wordnet():
    return WordNetSubstitutions()


def substitutes_of_training_words(wordnet):
    """Some WordNet substitutes of the fixture's words, added to the vocabulary (with random
    embeddings, like every word of the tiny config) so that the attacks have candidates."""
    words = {token.text for instance in SstTreesReader().read(DATA) for token in instance["tokens"].tokens}
    return sorted({s for word in words for kind in ("synonym", "antonym") for s in wordnet.substitutes(word, kind)[:8]})


@pytest.fixture(scope="module")
def archive_file(tmp_path_factory, wordnet):
    """The tiny SST classifier, trained for a few epochs on the training fixture it is attacked on
    (so that most of those instances are classified correctly)."""
    config = Params.from_file(
        str(REPO_ROOT / "fixtures/sst_tiny.jsonnet"),
        json.dumps({
            "vocabulary": {"tokens_to_add": {"tokens": substitutes_of_training_words(wordnet)}},
            "trainer": {"num_epochs": 2, "optimizer": {"lr": 0.02}},
            # Standardised, the 8-d random embeddings learn these 40 sentences in two epochs; raw, they stay near chance.
            "model.text_field_embedder.token_embedders.tokens.normalize": True,
            "validation_data_path": None, "test_data_path": None, "evaluate_on_test": False,
        }),
        ext_vars={"METHOD": "vanilla"},
    )
    directory = tmp_path_factory.mktemp("attacked")
    train_model(config, str(directory))
    return str(directory / "model.tar.gz")


@pytest.fixture(scope="module")
def archive(archive_file):
    return load_archive(archive_file)


@pytest.fixture(scope="module")
def instances(archive):
    return list(archive.dataset_reader.read(DATA))


@pytest.fixture(scope="module")
def reports(archive, instances, wordnet):
    """Unlimited synonym and antonym attacks on the training fixture."""
    return {kind: attack_instances(archive.model, instances, kind, substitutions=wordnet) for kind in ("synonym", "antonym")}


def rescored_predictions(model, sequences):
    queries = ModelQueries(model, "tokens", "tokens")
    return queries(sequences).argmax(-1).tolist()


def check_results(report, model, wordnet, kind):
    vocab = model.vocab
    substitutes = wordnet.synonyms if kind == "synonym" else wordnet.antonyms
    attacked = [r for r in report.results if r.status != SKIPPED]
    # Each result's predictions are what the model says on its original and adversarial text.
    assert [r.original_prediction for r in report.results] == rescored_predictions(model, [r.token_ids for r in report.results])
    assert [r.adversarial_prediction for r in report.results] == rescored_predictions(
        model, [r.adversarial_ids for r in report.results]
    )
    for result in report.results:
        assert len(result.adversarial_ids) == len(result.token_ids) == len(result.words)
        differing = [i for i, (a, b) in enumerate(zip(result.token_ids, result.adversarial_ids)) if a != b]
        assert differing == result.changed_positions
        for position in result.changed_positions:
            new = result.adversarial_words[position]
            assert new == vocab.get_token_from_index(result.adversarial_ids[position], "tokens")
            assert new in substitutes(result.words[position])
            assert result.adversarial_ids[position] not in (0, 1)  # never padding or OOV
        assert [w for i, w in enumerate(result.adversarial_words) if i not in differing] == [
            w for i, w in enumerate(result.words) if i not in differing
        ]
        if result.status == SKIPPED:
            assert result.original_prediction != result.label and not result.changed_positions
    metrics = report.metrics()
    succeeded = [r for r in attacked if r.status == SUCCEEDED]
    assert metrics["after_attack_accuracy"] <= metrics["clean_accuracy"]
    assert metrics["clean_accuracy"] == len(attacked) / len(report.results)
    assert metrics["after_attack_accuracy"] == pytest.approx((len(attacked) - len(succeeded)) / len(report.results))
    assert metrics[f"{kind}_attack_success_rate"] == pytest.approx(len(succeeded) / len(attacked))
    # Every query is counted: the model scored exactly the sentences the results account for.
    assert report.model_queries == sum(r.queries for r in report.results)
    return attacked, succeeded


def test_synonym_attack_flips_predictions_with_wordnet_synonyms_only(archive, instances, wordnet, reports):
    report = reports["synonym"]
    attacked, succeeded = check_results(report, archive.model, wordnet, "synonym")
    assert len(attacked) > len(instances) / 2 and succeeded, report.metrics()
    for result in attacked:
        # Success means the prediction left the gold label; failure that it never did.
        assert (result.adversarial_prediction != result.label) == (result.status == SUCCEEDED)
    assert report.metrics()["after_attack_accuracy"] < report.metrics()["clean_accuracy"]


def test_antonym_attack_changes_one_word_and_keeps_the_prediction(archive, wordnet, reports):
    report = reports["antonym"]
    attacked, succeeded = check_results(report, archive.model, wordnet, "antonym")
    assert succeeded
    for result in succeeded:
        assert result.words_changed == 1
        assert result.adversarial_prediction == result.original_prediction == result.label
    for result in attacked:
        if result.status != SUCCEEDED and result.changed_positions:
            assert result.adversarial_prediction != result.label  # every antonym tried changed it


@pytest.mark.parametrize("success", ["unchanged_prediction", "higher_confidence"])
def test_an_antonym_attack_succeeds_exactly_where_some_antonym_meets_its_rule(archive, instances, wordnet, success):
    """Without a budget every antonym of every word is tried, so an instance's attack succeeds
    exactly where a brute-force search over all of them finds one that keeps the prediction (and
    for BAT's code's rule also raises P(y))."""
    model, vocab = archive.model, archive.model.vocab
    report = attack_instances(model, instances, "antonym", substitutions=wordnet, antonym_success=success)
    queries = ModelQueries(model, "tokens", "tokens")
    statuses = []
    for result in report.results:
        clean = queries([result.token_ids])[0]
        if int(clean.argmax()) != result.label:
            statuses.append(SKIPPED)
            continue
        found = False
        for position, (word, own) in enumerate(zip(result.words, result.token_ids)):
            antonyms = wordnet.in_vocabulary(word, own, "antonym", vocab, "tokens")
            for probabilities in queries([[a if i == position else t for i, t in enumerate(result.token_ids)] for a in antonyms]):
                kept = int(probabilities.argmax()) == result.label
                found |= kept and (success == "unchanged_prediction" or bool(probabilities[result.label] > clean[result.label]))
        statuses.append(SUCCEEDED if found else FAILED)
        if result.status == SUCCEEDED and success == "higher_confidence":
            raised = queries([result.adversarial_ids])[0]
            assert raised[result.label] > clean[result.label]
    assert [r.status for r in report.results] == statuses
    assert statuses.count(SUCCEEDED) > 0 and statuses.count(FAILED) > 0


def test_the_higher_confidence_rule_succeeds_less_often(archive, instances, wordnet, reports):
    strict = attack_instances(archive.model, instances, "antonym", substitutions=wordnet, antonym_success="higher_confidence")
    loose = reports["antonym"]
    # Every strict success is a success of the plain rule, and not the other way round.
    assert all(b.status == SUCCEEDED for a, b in zip(strict.results, loose.results) if a.status == SUCCEEDED)
    assert strict.metrics()["antonym_attack_success_rate"] < loose.metrics()["antonym_attack_success_rate"]
    with pytest.raises(ConfigurationError, match="unknown antonym success rule 'maybe'"):
        attack_instances(archive.model, instances, "antonym", substitutions=wordnet, antonym_success="maybe")


def test_the_batch_size_bounds_each_forward_pass_and_changes_no_result(archive, instances, wordnet, reports):
    model = archive.model.eval()
    rows = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: rows.append(len(kwargs["tokens"]["tokens"]["tokens"])),
                                           with_kwargs=True)
    try:
        report = attack_instances(model, instances[:8], "synonym", substitutions=wordnet, batch_size=3)
    finally:
        hook.remove()
    assert max(rows) == 3
    assert [vars(result) for result in report.results] == [vars(result) for result in reports["synonym"].results[:8]]


@pytest.mark.parametrize("kind", ["synonym", "antonym"])
def test_the_query_budget_is_respected(archive, instances, wordnet, reports, kind):
    assert max(r.queries for r in reports[kind].results) > 6
    report = attack_instances(archive.model, instances, kind, budget=6, substitutions=wordnet)
    check_results(report, archive.model, wordnet, kind)
    assert max(r.queries for r in report.results) == 6
    # One query only scores the clean input: nothing can succeed.
    report = attack_instances(archive.model, instances, kind, budget=1, substitutions=wordnet)
    assert report.model_queries == len(instances) and not any(r.changed_positions for r in report.results)


def test_interpretation_consistency_is_reported_for_each_changed_pair(reports):
    report = reports["synonym"]
    pairs = [r for r in report.results if r.changed_positions]
    assert pairs
    metrics = report.metrics()
    for name in ("attention", "gradient"):
        for measure in ("kendall_tau", "top5_intersection"):
            assert -1 <= metrics[f"{name}_{measure}"] <= 1
    intersections = [r.consistency["attention_top5_intersection"] for r in pairs]
    assert metrics["attention_top5_intersection"] == pytest.approx(sum(intersections) / len(intersections))
    # Gradient importance is averaged over classes per pair first: one value per pair in the run's mean.
    for measure in ("gradient_kendall_tau", "gradient_top5_intersection"):
        values = [r.consistency[measure] for r in pairs if r.consistency[measure] is not None]
        assert metrics[measure] == pytest.approx(sum(values) / len(values))
        assert metrics.get(f"{measure}_skipped", 0) == len(pairs) - len(values)
    assert all(r.consistency == {} for r in report.results if not r.changed_positions)


def test_bad_arguments(archive, instances):
    with pytest.raises(ConfigurationError, match="unknown attack kind 'hyponym'"):
        attack_instances(archive.model, instances, "hyponym")
    with pytest.raises(ConfigurationError, match="query budget must be >= 1"):
        attack_instances(archive.model, instances, "synonym", budget=0)
    with pytest.raises(ConfigurationError, match="no instances to attack"):
        attack_instances(archive.model, [], "synonym")


def test_cli_writes_adversarial_examples_and_metrics(archive_file, tmp_path, wordnet):
    output = tmp_path / "adversarial.jsonl"
    result = in_process("attack", archive_file, DATA, "--kind", "synonym", "--budget", "40", "--output-file", output)
    metrics = json.loads(result.stdout[result.stdout.index("{"):])
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert metrics["instances"] == len(records) == 40
    assert metrics["max_queries"] <= 40
    assert metrics["succeeded"] == sum(r["status"] == SUCCEEDED for r in records) > 0
    for record in records:
        assert record["queries"] <= 40
        assert [i for i, (a, b) in enumerate(zip(record["tokens"], record["adversarial_tokens"])) if a != b] == record[
            "changed_positions"
        ]
        for position, original, substitute in record["substitutions"]:
            assert substitute in wordnet.synonyms(original)
        if record["status"] == SUCCEEDED:
            assert record["adversarial_prediction"] != record["label"]


def test_cli_runs_bats_antonym_protocol(archive, archive_file, instances, monkeypatch, capsys):
    """--antonyms direct --antonym-success higher_confidence: direct WordNet antonyms only, and a
    success must raise P(y), BAT's code's rule; the same numbers as the attack called with those."""
    printed = run_cli(monkeypatch, capsys, "attack", archive_file, DATA, "--kind", "antonym",
                      "--antonyms", "direct", "--antonym-success", "higher_confidence")
    metrics = json.loads(printed[printed.index("{"):])
    direct = WordNetSubstitutions(indirect_antonyms=False)
    expected = attack_instances(archive.model, instances, "antonym", substitutions=direct, antonym_success="higher_confidence")
    assert metrics == pytest.approx(expected.metrics(), abs=1e-6)
    with_indirect = attack_instances(archive.model, instances, "antonym", antonym_success="higher_confidence")
    assert metrics["without_candidates"] > with_indirect.metrics()["without_candidates"]  # fewer words have one


def test_cli_rejects_an_unknown_kind(archive_file, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit:
        run_cli(monkeypatch, capsys, "attack", archive_file, DATA, "--kind", "hyponym")
    assert exit.value.code == 2
    assert "argument --kind: invalid choice: 'hyponym'" in capsys.readouterr().err


def test_cli_rejects_an_empty_data_file(archive_file, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    output = tmp_path / "out.jsonl"
    with pytest.raises(EmptyDatasetError, match=f"{empty}: nothing to read: it holds no example"):
        run_cli(monkeypatch, capsys, "attack", archive_file, str(empty), "--kind", "synonym", "--output-file", str(output), "--traceback")
    assert not output.exists()


def test_cli_rejects_a_model_without_attention(tmp_path, monkeypatch, capsys):
    config = Params({
        "dataset_reader": {"type": "sst_trees"},
        "train_data_path": DATA,
        "model": {
            "type": "basic_classifier",
            "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 4}}},
            "seq2vec_encoder": {"type": "boe", "embedding_dim": 4},
        },
        "data_loader": {"batch_size": 16},
        "trainer": {"num_epochs": 1, "optimizer": "adam", "cuda_device": -1},
    })
    train_model(config, str(tmp_path / "boe"))
    archive = str(tmp_path / "boe" / "model.tar.gz")
    with pytest.raises(ConfigurationError, match="the attack needs an attention_classifier model .* holds BasicClassifier"):
        run_cli(monkeypatch, capsys, "attack", archive, DATA, "--kind", "antonym", "--traceback")


def run_attack(attack, weights, bias):
    """Drives an attack generator with a hand-made model: P(positive | ids) = σ(bias + Σ weights[id])."""
    def score(request):
        positive = torch.sigmoid(torch.tensor([bias + sum(weights[i] for i in ids) for ids in request]))
        return torch.stack([1 - positive, positive], dim=1)

    request = attack.send(None)
    try:
        while True:
            request = attack.send(score(request))
    except StopIteration as stop:
        return stop.value


@pytest.mark.parametrize("substitute_weight, expected_position", [
    # Word 0 is the most salient; its synonym drops P(y) by .493, word 1's by .505. PWWS weighs the
    # drops by softmax(saliency) (.194 vs .169) and swaps word 0, where the largest drop alone would pick word 1.
    (-1.5, 0),
    # Word 0's synonym barely moves P(y): PWWS swaps word 1 first, where saliency alone would pick word 0.
    (1.9, 1),
])
def test_pwws_orders_words_by_softmax_saliency_times_best_probability_drop(substitute_weight, expected_position):
    from attention_perturb.robustness.attack import SUCCEEDED, synonym_attack, word_saliency

    weights = {0: 0.0, 1: 2.0, 2: 1.0, 3: 0.1, 4: substitute_weight, 5: -3.0}  # 0 is the unknown word
    bias, ids, positive = -3.0, [1, 2, 3], 1
    candidates = [[4], [5], []]  # word 2 has no synonym
    result = run_attack(synonym_attack(ids, positive, candidates, 0, None), weights, bias)

    clean = torch.sigmoid(torch.tensor(bias + 3.1))
    masked = torch.sigmoid(torch.tensor([bias + 1.1, bias + 2.1]))
    saliency = word_saliency(torch.stack([1 - clean, clean]), torch.stack([1 - masked, masked], 1), positive)
    torch.testing.assert_close(saliency, clean - masked)
    assert result.status == SUCCEEDED and result.changed_positions == [expected_position]
    assert result.adversarial_ids == ([4, 2, 3], [1, 5, 3])[expected_position]
    # Queries: x, x with each candidate word unknown (2), each synonym (2); the flip was already scored.
    assert result.queries == 5


def attention_and_class_importance(model, ids, label):
    """The model's attention on `ids` alone, and gradient × input importance |∂L(x, label)/∂e_t · e_t|,
    L1-normalised, from the model's forward and torch's autograd."""
    embedded = []

    def keep(module, inputs, output):
        output.retain_grad()
        embedded.append(output)

    hook = model._text_field_embedder.register_forward_hook(keep)
    try:
        output = model(tokens={"tokens": {"tokens": torch.tensor([ids])}}, label=torch.tensor([label]))
        output["loss"].backward()
    finally:
        hook.remove()
    scores = (embedded[0].grad * embedded[0]).sum(-1).abs()[0].detach()
    return output["attention"][0].detach().tolist(), (scores / scores.sum()).tolist()


def top_k_positions(values, k):
    return set(sorted(range(len(values)), key=lambda i: (-values[i], i))[:k])


def test_interpretation_consistency_compares_each_input_with_its_adversarial_example(archive):
    """Hand-built pairs: each attribution of the original text against that of its substituted
    text, by scipy's Kendall τ and the top-k intersection (gradient importance averaged over the
    classes), never an attribution against itself (τ = 1, intersection 1)."""
    from scipy.stats import kendalltau

    from attention_perturb.robustness.attack import FAILED, AttackResult, interpretation_consistency

    model, vocab = archive.model.eval(), archive.model.vocab
    model.measure_agreement = False

    def ids(text):
        return [vocab.get_token_index(word, "tokens") for word in text.split()]

    pairs = [
        ("yet the act is still charming here .", "yet the act is still magic here ."),
        ("part of the charm of satin rouge is that it avoids the obvious with humour and lightness .",
         "part of the appeal of satin rouge is that it avert the obvious with humour and lightness ."),
    ]
    results = []
    for original, adversarial in pairs:
        original, adversarial = ids(original), ids(adversarial)
        assert 1 not in original + adversarial  # every word in the vocabulary
        changed = [i for i, (a, b) in enumerate(zip(original, adversarial)) if a != b]
        results.append(AttackResult(original, adversarial, changed, 1, 1, 1, 0, FAILED, len(changed)))
    metrics = interpretation_consistency(results, ModelQueries(model, "tokens", "tokens"), top_k=3)

    expected = {"attention_kendall_tau": [], "attention_top3_intersection": [],
                "gradient_kendall_tau": [], "gradient_top3_intersection": []}
    for result in results:
        (original_attention, original_gradients), (adversarial_attention, adversarial_gradients) = (
            zip(*[attention_and_class_importance(model, sequence, label) for label in range(2)])
            for sequence in (result.token_ids, result.adversarial_ids)
        )
        pair = {
            "attention_kendall_tau": kendalltau(original_attention[0], adversarial_attention[0]).statistic,
            "attention_top3_intersection": len(top_k_positions(original_attention[0], 3) & top_k_positions(adversarial_attention[0], 3)) / 3,
            "gradient_kendall_tau": numpy.mean([kendalltau(o, a).statistic for o, a in zip(original_gradients, adversarial_gradients)]),
            "gradient_top3_intersection": numpy.mean([
                len(top_k_positions(o, 3) & top_k_positions(a, 3)) / 3 for o, a in zip(original_gradients, adversarial_gradients)
            ]),
        }
        assert pair["attention_kendall_tau"] < 1 and pair["gradient_kendall_tau"] < 1  # the case tells pairs from self-comparisons
        assert result.consistency == pytest.approx(pair, abs=1e-6)
        for name, value in pair.items():
            expected[name].append(value)
    assert metrics == pytest.approx({name: numpy.mean(values) for name, values in expected.items()}, abs=1e-6)


def test_cli_max_instances_max_candidates_and_metrics_file(archive_file, archive, instances, wordnet, tmp_path, monkeypatch, capsys):
    metrics_file, output = tmp_path / "metrics.json", tmp_path / "adversarial.jsonl"
    printed = run_cli(monkeypatch, capsys, "attack", archive_file, DATA, "--kind", "synonym", "--max-instances", "6",
                      "--max-candidates", "1", "--metrics-file", metrics_file, "--output-file", output)
    written = json.loads(metrics_file.read_text())
    assert json.loads(printed[printed.index("{"):]) == written
    # Both are to be read by a person too: indented, the file ending in a newline.
    assert metrics_file.read_text() == json.dumps(written, indent=2) + "\n" and printed.endswith(metrics_file.read_text())
    assert written["instances"] == 6 and len(output.read_text().splitlines()) == 6
    expected = attack_instances(archive.model, instances[:6], "synonym", substitutions=wordnet, max_candidates=1).metrics()
    assert written == pytest.approx(expected, abs=1e-6)
    # All candidates cost more queries: the option is what limits them.
    unlimited = attack_instances(archive.model, instances[:6], "synonym", substitutions=wordnet).metrics()
    assert unlimited["mean_queries"] > written["mean_queries"]
    vocab = archive.model.vocab
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert any(record["substitutions"] for record in records)
    for record in records:
        for position, word, substitute in record["substitutions"]:
            first = wordnet.in_vocabulary(word, vocab.get_token_index(word, "tokens"), "synonym", vocab, "tokens")[0]
            assert substitute == vocab.get_token_from_index(first, "tokens")


def test_attacks_and_the_stability_measure_share_one_process_wide_wordnet_cache(archive, instances):
    """A word's part of speech (lemma counts: a search in WordNet's sense index each) is looked up
    once per process, not once per attack and model."""
    from attention_perturb.robustness.stability import SynonymSubstitution
    from attention_perturb.substitutions.wordnet import shared_substitutions

    shared = shared_substitutions()
    # Other tests in this worker may have filled the process-wide caches already.
    shared.part_of_speech.cache_clear()
    shared._candidates.cache_clear()
    attack_instances(archive.model, instances[:4], "synonym")
    looked_up = shared.part_of_speech.cache_info()
    assert looked_up.currsize > 0
    attack_instances(archive.model, instances[:4], "antonym")  # the same words again: all from the cache
    assert shared.part_of_speech.cache_info().currsize == looked_up.currsize
    assert shared.part_of_speech.cache_info().hits > looked_up.hits
    assert SynonymSubstitution(archive.model, words=1, seed=0).substitutions is shared


def test_records_and_metrics_by_hand():
    from allennlp.data import Vocabulary

    from attention_perturb.robustness.attack import AttackReport, AttackResult

    vocab = Vocabulary({"tokens": {"a": 1, "b": 1, "c": 1}, "labels": {"neg": 2, "pos": 1}})
    succeeded = AttackResult([2, 3, 4], [2, 5, 6], [1, 2], 0, 0, 1, 7, SUCCEEDED, 2, ["a", "b", "c"], ["a", "x", "y"],
                             {"attention_kendall_tau": 0.5})
    failed = AttackResult([2], [2], [], 1, 1, 1, 3, FAILED, 0, ["a"], ["a"])
    skipped = AttackResult([3], [3], [], 0, 1, 1, 1, SKIPPED, 1, ["b"], ["b"])
    report = AttackReport("synonym", None, [succeeded, failed, skipped], {"attention_kendall_tau": 0.5}, vocab)
    assert report.records()[0] == {
        "index": 0, "status": "succeeded", "label": "neg", "original_prediction": "neg", "adversarial_prediction": "pos",
        "tokens": ["a", "b", "c"], "adversarial_tokens": ["a", "x", "y"], "changed_positions": [1, 2],
        "substitutions": [[1, "b", "x"], [2, "c", "y"]], "queries": 7, "attention_kendall_tau": 0.5,
    }
    assert [(r["index"], r["status"], r["label"], r["original_prediction"]) for r in report.records()[1:]] == [
        (1, "failed", "pos", "pos"), (2, "skipped", "neg", "pos")]
    assert report.metrics() == {
        "instances": 3.0, "clean_accuracy": 2 / 3, "after_attack_accuracy": 1 / 3, "synonym_attack_success_rate": 0.5,
        "mean_words_changed": 2.0, "mean_queries": 5.0, "max_queries": 7.0, "succeeded": 1.0, "failed": 1.0,
        "skipped": 1.0, "without_candidates": 1.0, "attention_kendall_tau": 0.5,
    }
    # Nothing attacked (every instance misclassified): rates and means are 0, not undefined.
    nothing = AttackReport("antonym", 5, [skipped], {}, vocab).metrics()
    assert {key: nothing[key] for key in ("antonym_attack_success_rate", "mean_words_changed", "mean_queries", "max_queries")} == {
        "antonym_attack_success_rate": 0.0, "mean_words_changed": 0.0, "mean_queries": 0.0, "max_queries": 0.0}
    unsuccessful = AttackReport("synonym", None, [failed], {}, vocab).metrics()
    assert (unsuccessful["synonym_attack_success_rate"], unsuccessful["mean_words_changed"], unsuccessful["mean_queries"]) == (0.0, 0.0, 3.0)


# Words 1 and 2 (weight 1 each), their synonyms 3 and 4 (weight −1 each), bias 1: P(y = 1) = σ(3) clean,
# σ(1) with one word swapped (the prediction stays), σ(−1) with both (it flips).
TWO_SWAPS = dict(ids=[1, 2], weights={0: 0.0, 1: 1.0, 2: 1.0, 3: -1.0, 4: -1.0}, bias=1.0, candidates=[[3], [4]])


@pytest.mark.parametrize("budget, status, changed, queries", [
    (None, SUCCEEDED, 2, 6),  # x, 2 masked, 2 synonyms, then x with both swapped
    (6, SUCCEEDED, 2, 6),  # one query left at the second swap: it is made
    (5, FAILED, 1, 5),  # none left: the first swap (already scored) is kept, the second is not tried
])
def test_pwws_swaps_words_until_the_prediction_flips_or_the_budget_is_spent(budget, status, changed, queries):
    from attention_perturb.robustness.attack import synonym_attack

    result = run_attack(synonym_attack(TWO_SWAPS["ids"], 1, TWO_SWAPS["candidates"], 0, budget), TWO_SWAPS["weights"], TWO_SWAPS["bias"])
    assert (result.status, result.words_changed, result.queries) == (status, changed, queries)
    assert result.adversarial_ids == [3, 4][:changed] + [1, 2][changed:]
    assert result.adversarial_prediction == (0 if status == SUCCEEDED else 1)


@pytest.mark.parametrize("second_weight, chosen", [(-1.0, 3), (-3.0, 5)])
def test_pwws_takes_the_synonym_with_the_largest_drop_and_the_first_on_a_tie(second_weight, chosen):
    from attention_perturb.robustness.attack import synonym_attack

    weights = {0: 0.0, 1: 1.0, 3: -1.0, 5: second_weight}
    result = run_attack(synonym_attack([1], 1, [[3, 5]], 0, None), weights, 0.5)
    assert result.adversarial_ids == [chosen] and result.status == SUCCEEDED


@pytest.mark.parametrize("synonym_weight", [1.0, 1.5])  # the same P(y), or a higher one
def test_pwws_never_swaps_a_word_whose_best_synonym_does_not_lower_the_probability(synonym_weight):
    """Word 2's synonym lowers P(y) but does not flip it; word 1's leaves P(y) as it is or raises it."""
    from attention_perturb.robustness.attack import synonym_attack

    weights = {0: 0.0, 1: 1.0, 2: 1.0, 3: synonym_weight, 4: 0.5}
    result = run_attack(synonym_attack([1, 2], 1, [[3], [4]], 0, None), weights, 1.0)
    assert result.status == FAILED and result.changed_positions == [1] and result.adversarial_ids == [1, 4]


@pytest.mark.parametrize("success, status", [("unchanged_prediction", SUCCEEDED), ("higher_confidence", FAILED)])
def test_an_antonym_that_leaves_the_probability_as_it_is_is_not_a_higher_confidence(success, status):
    from attention_perturb.robustness.attack import antonym_attack

    weights = {0: 0.0, 1: 1.0, 2: 0.5, 3: 1.0}  # antonym 3 weighs what word 1 does
    result = run_attack(antonym_attack([1, 2], 1, [[3], []], 0, None, success), weights, 0.0)
    assert result.status == status and result.adversarial_ids == [3, 2] and result.queries == 3


def pwws_by_hand(model, instance, candidates):
    """PWWS (Ren et al. 2019) on the real model, one sentence at a time: saliency with each word
    replaced by the unknown token, the synonym of largest P(y) drop per word (the first on a tie),
    words in decreasing softmax(saliency) · drop over those with a positive drop, swapped until the
    prediction leaves the gold label. Returns (status, adversarial ids, queries)."""
    vocab = model.vocab
    unknown = vocab.get_token_index(vocab._oov_token, "tokens")
    ids = [vocab.get_token_index(token.text, "tokens") for token in instance["tokens"].tokens]
    label = vocab.get_token_index(instance["label"].label, "labels")
    queries = 0

    def probability(sequence):
        nonlocal queries
        queries += 1
        with torch.no_grad():
            return model(tokens={"tokens": {"tokens": torch.tensor([sequence])}})["probs"][0].tolist()

    clean = probability(ids)
    if max(range(len(clean)), key=clean.__getitem__) != label:
        return SKIPPED, ids, queries
    positions = [i for i, c in enumerate(candidates) if c]
    saliency = {i: clean[label] - probability(ids[:i] + [unknown] + ids[i + 1:])[label] for i in positions}
    best = {}
    for i in positions:
        for substitute in candidates[i]:
            scored = probability(ids[:i] + [substitute] + ids[i + 1:])
            if i not in best or clean[label] - scored[label] > best[i][0]:
                best[i] = (clean[label] - scored[label], substitute, scored)
    useful = [i for i in best if best[i][0] > 0]
    weights = dict(zip(useful, torch.softmax(torch.tensor([saliency[i] for i in useful]), 0).tolist()))
    current = list(ids)
    for step, i in enumerate(sorted(useful, key=lambda i: (-weights[i] * best[i][0], i))):
        current[i] = best[i][1]
        scored = best[i][2] if step == 0 else probability(current)
        if max(range(len(scored)), key=scored.__getitem__) != label:
            return SUCCEEDED, current, queries
    return FAILED, current, queries


class FixedTable:
    """Substitutes by a fixed rule instead of WordNet's: three vocabulary words for every word, so
    that every position is a candidate and the saliency order decides which are swapped."""

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size

    def in_vocabulary(self, word, own_id, kind, vocab, namespace):
        return [i for i in ((own_id * 7 + 13 * k) % self.vocab_size for k in (1, 2, 3)) if i > 1 and i != own_id]


@pytest.mark.parametrize("table", [False, True])
def test_the_synonym_attack_on_the_real_model_is_pwws_by_hand(table, archive, instances, wordnet):
    model, instances = archive.model.eval(), instances[:16]
    vocab = model.vocab
    substitutions = FixedTable(vocab.get_vocab_size("tokens")) if table else wordnet
    report = attack_instances(model, instances, "synonym", substitutions=substitutions, max_candidates=3)
    for instance, result in zip(instances, report.results):
        candidates = [substitutions.in_vocabulary(token.text, vocab.get_token_index(token.text, "tokens"), "synonym", vocab, "tokens")[:3]
                      for token in instance["tokens"].tokens]
        assert (result.status, result.adversarial_ids, result.queries) == pwws_by_hand(model, instance, candidates)
    if table:  # the order mattered: some attacks swapped several words
        assert max(result.words_changed for result in report.results) >= 2
    else:
        assert {SUCCEEDED, FAILED} <= {result.status for result in report.results}


def test_one_instance_is_enough(archive, instances):
    assert len(attack_instances(archive.model, instances[:1], "antonym").results) == 1


def test_argument_errors_name_the_choices_and_the_source(archive, instances):
    from allennlp.data import Instance

    model = archive.model
    cases = [
        (dict(instances=instances, kind="hyponym"), "unknown attack kind 'hyponym'; expected one of synonym, antonym"),
        (dict(instances=instances, kind="antonym", antonym_success="lower"),
         "unknown antonym success rule 'lower'; expected one of unchanged_prediction, higher_confidence"),
        (dict(instances=[], kind="synonym"), "model: no instances to attack"),
        (dict(instances=[], kind="synonym", source="data.txt"), "data.txt: no instances to attack"),
        (dict(instances=[instances[0], Instance({"tokens": instances[1]["tokens"]})], kind="synonym", source="data.txt"),
         "data.txt: instance 2 has no gold label to attack"),
        (dict(instances=[Instance({"words": instances[0]["tokens"]})], kind="synonym", source="data.txt"),
         "data.txt: instances need a `tokens` text field to attack"),
        (dict(instances=[instances[0], with_words_renamed(instances[1])], kind="synonym", source="data.txt"),
         "data.txt: instances need a `tokens` text field to attack"),
        (dict(instances=[with_two_indexers(instances[0])], kind="synonym", source="data.txt"),
         "data.txt: the attack needs one single-id token indexer, got ['again', 'tokens']"),
    ]
    for arguments, message in cases:
        with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
            attack_instances(model, **arguments)


def test_a_model_without_attention_is_refused_by_its_source(archive_without_attention, instances):  # noqa: F811
    model = load_archive(archive_without_attention).model
    message = "boe.tar.gz: the attack needs an attention_classifier model (one attended text); this archive holds BasicClassifier"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        attack_instances(model, instances, "synonym", source="boe.tar.gz")
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message.replace('boe.tar.gz', 'model'))}$"):
        attackable_model(model)


def test_word_saliency_replaces_each_word_with_the_unknown_token(archive, instances, wordnet):
    """The model's second forward pass of an attack scores x with each candidate word replaced by
    @@UNKNOWN@@ (PWWS's x̂_i), not by padding, which the model would read as the end of the text."""
    model = archive.model.eval()
    vocab = model.vocab
    instance = next(i for i in instances if sum(bool(wordnet.synonyms(t.text)) for t in i["tokens"].tokens) >= 2)
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["tokens"]["tokens"]["tokens"].tolist()),
                                           with_kwargs=True)
    try:
        result = attack_instances(model, [instance], "synonym", substitutions=wordnet).results[0]
    finally:
        hook.remove()
    assert result.status != SKIPPED
    ids = result.token_ids
    unknown = vocab.get_token_index(vocab._oov_token, "tokens")
    positions = [i for i, token in enumerate(instance["tokens"].tokens)
                 if wordnet.in_vocabulary(token.text, ids[i], "synonym", vocab, "tokens")]
    assert len(positions) >= 2
    assert seen[0] == [ids]
    assert seen[1] == [ids[:i] + [unknown] + ids[i + 1:] for i in positions]


def test_the_antonym_attack_tries_the_most_salient_word_first_and_ties_in_order():
    """Every word has an antonym that keeps the prediction: the one tried (and so swapped) is the
    most salient, and among 40 equally salient words the first (a 40-way tie an unstable sort permutes)."""
    from attention_perturb.robustness.attack import antonym_attack

    weights = {0: 0.0, 1: 0.5, 2: 2.0, 3: 0.4, 9: 0.3}  # word 2 is the most salient; 9 is every word's antonym
    result = run_attack(antonym_attack([1, 2, 3], 1, [[9], [9], [9]], 0, None), weights, 0.0)
    assert result.status == SUCCEEDED and result.changed_positions == [1]
    tied = run_attack(antonym_attack([1] * 40, 1, [[9]] * 40, 0, None), weights, 0.0)
    assert tied.status == SUCCEEDED and tied.changed_positions == [0]


def test_queries_of_nothing_have_the_label_columns_and_leave_the_agreement_switch_alone(archive, instances):
    model = archive.model
    queries = ModelQueries(model, "tokens", "tokens")
    assert queries([]).shape == (0, model.vocab.get_vocab_size("labels"))
    for switch in (True, False):
        model.measure_agreement = switch
        attack_instances(model, instances[:2], "antonym")
        assert model.measure_agreement is switch
    model.measure_agreement = True
    # The attack's queries switch the agreement measure off: they add nothing to the model's agreement metric.
    model._agreement.reset()
    attack_instances(model, instances[:4], "synonym")
    assert not model._agreement.measured


def test_the_report_keeps_the_budget(archive, instances):
    assert attack_instances(archive.model, instances[:2], "synonym", budget=40).budget == 40


def test_a_score_undefined_for_every_class_stays_undefined(archive, wordnet):
    """A one-word sentence: Kendall τ of one value is undefined (None) for the attention and for
    every class's gradient importance, so their mean is None too, not NaN."""
    model = archive.model.eval()
    vocab = model.vocab
    word = next(w for w in vocab.get_token_to_index_vocabulary("tokens")
                if wordnet.in_vocabulary(w, vocab.get_token_index(w, "tokens"), "antonym", vocab, "tokens"))
    reader = archive.dataset_reader
    instance = reader.text_to_instance(word, "0")
    reader.apply_token_indexers(instance)
    probabilities = ModelQueries(model, "tokens", "tokens")([[vocab.get_token_index(word, "tokens")]])[0]
    instance.fields["label"].label = vocab.get_token_from_index(int(probabilities.argmax()), "labels")
    result = attack_instances(model, [instance], "antonym", substitutions=wordnet).results[0]
    assert result.changed_positions == [0]
    assert result.consistency["attention_kendall_tau"] is None and result.consistency["gradient_kendall_tau"] is None
    assert result.consistency["gradient_top5_intersection"] == 1.0


def test_substituted_words_are_read_from_the_models_own_namespace(monkeypatch):
    """A model whose words live in a namespace other than allennlp's default `tokens`."""
    from allennlp.common import Params
    from allennlp.data import Vocabulary
    from allennlp.data.token_indexers import SingleIdTokenIndexer
    from allennlp.models import Model

    from attention_perturb.robustness.stability import SynonymSubstitution

    monkeypatch.setenv("METHOD", "vanilla")
    reader = SstTreesReader(token_indexers={"tokens": SingleIdTokenIndexer(namespace="words")})
    instances = list(reader.read(DATA))
    vocab = Vocabulary.from_instances(instances)
    params = Params.from_file("fixtures/sst_tiny.jsonnet").pop("model")
    params["namespace"] = "words"
    params["text_field_embedder"]["token_embedders"]["tokens"]["vocab_namespace"] = "words"
    model = Model.from_params(vocab=vocab, params=params).eval()
    assert vocab.get_vocab_size("tokens") <= 2  # only padding and unknown: the default namespace knows no word
    report = attack_instances(model, instances, "antonym")
    changed = [r for r in report.results if r.changed_positions]
    assert changed
    for result in changed:
        for position in result.changed_positions:
            assert result.adversarial_words[position] == vocab.get_token_from_index(result.adversarial_ids[position], "words")
    substitute = SynonymSubstitution(model, words=1, seed=0)
    word_ids = {word: index for index, word in vocab.get_index_to_token_vocabulary("words").items()}
    pairs = [(word, substitute.synonym(index)) for word, index in word_ids.items() if index > 1]
    assert any(synonym is not None for _, synonym in pairs)
    wordnet = WordNetSubstitutions()
    for word, synonym in pairs:
        if synonym is not None:
            assert vocab.get_token_from_index(synonym, "words") in wordnet.synonyms(word)


def test_attack_file_attacks_the_file_as_the_archive_reads_it_with_the_documented_defaults(archive_file, archive, instances):
    """FLAT's top 5, WordNet's direct and indirect antonyms, BAT §2.2's success rule; then every
    setting passed on to the attack."""
    report = attack_file(archive_file, DATA, "antonym", max_instances=8)
    expected = attack_instances(archive.model, instances[:8], "antonym", top_k=5, antonym_success="unchanged_prediction",
                                substitutions=WordNetSubstitutions(indirect_antonyms=True))
    assert report.metrics() == pytest.approx(expected.metrics(), abs=1e-9) and report.records() == expected.records()
    settings = dict(budget=4, max_candidates=1, top_k=2, batch_size=3)
    report = attack_file(archive_file, DATA, "antonym", max_instances=8, antonyms="direct",
                         antonym_success="higher_confidence", **settings)
    expected = attack_instances(archive.model, instances[:8], "antonym", antonym_success="higher_confidence",
                                substitutions=WordNetSubstitutions(indirect_antonyms=False), **settings)
    assert report.metrics() == pytest.approx(expected.metrics(), abs=1e-9) and report.records() == expected.records()


@pytest.mark.parametrize("arguments, message", [
    (dict(kind="hyponym"), "kind: unknown attack kind 'hyponym'; expected one of synonym, antonym"),
    (dict(kind="antonym", antonyms="indirect"), "antonyms: expected one of direct_and_indirect, direct, got 'indirect'"),
])
def test_attack_files_bad_settings_are_named_by_their_parameter(archive_file, arguments, message):
    with pytest.raises(SettingError) as raised:
        attack_file(archive_file, DATA, **arguments)
    assert str(raised.value) == message and raised.value.setting == message.split(":")[0]


def test_attack_file_names_the_file_without_instances_and_the_archive_its_instances_do_not_suit(archive_file, tmp_path):
    with pytest.raises(EmptyDatasetError, match=f"^{re.escape(DATA)}: no instances to attack$"):
        attack_file(archive_file, DATA, "synonym", max_instances=0)
    unpacked = with_two_indexer_reader(archive_file, tmp_path / "two_indexers")  # the same model, its words indexed twice
    message = f"{unpacked}: the attack needs one single-id token indexer, got ['again', 'tokens']"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        attack_file(str(unpacked), DATA, "synonym", max_instances=2)


def test_attack_file_puts_the_model_on_the_cuda_device(archive_file):
    attacked = on_the_first_gpu(lambda: attack_file(archive_file, DATA, "synonym", max_instances=2, cuda_device=0))
    if attacked:
        assert attacked.metrics()["instances"] == 2
