from allennlp.interpret.saliency_interpreters import SaliencyInterpreter

from attention_perturb.interpret.saliency_interpreters.batched import BatchedSaliencyInterpreter


@SaliencyInterpreter.register("batched-gradient")
class BatchedGradient(BatchedSaliencyInterpreter):
    """The paper's gradient word importance, |∂L/∂e_t · e_t| L1-normalised (the same map as
    allennlp's `simple-gradient`), for a whole batch in one backward pass."""

    output_key = "gradient_importance"
