"""
SEAT's stability measures (Hu et al. 2023, "Experiments"): how much a model's attention (JSD)
and prediction (TVD) move under (a) SEAT's worst-case (PGD) perturbation of the word embeddings,
as its released code measures Table 1 (`seat_embedding_attack`), (b) Gaussian noise on the word
embeddings, (c) substituting words by WordNet synonyms, (d) retraining with another random seed;
plus ERASER's comprehensiveness and sufficiency of the attention's top-k tokens (`faithfulness`).
"""
import copy
import math
import os
import random
from itertools import islice
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance
from allennlp.data.fields import TextField
from allennlp.models import Model
from allennlp.nn import util

from attention_perturb.archives import archive_and_instances, load_model_archive
from attention_perturb.errors import SettingError
from attention_perturb.models.adversarial import AdversarialAttentionModel
from attention_perturb.models.attention_classifier import AttentionClassifier
from attention_perturb.models.seat_embedding_classifier import total_variation_distance, worst_embedding_perturbation
from attention_perturb.robustness.faithfulness import comprehensiveness_and_sufficiency
from attention_perturb.substitutions.wordnet import WordNetSubstitutions, shared_substitutions, unusable_ids


def jensen_shannon_divergence(first: torch.Tensor, second: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """Per-instance JSD (natural log, so at most ln 2) of two (batch, length) distributions over
    the valid positions: ½ KL(p ‖ m) + ½ KL(q ‖ m) with m = ½ (p + q), in float64. The terms
    p·log(p/m) are first-order in p − q and cancel to a second-order sum, so in float32 the log's
    rounding (~1e-7 per position) swamps JSDs below ~1e-6, such as a stable model's."""
    first, second = first.double() * mask, second.double() * mask
    middle = (first + second) / 2

    def kl_to_middle(values: torch.Tensor) -> torch.Tensor:
        ratio = values / middle.clamp_min(torch.finfo(values.dtype).tiny)
        return torch.where(values > 0, values * ratio.clamp_min(torch.finfo(values.dtype).tiny).log(), 0.0).sum(1)

    return (kl_to_middle(first) + kl_to_middle(second)) / 2


def normalised_entropy(attention: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """H(w) / ln n of each (batch, length) attention distribution over its n valid positions, for
    the instances with n ≥ 2: 1 for uniform weights, 0 for all weight on one word. Beside the JSD
    columns, because near-uniform attention is trivially stable: no perturbation moves it."""
    lengths = mask.sum(1)
    weights = (attention * mask).double()
    entropy = -torch.where(weights > 0, weights * weights.clamp_min(torch.finfo(weights.dtype).tiny).log(), 0.0).sum(1)
    several = lengths >= 2
    return entropy[several] / lengths[several].double().log()


def prediction_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Per-instance TVD ½ Σ_c |p_c − q_c| of two (batch, classes) prediction distributions, in float64."""
    return total_variation_distance(first.double(), second.double())


def in_float64(model: AttentionClassifier) -> AttentionClassifier:
    """A float64 copy of `model`, in eval mode: the stability measures run on it, so that attention
    weights and class probabilities carry float64's 16 digits into the JSD and TVD, and differences
    below float32's resolution (~6e-8 of a weight or probability) are not rounded away. The
    caller's model is left as it was."""
    return copy.deepcopy(model).double().eval()


def attention_model(model: Model, source: str = "model") -> AttentionClassifier:
    """The model itself, or a one-line error: the measures need a model with one attended text."""
    if not isinstance(model, AttentionClassifier):
        why = "attends over a pair of texts (not supported)" if isinstance(model, AdversarialAttentionModel) else "has no attention"
        raise ConfigurationError(
            f"{source}: stability needs an attention model (attention_classifier, seat_classifier, "
            f"flat_classifier); this archive holds a {type(model).__name__}, which {why}"
        )
    return model


class AttentionRunner:
    """Runs a model's stages in eval mode on token ids (0 = padding): attention weights and class
    probabilities, optionally with Gaussian noise added to the word embeddings."""

    def __init__(self, model: AttentionClassifier, indexer: str, key: str) -> None:
        self.model = model
        self.indexer, self.key = indexer, key
        self.device = next(model.parameters()).device

    def __call__(
        self, token_ids: torch.LongTensor, noise_std: float = 0.0, generator: Optional[torch.Generator] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        tokens = {self.indexer: {self.key: token_ids.to(self.device)}}
        with torch.no_grad():
            embedded = self.model.embed(tokens)
            if noise_std > 0:
                noise = torch.randn(embedded.embeddings.shape, generator=generator).to(self.device)
                embedded = embedded._replace(
                    embeddings=embedded.embeddings + noise_std * noise * embedded.mask.unsqueeze(-1)
                )
            output = self.model.objective({"tokens": embedded}, None)
        return output["attention"].cpu(), self.model.probabilities(output["logits"]).cpu()

    def probabilities(self, token_ids: torch.LongTensor) -> torch.Tensor:
        return self(token_ids)[1]

    def embedded(self, token_ids: torch.LongTensor):
        with torch.no_grad():
            return self.model.embed({self.indexer: {self.key: token_ids.to(self.device)}})

    def at_embeddings(self, embedded, delta: torch.Tensor, with_graph: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """Attention weights and class probabilities with `delta` added to the word embeddings."""
        with torch.set_grad_enabled(with_graph):
            output = self.model.objective({"tokens": embedded._replace(embeddings=embedded.embeddings + delta)}, None)
            return output["attention"], self.model.probabilities(output["logits"])


def seat_embedding_attack(
    run: AttentionRunner, token_ids: torch.LongTensor, targets: torch.LongTensor, radius: float, steps: int,
    generator: Optional[torch.Generator] = None, clip_to_unit_interval: bool = False,
) -> torch.Tensor:
    """
    δ of SEAT's evaluation attack on the word embeddings (kaustpradalab/SEAT @ 6600fd6, `X_PGDer`
    called at `model/Binary_Classification.py:277-280` and `:361`): `worst_embedding_perturbation`,
    which maximises the prediction's TVD to the target label, on the model's embeddings of `token_ids`.
    `clip_to_unit_interval` adds the code's clamp of every iterate to [0, 1] (`attack.py:215`, an
    image-attack leftover that zeroes every negative coordinate, so that its perturbation is not
    bounded by r); off, the perturbation stays in the r-ball.
    """
    embedded = run.embedded(token_ids)
    classes = run.model.vocab.get_vocab_size(run.model._label_namespace)
    target = torch.nn.functional.one_hot(targets.to(run.device), classes).to(embedded.embeddings.dtype)
    return worst_embedding_perturbation(
        lambda delta: run.at_embeddings(embedded, delta, with_graph=True)[1],
        embedded.embeddings, embedded.mask, target, radius, steps, generator, clip_to_unit_interval,
    )


def indexed_batches(
    model: AttentionClassifier, instances: Sequence[Instance], batch_size: int, source: str
) -> Tuple[str, str, List[Dict]]:
    """The instances indexed with the model's vocabulary, `batch_size` at a time, as tensor dicts;
    also the name of the single-id indexer and its key."""
    batches = []
    for start in range(0, len(instances), batch_size):
        chunk = list(instances[start : start + batch_size])
        for instance in chunk:
            if not isinstance(instance.fields.get("tokens"), TextField):
                raise ConfigurationError(f"{source}: instances need a `tokens` text field")
        batch = Batch(chunk)
        batch.index_instances(model.vocab)
        batches.append(batch.as_tensor_dict())
    tokens = batches[0]["tokens"]
    if len(tokens) != 1 or len(next(iter(tokens.values()))) != 1:
        raise ConfigurationError(f"{source}: stability needs one single-id token indexer, got {sorted(tokens)}")
    indexer = next(iter(tokens))
    return indexer, next(iter(tokens[indexer])), batches


class SynonymSubstitution:
    """
    SEAT's word perturbation: `words` random positions of a sentence (among those with a
    synonym) replaced by a synonym. The synonym is the word's first in-vocabulary WordNet synonym
    (most frequent sense first), which does not depend on the model, so every method of a
    comparison sees the same perturbed sentences.
    """

    def __init__(self, model: AttentionClassifier, words: int, seed: int, substitutions: Optional[WordNetSubstitutions] = None):
        self.vocab, self.namespace = model.vocab, model._namespace
        self.words = words
        self.random = random.Random(seed)
        self.substitutions = substitutions or shared_substitutions()
        self.excluded = unusable_ids(self.vocab, self.namespace)
        self._synonym: Dict[int, Optional[int]] = {}

    def synonym(self, token_id: int) -> Optional[int]:
        if token_id not in self._synonym:
            found = None
            if token_id not in self.excluded:
                word = self.vocab.get_token_from_index(token_id, self.namespace)
                synonyms = self.substitutions.in_vocabulary(word, token_id, "synonym", self.vocab, self.namespace)
                found = synonyms[0] if synonyms else None
            self._synonym[token_id] = found
        return self._synonym[token_id]

    def __call__(self, token_ids: torch.LongTensor) -> Tuple[torch.LongTensor, torch.BoolTensor]:
        """Perturbed ids, and which rows got at least one substitution."""
        perturbed = token_ids.clone()
        changed = torch.zeros(len(token_ids), dtype=torch.bool)
        for row, ids in enumerate(token_ids.tolist()):
            positions = [i for i, token_id in enumerate(ids) if self.synonym(token_id) is not None]
            for position in self.random.sample(positions, min(self.words, len(positions))):
                perturbed[row, position] = self.synonym(ids[position])
                changed[row] = True
        return perturbed, changed


class MeanAccumulator:
    def __init__(self) -> None:
        self.sums: Dict[str, float] = {}
        self.counts: Dict[str, int] = {}

    def add(self, name: str, values: torch.Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(values.double().sum())
        self.counts[name] = self.counts.get(name, 0) + values.numel()

    def means(self) -> Dict[str, float]:
        return {name: self.sums[name] / self.counts[name] if self.counts[name] else math.nan for name in self.sums}


def stability_report(
    model: Model,
    instances: Sequence[Instance],
    noise_std: float = 0.01,
    synonym_words: int = 1,
    second_model: Optional[Model] = None,
    second_instances: Optional[Sequence[Instance]] = None,
    top_k: int = 5,
    batch_size: int = 64,
    seed: int = 0,
    substitutions: Optional[WordNetSubstitutions] = None,
    source: str = "model",
    pgd_radius: float = 0.01,
    pgd_steps: int = 10,
    pgd_clip: bool = False,
    float64: bool = True,
    second_source: str = "second model",
) -> Dict[str, float]:
    """
    SEAT's stability and ERASER's faithfulness of `model`'s attention on `instances`, as means over
    instances, measured on a float64 copy of the model (`in_float64`; `float64=False` measures the
    model as it is, for tests that compare with it):

    - `pgd_jsd`, `pgd_tvd`: attention JSD and prediction TVD between each input and its word
      embeddings under `seat_embedding_attack` (L∞ radius `pgd_radius`, `pgd_steps` steps; its
      target is the gold label where the instances have one, else the predicted label). SEAT's
      Table 1 (radius: the README's `--x_pgd_radius 0.01`; its caption says 1e-3). The JSD is
      SEAT's (`modelUtils.py:156-172`, natural log, mean over instances). The TVD is ½ Σ_c over both
      classes, |p − p'| for a binary model: SEAT's code takes ½|p − p'| of its one sigmoid output
      (`utlis/metrics.py:12-16`), half of it, and no scale reproduces its table's TVD column;
    - `noise_jsd`, `noise_tvd`: attention JSD and prediction TVD between each input and its
      word embeddings plus N(0, noise_std²) noise (SEAT's embedding perturbation);
    - `synonym_jsd`, `synonym_tvd`: the same with `synonym_words` words replaced by a synonym,
      over the `synonym_instances` inputs that have a substitutable word (SEAT's word perturbation);
    - `seed_jsd`, `seed_tvd`: between `model` and `second_model` (another random seed) on the
      same inputs, when given (`second_instances` read with its own dataset reader);
    - `comprehensiveness`, `sufficiency` of the top-k attended tokens (ERASER);
    - `attention_entropy`: the clean attention's normalised entropy (`normalised_entropy`), which
      tells a stable attention from a uniform one;
    - `accuracy` when the instances have labels; `instances`.

    Noise and substituted positions come from `seed`, so models compared on the same data see
    the same perturbations.
    """
    model = attention_model(model, source)
    if not instances:
        raise ConfigurationError(f"{source}: no instances to measure")
    for setting, value in (("noise_std", noise_std), ("pgd_radius", pgd_radius)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise SettingError(setting, f"must be a finite number >= 0, got {value!r}")
    for setting, value in (("pgd_steps", pgd_steps), ("top_k", top_k), ("synonym_words", synonym_words)):
        if value < 1:
            raise SettingError(setting, f"must be >= 1, got {value}")
    model = in_float64(model) if float64 else model.eval()
    indexer, key, batches = indexed_batches(model, instances, batch_size, source)
    run = AttentionRunner(model, indexer, key)
    second_batches = None
    if second_model is not None:
        second_model = attention_model(second_model, second_source)
        second_model = in_float64(second_model) if float64 else second_model.eval()
        if second_instances is None or len(second_instances) != len(instances):
            raise ConfigurationError(f"{second_source}: its reader gives a different number of instances")
        second_indexer, second_key, second_batches = indexed_batches(second_model, second_instances, batch_size, second_source)
        second_run = AttentionRunner(second_model, second_indexer, second_key)
    substitute = SynonymSubstitution(model, synonym_words, seed, substitutions)
    # One generator per random measure, so that adding or changing one leaves the others' draws alone.
    pgd_generator, noise_generator = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    clipped_generator = torch.Generator().manual_seed(seed)
    means = MeanAccumulator()
    for number, batch in enumerate(batches):
        token_ids = util.get_token_ids_from_text_field_tensors(batch["tokens"]).cpu()
        mask = token_ids > 0
        attention, probabilities = run(token_ids)
        means.add("attention_entropy", normalised_entropy(attention, mask))
        if "label" in batch:
            means.add("accuracy", (probabilities.argmax(-1) == batch["label"].cpu()).float())

        targets = batch["label"].cpu() if "label" in batch else probabilities.argmax(-1)
        delta = seat_embedding_attack(run, token_ids, targets, pgd_radius, pgd_steps, pgd_generator)
        attacked_attention, attacked_probabilities = (
            values.cpu() for values in run.at_embeddings(run.embedded(token_ids), delta)
        )
        means.add("pgd_jsd", jensen_shannon_divergence(attention, attacked_attention, mask))
        means.add("pgd_tvd", prediction_distance(probabilities, attacked_probabilities))
        if pgd_clip:
            clipped = seat_embedding_attack(run, token_ids, targets, pgd_radius, pgd_steps, clipped_generator,
                                            clip_to_unit_interval=True)
            clipped_attention, clipped_probabilities = (
                values.cpu() for values in run.at_embeddings(run.embedded(token_ids), clipped)
            )
            means.add("pgd_clip_jsd", jensen_shannon_divergence(attention, clipped_attention, mask))
            means.add("pgd_clip_tvd", prediction_distance(probabilities, clipped_probabilities))

        noisy_attention, noisy_probabilities = run(token_ids, noise_std, noise_generator)
        means.add("noise_jsd", jensen_shannon_divergence(attention, noisy_attention, mask))
        means.add("noise_tvd", prediction_distance(probabilities, noisy_probabilities))

        perturbed, changed = substitute(token_ids)
        means.add("synonym_jsd", torch.zeros(0))
        means.add("synonym_tvd", torch.zeros(0))
        if changed.any():
            synonym_attention, synonym_probabilities = run(perturbed[changed])
            means.add("synonym_jsd", jensen_shannon_divergence(attention[changed], synonym_attention, mask[changed]))
            means.add("synonym_tvd", prediction_distance(probabilities[changed], synonym_probabilities))

        if second_batches is not None:
            second_ids = util.get_token_ids_from_text_field_tensors(second_batches[number]["tokens"]).cpu()
            if not torch.equal(second_ids > 0, mask):
                raise ConfigurationError(f"{second_source}: its reader tokenizes the data differently")
            second_attention, second_probabilities = second_run(second_ids)
            means.add("seed_jsd", jensen_shannon_divergence(attention, second_attention, mask))
            means.add("seed_tvd", prediction_distance(probabilities, second_probabilities))

        comprehensiveness, sufficiency = comprehensiveness_and_sufficiency(
            run.probabilities, token_ids, mask, attention, probabilities, top_k
        )
        means.add("comprehensiveness", comprehensiveness)
        means.add("sufficiency", sufficiency)
    report = means.means()
    report["synonym_instances"] = float(means.counts["synonym_jsd"])
    report["instances"] = float(len(instances))
    return report


def stability_file(
    archive_file: str,
    input_file: str,
    noise_std: float = 0.01,
    synonym_words: int = 1,
    second_archive: Optional[str] = None,
    top_k: int = 5,
    seed: int = 0,
    max_instances: Optional[int] = None,
    batch_size: int = 64,
    cuda_device: int = -1,
    pgd_radius: float = 0.01,
    pgd_steps: int = 10,
    pgd_clip: bool = False,
) -> Dict[str, float]:
    """`stability_report` of an archive on a data file, read with the archive's dataset reader."""
    if second_archive is not None and not os.path.exists(second_archive):
        raise SettingError("second_archive", f"{second_archive} does not exist")
    archive, instances = archive_and_instances(archive_file, input_file, attention_model, max_instances, cuda_device)
    second_model, second_instances = second_model_and_instances(second_archive, input_file, max_instances, cuda_device)
    return stability_report(
        archive.model, instances, noise_std, synonym_words, second_model, second_instances,
        top_k=top_k, batch_size=batch_size, seed=seed, source=archive_file, pgd_radius=pgd_radius, pgd_steps=pgd_steps,
        pgd_clip=pgd_clip, second_source=second_archive or "second model",
    )


def second_model_and_instances(second_archive: Optional[str], input_file: str, max_instances: Optional[int],
                               cuda_device: int) -> Tuple[Optional[Model], Optional[List[Instance]]]:
    """Another seed's model and the same data read with its own dataset reader, for the seed
    columns; (None, None) without a second archive. Every argument is required: the caller's first
    model is read with the same `max_instances` and put on the same `cuda_device`."""
    if second_archive is None:
        return None, None
    second = load_model_archive(second_archive, cuda_device=cuda_device)
    second_model = attention_model(second.model, second_archive)
    return second_model, list(islice(second.validation_dataset_reader.read(input_file), max_instances))
