import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder
from allennlp.nn import RegularizerApplicator, util
from allennlp.training.metrics import CategoricalAccuracy, F1Measure, FBetaMeasure

from allennlp.common.checks import ConfigurationError

from attention_perturb.interpret.word_importance import WordImportance
from attention_perturb.models.adversarial import AdversarialAttentionModel, EncodedText
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.modules.attention import ScoreAttention, masked_attention_weights
from attention_perturb.perturbations import Perturbation


@Model.register("attention_classifier")
class AttentionClassifier(AdversarialAttentionModel):
    """
    Single-sequence classifier of the paper (Eq. 2-5): embeddings -> BiLSTM states h_t -> attention
    scores ã_t -> a = softmax(ã) over valid tokens -> h_a = Σ a_t h_t -> linear decoder -> sigmoid
    (two labels, one logit for the positive label) or softmax (more labels). Trained with any
    `Perturbation` through Eq. 20.

    Metrics: `accuracy`, `macro_f1`, and for two labels `f1`, the F1 of the positive label (the
    paper's Table 2 "F1", as in the authors' code); in evaluation also `pearson`, the mean
    attention/gradient-importance correlation (Table 2 "Corr."), and `pearson_skipped`.

    # Parameters

    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
        Must hold one token embedder with a `weight` matrix (used by Word iAT).
    encoder : `Seq2SeqEncoder`
        E.g. a one-layer bidirectional LSTM.
    attention : `ScoreAttention`
        Scores ã from the encoder states (`additive` is Eq. 2).
    perturbation : `Perturbation`, optional (default = `none`)
    adversarial_weight : `float`, optional (default = `1.0`)
        λ of Eq. 20.
    positive_label : `str`, optional (default = `"positive"`)
        With two labels, the label whose probability the sigmoid gives.
    namespace : `str`, optional (default = `"tokens"`)
    label_namespace : `str`, optional (default = `"labels"`)
    regularizer : `RegularizerApplicator`, optional
    positive_class_weight : `float`, optional (default = `None`)
        With two labels, weigh the positive label's BCE term by this (torch's `pos_weight`), e.g.
        #negative / #positive training instances for Jain & Wallace's and the released code's
        class-balanced loss. `None`: the plain BCE.
    agreement_measures, agreement_top_k, drop_unknown_tokens, padded_agreement, clean_loss_weight
        See `AdversarialAttentionModel`.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2SeqEncoder,
        attention: ScoreAttention,
        perturbation: Optional[Perturbation] = None,
        adversarial_weight: float = 1.0,
        positive_label: str = "positive",
        namespace: str = "tokens",
        label_namespace: str = "labels",
        regularizer: Optional[RegularizerApplicator] = None,
        positive_class_weight: Optional[float] = None,
        agreement_measures: Optional[List[WordImportance]] = None,
        agreement_top_k: int = 5,
        drop_unknown_tokens: bool = False,
        padded_agreement: bool = False,
        clean_loss_weight: float = 1.0,
    ) -> None:
        super().__init__(vocab, text_field_embedder, attention, perturbation, adversarial_weight, regularizer,
                         agreement_measures, agreement_top_k, drop_unknown_tokens, padded_agreement, clean_loss_weight)
        self._encoder = encoder
        self._namespace = namespace
        self._label_namespace = label_namespace
        self._num_labels = vocab.get_vocab_size(label_namespace)
        self._binary = self._num_labels == 2
        self._decoder = torch.nn.Linear(encoder.get_output_dim(), 1 if self._binary else self._num_labels)
        self._accuracy = CategoricalAccuracy()
        self._macro_f1 = FBetaMeasure(average="macro")
        if self._binary:
            self._positive_index = vocab.get_token_index(positive_label, label_namespace)
            self._f1 = F1Measure(self._positive_index)
        if positive_class_weight is not None:
            if not self._binary:
                raise ConfigurationError("model.positive_class_weight: only for two labels (one-logit BCE)")
            if not math.isfinite(positive_class_weight) or positive_class_weight <= 0:
                raise ConfigurationError(f"model.positive_class_weight must be a finite number > 0, got {positive_class_weight!r}")
        self._positive_class_weight = positive_class_weight
        self._wordnet_tables: Dict[Tuple[str, int], torch.LongTensor] = {}

    def wordnet_table(self, kind: str, max_candidates: int, device: Optional[torch.device] = None) -> torch.LongTensor:
        """(vocab size, max_candidates) in-vocabulary WordNet substitute ids of `kind` (see
        `WordNetSubstitutions.substitution_table`), for methods that substitute words during
        training. Built on first use, so that loading an archive for evaluation does not read
        WordNet, and kept on the device last asked for."""
        key = (kind, max_candidates)
        if key not in self._wordnet_tables:
            from attention_perturb.substitutions.wordnet import shared_substitutions

            self._wordnet_tables[key] = shared_substitutions().substitution_table(
                self.vocab, self._namespace, kind=kind, max_candidates=max_candidates
            )
        if device is not None and self._wordnet_tables[key].device != device:
            self._wordnet_tables[key] = self._wordnet_tables[key].to(device)
        return self._wordnet_tables[key]

    def encode(self, embedded: Dict[str, EmbeddedText]) -> EncodedText:
        text = embedded["tokens"]
        return EncodedText(self._encoder(text.embeddings, text.mask), text.mask)

    def head(self, encoded: EncodedText, scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Eq. 3-5 up to the logits: weights, weighted sum of states, linear decoder."""
        attention = masked_attention_weights(scores, encoded.mask)
        return self.decode(encoded, attention), attention

    def decode(self, encoded: EncodedText, attention: torch.Tensor) -> torch.Tensor:
        """Eq. 4-5 for any weights a: h_a = Σ a_t h_t -> linear decoder -> logits (SEAT perturbs a
        itself, after the softmax)."""
        pooled = torch.bmm(attention.unsqueeze(1), encoded.states).squeeze(1)
        return self._decoder(pooled)

    def loss(self, logits: torch.Tensor, label: torch.LongTensor) -> torch.Tensor:
        if self._binary:
            target = (label == self._positive_index).to(logits.dtype)
            positive_weight = None if self._positive_class_weight is None else logits.new_tensor(self._positive_class_weight)
            return torch.nn.functional.binary_cross_entropy_with_logits(logits.squeeze(-1), target, pos_weight=positive_weight)
        return torch.nn.functional.cross_entropy(logits, label)

    def predicted_labels(self, logits: torch.Tensor) -> torch.LongTensor:
        return self.probabilities(logits).argmax(dim=-1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(batch, num_labels) class probabilities, in the label vocabulary's order."""
        if not self._binary:
            return torch.softmax(logits, dim=-1)
        positive = torch.sigmoid(logits)
        return torch.cat([1 - positive, positive], dim=-1) if self._positive_index == 1 else torch.cat(
            [positive, 1 - positive], dim=-1
        )

    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        label: Optional[torch.LongTensor] = None,
        metadata: Optional[List[Dict[str, Any]]] = None,
    ) -> Dict[str, torch.Tensor]:
        output = self.explained_objective(lambda: {"tokens": self.embed(tokens)}, label)
        output["probs"] = self.probabilities(output["logits"])
        output["token_ids"] = util.get_token_ids_from_text_field_tensors(tokens)
        if label is not None:
            self._accuracy(output["probs"], label)
            self._macro_f1(output["probs"], label)
            if self._binary:
                self._f1(output["probs"], label)
        if metadata is not None:
            output["words"] = [instance["words"] for instance in metadata]
        return output

    def make_output_human_readable(self, output_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
        predictions = output_dict["probs"].argmax(dim=-1).tolist()
        output_dict["label"] = [
            self.vocab.get_token_from_index(index, self._label_namespace) for index in predictions
        ]
        return output_dict

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {
            "accuracy": self._accuracy.get_metric(reset),
            "macro_f1": self._macro_f1.get_metric(reset)["fscore"],
        }
        if self._binary:
            metrics["f1"] = self._f1.get_metric(reset)["f1"]
        if self._agreement.measured:
            metrics.update(self._agreement.get_metric(reset))
        metrics.update(self.term_metrics(reset))
        return metrics

    default_predictor = "text_classifier"
