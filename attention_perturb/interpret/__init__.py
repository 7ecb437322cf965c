from attention_perturb.interpret.agreement import AttentionAgreement, kendall_tau, pearson_per_instance  # noqa: F401
from attention_perturb.interpret.word_importance.gradient_x_input import gradient_times_input  # noqa: F401
from attention_perturb.interpret import saliency_interpreters  # noqa: F401
