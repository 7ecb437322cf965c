import torch

from attention_perturb.interpret.word_importance.base import normalised_magnitudes


def gradient_word_importance(loss: torch.Tensor, embeddings: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    Gradient word importance (Simonyan et al. 2014, the paper's [26]) for a whole batch from one
    backward pass: with g_t = ∂L(x, ŷ)/∂e_t the gradient of the loss at the *predicted* label,
    importance_t = |g_t · e_t| / Σ_s |g_s · e_s| over the valid tokens (0 at padding).

    This is the definition of allennlp Interpret's `SimpleGradient` (gradient × input, absolute
    value, L1-normalised), which the paper's authors used ("implemented using AllenNLP with
    Interpret"). Note that allennlp 2.10's `SimpleGradient` implementation multiplies every token's
    gradient by the *first* token's embedding (its hook squeezes the batch dimension and it indexes
    `[0]` again), so its maps differ from this definition; ours is checked against finite
    differences and against allennlp's `Predictor.get_gradients`. `loss` must be a sum or mean of
    per-instance losses, so that each instance's gradient is its own (scale cancels in the
    normalisation).
    """
    (gradient,) = torch.autograd.grad(loss, embeddings)
    return normalised_magnitudes((gradient * embeddings).sum(-1), mask)
