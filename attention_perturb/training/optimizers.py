from typing import Any, Dict, List, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.optimizers import Optimizer, make_parameter_groups

IMPLEMENTATIONS = ("fused", "foreach", "single_tensor")


@Optimizer.register("torch_adam")
class TorchAdamOptimizer(Optimizer, torch.optim.Adam):
    """
    allennlp's `adam` with a choice of torch's implementation. allennlp's own `adam` cannot pass one,
    so on CPU torch falls back to its single-tensor loop: on SST's 13.7k × 300 embedding that took
    45-55 ms of a 110 ms step, the fused kernel 6 ms (`benchmarks/reference_step.py`). The
    implementations compute the same update up to float rounding.

    # Parameters

    model_parameters : `List[Tuple[str, torch.nn.Parameter]]`
    parameter_groups : `List[Tuple[List[str], Dict[str, Any]]]`, optional
    lr : `float`, optional (default = `0.001`)
    betas : `Tuple[float, float]`, optional (default = `(0.9, 0.999)`)
    eps : `float`, optional (default = `1e-08`)
    weight_decay : `float`, optional (default = `0.0`)
    amsgrad : `bool`, optional (default = `False`)
    implementation : `str`, optional (default = `"fused"`)
        `"fused"` (one kernel over all parameters, CPU and CUDA), `"foreach"` (multi-tensor) or
        `"single_tensor"` (torch's reference loop, what allennlp's `adam` runs on CPU).
    """

    def __init__(
        self,
        model_parameters: List[Tuple[str, torch.nn.Parameter]],
        parameter_groups: List[Tuple[List[str], Dict[str, Any]]] = None,
        lr: float = 0.001,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        implementation: str = "fused",
    ) -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ConfigurationError(
                f"trainer.optimizer.implementation: {implementation!r} is not one of {', '.join(IMPLEMENTATIONS)}"
            )
        super().__init__(
            params=make_parameter_groups(model_parameters, parameter_groups),
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            fused=implementation == "fused" or None,
            foreach=implementation == "foreach",
        )
