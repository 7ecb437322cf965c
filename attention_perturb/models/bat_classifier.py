from typing import Dict, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder
from allennlp.nn import RegularizerApplicator

from attention_perturb.checks import check_non_negative
from attention_perturb.models.adversarial import EncodedText
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.models.attention_classifier import AttentionClassifier
from attention_perturb.modules.attention import ScoreAttention, masked_attention_weights
from attention_perturb.perturbations import Perturbation

VARIANTS = ("pairwise", "triplet")


def uniform_index(uniform: torch.Tensor, sizes: torch.LongTensor) -> torch.LongTensor:
    """⌊u·n⌋, an index drawn uniformly from {0, …, n − 1} by u uniform in [0, 1), kept below n
    when u·n rounds up to n (or u is 1, as some devices' generators can give); 0 where n is 0."""
    return torch.minimum((uniform * sizes).long(), (sizes - 1).clamp_min(0))


def synonym_perturbation(
    token_ids: torch.LongTensor, mask: torch.BoolTensor, table: torch.LongTensor, generator: Optional[torch.Generator] = None
) -> Tuple[torch.LongTensor, torch.BoolTensor]:
    """
    BAT's oversensitive x̃_o, SAFER-style (BAT §3.1, §A): every word is replaced by a word drawn
    uniformly from its synonym set S_{x_i}, which includes the word itself; `table` rows list the
    synonym ids, left-aligned, padded with 0. Returns x̃_o and whether it differs from x (BAT
    masks the pair out otherwise).
    """
    candidates = table[token_ids]  # (batch, length, K)
    counts = (candidates != 0).sum(-1)
    draw = uniform_index(torch.rand(counts.shape, generator=generator, device=counts.device), counts + 1)
    chosen = candidates.gather(2, (draw - 1).clamp_min(0).unsqueeze(-1)).squeeze(-1)
    replaced = (draw > 0) & mask
    perturbed = torch.where(replaced, chosen, token_ids)
    return perturbed, (perturbed != token_ids).any(1)


def antonym_perturbation(
    token_ids: torch.LongTensor, mask: torch.BoolTensor, table: torch.LongTensor, generator: Optional[torch.Generator] = None
) -> Tuple[torch.LongTensor, torch.BoolTensor]:
    """
    BAT's undersensitive x̃_u (§2.2, "only allowed to perturb one word with its antonym"): one word
    drawn uniformly among those with an antonym, replaced by one of its antonyms drawn uniformly.
    Returns x̃_u and whether the input had any word with an antonym.
    """
    candidates = table[token_ids]
    counts = (candidates != 0).sum(-1) * mask
    has_antonym = counts > 0
    # Uniform over positions with an antonym: the largest random key among them.
    keys = torch.rand(counts.shape, generator=generator, device=counts.device).masked_fill(~has_antonym, -1.0)
    position = keys.argmax(1)
    rows = torch.arange(token_ids.size(0), device=token_ids.device)
    draw = uniform_index(torch.rand(position.shape, generator=generator, device=counts.device), counts[rows, position])
    antonym = candidates[rows, position, draw]
    valid = has_antonym.any(1)
    perturbed = token_ids.clone()
    perturbed[rows[valid], position[valid]] = antonym[valid]
    return perturbed, valid


def cosine_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """d(x_1, x_2) = 1 − cos(r(x_1), r(x_2)) of the sentence representations (BAT §4.1: cosine)."""
    return 1 - torch.nn.functional.cosine_similarity(first, second, dim=-1)


def pairwise_contrastive_loss(
    over_distance: torch.Tensor,
    under_distance: torch.Tensor,
    over_valid: torch.BoolTensor,
    under_valid: torch.BoolTensor,
    over_weight: float = 1.0,
    under_weight: float = 1.0,
    margin: float = 1.0,
) -> torch.Tensor:
    """BAT's L_pair = α·d(x, x̃_o) + β·max(0, m − d(x, x̃_u)), each term averaged over the instances
    that have its example (as the authors' code, `losses.py`: over valid pairs, not the batch,
    so that a batch with few antonym examples does not shrink β), 0 if none has."""
    over = torch.where(over_valid, over_distance, torch.zeros_like(over_distance))
    under = torch.where(under_valid, (margin - under_distance).clamp_min(0), torch.zeros_like(under_distance))
    over_mean = over.sum() / over_valid.sum().clamp_min(1)
    under_mean = under.sum() / under_valid.sum().clamp_min(1)
    return over_weight * over_mean + under_weight * under_mean


