"""
Greedy WordNet word-substitution attacks on a trained `attention_classifier`:

- `synonym` (oversensitivity, BAT §2.1): PWWS (Ren et al. 2019). Word saliency S_i = P(y|x) −
  P(y|x with word i unknown); for each word the synonym w*_i with the largest drop ΔP*_i of P(y);
  words are substituted greedily in decreasing softmax(S)_i · ΔP*_i (only those with ΔP*_i > 0)
  until the prediction leaves the gold label.
- `antonym` (undersensitivity, BAT §2.2): one word may be replaced by an antonym; words are tried
  in decreasing saliency and the attack succeeds at the first antonym that leaves the (correct)
  prediction unchanged, although the substitution is meant to flip the true label. With
  `antonym_success="higher_confidence"` it must also raise P(y), as in BAT's code, where
  TextAttack's greedy search keeps a swap only if it raises the goal function's score, P(y) while
  the prediction stays (`remain_prediction.py`, hannahxchen/balanced-adversarial-training @ be044a8).

Only correctly classified instances are attacked (the others are `skipped`). Every sentence the
model scores counts as one query, the clean one included; with a budget an instance's attack
stops before it would exceed it. The attacks of many instances run in lockstep, so their queries
are scored in shared batches.
"""
import dataclasses
import functools
import sys
from typing import Callable, Dict, Generator, List, Optional, Sequence, Tuple

import numpy
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, Vocabulary
from allennlp.data.fields import LabelField, TextField
from allennlp.models import Model

from attention_perturb.archives import archive_and_instances
from attention_perturb.errors import SettingError
from attention_perturb.interpret.consistency import InterpretationConsistency
from attention_perturb.interpret.word_importance.gradient_x_input import gradient_times_input
from attention_perturb.models.attention_classifier import AttentionClassifier
from attention_perturb.substitutions.wordnet import KINDS, WordNetSubstitutions, shared_substitutions

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"

# An attack yields the token-id sequences it wants scored and receives their (n, labels) class
# probabilities; it returns its result.
Attack = Generator[List[List[int]], torch.Tensor, "AttackResult"]

# WordNet antonyms: the direct ones only (BAT's code), or also the indirect ones of satellite adjectives.
ANTONYM_RESOURCES = ("direct_and_indirect", "direct")


@dataclasses.dataclass
class AttackResult:
    """One instance's attack. Predictions and label are label-vocabulary indices."""

    token_ids: List[int]
    adversarial_ids: List[int]
    changed_positions: List[int]
    label: int
    original_prediction: int
    adversarial_prediction: int
    queries: int
    status: str
    candidates: int  # substitutable positions
    words: List[str] = dataclasses.field(default_factory=list)
    adversarial_words: List[str] = dataclasses.field(default_factory=list)
    consistency: Dict[str, Optional[float]] = dataclasses.field(default_factory=dict)

    @property
    def words_changed(self) -> int:
        return len(self.changed_positions)

    def to_json(self, vocab: Vocabulary, label_namespace: str) -> Dict:
        def label(index: int) -> str:
            return vocab.get_token_from_index(index, label_namespace)

        return {
            "status": self.status,
            "label": label(self.label),
            "original_prediction": label(self.original_prediction),
            "adversarial_prediction": label(self.adversarial_prediction),
            "tokens": self.words,
            "adversarial_tokens": self.adversarial_words,
            "changed_positions": self.changed_positions,
            "substitutions": [[i, self.words[i], self.adversarial_words[i]] for i in self.changed_positions],
            "queries": self.queries,
            **self.consistency,
        }


