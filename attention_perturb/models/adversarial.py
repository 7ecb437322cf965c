from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.data import TextFieldTensors
from allennlp.models import Model
from allennlp.modules import TextFieldEmbedder
from allennlp.nn import RegularizerApplicator, util
from allennlp.training.metrics import Average

from attention_perturb.checks import check_non_negative
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.interpret.word_importance import WordImportance
from attention_perturb.models.agreement_evaluation import AgreementEvaluation
from attention_perturb.modules.attention import ScoreAttention
from attention_perturb.modules.unknown_tokens import without_unknown_tokens
from attention_perturb.perturbations import Perturbation
from attention_perturb.perturbations.base import ATTENTION, EMBEDDING
from attention_perturb.perturbations.word_interpretable import EmbeddingRows


class EncodedText(NamedTuple):
    """Encoder states h of the attended sequence, its mask, an optional query and answer
    candidates (pair model)."""

    states: torch.Tensor
    mask: torch.BoolTensor
    query: Optional[torch.Tensor] = None
    answer_candidates: Optional[torch.BoolTensor] = None


def loss_with_gradients(loss: torch.Tensor, tensors, gradients) -> torch.Tensor:
    """
    A stand-in for `loss`: its value, and as gradient w.r.t. each of `tensors` the one already
    computed in `gradients` (None: unused, skipped). When a method's own backward pass through
    the encoder has produced ∂L/∂θ anyway, the trainer's backward then does not traverse L's graph
    a second time.
    """
    surrogate = sum(
        (tensor * gradient.detach()).sum() for tensor, gradient in zip(tensors, gradients) if gradient is not None
    )
    return loss.detach() + (surrogate - surrogate.detach())


