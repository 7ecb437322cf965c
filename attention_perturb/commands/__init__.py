from attention_perturb.commands.make_dataset import MakeDataset  # noqa: F401
from attention_perturb.commands.visualize import Visualize  # noqa: F401
from attention_perturb.commands.attack import Attack  # noqa: F401
from attention_perturb.commands.stability import Stability  # noqa: F401
