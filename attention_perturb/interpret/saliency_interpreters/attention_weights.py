from allennlp.interpret.saliency_interpreters import SaliencyInterpreter

from attention_perturb.interpret.saliency_interpreters.batched import BatchedSaliencyInterpreter


@SaliencyInterpreter.register("attention")
class AttentionWeights(BatchedSaliencyInterpreter):
    """The model's attention weights a = softmax(ã) as a saliency map, to compare with any
    gradient-based interpreter through the same allennlp tooling."""

    output_key = "attention"