@dataclasses.dataclass
class AttackReport:
    """All results of one attack run, with FLAT's interpretation consistency of the pairs."""

    kind: str
    budget: Optional[int]
    results: List[AttackResult]
    consistency: Dict[str, float]
    vocab: Vocabulary
    label_namespace: str = "labels"
    model_queries: int = 0  # sentences the model scored for the attacks, all instances together

    def records(self) -> List[Dict]:
        """One JSON-able record per instance (see `AttackResult.to_json`), with its index."""
        return [
            {"index": index, **result.to_json(self.vocab, self.label_namespace)}
            for index, result in enumerate(self.results)
        ]

    def metrics(self) -> Dict[str, float]:
        """
        `clean_accuracy`; `after_attack_accuracy`, the share of all instances still classified
        correctly (for antonyms: against the flipped label the substitution implies, so a
        successful attack counts as an error); `<kind>_attack_success_rate`, successes over
        attacked (correctly classified) instances, as in BAT; `mean_words_changed` over successes;
        `mean_queries` over attacked instances; counts; and the consistency means.
        """
        total = len(self.results)
        counts = {status: sum(r.status == status for r in self.results) for status in (SUCCEEDED, FAILED, SKIPPED)}
        attacked = [r for r in self.results if r.status != SKIPPED]
        succeeded = [r for r in self.results if r.status == SUCCEEDED]
        return {
            "instances": float(total),
            "clean_accuracy": len(attacked) / total,
            "after_attack_accuracy": (len(attacked) - len(succeeded)) / total,
            f"{self.kind}_attack_success_rate": len(succeeded) / len(attacked) if attacked else 0.0,
            "mean_words_changed": float(numpy.mean([r.words_changed for r in succeeded])) if succeeded else 0.0,
            "mean_queries": float(numpy.mean([r.queries for r in attacked])) if attacked else 0.0,
            "max_queries": float(max((r.queries for r in attacked), default=0)),
            "succeeded": float(counts[SUCCEEDED]),
            "failed": float(counts[FAILED]),
            "skipped": float(counts[SKIPPED]),
            "without_candidates": float(sum(r.candidates == 0 for r in attacked)),
            **self.consistency,
        }


def attackable_model(model: Model, source: str = "model") -> AttentionClassifier:
    """The model itself, or a one-line error saying why the attacks cannot use it."""
    if not isinstance(model, AttentionClassifier):
        raise ConfigurationError(
            f"{source}: the attack needs an attention_classifier model (one attended text); "
            f"this archive holds {type(model).__name__}"
        )
    return model


