"""
One training step of each method on a device against the same step on the CPU: the same weights (one
model, copied), the same SST batch; the loss and every parameter gradient compared, in float64 (a
difference there is the computation's, not rounding's) and float32 (TF32 off).

    python benchmarks/gpu_parity.py [--device cuda] [--methods vanilla word_iat ...] [--batch 0]

With `--device cpu` both sides run on the CPU: the script's own check, and a step's determinism.
Attention RP's random perturbation is drawn on the CPU for both sides (`randn_like` is redirected), so
that both see the same noise. Prints one line per method and dtype: each side's loss, the loss's
relative difference and the worst parameter gradient's, ‖g_device − g_cpu‖ / ‖g_cpu‖, with its name;
exits 1 if any is over its dtype's tolerance.
"""
import argparse
import copy
import sys
import time

import torch
from allennlp.common import Params
from allennlp.models import Model
from allennlp.nn.util import move_to_device
from torch.overrides import TorchFunctionMode

import attention_perturb  # noqa: F401
from reference_step import sst_batches  # benchmarks/, the script's own folder
from step_time import METHODS, config, model_params

TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-3}


class RandomDrawsOnTheCpu(TorchFunctionMode):
    """`torch.randn_like(x)` drawn from the CPU generator and moved to x's device, so that a device
    run and a CPU run seeded alike draw the same numbers."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.randn_like:
            (like,) = args
            return torch.randn(like.shape, dtype=kwargs.get("dtype") or like.dtype).to(like.device)
        return func(*args, **kwargs)


def training_step(model, batch, device):
    """The loss and the parameter gradients of one step, on the CPU."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    with RandomDrawsOnTheCpu():
        loss = model(**move_to_device(batch, device))["loss"]
        loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or parameter.grad.device == device, name
    return loss.detach().item(), {name: p.grad.detach().cpu().double() for name, p in model.named_parameters() if p.grad is not None}


def relative(difference: torch.Tensor, reference: torch.Tensor) -> float:
    scale = float(reference.norm())
    return float(difference.norm()) / scale if scale > 0 else float(difference.norm())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--batch", type=int, default=0, help="which SST training batch of 32 (bucketed)")
    arguments = parser.parse_args()
    device = torch.device(arguments.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    vocab, batches = sst_batches(config("vanilla"), arguments.batch + 1)
    batch = batches[arguments.batch]
    print(f"{device} against cpu: SST training batch {arguments.batch} ({batch['label'].numel()} sentences, "
          f"{batch['tokens']['tokens']['tokens'].size(1)} tokens padded), {vocab.get_vocab_size('tokens')} words, "
          f"torch {torch.__version__}" + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""))
    print(f"{'method':14s} {'dtype':8s} {'loss cpu':>12s} {'loss device':>12s} {'loss rel':>9s} {'grad rel':>9s}  worst gradient")
    failures = 0
    for method in arguments.methods:
        torch.manual_seed(0)
        built = Model.from_params(vocab=vocab, params=Params(model_params(method))).train()
        for dtype in (torch.float64, torch.float32):
            start = time.perf_counter()
            on_cpu = copy.deepcopy(built).to(dtype=dtype)
            on_device = copy.deepcopy(on_cpu).to(device)
            loss_cpu, gradients_cpu = training_step(on_cpu, batch, torch.device("cpu"))
            loss_device, gradients_device = training_step(on_device, batch, device)
            assert sorted(gradients_cpu) == sorted(gradients_device), method
            loss_difference = abs(loss_device - loss_cpu) / abs(loss_cpu)
            worst = max(gradients_cpu, key=lambda name: relative(gradients_device[name] - gradients_cpu[name], gradients_cpu[name]))
            gradient_difference = relative(gradients_device[worst] - gradients_cpu[worst], gradients_cpu[worst])
            verdict = "ok" if max(loss_difference, gradient_difference) <= TOLERANCE[dtype] else "OVER"
            failures += verdict != "ok"
            print(f"{method:14s} {str(dtype)[6:]:8s} {loss_cpu:12.6f} {loss_device:12.6f} {loss_difference:9.1e} "
                  f"{gradient_difference:9.1e}  {worst} ({len(gradients_cpu)} gradients, {time.perf_counter() - start:.1f} s) "
                  f"{verdict} (<= {TOLERANCE[dtype]:.0e})")
    print("parity: " + ("ok" if not failures else f"{failures} over tolerance"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
