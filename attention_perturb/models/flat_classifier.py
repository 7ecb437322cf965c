import math
from typing import Dict, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder
from allennlp.nn import RegularizerApplicator

from attention_perturb.checks import check_non_negative
from attention_perturb.models.adversarial import loss_with_gradients
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.models.attention_classifier import AttentionClassifier
from attention_perturb.modules.attention import ScoreAttention
from attention_perturb.modules.word_masks import VariationalWordMask


def mask_entropy(importance: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    H_q(W | x) of FLAT's L_pred for independent Bernoulli(φ_i) masks, as the mean entropy per
    valid word of the batch, −φ log φ − (1 − φ) log(1 − φ), so β does not scale with sentence
    length. The authors' code (`my_lstm_vmask.py`, `infor_loss`, UVa-NLP/FLAT @ 5094803) means it
    over every slot of a batch padded to 50 tokens, padding included: there, β per real word is
    about β·n̄/50 (≈ 0.4 β on SST-2, n̄ ≈ 19).
    """
    tiny = torch.finfo(importance.dtype).tiny
    entropy = -(importance * importance.clamp_min(tiny).log() + (1 - importance) * (1 - importance).clamp_min(tiny).log())
    return (entropy * mask).sum() / mask.sum().clamp_min(1)


def importance_consistency_loss(
    importance: torch.Tensor, adversarial_importance: torch.Tensor, substituted: torch.BoolTensor
) -> torch.Tensor:
    """FLAT's Eq. 3, L_imp = E_(x,x') Σ_{i: x_i ≠ x'_i} |φ_{x_i} − φ_{x'_i}|: summed over each pair's
    substituted positions, averaged over the pairs of the batch."""
    return ((importance - adversarial_importance).abs() * substituted).sum(1).mean()


def first_order_substitutions(
    token_ids: torch.LongTensor,
    embeddings: torch.Tensor,
    gradient: torch.Tensor,
    embedding_matrix: torch.Tensor,
    table: torch.LongTensor,
    mask: torch.BoolTensor,
    rate: float,
) -> Tuple[torch.LongTensor, torch.BoolTensor]:
    """
    The adversarial x' of an input x from its synonym table: each position's synonym s with the
    largest first-order loss increase (e_s − e_i) · ∂L/∂e_i is a candidate, and the ⌈rate · n⌉
    positions with the largest positive increases are substituted. Returns x' token ids and the
    substituted positions (x_i ≠ x'_i).
    """
    candidates = table[token_ids]  # (batch, length, K), 0 = no candidate
    gains = torch.einsum("btkd,btd->btk", embedding_matrix[candidates] - embeddings.unsqueeze(2), gradient)
    gains = gains.masked_fill((candidates == 0) | ~mask.unsqueeze(-1), -math.inf)
    best_gain, best = gains.max(-1)
    budget = torch.ceil(rate * mask.sum(1).to(gains.dtype)).long()
    order = best_gain.argsort(dim=1, descending=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.size(1), device=order.device).expand_as(order))
    substituted = (rank < budget.unsqueeze(1)) & (best_gain > 0)
    adversarial_ids = torch.where(substituted, candidates.gather(2, best.unsqueeze(-1)).squeeze(-1), token_ids)
    return adversarial_ids, substituted


@Model.register("flat_classifier")
class FlatClassifier(AttentionClassifier):
    """
    FLAT (Chen & Ji, AAAI 2022), feature-level adversarial training, on the attention classifier:
    variational word masks (`VariationalWordMask`) gate the word embeddings before the encoder,
    and each training batch is paired with its adversarial synonym-substituted version x' (WordNet
    synonyms of `attention_perturb.substitutions`, chosen on the fly by `first_order_substitutions`
    against the current model, in place of the paper's offline TextFooler/PWWS rounds). The loss
    is FLAT's Eq. 1-3:

        L_pred + γ·L_imp,   L_pred = L(f(W ⊙ x), y) − β·H(W | x) + L(f(W' ⊙ x'), y) − β·H(W' | x')

    Outside training only the clean input runs, with W = φ. Reports `flat_substituted` (share of
    words substituted), `flat_importance_loss` (L_imp) and `flat_entropy` during training.

    With `word_masks: false` it is FLAT's "-adv" baseline, traditional adversarial training (FLAT's
    Eq. 5, "FLAT degrades to traditional adversarial training when all words are regarded as equal
    important (all mask values are 1), and no constraint is added"): no word masks, every φ = 1,
    and the loss L(f(x), y) + L(f(x'), y) on the same x' as FLAT's (same synonym table, same
    first-order choice, same rate), since the entropy of φ = 1 and L_imp both vanish.

    # Parameters

    vocab, text_field_embedder, encoder, attention, positive_label, namespace, label_namespace, regularizer
        As for `attention_classifier`.
    mask_hidden_dim : `int`, optional (default = `100`)
        Hidden size of the word masks' inference network.
    temperature : `float`, optional (default = `0.5`)
        Gumbel-softmax temperature.
    hard_masks : `bool`, optional (default = `False`)
        Binary word masks in training (straight-through Gumbel-softmax); `False` gates by the
        relaxed sample. `lib/flat.libsonnet` sets the authors' code's 400, 1.0 and binary masks;
        these defaults are the earlier configs', so their archives load unchanged.
    entropy_weight : `float`, optional (default = `0.1`)
        β (the paper's best LSTM setting on SST-2).
    importance_weight : `float`, optional (default = `0.001`)
        γ (idem).
    substitution_rate : `float`, optional (default = `0.25`)
        The share of each sentence's words (rounded up) that x' may substitute.
    max_synonyms : `int`, optional (default = `8`)
        Synonyms considered per word.
    word_masks : `bool`, optional (default = `True`)
        `False`: no word masks (FLAT's "-adv" baseline, above).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2SeqEncoder,
        attention: ScoreAttention,
        mask_hidden_dim: int = 100,
        temperature: float = 0.5,
        hard_masks: bool = False,
        entropy_weight: float = 0.1,
        importance_weight: float = 0.001,
        substitution_rate: float = 0.25,
        max_synonyms: int = 8,
        word_masks: bool = True,
        positive_label: str = "positive",
        namespace: str = "tokens",
        label_namespace: str = "labels",
        regularizer: Optional[RegularizerApplicator] = None,
    ) -> None:
        super().__init__(
            vocab, text_field_embedder, encoder, attention,
            positive_label=positive_label, namespace=namespace, label_namespace=label_namespace,
            regularizer=regularizer,
        )
        if not math.isfinite(temperature) or temperature <= 0:
            raise ConfigurationError(f"model.temperature must be a finite number > 0, got {temperature!r}")
        for key, value in (("entropy_weight", entropy_weight), ("importance_weight", importance_weight)):
            check_non_negative(f"model.{key}", value)
        if not 0 <= substitution_rate <= 1:
            raise ConfigurationError(f"model.substitution_rate must be in [0, 1], got {substitution_rate!r}")
        if max_synonyms < 1:
            raise ConfigurationError(f"model.max_synonyms must be >= 1, got {max_synonyms!r}")
        self._word_mask = VariationalWordMask(
            text_field_embedder.get_output_dim(), mask_hidden_dim, temperature, hard_masks
        ) if word_masks else None
        self.entropy_weight = entropy_weight
        self.importance_weight = importance_weight
        self.substitution_rate = substitution_rate
        self.max_synonyms = max_synonyms

    def synonym_table(self, device: Optional[torch.device] = None) -> torch.LongTensor:
        """(vocab size, max_synonyms) in-vocabulary WordNet synonym ids (see `wordnet_table`)."""
        return self.wordnet_table("synonym", self.max_synonyms, device)

    def masked_forward(self, text: EmbeddedText) -> Dict[str, torch.Tensor]:
        """f(W ⊙ x): the word masks, then the classifier's encode, score and head stages (without
        word masks, f(x) and φ = 1 at every word)."""
        if self._word_mask is None:
            masked, importance = text.embeddings, text.mask.to(text.embeddings.dtype)
        else:
            masked, importance = self._word_mask(text.embeddings, text.mask)
        encoded = self.encode({"tokens": text._replace(embeddings=masked)})
        scores = self.score(encoded)
        logits, attention = self.head(encoded, scores)
        return {"logits": logits, "attention": attention, "attention_scores": scores, "word_importance": importance}

    def adversarial_text(
        self, text: EmbeddedText, clean_loss: torch.Tensor
    ) -> Tuple[EmbeddedText, torch.BoolTensor, torch.Tensor]:
        """
        x' for the batch (see `first_order_substitutions`), embedded as the embed stage would, its
        substituted positions, and a stand-in for the clean loss. ∂L/∂e for choosing the
        substitutes costs a backward pass through the encoder; the same pass yields ∂L/∂θ, so the
        stand-in has L's value and gradient ∂L/∂θ without the trainer's backward traversing the
        clean encoder graph a second time (as Word AT does in `adversarial_loss`).
        """
        parameters = [p for p in self.parameters() if p.requires_grad]
        gradient, *parameter_gradients = torch.autograd.grad(
            clean_loss, [text.embeddings] + parameters, retain_graph=True
        )
        clean_term = loss_with_gradients(clean_loss, parameters, parameter_gradients)
        matrix = self.embedding_matrix()
        with torch.no_grad():
            table = self.synonym_table(text.token_ids.device)
            adversarial_ids, substituted = first_order_substitutions(
                text.token_ids, text.embeddings, gradient, matrix, table, text.mask, self.substitution_rate
            )
        return EmbeddedText(matrix[adversarial_ids], text.mask, adversarial_ids), substituted, clean_term

    def objective(
        self, embedded: Dict[str, EmbeddedText], label: Optional[torch.LongTensor]
    ) -> Dict[str, torch.Tensor]:
        text = embedded["tokens"]
        training = self.training and torch.is_grad_enabled() and label is not None
        if training and not text.embeddings.requires_grad:  # a frozen embedder: x' still needs ∂L/∂e
            text = text._replace(embeddings=text.embeddings.detach().requires_grad_())
        output = self.masked_forward(text)
        if label is None:
            return output
        clean_loss = self.loss(output["logits"], label)
        output["loss"] = clean_loss
        if training:
            adversarial, substituted, clean_term = self.adversarial_text(text, clean_loss)
            adversarial_output = self.masked_forward(adversarial)
            entropy = mask_entropy(output["word_importance"], text.mask)
            adversarial_entropy = mask_entropy(adversarial_output["word_importance"], text.mask)
            prediction_loss = (
                clean_term - self.entropy_weight * entropy
                + self.loss(adversarial_output["logits"], label) - self.entropy_weight * adversarial_entropy
            )
            importance_loss = importance_consistency_loss(
                output["word_importance"], adversarial_output["word_importance"], substituted
            )
            output["loss"] = prediction_loss + self.importance_weight * importance_loss
            self.average_term("flat_substituted", (substituted.sum() / text.mask.sum().clamp_min(1)).item())
            self.average_term("flat_importance_loss", importance_loss.item())
            self.average_term("flat_entropy", entropy.item())
        return output
