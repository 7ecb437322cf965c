"""
Device placement checked without a GPU: import `device` (a fixture) into a test module.

Beside CUDA tensors, a tensor made on the CPU (a factory call that forgot `device=`, a `.to(None)`)
makes most ops raise ("Expected all tensors to be on the same device"); on a machine without a GPU
every tensor is on the CPU and nothing tells the forgotten `device=` from the right one. So the
tests put their models and inputs on the `meta` device with their data kept: inside
`cpu_backed_meta()`, `.to("meta")` wraps a CPU tensor in a `MetaWithData` tensor, which reports
`device(type='meta')` (code that reads `x.device` gets meta) while every op runs on the CPU data
it wraps. Data-dependent steps (`nonzero`, `.item()`, loops over lengths) and autograd therefore
run as on the CPU, and the results can be compared with a CPU run's. The default device stays the
CPU (no `torch.device("meta")` context, which would let a forgotten `device=` pass), so a factory
call without `device=` gives a plain CPU tensor, and the first op that reads it beside a meta
tensor raises, as it would beside CUDA tensors.

The rule each op is held to is CUDA's: every tensor an op reads is on one device, except
zero-dimension CPU tensors (read as scalars), CPU index tensors of advanced indexing (`x[i]`,
`x[i] = v`: ATen copies them to `x`'s device), the CPU lengths of packed sequences, and copies
between devices (`.to`, `copy_`). A CPU generator for a draw on the device raises, as on CUDA.
`.numpy()` of a meta tensor raises, as that of a CUDA tensor does; `.tolist()` reads the data,
as on CUDA.

Where CUDA is available, `DEVICES` (the `device` fixture's parameters) also holds "cuda", and the
same tests run on the GPU: `placed_on("cuda")` is no more than the real device.
"""
import contextlib
from typing import Callable, Iterator, Optional, TypeVar

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

T = TypeVar("T")
DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
META = torch.device("meta")
# Ops that read tensors on two devices on CUDA too: cross-device copies, and packed sequences'
# lengths (batch sizes), which must be on the CPU.
READ_TWO_DEVICES = {
    torch.ops.aten._to_copy.default,
    torch.ops.aten.copy_.default,
    torch.ops.aten._pack_padded_sequence.default,
    torch.ops.aten._pack_padded_sequence_backward.default,
    torch.ops.aten._pad_packed_sequence.default,
}
# Advanced indexing, whose index tensors (the second argument) may be on the CPU for any `self`.
INDEXING = {
    torch.ops.aten.index.Tensor,
    torch.ops.aten.index_put.default,
    torch.ops.aten.index_put_.default,
    torch.ops.aten._index_put_impl_.default,
}


class MetaWithData(torch.Tensor):
    """A tensor that reports the meta device and holds its data in a CPU tensor, `cpu_data`.
    Ops on it run in `cpu_backed_meta()` only."""

    @staticmethod
    def __new__(cls, cpu_data: torch.Tensor) -> "MetaWithData":
        wrapper = torch.Tensor._make_wrapper_subclass(
            cls, cpu_data.shape, strides=cpu_data.stride(), storage_offset=cpu_data.storage_offset(),
            dtype=cpu_data.dtype, layout=cpu_data.layout, device=META, requires_grad=cpu_data.requires_grad,
        )
        wrapper.cpu_data = cpu_data
        return wrapper

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func} on a MetaWithData tensor outside cpu_backed_meta()")

    def __repr__(self) -> str:
        return f"MetaWithData({self.cpu_data!r})"

    def tolist(self):  # torch refuses .tolist() of any tensor subclass; a CUDA tensor's works
        return self.cpu_data.tolist()


class DeviceMismatch(RuntimeError):
    pass


