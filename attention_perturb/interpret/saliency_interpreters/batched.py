from typing import List

from allennlp.common.util import JsonDict, sanitize
from allennlp.data import Instance
from allennlp.interpret.saliency_interpreters import SaliencyInterpreter


class BatchedSaliencyInterpreter(SaliencyInterpreter):
    """
    A saliency interpreter for this package's models that explains a whole batch with one forward
    and one backward pass (the model computes its explanation outputs in evaluation mode). The
    output has allennlp's usual shape, `{"instance_i": {"grad_input_1": [...]}}`, one value per
    token of the attended text. Needs an `attention_saliency` predictor. Subclasses name the model
    output to return.
    """

    output_key: str

    def saliency_interpret_from_json(self, inputs: JsonDict) -> JsonDict:
        return self.saliency_interpret_batch([inputs])

    def saliency_interpret_batch(self, inputs: List[JsonDict]) -> JsonDict:
        return self.saliency_interpret_instances([self.predictor._json_to_instance(i) for i in inputs])

    def saliency_interpret_instances(self, instances: List[Instance]) -> JsonDict:
        outputs = self.predictor.forward_on_instances(instances)
        return sanitize(
            {
                f"instance_{position + 1}": {"grad_input_1": output[self.output_key][: len(output["words"])]}
                for position, output in enumerate(outputs)
            }
        )
