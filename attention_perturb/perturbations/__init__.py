"""The training methods' perturbations, one registered class per file; every module of this folder is
imported here, so a new method's file needs no line of its own (docs/adding_a_method.md)."""
import importlib
import pkgutil

from attention_perturb.perturbations.base import Perturbation, per_instance_unit  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
