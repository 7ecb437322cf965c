from attention_perturb.commands.visualize import Visualize  # noqa: F401
