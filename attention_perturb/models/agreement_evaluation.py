"""What an attention model reports in evaluation beside its own metrics: the gradient word importance
of its attended text and its agreement with the attention weights (Table 2's Corr., Kendall τ, top-k
overlap), under gradient × input and any further importance measure (`interpret/`)."""
import contextlib
from typing import Callable, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError

from attention_perturb.interpret.agreement import (
    AttentionAgreement, kendall_per_instance, pearson_per_instance, top_k_overlap_per_instance,
)
from attention_perturb.interpret.interface import EmbeddedText
from attention_perturb.interpret.word_importance import WordImportance
from attention_perturb.interpret.word_importance.gradient_x_input import gradient_times_input


class AgreementEvaluation:
    """
    The evaluation half of `AdversarialAttentionModel`. In evaluation (not training, gradients
    globally off, as in `allennlp evaluate`, validation and `Predictor.predict_*`) the model also
    computes the gradient word importance of the attended text, returns it as
    `gradient_importance` with each instance's agreements (`attention_pearson`, NaN where
    undefined), and accumulates the agreement metrics (`pearson`, ...), unless
    `measure_agreement` is False (the `validation_agreement` callback switches it off during
    training by default). It never does so when the caller has gradients on (e.g. allennlp's own
    interpreters), so their embedding hooks see one backward pass.
    """

    def init_agreement_evaluation(self, agreement_measures: Optional[List[WordImportance]], agreement_top_k: int,
                                  padded_agreement: bool) -> None:
        self._agreement = AttentionAgreement()
        self.use_agreement_measures(agreement_measures or [])
        if not isinstance(agreement_top_k, int) or agreement_top_k < 1:
            raise ConfigurationError(f"model.agreement_top_k must be an integer >= 1, got {agreement_top_k!r}")
        self._agreement_top_k = agreement_top_k
        self._padded_agreement = padded_agreement
        self.measure_agreement = True

    def drop_further_agreement_measures(self) -> None:
        """From now on, evaluation measures only the gradient × input agreement (`pearson`,
        `kendall`, `top<k>`), not `agreement_measures`: tools that read nothing else need not pay
        for integrated gradients or leave-one-out on every instance."""
        self.use_agreement_measures([])

    def use_agreement_measures(self, measures: List[WordImportance]) -> None:
        """From now on, evaluation measures these further measures beside gradient × input, as if
        the model had been built with them as `agreement_measures`."""
        names = [measure.name for measure in measures]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"model.agreement_measures: a measure is named twice in {names}")
        self._agreement_measures = list(measures)

    @property
    def agreement_measures(self) -> List[WordImportance]:
        return list(self._agreement_measures)

    @property
    def agreement_top_k(self) -> int:
        return self._agreement_top_k

    def should_measure_agreement(self) -> bool:
        return self.measure_agreement and not self.training and not torch.is_grad_enabled()

    def add_gradient_importance(self, embedded: Dict[str, EmbeddedText], output: Dict[str, torch.Tensor]) -> None:
        """Adds `gradient_importance` (see `gradient_times_input`) for the predicted labels,
        `importance_<name>` for each further agreement measure, each instance's agreements
        (`attention_pearson`, `attention_kendall`, `attention_top<k>`, `attention_pearson_<name>`,
        ...) and updates the agreement metrics. Call with gradients enabled on a graph built for it."""
        text = self.attended_text(embedded)
        labels = self.predicted_labels(output["logits"])
        (gradient,) = torch.autograd.grad(self.loss(output["logits"], labels), text.embeddings)
        importance = gradient_times_input(gradient, text.embeddings, text.mask)
        output["gradient_importance"] = importance
        self._add_agreements(output, output["gradient_importance"], text.mask, suffix="")
        for measure in self._agreement_measures:
            output[f"importance_{measure.name}"] = measure(self, embedded, labels)
            self._add_agreements(output, output[f"importance_{measure.name}"], text.mask, suffix=f"_{measure.name}")

    def _add_agreements(self, output: Dict[str, torch.Tensor], importance: torch.Tensor, mask: torch.BoolTensor,
                        suffix: str) -> None:
        attention, importance = output["attention"].detach().double(), importance.double()
        agreements = {
            "pearson": pearson_per_instance(attention, importance, mask),
            "kendall": kendall_per_instance(attention, importance, mask),
            f"top{self._agreement_top_k}": top_k_overlap_per_instance(attention, importance, mask, self._agreement_top_k),
        }
        if self._padded_agreement:
            agreements["pearson_padded"] = pearson_per_instance(attention, importance, torch.ones_like(mask))
        for name, values in agreements.items():
            output[f"attention_{name}{suffix}"] = values
            self._agreement(values, f"{name}{suffix}")

    def explained_objective(
        self, embed: Callable[[], Dict[str, EmbeddedText]], label: Optional[torch.LongTensor]
    ) -> Dict[str, torch.Tensor]:
        """`objective` on the texts that `embed()` returns, plus `gradient_importance` and the
        agreement metric when `should_measure_agreement()`: then the pass runs with gradients on,
        and its outputs are detached."""
        measure_agreement = self.should_measure_agreement()
        with torch.enable_grad() if measure_agreement else contextlib.nullcontext():
            embedded = embed()
            output = self.objective(embedded, label)
            if measure_agreement:
                self.add_gradient_importance(embedded, output)
                output = {key: value.detach() for key, value in output.items()}
        return output
