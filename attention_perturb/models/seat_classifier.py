import copy
import os
from typing import Callable, Dict, Iterator, Optional

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder
from allennlp.nn import RegularizerApplicator

from attention_perturb.checks import check_non_negative
from attention_perturb.interpret.agreement import top_k_overlap_per_instance, top_k_positions
from attention_perturb.models.adversarial import EncodedText
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.models.attention_classifier import AttentionClassifier
from attention_perturb.modules.attention import ScoreAttention, masked_attention_weights


def prediction_divergence(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """
    D₁ and D₂ of SEAT's Eq. 6, the cross entropy the paper uses ("Binary Cross Entropy loss as D₁
    and D₂"): D(p, q) = −Σ_c q_c log p_c per instance, for (batch, classes) distributions, the
    prediction p first and the distribution it should match q second; averaged over the batch.
    With two classes this is exactly BCE(p₁, q₁).
    """
    return -(target * predicted.clamp_min(torch.finfo(predicted.dtype).tiny).log()).sum(-1).mean()


def top_k_surrogate_loss(vanilla: torch.Tensor, stable: torch.Tensor, mask: torch.BoolTensor, k: int) -> torch.Tensor:
    """
    L_topk of SEAT's Eq. 5, the differentiable surrogate of −V_k:
    1/(2k) (‖w_S − w̃_S‖₁ over S = T_k(w)  +  ‖w̃_S̃ − w_S̃‖₁ over S̃ = T_k(w̃)), per instance with k
    capped at its length, averaged over the batch. The index sets carry no gradient; the values
    of w̃ on them do.
    """
    k_per_instance = mask.sum(1).clamp(max=k).clamp_min(1)
    distance = (vanilla - stable).abs()
    on_vanilla_top = (distance * top_k_positions(vanilla, mask, k)).sum(1)
    on_stable_top = (distance * top_k_positions(stable.detach(), mask, k)).sum(1)
    return ((on_vanilla_top + on_stable_top) / (2 * k_per_instance)).mean()


NORMS = ("linf", "l2")


def check_pgd_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ConfigurationError(f"model.pgd_norm must be one of {', '.join(NORMS)}, got {norm!r}")


def project_to_ball(delta: torch.Tensor, radius: float, norm: str) -> torch.Tensor:
    """arg min_{‖δ‖ ≤ R} ‖δ − δ_p‖ (Algorithm 1, line 7) per instance: for L∞ each entry is clipped
    to [−R, R]; for L2 rows outside the ball are scaled onto its surface."""
    if norm == "linf":
        return delta.clamp(-radius, radius)
    norms = delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
    return delta * (radius / norms.clamp_min(radius))


def projected_gradient_ascent(
    objective: Callable[[torch.Tensor], torch.Tensor],
    shape: torch.Size,
    mask: torch.BoolTensor,
    radius: float,
    steps: int,
    step_size: float,
    norm: str,
    start: Optional[torch.Tensor] = None,
    project: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> Iterator[torch.Tensor]:
    """
    The inner maximisation of SEAT's Eq. 6 (Algorithm 1, lines 3-8): yields δ_1^* … δ_P^*,
    starting from δ_0 = `start` (default 0). Each step ascends `objective(δ)` (a sum of per-instance terms, so each
    instance's δ follows its own gradient) by `step_size` along the steepest-ascent direction of
    the norm (sign(∇) for L∞, ∇/‖∇‖₂ for L2, as in Madry et al.'s PGD that the paper follows), then
    projects onto the ball ‖δ‖ ≤ R (or applies `project`, which replaces that projection). δ is
    zero at padding. Every yielded δ is detached.
    """
    check_pgd_norm(norm)
    delta = torch.zeros(shape, device=mask.device) if start is None else start.detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        (gradient,) = torch.autograd.grad(objective(delta), delta)
        gradient = gradient * mask
        if norm == "linf":
            step = gradient.sign()
        else:
            norms = gradient.flatten(1).norm(dim=1).view(-1, *([1] * (gradient.dim() - 1)))
            step = gradient / norms.clamp_min(torch.finfo(gradient.dtype).tiny)  # a zero gradient stays 0
        stepped = delta.detach() + step_size * step
        delta = project_to_ball(stepped, radius, norm) if project is None else project(stepped)
        yield delta


@Model.register("seat_classifier")
class SeatClassifier(AttentionClassifier):
    """
    SEAT (Hu et al., AAAI 2023): a stable and explainable attention w̃ learned on top of a trained
    vanilla `attention_classifier`. Everything of the vanilla model is kept and frozen (embeddings,
    encoder states h, decoder θ: "we still follow the original model except for the procedure to
    produce w̃"); only the attention scorer that produces w̃ is trained, starting from the vanilla
    one, by Eq. 6:

        D₁(y(x, w̃), y(x, w)) + λ₁ · max_{‖δ‖ ≤ R} D₂(y(x, w̃), y(x, w̃ + δ)) + λ₂ · L_topk(w, w̃)

    with the inner max solved by projected gradient ascent on δ (Algorithm 1). Only the attention
    head is re-run for D₂ and the PGD steps; the frozen encoder runs once per batch without a
    graph. The vanilla scorer is kept as a frozen copy inside the model, so a trained SEAT archive
    loads without the vanilla archive.

    Besides the classifier's metrics it reports `seat_d1` (D₁) and `seat_topk_overlap` (V_k of
    Definition 1, the true overlap of top-k sets with the vanilla attention) on every batch, and
    `seat_d2` and `seat_topk_loss` during training.

    # Parameters

    vocab, text_field_embedder, encoder, attention, positive_label, namespace, label_namespace, regularizer
        As for `attention_classifier`: the vanilla model's architecture.
    vanilla_archive : `str`, optional (default = `None`)
        The trained vanilla `attention_classifier` archive; its weights are copied in. Required for
        training; left out (automatically) when a trained SEAT archive is loaded.
    top_k : `int`, optional (default = `7`)
        k of the top-k overlap (Definition 1, Eq. 5).
    radius : `float`, optional (default = `0.001`)
        R, the radius of the attention perturbation δ.
    pgd_norm : `str`, optional (default = `"linf"`)
        The norm of the ball ‖δ‖ ≤ R: `"linf"` or `"l2"`.
    pgd_steps : `int`, optional (default = `10`)
        P, the projected gradient ascent steps per batch.
    pgd_step_size : `float`, optional (default = `None`)
        α_p, the length of each ascent step; `None` is 2·R/P.
    stability_weight : `float`, optional (default = `1.0`)
        λ₁.
    top_k_weight : `float`, optional (default = `1000.0`)
        λ₂.

    The paper's text gives no values; the defaults (k, R, λ₁, λ₂, the L∞ ball, α = 2R/P) are
    those of the authors' released SST command and code.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2SeqEncoder,
        attention: ScoreAttention,
        vanilla_archive: Optional[str] = None,
        top_k: int = 7,
        radius: float = 0.001,
        pgd_norm: str = "linf",
        pgd_steps: int = 10,
        pgd_step_size: Optional[float] = None,
        stability_weight: float = 1.0,
        top_k_weight: float = 1000.0,
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
        for key, value, minimum in (("top_k", top_k, 1), ("pgd_steps", pgd_steps, 0)):
            if not isinstance(value, int) or value < minimum:
                raise ConfigurationError(f"model.{key} must be an integer >= {minimum}, got {value!r}")
        for key, value in (("radius", radius), ("stability_weight", stability_weight),
                           ("top_k_weight", top_k_weight), ("pgd_step_size", pgd_step_size)):
            if value is not None:
                check_non_negative(f"model.{key}", value)
        check_pgd_norm(pgd_norm)
        self.top_k = top_k
        self.radius = radius
        self.pgd_norm = pgd_norm
        self.pgd_steps = pgd_steps
        self.pgd_step_size = pgd_step_size if pgd_step_size is not None else 2 * radius / max(pgd_steps, 1)
        self.stability_weight = stability_weight
        self.top_k_weight = top_k_weight
        self._vanilla_attention = copy.deepcopy(attention)
        # Saved with the weights, so a trained SEAT archive (loaded without the vanilla archive) can
        # still be trained on, while a model built without any vanilla weights cannot.
        self.register_buffer("_from_vanilla", torch.tensor(False))
        if vanilla_archive is not None:
            self._copy_vanilla(vanilla_archive)
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(name.startswith("_attention."))

    def _copy_vanilla(self, archive_path: str) -> None:
        from attention_perturb.archives import load_model_archive

        if "://" not in archive_path and not os.path.exists(archive_path):
            raise ConfigurationError(f"model.vanilla_archive: {archive_path} does not exist; train the vanilla model first")
        vanilla = load_model_archive(archive_path).model
        if not isinstance(vanilla, AttentionClassifier):
            raise ConfigurationError(
                f"model.vanilla_archive: {archive_path} holds a {type(vanilla).__name__}, not an attention_classifier"
            )
        for namespace in (self._namespace, self._label_namespace):
            if vanilla.vocab.get_index_to_token_vocabulary(namespace) != self.vocab.get_index_to_token_vocabulary(namespace):
                raise ConfigurationError(
                    f"model.vanilla_archive: the {namespace!r} vocabulary of {archive_path} differs from the one "
                    "built from this config's data; train SEAT on the vanilla model's training data"
                )
        state = vanilla.state_dict()
        state.update({f"_vanilla_attention.{key}": value for key, value in vanilla._attention.state_dict().items()})
        state["_from_vanilla"] = torch.tensor(True)
        try:
            self.load_state_dict(state)
        except RuntimeError as error:
            raise ConfigurationError(
                f"model.vanilla_archive: {archive_path} does not match this architecture: {error}"
            ) from error

    @classmethod
    def _load(cls, config: Params, serialization_dir, weights_file=None, cuda_device: int = -1) -> Model:
        # A trained SEAT model's weights hold the frozen vanilla scorer: no need for its archive.
        config = config.duplicate()
        config["model"].pop("vanilla_archive", None)
        return super()._load(config, serialization_dir, weights_file, cuda_device)

    def embed(self, text: TextFieldTensors) -> EmbeddedText:
        embedded = super().embed(text)
        if not self.training and torch.is_grad_enabled() and not embedded.embeddings.requires_grad:
            # The embedder is frozen; gradient saliency in evaluation still needs ∂L/∂e.
            embedded = embedded._replace(embeddings=embedded.embeddings.detach().requires_grad_())
        return embedded

    def stability_divergence(self, encoded: EncodedText, attention: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """D₂(y(x, w̃), y(x, w̃ + δ)) of Eq. 6, re-running only the decoder."""
        return prediction_divergence(
            self.probabilities(self.decode(encoded, attention)),
            self.probabilities(self.decode(encoded, attention + delta)),
        )

    def worst_attention_perturbation(self, encoded: EncodedText, attention: torch.Tensor) -> torch.Tensor:
        """δ* ≈ arg max_{‖δ‖ ≤ R} D₂(y(x, w̃), y(x, w̃ + δ)) for each instance (Algorithm 1, lines
        3-8), with w̃ held fixed."""
        attention = attention.detach()
        batch = attention.size(0)
        delta = torch.zeros_like(attention)
        # D₂ summed over the batch, so each instance's δ ascends its own divergence.
        for delta in projected_gradient_ascent(
            lambda delta: batch * self.stability_divergence(encoded, attention, delta),
            attention.shape, encoded.mask, self.radius, self.pgd_steps, self.pgd_step_size, self.pgd_norm,
        ):
            pass
        return delta

    def objective(
        self, embedded: Dict[str, EmbeddedText], label: Optional[torch.LongTensor]
    ) -> Dict[str, torch.Tensor]:
        """
        Eq. 6 in training; the task loss against the label otherwise (so validation and
        `allennlp evaluate` losses compare with the other methods').
        """
        encoded, _, output = self.clean_forward(embedded)
        logits, attention = output["logits"], output["attention"]
        with torch.no_grad():
            vanilla_attention = masked_attention_weights(self._vanilla_attention.scores(encoded.states), encoded.mask)
            vanilla_probabilities = self.probabilities(self.decode(encoded, vanilla_attention))
        closeness = prediction_divergence(self.probabilities(logits), vanilla_probabilities)
        self.average_term("seat_d1", closeness.item())
        for value in top_k_overlap_per_instance(attention.detach(), vanilla_attention, encoded.mask, self.top_k, short_texts="capped").tolist():
            self.average_term("seat_topk_overlap", value)
        if self.training and torch.is_grad_enabled():
            if not self._from_vanilla:
                raise ConfigurationError("model.vanilla_archive is required to train a seat_classifier")
            delta = self.worst_attention_perturbation(encoded, attention)
            stability = self.stability_divergence(encoded, attention, delta)
            top_k_loss = top_k_surrogate_loss(vanilla_attention, attention, encoded.mask, self.top_k)
            output["loss"] = closeness + self.stability_weight * stability + self.top_k_weight * top_k_loss
            output["perturbation_norm"] = delta.flatten(1).norm(dim=1).mean().detach()
            self.average_term("seat_d2", stability.item())
            self.average_term("seat_topk_loss", top_k_loss.item())
        elif label is not None:
            output["loss"] = self.loss(logits, label)
        return output
