from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder
from allennlp.nn import RegularizerApplicator, util
from allennlp.training.metrics import CategoricalAccuracy, FBetaMeasure

from attention_perturb.interpret.word_importance import WordImportance
from attention_perturb.models.adversarial import AdversarialAttentionModel, EncodedText
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.modules.attention import ScoreAttention, masked_attention_weights
from attention_perturb.perturbations import Perturbation


@Model.register("attention_pair_classifier")
class AttentionPairClassifier(AdversarialAttentionModel):
    """
    Pair-sequence model of the paper (Eq. 6-8) for question answering and NLI: two BiLSTM encoders
    over the passage (or premise) and the question (or hypothesis); additive attention over the
    passage conditioned on the question's final state, ã_t = cᵀ tanh(W₁ h_t^p + W₂ h_TQ^q + b)
    (Eq. 7); c = Σ a_t h_t^p (Eq. 8); logits = W_o tanh(W_c c + W_q h_TQ^q) as in the authors'
    code; softmax over the labels (answer vocabulary or the three NLI labels), restricted to the
    instance's answer candidates when the reader gives a multi-hot `candidates` field (CNN's
    passage entities). Attention perturbations act on the passage scores, word perturbations on
    both texts' embeddings.

    Metrics: `accuracy` (the paper's QA score), `micro_f1` (its NLI score; equal to accuracy for
    single-label classification), `macro_f1`, optionally per-label `f1_<label>`; in evaluation also
    `pearson`.

    # Parameters

    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
        Shared by both texts.
    passage_encoder : `Seq2SeqEncoder`
    question_encoder : `Seq2SeqEncoder`
    attention : `ScoreAttention`
        Built with `query_dim` = the question encoder's output dimension.
    decoder_hidden : `int`, optional (default = `128`)
    perturbation : `Perturbation`, optional (default = `none`)
    adversarial_weight : `float`, optional (default = `1.0`)
    label_namespace : `str`, optional (default = `"labels"`)
    per_label_f1 : `bool`, optional (default = `False`)
        Also report `f1_<label>` for every label (for NLI's three; not for large answer sets).
    regularizer : `RegularizerApplicator`, optional
    agreement_measures, agreement_top_k, drop_unknown_tokens, padded_agreement, clean_loss_weight
        See `AdversarialAttentionModel`.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        passage_encoder: Seq2SeqEncoder,
        question_encoder: Seq2SeqEncoder,
        attention: ScoreAttention,
        decoder_hidden: int = 128,
        perturbation: Optional[Perturbation] = None,
        adversarial_weight: float = 1.0,
        label_namespace: str = "labels",
        per_label_f1: bool = False,
        regularizer: Optional[RegularizerApplicator] = None,
        agreement_measures: Optional[List[WordImportance]] = None,
        agreement_top_k: int = 5,
        drop_unknown_tokens: bool = False,
        padded_agreement: bool = False,
        clean_loss_weight: float = 1.0,
    ) -> None:
        super().__init__(vocab, text_field_embedder, attention, perturbation, adversarial_weight, regularizer,
                         agreement_measures, agreement_top_k, drop_unknown_tokens, padded_agreement, clean_loss_weight)
        self._passage_encoder = passage_encoder
        self._question_encoder = question_encoder
        self._label_namespace = label_namespace
        num_labels = vocab.get_vocab_size(label_namespace)
        self._context_projection = torch.nn.Linear(passage_encoder.get_output_dim(), decoder_hidden)
        self._question_projection = torch.nn.Linear(question_encoder.get_output_dim(), decoder_hidden, bias=False)
        self._decoder = torch.nn.Linear(decoder_hidden, num_labels)
        self._accuracy = CategoricalAccuracy()
        self._micro_f1 = FBetaMeasure(average="micro")
        self._macro_f1 = FBetaMeasure(average="macro")
        self._per_label_f1 = FBetaMeasure() if per_label_f1 else None

    attended_key = "passage"

    def encode(self, embedded: Dict[str, EmbeddedText]) -> EncodedText:
        """Eq. 6, and the question's final state h_TQ^q (both directions of the BiLSTM)."""
        passage, question = embedded["passage"], embedded["question"]
        question_states = self._question_encoder(question.embeddings, question.mask)
        question_final = util.get_final_encoder_states(
            question_states, question.mask, bidirectional=self._question_encoder.is_bidirectional()
        )
        return EncodedText(
            self._passage_encoder(passage.embeddings, passage.mask), passage.mask, question_final,
            passage.answer_candidates,
        )

    def head(self, encoded: EncodedText, scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Eq. 8 and the question-conditioned decoder, up to the logits."""
        attention = masked_attention_weights(scores, encoded.mask)
        context = torch.bmm(attention.unsqueeze(1), encoded.states).squeeze(1)
        hidden = torch.tanh(self._context_projection(context) + self._question_projection(encoded.query))
        logits = self._decoder(hidden)
        if encoded.answer_candidates is not None:
            logits = logits.masked_fill(~encoded.answer_candidates, torch.finfo(logits.dtype).min)
        return logits, attention

    def loss(self, logits: torch.Tensor, label: torch.LongTensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, label)

    def predicted_labels(self, logits: torch.Tensor) -> torch.LongTensor:
        return logits.argmax(dim=-1)

    def forward(  # type: ignore
        self,
        passage: TextFieldTensors,
        question: TextFieldTensors,
        label: Optional[torch.LongTensor] = None,
        metadata: Optional[List[Dict[str, Any]]] = None,
        candidates: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        answer_candidates = None if candidates is None else candidates.bool()
        # The candidates travel with the passage, so every head call (clean and adversarial)
        # decodes among them only.
        output = self.explained_objective(
            lambda: {
                "passage": self.embed(passage)._replace(answer_candidates=answer_candidates),
                "question": self.embed(question),
            },
            label,
        )
        output["probs"] = self.probabilities(output["logits"])
        if label is not None:
            for metric in (self._accuracy, self._micro_f1, self._macro_f1, self._per_label_f1):
                if metric is not None:
                    metric(output["probs"], label)
        if metadata is not None:
            output["words"] = [instance["passage_words"] for instance in metadata]
        return output

    def make_output_human_readable(self, output_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
        output_dict["label"] = [
            self.vocab.get_token_from_index(index, self._label_namespace)
            for index in output_dict["probs"].argmax(dim=-1).tolist()
        ]
        return output_dict

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {
            "accuracy": self._accuracy.get_metric(reset),
            "micro_f1": self._micro_f1.get_metric(reset)["fscore"],
            "macro_f1": self._macro_f1.get_metric(reset)["fscore"],
        }
        if self._per_label_f1 is not None:
            per_label = self._per_label_f1.get_metric(reset)["fscore"]
            labels = self.vocab.get_index_to_token_vocabulary(self._label_namespace)
            metrics.update({f"f1_{labels[index]}": value for index, value in enumerate(per_label)})
        if self._agreement.measured:
            metrics.update(self._agreement.get_metric(reset))
        return metrics
