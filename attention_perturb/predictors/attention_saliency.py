import json
from typing import Any, Dict, List, Tuple, Union

import numpy
import torch
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import LabelField
from allennlp.models import Model
from allennlp.predictors import Predictor
from allennlp.predictors.text_classifier import TextClassifierPredictor

from attention_perturb.data.dataset_readers.pair import PairReader


@Predictor.register("attention_saliency")
class AttentionSaliencyPredictor(TextClassifierPredictor):
    """
    Predicts and explains in one batched pass: for each input, the tokens, predicted label and
    probabilities, attention weights, gradient word importance (see `gradient_times_input`),
    and their Pearson correlation, Kendall τ (`kendall_tau`) and top-k overlap (`top5`), `null`
    where undefined (one token, a constant vector, or at most k tokens). With the model's
    `agreement_measures` (e.g. `--overrides '{"model.agreement_measures": [{"type":
    "leave_one_out"}]}'`), also each measure's `importance_<name>` and its agreements
    (`pearson_<name>`, `kendall_<name>`, `top5_<name>`).

    Input lines are JSON (`{"sentence": "..."}`, or `{"passage": "...", "question": "..."}` for a
    pair model's reader) or, for readers that define `parse_line`, the dataset's own line format
    (e.g. an SST tree). A malformed line or an empty sentence stops the
    run with an error naming the input line, unless the predictor is built with
    `skip_invalid=True` (`--predictor-args '{"skip_invalid": true}'`): then that line's output is
    `{"line": n, "error": "..."}` and the rest of the file is processed.

    # Parameters

    model : `Model`
    dataset_reader : `DatasetReader`
    frozen : `bool`, optional (default = `True`)
    skip_invalid : `bool`, optional (default = `False`)
    """

    def __init__(
        self, model: Model, dataset_reader: DatasetReader, frozen: bool = True, skip_invalid: bool = False
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        self._skip_invalid = skip_invalid
        self._line_number = 0

    @property
    def input_keys(self) -> Tuple[str, ...]:
        """The keys an input needs: a pair model's reader takes a passage and a question."""
        return ("passage", "question") if isinstance(self._dataset_reader, PairReader) else ("sentence",)

    def load_line(self, line: str) -> JsonDict:
        self._line_number += 1
        try:
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                parse_line = getattr(self._dataset_reader, "parse_line", None)
                if parse_line is None or line.lstrip().startswith(("{", "[")):
                    raise ValueError(f"malformed JSON ({error.msg}, column {error.colno})") from None
                data = parse_line(line)
            if not isinstance(data, dict) or any(key not in data for key in self.input_keys):
                expected = 'a "sentence" key' if self.input_keys == ("sentence",) else '"passage" and "question" keys'
                raise ValueError(f"expected a JSON object with {expected}")
        except ValueError as error:
            return self._invalid(f"input line {self._line_number}: {error}", {})
        return {**data, "_line": self._line_number}

    def _invalid(self, message: str, data: JsonDict) -> JsonDict:
        if not self._skip_invalid:
            raise ValueError(message)
        return {**data, "_error": message, "_line": self._line_number}

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        if self.input_keys == ("sentence",):
            return super()._json_to_instance(json_dict)
        missing = [key for key in self.input_keys if not str(json_dict.get(key) or "").strip()]
        if missing:
            raise ValueError(f"a pair model needs a passage and a question: the {' and the '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} empty")
        return self._dataset_reader.text_to_instance(json_dict["passage"], json_dict["question"])

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        results: List[JsonDict] = []
        for position, (data, result) in enumerate(zip(inputs, self.explain_batch_json(inputs))):
            if "_error" in data:
                result = {"line": data["_line"], "error": data["_error"]}
            elif isinstance(result, ValueError):
                message = f"input line {data.get('_line', position + 1)}: {result}"
                if not self._skip_invalid:
                    raise ValueError(message) from None
                result = {"line": data.get("_line"), "error": message}
            results.append(result)
        return results

    def explain_batch_json(self, inputs: List[JsonDict]) -> List[Union[JsonDict, ValueError]]:
        """Each input's output as `predict_batch_json` gives it (with `gold_label` where the input
        has a `label`), or the `ValueError` saying why it cannot be predicted; the valid inputs in
        one batched pass. Inputs `load_line` marked invalid are skipped (`None`)."""
        results: List[Union[JsonDict, ValueError, None]] = [None] * len(inputs)
        valid = []
        for position, data in enumerate(inputs):
            if "_error" in data:
                continue
            try:
                valid.append((position, self._json_to_instance(data)))
            except ValueError as error:
                results[position] = error
        explained = self.predict_batch_instance([instance for _, instance in valid]) if valid else []
        for (position, _), output in zip(valid, explained):
            gold = inputs[position].get("label")
            results[position] = {**({"gold_label": gold} if gold is not None else {}), **output}
        return results  # type: ignore

    def _register_embedding_gradient_hooks(self, embedding_gradients: List[torch.Tensor]):
        """
        allennlp 2.10 records embedding gradients with a module `register_backward_hook`, which
        torch 2.x warns is not guaranteed to see the output gradient of a module made of several ops
        (as `Embedding` is). A tensor hook on the embedder's output records ∂L/∂e exactly, in the
        same (backward) order allennlp expects. Our models use no wordpiece offsets.
        """

        def record_output_gradient(module, inputs, output):
            output.register_hook(embedding_gradients.append)

        return [self.get_interpretable_layer().register_forward_hook(record_output_gradient)]

    def predictions_to_labeled_instances(self, instance: Instance, outputs: Dict[str, Any]) -> List[Instance]:
        """For allennlp's interpreters and attackers: the instance labelled with its prediction."""
        labeled = instance.duplicate()
        label_index = self._model.vocab.get_token_index(outputs["label"], "labels")
        labeled.add_field("label", LabelField(label_index, skip_indexing=True))
        return [labeled]

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        return [self.explanation(output) for output in self.forward_on_instances(instances)]

    def forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, Any]]:
        """One batched forward (and, inside the model, one backward for the importance)."""
        for instance in instances:
            self._dataset_reader.apply_token_indexers(instance)
        return self._model.forward_on_instances(instances)

    def explanation(self, output: Dict[str, Any]) -> JsonDict:
        length = len(output["words"])
        labels = self._model.vocab.get_index_to_token_vocabulary("labels")
        explanation = sanitize(
            {
                "tokens": output["words"],
                "label": output["label"],
                "probs": {labels[index]: float(p) for index, p in enumerate(output["probs"])},
                "attention": numpy.asarray(output["attention"][:length], dtype=float).tolist(),
                "gradient_importance": numpy.asarray(output["gradient_importance"][:length], dtype=float).tolist(),
                **{key: numpy.asarray(value[:length], dtype=float).tolist()
                   for key, value in output.items() if key.startswith("importance_")},
            }
        )
        # The model's per-instance agreements (`attention_pearson`, `attention_kendall_leave_one_out`,
        # ...), set after sanitize(), which would turn None into the string "None"; NaN -> None.
        for key, value in output.items():
            if key.startswith("attention_") and key != "attention_scores":
                name = "kendall_tau" if key == "attention_kendall" else key[len("attention_"):]
                explanation[name] = None if numpy.isnan(float(value)) else float(value)
        return explanation
