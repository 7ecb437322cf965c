from attention_perturb.interpret.agreement import AttentionAgreement, kendall_tau, pearson_per_instance  # noqa: F401
from attention_perturb.interpret.importance import gradient_word_importance  # noqa: F401
from attention_perturb.interpret import saliency_interpreters  # noqa: F401