class AdversarialAttentionModel(AgreementEvaluation, Model):
    """
    Base of every attention model here. A model is four stages, so that a perturbation can re-enter
    the computation where it acts:

        embed(inputs)          -> {name: EmbeddedText}   Word AT/iAT add δ here, then re-run encode + head
        encode(embedded)       -> EncodedText            states h, mask, query q
        score(encoded)         -> ã                      Attention RP/AT/iAT add δ here, then re-run head
        head(encoded, ã)       -> logits, attention      softmax(ã) pooling + decoder

    `objective` computes the training loss L + λ·L_adv of Eq. 20 for every method, once for all
    models. The gradient for the perturbation is taken with `torch.autograd.grad(...,
    retain_graph=True)`, so parameter gradients are untouched and the clean graph is reused.

    In evaluation it also reports the gradient word importance and its agreement with the
    attention (`AgreementEvaluation`, `models/agreement_evaluation.py`).

    # Parameters

    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
        Shared by every text input; one token embedder with a `weight` matrix (used by Word iAT).
    attention : `ScoreAttention`
    perturbation : `Perturbation`, optional (default = `none`)
    adversarial_weight : `float`, optional (default = `1.0`)
        λ of Eq. 20.
    regularizer : `RegularizerApplicator`, optional
    agreement_measures : `List[WordImportance]`, optional (default = none)
        Further importance measures that evaluation compares with the attention, each adding the
        metrics `pearson_<name>`, `kendall_<name>` and `top<k>_<name>` (see `WordImportance`).
        `pearson`, `kendall` and `top<k>` are always computed, for gradient × input.
    agreement_top_k : `int`, optional (default = `5`)
        k of the top-k overlap agreement.
    drop_unknown_tokens : `bool`, optional (default = `False`)
        Remove out-of-vocabulary tokens from every text before embedding it, as the authors'
        released code does (its tokenizer drops them), instead of embedding them as @@UNKNOWN@@.
        A text of unknown tokens only keeps its first token.
    padded_agreement : `bool`, optional (default = `False`)
        Also report `pearson_padded` (and `pearson_padded_<name>` per further measure): Pearson's r
        over each instance's whole padded row of the batch, zeros of the padding included, as
        `corrcoef` on padded tensors gives. Not an agreement measure: a candidate explanation of the
        paper's Corr. Its value depends on how the batches are padded (the data loader's batch size
        and sorting), which `allennlp evaluate` takes from the config's validation data loader.
    clean_loss_weight : `float`, optional (default = `1.0`)
        The weight of L in Eq. 20's training loss. The authors' released code trains as with 2: its
        inner `backward` for the attention gradient leaves ∇θ L in the parameters, and the trainer's
        `backward` of L + λ·L_adv then adds ∇θ L again. Only where a perturbation trains (vanilla's
        loss is L).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        attention: ScoreAttention,
        perturbation: Optional[Perturbation] = None,
        adversarial_weight: float = 1.0,
        regularizer: Optional[RegularizerApplicator] = None,
        agreement_measures: Optional[List[WordImportance]] = None,
        agreement_top_k: int = 5,
        drop_unknown_tokens: bool = False,
        padded_agreement: bool = False,
        clean_loss_weight: float = 1.0,
    ) -> None:
        super().__init__(vocab, regularizer)
        self._text_field_embedder = text_field_embedder
        check_non_negative("model.adversarial_weight", adversarial_weight)
        self._attention = attention
        self._perturbation = perturbation or Perturbation.by_name("none")()
        if self._perturbation.target not in (None, ATTENTION, EMBEDDING):
            raise ConfigurationError(
                f"model.perturbation: {type(self._perturbation).__name__} adds δ to {self._perturbation.target!r}; "
                f"a model adds it to {ATTENTION!r} or {EMBEDDING!r} (or trains without, None)"
            )
        self._adversarial_weight = adversarial_weight
        self.init_agreement_evaluation(agreement_measures, agreement_top_k, padded_agreement)
        self._drop_unknown_tokens = drop_unknown_tokens
        check_non_negative("model.clean_loss_weight", clean_loss_weight)
        self._clean_loss_weight = clean_loss_weight
        self._term_averages: Dict[str, Average] = {}

    def average_term(self, name: str, value: float) -> None:
        """Adds `value` to the running mean reported as metric `name` (a method's own loss terms)."""
        self._term_averages.setdefault(name, Average())(value)

    def term_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {name: average.get_metric(reset) for name, average in self._term_averages.items()}
        if reset:  # training-only terms must not linger into validation's metrics
            self._term_averages.clear()
        return metrics

    @property
    def perturbation(self) -> Perturbation:
        return self._perturbation

    # The four stages.
    def embed(self, text: TextFieldTensors) -> EmbeddedText:
        if self._drop_unknown_tokens:
            text = without_unknown_tokens(text, self.vocab.get_token_index(self.vocab._oov_token, "tokens"))
        return EmbeddedText(
            self._text_field_embedder(text),
            util.get_text_field_mask(text),
            util.get_token_ids_from_text_field_tensors(text),
        )

    def encode(self, embedded: Dict[str, EmbeddedText]) -> EncodedText:
        raise NotImplementedError

    def score(self, encoded: EncodedText) -> torch.Tensor:
        return self._attention.scores(encoded.states, encoded.query)

    def head(self, encoded: EncodedText, scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, label: torch.LongTensor) -> torch.Tensor:
        raise NotImplementedError

    def embedding_matrix(self) -> torch.Tensor:
        """Every word's embedding as the embed stage outputs it, for Word iAT's directions."""
        return self.embedding_rows()

    def vocabulary_size(self) -> int:
        (embedder,) = self._text_field_embedder._token_embedders.values()  # type: ignore
        return embedder.weight.size(0)

    def embedding_rows(self, ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Rows `ids` (all if None) of `embedding_matrix()`, computing only those rows."""
        (embedder,) = self._text_field_embedder._token_embedders.values()  # type: ignore
        if hasattr(embedder, "output_rows"):
            return embedder.output_rows(ids)
        return embedder.weight if ids is None else embedder.weight[ids]

    def embedder_parameters(self):
        """The parameters that produce the word embeddings (upstream of Word AT/iAT's δ)."""
        return self._text_field_embedder.parameters()

    attended_key = "tokens"

    def attended_text(self, embedded: Dict[str, EmbeddedText]) -> EmbeddedText:
        """The text whose tokens the attention weights."""
        return embedded[self.attended_key]

    def with_attended_text(self, embedded: Dict[str, EmbeddedText], embeddings: torch.Tensor) -> Dict[str, EmbeddedText]:
        """`embedded` with other embeddings for the attended text."""
        return {**embedded, self.attended_key: embedded[self.attended_key]._replace(embeddings=embeddings)}

    def logits_of(self, embedded: Dict[str, EmbeddedText], detach_attention: bool = False) -> torch.Tensor:
        """encode -> score -> head; with `detach_attention` the weights are constants of the graph."""
        encoded = self.encode(embedded)
        scores = self.score(encoded)
        return self.head(encoded, scores.detach() if detach_attention else scores)[0]

    def predicted_label_loss(
        self, embedded: Dict[str, EmbeddedText], labels: torch.LongTensor, detach_attention: bool = False
    ) -> torch.Tensor:
        """Σ over the batch of L(x, ŷ): a sum, so each instance's gradient is its own at any batch size."""
        return self.loss(self.logits_of(embedded, detach_attention), labels) * labels.size(0)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(batch, num_labels) class probabilities, in the label vocabulary's order."""
        return torch.softmax(logits, dim=-1)

    def label_probabilities(self, logits: torch.Tensor, labels: torch.LongTensor) -> torch.Tensor:
        return self.probabilities(logits).gather(1, labels[:, None]).squeeze(1)

    def predicted_labels(self, logits: torch.Tensor) -> torch.LongTensor:
        raise NotImplementedError

    def clean_forward(self, embedded: Dict[str, EmbeddedText]) -> Tuple[EncodedText, torch.Tensor, Dict[str, torch.Tensor]]:
        """encode -> score -> head on the texts as given: the encoded texts, the scores ã, and the
        output with `logits`, `attention` and `attention_scores`."""
        encoded = self.encode(embedded)
        scores = self.score(encoded)
        logits, attention = self.head(encoded, scores)
        return encoded, scores, {"logits": logits, "attention": attention, "attention_scores": scores}

    def objective(
        self, embedded: Dict[str, EmbeddedText], label: Optional[torch.LongTensor]
    ) -> Dict[str, torch.Tensor]:
        """
        Eq. 20: L̃ = L(X_ã, y; θ) + λ·L(X_ã_adv, y; θ), where the adversarial input is built by the
        configured perturbation. Without a label only the clean forward pass runs; outside
        training L̃ = L.
        """
        encoded, scores, output = self.clean_forward(embedded)
        logits = output["logits"]
        if label is None:
            return output
        clean_loss = self.loss(logits, label)
        output["loss"] = clean_loss
        if self.training and torch.is_grad_enabled() and self._perturbation.target is not None:
            adversarial_loss, perturbation_norm, clean_term = self.adversarial_loss(
                embedded, encoded, scores, clean_loss, label
            )
            output["loss"] = self._clean_loss_weight * clean_term + self._adversarial_weight * adversarial_loss
            output["clean_loss"] = clean_loss.detach()
            output["adversarial_loss"] = adversarial_loss.detach()
            output["perturbation_norm"] = perturbation_norm
        return output

    def adversarial_loss(
        self,
        embedded: Dict[str, EmbeddedText],
        encoded: EncodedText,
        scores: torch.Tensor,
        clean_loss: torch.Tensor,
        label: torch.LongTensor,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        L(X_adv, y; θ), the batch's mean perturbation norm, and the clean-loss term to add to it.

        Attention perturbations take ∇_ã L through the head only, then re-run only the head on the
        clean encoder states; the clean term is L itself. Word perturbations need ∇_e L, which
        costs a backward pass through the encoder: that same pass also yields ∇_θ L, so the clean
        term returned is a surrogate with L's value and gradient ∇_θ L that does not traverse the
        clean graph a second time when the trainer calls backward.
        """
        perturbation = self._perturbation
        if perturbation.target == ATTENTION:
            gradient = (
                torch.autograd.grad(clean_loss, scores, retain_graph=True)[0]
                if perturbation.needs_gradient
                else None
            )
            delta = perturbation(scores.detach(), gradient, encoded.mask)
            logits, _ = self.head(encoded, scores + delta)
            squared_norms = delta.pow(2).flatten(1).sum(1)
            clean_term = clean_loss
        else:  # EMBEDDING: the only other target the constructor accepts
            names = list(embedded)
            embeddings = [embedded[name].embeddings for name in names]
            # Parameters after the embeddings; the embedder's own get their clean gradient through
            # ∇_e L below, in the one backward pass through the (shared) embedding lookup.
            embedder_parameters = {id(p) for p in self.embedder_parameters()}
            parameters = [p for p in self.parameters() if p.requires_grad and id(p) not in embedder_parameters]
            # retain_graph: the embedding lookup is shared with the adversarial graph.
            gradients = torch.autograd.grad(
                clean_loss, embeddings + parameters, retain_graph=True, allow_unused=True
            )
            embedding_rows = None
            if perturbation.needs_embedding_matrix:

                def lookup(ids: Optional[torch.LongTensor]) -> torch.Tensor:
                    with torch.no_grad():
                        return self.embedding_rows(ids)

                embedding_rows = EmbeddingRows(lookup, self.vocabulary_size())
            perturbed, squared_norms = {}, 0.0
            for name, gradient in zip(names, gradients):
                text = embedded[name]
                delta = perturbation(
                    text.embeddings.detach(),
                    gradient,
                    text.mask,
                    token_ids=text.token_ids,
                    embedding_matrix=embedding_rows,
                )
                perturbed[name] = text._replace(embeddings=text.embeddings + delta)
                squared_norms = squared_norms + delta.pow(2).flatten(1).sum(1)
            encoded_adversarial = self.encode(perturbed)
            logits, _ = self.head(encoded_adversarial, self.score(encoded_adversarial))
            clean_term = loss_with_gradients(clean_loss, embeddings + parameters, gradients)
        return self.loss(logits, label), squared_norms.sqrt().mean().detach(), clean_term