def tensors_in(value) -> Iterator[torch.Tensor]:
    """The tensors of an op's arguments (nested in lists, tuples and dicts)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)


def mapped(function, value):
    """`value` with `function` applied to each tensor in it (torch's pytree, at a fraction of its
    cost for an op's arguments, which this runs on for every op)."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, (list, tuple)):
        items = [mapped(function, item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return {key: mapped(function, item) for key, item in value.items()}
    return value


class MetaOpsOnCpuData(TorchDispatchMode):
    """Runs each op of `MetaWithData` tensors on their CPU data, once its tensors pass CUDA's rule."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = list(tensors_in((args, kwargs)))
        without_data = [tuple(t.shape) for t in tensors if t.is_meta and not isinstance(t, MetaWithData)]
        if without_data:  # made by a path MetaDataConstructors does not cover: its values are lost
            raise RuntimeError(f"{func}: meta tensors without data of shapes {without_data}")
        on_meta = [tensor for tensor in tensors if isinstance(tensor, MetaWithData)]
        indices = set()
        if func in INDEXING:
            indices = {id(index) for index in tensors_in(args[1] if len(args) > 1 else kwargs.get("indices"))}
        on_cpu = [t for t in tensors if not isinstance(t, MetaWithData) and t.dim() > 0 and id(t) not in indices]
        if on_meta and on_cpu and func not in READ_TWO_DEVICES:
            raise DeviceMismatch(
                f"{func}: tensors on meta beside tensors on cpu of shapes {[tuple(t.shape) for t in on_cpu]}"
            )
        device = kwargs.get("device")
        to_meta = bool(on_meta) if device is None else torch.device(device).type == "meta"
        generator = kwargs.get("generator")
        if to_meta and generator is not None and generator.device.type != "meta":
            raise DeviceMismatch(f"{func}: a {generator.device.type} generator for a draw on meta")
        if to_meta and device is not None:
            kwargs = {**kwargs, "device": torch.device("cpu")}
        args, kwargs = mapped(lambda t: t.cpu_data if isinstance(t, MetaWithData) else t, (args, kwargs))
        output = func(*args, **kwargs)
        # An in-place op returns its input: give back the tensor the caller holds.
        held = {id(t.cpu_data if isinstance(t, MetaWithData) else t): t for t in tensors}

        def placed(value):
            if not isinstance(value, torch.Tensor):
                return value
            if id(value) in held:
                return held[id(value)]
            return MetaWithData(value) if to_meta else value

        return mapped(placed, output)


class MetaDataConstructors(TorchFunctionMode):
    """Tensors made from Python data on the meta device (`torch.tensor(data, device=x.device)`,
    `x.new_tensor(data)`, a list index `x[[0, 2]]`) are made below the dispatcher, where torch
    skips the data for meta: here they are made on the CPU and moved, keeping their values."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor) and args and not isinstance(args[0], torch.Tensor):
            device = kwargs.get("device")
            if device is not None and torch.device(device).type == "meta":
                return func(*args, **{**kwargs, "device": "cpu"}).to(META)
        if func is torch.Tensor.new_tensor and isinstance(args[0], MetaWithData) and kwargs.get("device") is None:
            return args[0].cpu_data.new_tensor(*args[1:], **kwargs).to(META)
        if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__) and isinstance(args[0], MetaWithData):
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            # As CUDA does with CPU index tensors, ATen moves these CPU ones to the tensor's device.
            index = tuple(torch.tensor(part) if isinstance(part, list) else part for part in index)
            args = (args[0], index, *args[2:])
        return func(*args, **kwargs)


@contextlib.contextmanager
def cpu_backed_meta() -> Iterator[None]:
    """Where `.to("meta")` keeps a tensor's data and meta tensors compute on it (module docstring)."""
    with MetaDataConstructors(), MetaOpsOnCpuData():
        yield


@contextlib.contextmanager
def placed_on(device: str) -> Iterator[torch.device]:
    """The context a test's device half runs in, and the device to move its model and inputs to."""
    if device == "meta":
        with cpu_backed_meta():
            yield META
    else:
        yield torch.device(device)


def on_the_first_gpu(load: Callable[[], T]) -> Optional[T]:
    """`load()`, a call that asks for `cuda_device=0`: what it returns where a GPU is there; where none
    is, torch's own refusal to move a model to it, asserted, and None."""
    if torch.cuda.is_available():
        return load()
    with pytest.raises((RuntimeError, AssertionError)):
        load()
    return None


@pytest.fixture(params=DEVICES)
def device(request) -> Iterator[str]:
    # The tests' tensors are tiny and their ops many: more threads than one only contend (tenfold
    # slower on 2 busy cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield request.param
    finally:
        torch.set_num_threads(threads)


def tiny_model(method: str = "vanilla", config: str = "fixtures/sst_tiny.jsonnet", data: str = "fixtures/sst/train.txt",
               seed: int = 7, **environment):
    """An untrained model of a tiny fixture config (METHOD=`method` and `environment` set while it
    is read), in float64 so that a GPU run matches the CPU's closely, and the instances of `data`,
    indexed with its vocabulary."""
    import os

    from allennlp.common import Params
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.models import Model

    previous = dict(os.environ)
    os.environ.update({"METHOD": method, **environment})
    try:
        params = Params.from_file(config)
    finally:
        os.environ.clear()
        os.environ.update(previous)
    instances = list(DatasetReader.from_params(params.pop("dataset_reader")).read(data))
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
    model_params = params.pop("model")
    model_params.pop("vanilla_archive", None)  # SEAT's: the tests set its weights themselves
    torch.manual_seed(seed)
    return Model.from_params(vocab=vocab, params=model_params).double(), instances
