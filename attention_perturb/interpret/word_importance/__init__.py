from attention_perturb.interpret.word_importance.base import WordImportance  # noqa: F401
from attention_perturb.interpret.word_importance.gradient_x_input import GradientTimesInput  # noqa: F401
from attention_perturb.interpret.word_importance.gradient_norm import GradientNorm  # noqa: F401
from attention_perturb.interpret.word_importance.leave_one_out import LeaveOneOut  # noqa: F401
from attention_perturb.interpret.word_importance.integrated_gradients import IntegratedGradients  # noqa: F401
from attention_perturb.interpret.word_importance.simple_gradient_allennlp import SimpleGradientAllennlp  # noqa: F401