class ModelQueries:
    """
    Scores token-id sequences with the model in eval mode, `batch_size` at a time, as the
    `tokens` input the model was trained on (one single-id indexer); counts the sequences.
    """

    def __init__(self, model: AttentionClassifier, indexer: str, key: str, batch_size: int = 256) -> None:
        self.model = model
        self.indexer, self.key = indexer, key
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.count = 0

    def tokens(self, sequences: Sequence[Sequence[int]]) -> Dict[str, Dict[str, torch.Tensor]]:
        ids = torch.zeros(len(sequences), max(len(s) for s in sequences), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        return {self.indexer: {self.key: ids.to(self.device)}}

    def __call__(self, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
        self.count += len(sequences)
        if not sequences:
            return torch.zeros(0, self.model.vocab.get_vocab_size(self.model._label_namespace))
        measure_agreement, self.model.measure_agreement = self.model.measure_agreement, False
        try:
            with torch.no_grad():
                probabilities = [
                    self.model(tokens=self.tokens(sequences[start : start + self.batch_size]))["probs"].cpu()
                    for start in range(0, len(sequences), self.batch_size)
                ]
        finally:
            self.model.measure_agreement = measure_agreement
        return torch.cat(probabilities)

    def explanations(self, sequences: Sequence[Sequence[int]], label: int) -> Dict[str, List[List[float]]]:
        """Attention weights and gradient word importance for class `label` of each sequence."""
        tokens = self.tokens(sequences)
        with torch.enable_grad():
            embedded = self.model.embed(tokens)
            output = self.model.objective({"tokens": embedded}, None)
            labels = torch.full((len(sequences),), label, dtype=torch.long, device=self.device)
            (gradient,) = torch.autograd.grad(self.model.loss(output["logits"], labels), embedded.embeddings)
            importance = gradient_times_input(gradient, embedded.embeddings, embedded.mask)
        return {
            "attention": [row[: len(s)] for s, row in zip(sequences, output["attention"].detach().cpu().tolist())],
            "gradient": [row[: len(s)] for s, row in zip(sequences, importance.cpu().tolist())],
        }


def substituted(ids: Sequence[int], position: int, replacement: int) -> List[int]:
    return [replacement if index == position else token for index, token in enumerate(ids)]


def word_saliency(clean: torch.Tensor, masked: torch.Tensor, label: int) -> torch.Tensor:
    """PWWS word saliency S(x, w_i) = P(y|x) − P(y|x̂_i), x̂_i with word i unknown (Ren et al. Eq. 6)."""
    return clean[label] - masked[:, label]


class QueryBudget:
    """The model queries one instance's attack has made, and how many it may still make."""

    def __init__(self, budget: Optional[int]) -> None:
        self.budget, self.used = budget, 0

    def remaining(self) -> int:
        return sys.maxsize if self.budget is None else max(self.budget - self.used, 0)

    def spend(self, requests: List[List[int]]) -> List[List[int]]:
        """Counts `requests`, which must fit in the budget."""
        assert len(requests) <= self.remaining()
        self.used += len(requests)
        return requests


def saliency_ranking(
    ids: List[int], label: int, candidates: List[List[int]], unknown: int, budget: QueryBudget
) -> Generator[List[List[int]], torch.Tensor, Tuple[AttackResult, torch.Tensor, List[int], Dict[int, float]]]:
    """
    The part both attacks share: score x (skip it if misclassified), then the word saliency of each
    position that has candidates (as many as the budget allows, left to right). Returns the result
    to fill in, P(·|x), those positions in decreasing saliency, and their saliencies.
    """
    clean = (yield budget.spend([ids]))[0]
    prediction = int(clean.argmax())
    positions = [i for i, c in enumerate(candidates) if c]
    result = AttackResult(ids, list(ids), [], label, prediction, prediction, budget.used, FAILED, len(positions))
    if prediction != label:
        result.status = SKIPPED
        return result, clean, [], {}
    positions = positions[: budget.remaining()]
    if not positions:
        return result, clean, [], {}
    masked = yield budget.spend([substituted(ids, i, unknown) for i in positions])
    saliency = word_saliency(clean, masked, label)
    ranked = [positions[j] for j in saliency.argsort(descending=True, stable=True).tolist()]
    return result, clean, ranked, dict(zip(positions, saliency.tolist()))


def synonym_attack(
    ids: List[int], label: int, candidates: List[List[int]], unknown: int, budget: Optional[int]
) -> Attack:
    """PWWS (module docstring); `candidates[i]` are the substitute ids allowed at position i."""
    queries = QueryBudget(budget)
    result, clean, ranked, saliency = yield from saliency_ranking(ids, label, candidates, unknown, queries)
    result.queries = queries.used
    if not ranked:
        return result
    requests = [(i, c) for i in ranked for c in candidates[i]][: queries.remaining()]
    scored = yield queries.spend([substituted(ids, i, c) for i, c in requests])
    best: Dict[int, Tuple[float, int, torch.Tensor]] = {}  # position -> (ΔP*, substitute, P(·|x'))
    for (position, substitute), probabilities in zip(requests, scored):
        drop = float(clean[label] - probabilities[label])
        if position not in best or drop > best[position][0]:
            best[position] = (drop, substitute, probabilities)
    # PWWS's order: decreasing softmax(S)_i · ΔP*_i, over the words whose best synonym lowers P(y).
    order = [i for i in best if best[i][0] > 0]
    if order:
        weights = torch.softmax(torch.tensor([saliency[i] for i in order]), 0).tolist()
        order = [i for _, i in sorted(zip([-w * best[i][0] for w, i in zip(weights, order)], order))]
    current, probabilities = list(ids), clean
    for step, position in enumerate(order):
        if step > 0 and queries.remaining() < 1:
            break
        current = substituted(current, position, best[position][1])
        result.changed_positions.append(position)
        if step == 0:
            probabilities = best[position][2]  # scored above: x with only this word substituted
        else:
            probabilities = (yield queries.spend([current]))[0]
        if int(probabilities.argmax()) != label:
            result.status = SUCCEEDED
            break
    result.adversarial_ids = current
    result.changed_positions.sort()
    result.adversarial_prediction = int(probabilities.argmax())
    result.queries = queries.used
    return result


ANTONYM_SUCCESS = ("unchanged_prediction", "higher_confidence")


def antonym_attack(
    ids: List[int],
    label: int,
    candidates: List[List[int]],
    unknown: int,
    budget: Optional[int],
    success: str = "unchanged_prediction",
) -> Attack:
    """One antonym substitution that keeps the prediction, and with `success="higher_confidence"`
    raises P(y) (module docstring); all antonyms of one position are scored together."""
    queries = QueryBudget(budget)
    result, clean, ranked, _ = yield from saliency_ranking(ids, label, candidates, unknown, queries)
    higher_confidence = success == "higher_confidence"
    for position in ranked:
        antonyms = candidates[position][: queries.remaining()]
        if not antonyms:
            break
        scored = yield queries.spend([substituted(ids, position, a) for a in antonyms])
        for antonym, probabilities in zip(antonyms, scored):
            result.adversarial_ids = substituted(ids, position, antonym)
            result.changed_positions = [position]
            result.adversarial_prediction = int(probabilities.argmax())
            kept = result.adversarial_prediction == result.original_prediction
            if kept and (not higher_confidence or probabilities[label] > clean[label]):
                result.status = SUCCEEDED
                break
        if result.status == SUCCEEDED:
            break
    result.queries = queries.used
    return result


ATTACKS: Dict[str, Callable[..., Attack]] = {"synonym": synonym_attack, "antonym": antonym_attack}


def run_in_lockstep(attacks: List[Attack], queries: ModelQueries) -> List[AttackResult]:
    """Advances every attack to its next request, scores all requests in shared batches, repeats."""
    results: List[Optional[AttackResult]] = [None] * len(attacks)
    requests: Dict[int, List[List[int]]] = {}

    def advance(index: int, value: Optional[torch.Tensor]) -> None:
        try:
            requests[index] = attacks[index].send(value)
        except StopIteration as stop:
            results[index] = stop.value

    for index in range(len(attacks)):
        advance(index, None)
    while requests:
        pending = sorted(requests.items())
        requests.clear()
        scored = queries([sequence for _, request in pending for sequence in request])
        offset = 0
        for index, request in pending:
            advance(index, scored[offset : offset + len(request)])
            offset += len(request)
    return results  # type: ignore[return-value]


def text_field(instance: Instance, source: str) -> TextField:
    field = instance.fields.get("tokens")
    if not isinstance(field, TextField):
        raise ConfigurationError(f"{source}: instances need a `tokens` text field to attack")
    return field


def instance_ids(instance: Instance, vocab: Vocabulary, source: str) -> Dict[str, Dict[str, torch.Tensor]]:
    field = text_field(instance, source)
    field.index(vocab)
    tensors = field.as_tensor(field.get_padding_lengths())
    if len(tensors) != 1 or len(next(iter(tensors.values()))) != 1:
        raise ConfigurationError(f"{source}: the attack needs one single-id token indexer, got {sorted(tensors)}")
    return tensors


def attack_instances(
    model: Model,
    instances: Sequence[Instance],
    kind: str,
    budget: Optional[int] = None,
    substitutions: Optional[WordNetSubstitutions] = None,
    max_candidates: Optional[int] = None,
    batch_size: int = 256,
    instances_per_step: int = 64,
    top_k: int = 5,
    source: str = "model",
    antonym_success: str = "unchanged_prediction",
) -> AttackReport:
    """
    Attacks every instance (with gold `label`) and measures FLAT's interpretation consistency
    (Kendall τ and top-k intersection of attention and of gradient importance, the latter for
    each class and averaged, as FLAT) between each input and its adversarial example, over the
    instances where at least one word was substituted.

    # Parameters

    model : `Model`, an `attention_classifier`
    instances : `Sequence[Instance]`, from the model's dataset reader
    kind : `str`, `"synonym"` or `"antonym"`
    budget : `int`, optional (default = no limit), model queries per instance
    substitutions : `WordNetSubstitutions`, optional
    max_candidates : `int`, optional (default = all), in-vocabulary substitutes per word
    batch_size : `int`, sequences per forward pass
    instances_per_step : `int`, instances attacked in lockstep
    top_k : `int`, k of the top-k intersection
    source : `str`, names the archive in error messages
    antonym_success : `str`, `"unchanged_prediction"` (BAT §2.2) or `"higher_confidence"` (BAT's code)
    """
    if kind not in KINDS:
        raise ConfigurationError(f"unknown attack kind {kind!r}; expected one of {', '.join(KINDS)}")
    if antonym_success not in ANTONYM_SUCCESS:
        raise ConfigurationError(f"unknown antonym success rule {antonym_success!r}; expected one of {', '.join(ANTONYM_SUCCESS)}")
    if budget is not None and budget < 1:
        raise ConfigurationError(f"the query budget must be >= 1, got {budget}")
    if not instances:
        raise ConfigurationError(f"{source}: no instances to attack")
    model = attackable_model(model, source)
    model.eval()
    substitutions = substitutions or shared_substitutions()
    vocab, namespace = model.vocab, model._namespace
    unknown = vocab.get_token_to_index_vocabulary(namespace).get(vocab._oov_token, 0)

    first = instance_ids(instances[0], vocab, source)
    indexer = next(iter(first))
    queries = ModelQueries(model, indexer, next(iter(first[indexer])), batch_size)

    prepared = []
    for number, instance in enumerate(instances, start=1):
        label_field = instance.fields.get("label")
        if not isinstance(label_field, LabelField):
            raise ConfigurationError(f"{source}: instance {number} has no gold label to attack")
        label_field.index(vocab)
        ids = instance_ids(instance, vocab, source)[indexer]
        ids = next(iter(ids.values())).tolist()
        words = [token.text for token in text_field(instance, source).tokens]
        candidates = []
        for word, own in zip(words, ids):
            allowed = substitutions.in_vocabulary(word, own, kind, vocab, namespace)
            candidates.append(allowed[:max_candidates] if max_candidates is not None else allowed)
        prepared.append((ids, label_field._label_id, candidates))

    attack = functools.partial(antonym_attack, success=antonym_success) if kind == "antonym" else ATTACKS[kind]
    results: List[AttackResult] = []
    for start in range(0, len(prepared), instances_per_step):
        chunk = prepared[start : start + instances_per_step]
        results.extend(run_in_lockstep([attack(ids, label, c, unknown, budget) for ids, label, c in chunk], queries))

    for result, instance in zip(results, instances):
        result.words = [token.text for token in text_field(instance, source).tokens]
        result.adversarial_words = list(result.words)
        for position in result.changed_positions:
            result.adversarial_words[position] = vocab.get_token_from_index(result.adversarial_ids[position], namespace)
    attack_queries = queries.count
    consistency = interpretation_consistency(results, queries, top_k)
    return AttackReport(kind, budget, results, consistency, vocab, model._label_namespace, attack_queries)


def interpretation_consistency(results: List[AttackResult], queries: ModelQueries, top_k: int) -> Dict[str, float]:
    """FLAT's consistency means over the pairs with a substitution; each pair's own scores are
    stored in its result. Gradient importance is taken for every class and averaged over classes
    (FLAT: "on corresponding labels ... the average over all classes"); attention has no class."""
    consistency = InterpretationConsistency(top_k)
    pairs = [result for result in results if result.changed_positions]
    num_labels = queries.model.vocab.get_vocab_size(queries.model._label_namespace)
    for start in range(0, len(pairs), queries.batch_size):
        chunk = pairs[start : start + queries.batch_size]
        per_class = [
            (queries.explanations([r.token_ids for r in chunk], label), queries.explanations([r.adversarial_ids for r in chunk], label))
            for label in range(num_labels)
        ]
        for row, result in enumerate(chunk):
            result.consistency = consistency.pair("attention", per_class[0][0]["attention"][row], per_class[0][1]["attention"][row])
            class_scores = [
                consistency.scores("gradient", original["gradient"][row], adversarial["gradient"][row])
                for original, adversarial in per_class
            ]
            # One value per pair (the mean over classes) enters the run's means, as for attention.
            averaged = {}
            for key in class_scores[0]:
                values = [scores[key] for scores in class_scores if scores[key] is not None]
                averaged[key] = float(numpy.mean(values)) if values else None
            result.consistency.update(consistency.record(averaged))
    return consistency.get_metric()


def attack_file(
    archive_file: str,
    input_file: str,
    kind: str,
    budget: Optional[int] = None,
    max_instances: Optional[int] = None,
    max_candidates: Optional[int] = None,
    top_k: int = 5,
    batch_size: int = 256,
    cuda_device: int = -1,
    antonyms: str = "direct_and_indirect",
    antonym_success: str = "unchanged_prediction",
) -> AttackReport:
    """The attack `kind` of every instance of `input_file` (the first `max_instances`), read with the
    archive's dataset reader, on the archive's model."""
    if antonyms not in ANTONYM_RESOURCES:
        raise SettingError("antonyms", f"expected one of {', '.join(ANTONYM_RESOURCES)}, got {antonyms!r}")
    if kind not in KINDS:
        raise SettingError("kind", f"unknown attack kind {kind!r}; expected one of {', '.join(KINDS)}")
    archive, instances = archive_and_instances(archive_file, input_file, attackable_model, max_instances, cuda_device,
                                               purpose="attack")
    return attack_instances(
        archive.model, instances, kind, budget, max_candidates=max_candidates, batch_size=batch_size,
        top_k=top_k, source=archive_file, antonym_success=antonym_success,
        substitutions=shared_substitutions(indirect_antonyms=antonyms == "direct_and_indirect"),
    )