def triplet_contrastive_loss(
    over_distance: torch.Tensor,
    under_distance: torch.Tensor,
    over_valid: torch.BoolTensor,
    under_valid: torch.BoolTensor,
    margin: float = 1.0,
) -> torch.Tensor:
    """BAT's L_triplet = max(0, d(x, x̃_o) + (m − d(x, x̃_u))), with d(x, x̃_o) or m − d(x, x̃_u)
    masked out where that example is missing, averaged over the batch."""
    over = torch.where(over_valid, over_distance, torch.zeros_like(over_distance))
    under = torch.where(under_valid, margin - under_distance, torch.zeros_like(under_distance))
    return (over + under).clamp_min(0).mean()


@Model.register("bat_classifier")
class BatClassifier(AttentionClassifier):
    """
    Balanced Adversarial Training (BAT) on the attention classifier: each training batch x is
    paired with a synonym-perturbed x̃_o (oversensitivity, `synonym_perturbation`) and an
    antonym-perturbed x̃_u (undersensitivity, `antonym_perturbation`), both drawn at random from
    WordNet tables without querying the model, as BAT does; a contrastive term on the
    attention-pooled sentence representation h_a (Eq. 4) pulls x̃_o towards x and pushes x̃_u away:

        pairwise:  L = L_ML + α·d(x, x̃_o) + β·max(0, m − d(x, x̃_u))
        triplet:   L = L_ML + λ·max(0, d(x, x̃_o) + m − d(x, x̃_u))

    with d the cosine distance and margin m = 1. L_ML is the classifier's training loss, Eq. 20
    with the configured perturbation (none by default). x, x̃_o and x̃_u run through the encoder
    as one batch. Outside training only x runs. Reports `bat_contrastive_loss`,
    `bat_synonym_distance`, `bat_antonym_distance` (means over valid pairs) and the shares of
    instances with a valid x̃_o / x̃_u (`bat_synonym_valid`, `bat_antonym_valid`) in training.

    # Parameters

    vocab, text_field_embedder, encoder, attention, perturbation, adversarial_weight, positive_label, namespace, label_namespace, regularizer
        As for `attention_classifier`.
    variant : `str`, optional (default = `"triplet"`)
        `"pairwise"` or `"triplet"` (BAT's better one).
    contrastive_weight : `float`, optional (default = `1.0`)
        λ of the triplet loss.
    synonym_weight : `float`, optional (default = `1.0`)
        α of the pairwise loss.
    antonym_weight : `float`, optional (default = `1.0`)
        β of the pairwise loss.
    margin : `float`, optional (default = `1.0`)
        m.
    max_candidates : `int`, optional (default = `8`)
        WordNet synonyms / antonyms per word (in-vocabulary ones, most frequent sense first).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2SeqEncoder,
        attention: ScoreAttention,
        perturbation: Optional[Perturbation] = None,
        adversarial_weight: float = 1.0,
        variant: str = "triplet",
        contrastive_weight: float = 1.0,
        synonym_weight: float = 1.0,
        antonym_weight: float = 1.0,
        margin: float = 1.0,
        max_candidates: int = 8,
        positive_label: str = "positive",
        namespace: str = "tokens",
        label_namespace: str = "labels",
        regularizer: Optional[RegularizerApplicator] = None,
    ) -> None:
        super().__init__(
            vocab, text_field_embedder, encoder, attention, perturbation, adversarial_weight,
            positive_label, namespace, label_namespace, regularizer,
        )
        if variant not in VARIANTS:
            raise ConfigurationError(f"model.variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        for key, value in (("contrastive_weight", contrastive_weight), ("synonym_weight", synonym_weight),
                           ("antonym_weight", antonym_weight), ("margin", margin)):
            check_non_negative(f"model.{key}", value)
        if max_candidates < 1:
            raise ConfigurationError(f"model.max_candidates must be >= 1, got {max_candidates!r}")
        self.variant = variant
        self.contrastive_weight = contrastive_weight
        self.synonym_weight = synonym_weight
        self.antonym_weight = antonym_weight
        self.margin = margin
        self.max_candidates = max_candidates

    def substitution_table(self, kind: str, device: Optional[torch.device] = None) -> torch.LongTensor:
        """(vocab size, max_candidates) in-vocabulary WordNet ids of `kind` (see `wordnet_table`)."""
        return self.wordnet_table(kind, self.max_candidates, device)

    def contrastive_loss(
        self, over_distance: torch.Tensor, under_distance: torch.Tensor, over_valid: torch.BoolTensor, under_valid: torch.BoolTensor
    ) -> torch.Tensor:
        """The configured variant's weighted contrastive term (class docstring)."""
        if self.variant == "pairwise":
            return pairwise_contrastive_loss(
                over_distance, under_distance, over_valid, under_valid, self.synonym_weight, self.antonym_weight, self.margin
            )
        return self.contrastive_weight * triplet_contrastive_loss(
            over_distance, under_distance, over_valid, under_valid, self.margin
        )

    def objective(
        self, embedded: Dict[str, EmbeddedText], label: Optional[torch.LongTensor]
    ) -> Dict[str, torch.Tensor]:
        if label is None or not (self.training and torch.is_grad_enabled()):
            return super().objective(embedded, label)
        text = embedded["tokens"]
        device = text.token_ids.device
        over_ids, over_valid = synonym_perturbation(text.token_ids, text.mask, self.substitution_table("synonym", device))
        under_ids, under_valid = antonym_perturbation(text.token_ids, text.mask, self.substitution_table("antonym", device))
        matrix = self.embedding_matrix()
        batch = text.token_ids.size(0)
        combined = EmbeddedText(
            torch.cat([text.embeddings, matrix[over_ids], matrix[under_ids]]),
            text.mask.repeat(3, 1),
            torch.cat([text.token_ids, over_ids, under_ids]),
        )
        encoded = self.encode({"tokens": combined})
        scores = self.score(encoded)
        # x's own stages, so that Eq. 20's perturbations see x's scores and states alone.
        clean_encoded, clean_scores = EncodedText(encoded.states[:batch], text.mask), scores[:batch]
        clean_logits, clean_attention = self.head(clean_encoded, clean_scores)
        attention = torch.cat([clean_attention, masked_attention_weights(scores[batch:], combined.mask[batch:])])
        # h_a of Eq. 4, the representation the decoder classifies.
        representation, over, under = torch.bmm(attention.unsqueeze(1), encoded.states).squeeze(1).split(batch)
        over_distance, under_distance = cosine_distance(representation, over), cosine_distance(representation, under)
        contrastive = self.contrastive_loss(over_distance, under_distance, over_valid, under_valid)

        clean_loss = self.loss(clean_logits, label)
        output = {"logits": clean_logits, "attention": clean_attention, "attention_scores": clean_scores}
        maximum_likelihood = clean_loss
        if self._perturbation.target is not None:  # Eq. 20 on x, as in attention_classifier
            adversarial_loss, perturbation_norm, clean_term = self.adversarial_loss(
                embedded, clean_encoded, clean_scores, clean_loss, label
            )
            maximum_likelihood = clean_term + self._adversarial_weight * adversarial_loss
            output.update(clean_loss=clean_loss.detach(), adversarial_loss=adversarial_loss.detach(),
                          perturbation_norm=perturbation_norm)
        output["loss"] = maximum_likelihood + contrastive
        self.average_term("bat_contrastive_loss", contrastive.item())
        self.average_term("bat_synonym_valid", over_valid.float().mean().item())
        self.average_term("bat_antonym_valid", under_valid.float().mean().item())
        if over_valid.any():
            self.average_term("bat_synonym_distance", over_distance[over_valid].mean().item())
        if under_valid.any():
            self.average_term("bat_antonym_distance", under_distance[under_valid].mean().item())
        return output
