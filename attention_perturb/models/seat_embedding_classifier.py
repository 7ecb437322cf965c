from typing import Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder
from allennlp.nn import RegularizerApplicator

from attention_perturb.checks import check_non_negative
from attention_perturb.interpret.word_importance import WordImportance
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.models.attention_classifier import AttentionClassifier
from attention_perturb.interpret.agreement import top_k_overlap_per_instance
from attention_perturb.models.seat_classifier import projected_gradient_ascent, top_k_surrogate_loss
from attention_perturb.modules.attention import ScoreAttention


def total_variation_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Per-instance TVD of two (batch, classes) prediction distributions: ½ Σ_c |p_c − q_c|."""
    return (first - second).abs().sum(-1) / 2


def worst_embedding_perturbation(
    probabilities_at, embeddings: torch.Tensor, mask: torch.BoolTensor, target: torch.Tensor,
    radius: float, steps: int, generator: Optional[torch.Generator] = None, clip_to_unit_interval: bool = False,
) -> torch.Tensor:
    """
    δ of SEAT's attack on the word embeddings, as the authors' code runs it in training and in
    evaluation (kaustpradalab/SEAT @ 6600fd6, `attack.py` `PGDAttacker.perturb`, the `X_PGDer` of
    `train.py:55-58`): L∞ PGD from a uniform random start in [−r, r] (`attack.py:73-78`), `steps`
    sign-gradient ascent steps of 2r / steps (`train.py:15`, `attack.py:97-98`), each clipped back
    to the ball (`attack.py:202-205`), the last iterate returned (`attack.py:115`). It maximises
    the TVD of the prediction `probabilities_at(δ)` (the model at `embeddings` + δ) to `target`
    (`Binary_Classification.py:396-397`, the one-hot gold label, not the clean prediction), summed
    over the batch so that each instance follows its own gradient. δ is zero at padding, and detached.

    With `clip_to_unit_interval`, every iterate is projected as the code's `_clip_` does
    (`attack.py:196-215`), after the random start and after each step: the perturbed embeddings
    x + δ become clamp(x + clip(δ, −r, r), 0, 1), and the next gradient is taken there. The clamp
    is an image-attack leftover: every coordinate of x below 0 (above 1) is moved to 0 (1), so the
    returned δ lies far outside the r-ball wherever x does not lie in [0, 1].
    """
    mask = mask.unsqueeze(-1)
    uniform = torch.rand(embeddings.shape, generator=generator).to(embeddings.device, embeddings.dtype)
    start = (2 * uniform - 1) * radius * mask
    project = None
    if clip_to_unit_interval:
        def project(delta: torch.Tensor) -> torch.Tensor:
            return ((embeddings + delta.clamp(-radius, radius)).clamp(0, 1) - embeddings) * mask

        start = project(start)
    delta = start
    for delta in projected_gradient_ascent(
        lambda delta: total_variation_distance(target, probabilities_at(delta)).sum(),
        embeddings.shape, mask, radius, steps, 2 * radius / max(steps, 1), "linf", start=start, project=project,
    ):
        pass
    return delta.detach()


@Model.register("seat_embedding_classifier")
class SeatEmbeddingClassifier(AttentionClassifier):
    """
    SEAT as its authors' released code trains it (kaustpradalab/SEAT @ 6600fd6, `train.py` with
    `--method ours`; `model/Binary_Classification.py` `train_ours`, lines 386-419 and 529-535),
    which is not the paper's Eq. 6 (that is `seat_classifier`). The code trains the whole model
    from scratch, and its δ perturbs the word embeddings, not the attention weights:

        L(x, y) + λ₁ · L(x + δ*, y) + λ₂ · L_topk(w(x + δ*), w(x)) / k

    with δ* from `worst_embedding_perturbation` (PGD maximising the prediction's TVD to the gold
    label within ‖δ‖∞ ≤ R), L the task loss, w the model's own attention on the clean and the
    perturbed input (both in the graph), and L_topk SEAT's Eq. 5 (`top_k_surrogate_loss`). The
    1/k is the code's: `topk_overlap_loss` divides each position's term by 2k as Eq. 5 does, and
    `.mean()` then averages over the k positions as well as over the batch.

    As in the code (`attack.py:115` returns `adv_x.data`), the perturbed embeddings are constants
    of the graph: the adversarial and top-k terms train the encoder, attention and decoder, not
    the embedding matrix.

    Besides the classifier's metrics it reports, during training, `seat_adversarial_loss`,
    `seat_topk_loss` (L_topk / k, before λ₂) and `seat_topk_overlap` (V_k of SEAT's Definition 1
    between w(x) and w(x + δ*)).

    # Parameters

    vocab, text_field_embedder, encoder, attention, positive_label, namespace, label_namespace,
    regularizer, positive_class_weight, agreement_measures, agreement_top_k, drop_unknown_tokens
        As for `attention_classifier`.
    radius : `float`, optional (default = `0.01`)
        R, the L∞ radius of δ (`--x_pgd_radius 0.01` in the authors' SST command).
    pgd_steps : `int`, optional (default = `10`)
        PGD steps (`--x_pgd_step`, default 10); each step is 2R / steps long.
    adversarial_weight : `float`, optional (default = `1.0`)
        λ₁ (`--lambda_1 1`).
    top_k : `int`, optional (default = `7`)
        k (`--K 7`).
    top_k_weight : `float`, optional (default = `1000.0`)
        λ₂ (`--lambda_2 1000`).
    clip_to_unit_interval : `bool`, optional (default = `False`)
        Clamp every coordinate of the perturbed embeddings to [0, 1] after the random start and
        after each PGD step, as `attack.py:215` does (see `worst_embedding_perturbation`; an
        image-attack leftover: it zeroes every negative coordinate, so the perturbed input is far
        outside the R-ball). Off by default; `lib/seat_as_coded.libsonnet` turns it on.
    loss_summed_over_batch : `bool`, optional (default = `False`)
        The training loss summed over the batch's instances rather than averaged, B times the
        mean, as the code's `(loss_orig * weight).mean(1).sum()` (`Binary_Classification.py:532`),
        where the top-k term, a batch mean, is added to every instance's loss. With Adam this
        changes only the weight of weight decay and of ε against the gradient.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2SeqEncoder,
        attention: ScoreAttention,
        radius: float = 0.01,
        pgd_steps: int = 10,
        adversarial_weight: float = 1.0,
        top_k: int = 7,
        top_k_weight: float = 1000.0,
        clip_to_unit_interval: bool = False,
        loss_summed_over_batch: bool = False,
        positive_label: str = "positive",
        namespace: str = "tokens",
        label_namespace: str = "labels",
        regularizer: Optional[RegularizerApplicator] = None,
        positive_class_weight: Optional[float] = None,
        agreement_measures: Optional[List[WordImportance]] = None,
        agreement_top_k: int = 5,
        drop_unknown_tokens: bool = False,
    ) -> None:
        super().__init__(
            vocab, text_field_embedder, encoder, attention, adversarial_weight=adversarial_weight,
            positive_label=positive_label, namespace=namespace, label_namespace=label_namespace,
            regularizer=regularizer, positive_class_weight=positive_class_weight,
            agreement_measures=agreement_measures, agreement_top_k=agreement_top_k,
            drop_unknown_tokens=drop_unknown_tokens,
        )
        for key, value, minimum in (("top_k", top_k, 1), ("pgd_steps", pgd_steps, 1)):
            if not isinstance(value, int) or value < minimum:
                raise ConfigurationError(f"model.{key} must be an integer >= {minimum}, got {value!r}")
        check_non_negative("model.radius", radius)
        check_non_negative("model.top_k_weight", top_k_weight)
        self.radius = radius
        self.pgd_steps = pgd_steps
        self.top_k = top_k
        self.top_k_weight = top_k_weight
        self.clip_to_unit_interval = clip_to_unit_interval
        self.loss_summed_over_batch = loss_summed_over_batch

    def perturbed_embeddings(self, embedded: Dict[str, EmbeddedText], label: torch.LongTensor) -> torch.Tensor:
        """x + δ* for the attended text, detached (in [0, 1] with `clip_to_unit_interval`)."""
        text = self.attended_text(embedded)
        target = torch.nn.functional.one_hot(label, self._num_labels).to(text.embeddings.dtype)
        clean = text.embeddings.detach()

        def probabilities_at(delta: torch.Tensor) -> torch.Tensor:
            return self.probabilities(self.logits_of(self.with_attended_text(embedded, clean + delta)))

        delta = worst_embedding_perturbation(probabilities_at, clean, text.mask, target, self.radius, self.pgd_steps,
                                             clip_to_unit_interval=self.clip_to_unit_interval)
        return (clean + delta).detach()

    def objective(
        self, embedded: Dict[str, EmbeddedText], label: Optional[torch.LongTensor]
    ) -> Dict[str, torch.Tensor]:
        """The code's SEAT loss in training (see the class); the task loss otherwise."""
        _, _, output = self.clean_forward(embedded)
        logits, attention = output["logits"], output["attention"]
        if label is None:
            return output
        output["loss"] = clean_loss = self.loss(logits, label)
        if self.training and torch.is_grad_enabled():
            text = self.attended_text(embedded)
            perturbed = self.with_attended_text(embedded, self.perturbed_embeddings(embedded, label))
            perturbed_encoded = self.encode(perturbed)
            perturbed_logits, perturbed_attention = self.head(perturbed_encoded, self.score(perturbed_encoded))
            adversarial_loss = self.loss(perturbed_logits, label)
            top_k_loss = top_k_surrogate_loss(perturbed_attention, attention, text.mask, self.top_k) / self.top_k
            output["loss"] = clean_loss + self._adversarial_weight * adversarial_loss + self.top_k_weight * top_k_loss
            if self.loss_summed_over_batch:
                output["loss"] = output["loss"] * label.size(0)
            self.average_term("seat_adversarial_loss", adversarial_loss.item())
            self.average_term("seat_topk_loss", top_k_loss.item())
            for value in top_k_overlap_per_instance(attention.detach(), perturbed_attention.detach(), text.mask, self.top_k, short_texts="capped").tolist():
                self.average_term("seat_topk_overlap", value)
        return output
