from attention_perturb.interpret.saliency_interpreters.batched_gradient import BatchedGradient  # noqa: F401
from attention_perturb.interpret.saliency_interpreters.attention_weights import AttentionWeights  # noqa: F401
