"""tests/devices.py's meta device with CPU data: it raises where CUDA would, and nowhere else."""
import pytest
import torch

from tests.devices import DeviceMismatch, MetaWithData, cpu_backed_meta

META = torch.device("meta")


def test_a_tensor_made_without_the_inputs_device_raises_beside_them():
    values = torch.arange(6.0).view(2, 3)
    with cpu_backed_meta():
        on_meta = values.to(META)
        assert on_meta.device == META and isinstance(on_meta, MetaWithData)
        with pytest.raises(DeviceMismatch, match="aten.add.Tensor: tensors on meta beside tensors on cpu"):
            on_meta + torch.ones(3)
        with pytest.raises(DeviceMismatch):
            on_meta + torch.ones(3).to(None)
        summed = on_meta + torch.ones(3, device=on_meta.device)
        assert summed.device == META
        torch.testing.assert_close(summed.cpu(), values + 1)
        assert type(summed.cpu()) is torch.Tensor
        # What CUDA accepts beside its tensors: CPU scalars, CPU index tensors, copies.
        torch.testing.assert_close((on_meta * torch.tensor(2.0)).cpu(), values * 2)
        torch.testing.assert_close(on_meta[torch.tensor([1, 0])].cpu(), values[[1, 0]])
        on_meta[torch.tensor([0]), torch.tensor([2])] = -1.0
        on_meta.copy_(on_meta.cpu() * 3)
        assert on_meta.cpu()[0, 2] == -3


def test_data_dependent_steps_and_python_data_keep_their_values():
    values = torch.tensor([[0.0, 2.0, 0.0], [4.0, 0.0, 6.0]])
    with cpu_backed_meta():
        on_meta = values.to(META)
        rows, columns = (on_meta > 0).nonzero(as_tuple=True)
        assert rows.device == META and rows.tolist() == [0, 1, 1] and columns.tolist() == [1, 0, 2]
        assert on_meta.sum().item() == 12.0 and int(on_meta.argmax()) == 5
        assert torch.tensor([7, 8], device=on_meta.device).tolist() == [7, 8]
        assert on_meta.new_tensor([1.5]).tolist() == [1.5]
        assert on_meta[[1, 0]].tolist() == [[4.0, 0.0, 6.0], [0.0, 2.0, 0.0]]
        with pytest.raises(RuntimeError):
            on_meta.numpy()  # as for a CUDA tensor: .cpu() first


def test_gradients_flow_on_meta_as_on_the_cpu():
    weight = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    inputs = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    (expected,) = torch.autograd.grad(torch.tanh(inputs @ weight).sum(), weight)
    with cpu_backed_meta():
        on_meta = weight.detach().to(META).requires_grad_()
        (gradient,) = torch.autograd.grad(torch.tanh(inputs.to(META) @ on_meta).sum(), on_meta)
        assert gradient.device == META
        torch.testing.assert_close(gradient.cpu(), expected)


def test_what_cuda_refuses_raises_and_a_meta_tensor_without_data_is_refused():
    without_data = torch.empty(3, device="meta")  # torch's own meta tensor: shapes only
    with cpu_backed_meta():
        on_meta = torch.zeros(3).to(META)
        with pytest.raises(DeviceMismatch, match="a cpu generator for a draw on meta"):
            torch.rand(3, generator=torch.Generator(), device=on_meta.device)
        with pytest.raises(DeviceMismatch):
            torch.arange(3)[on_meta.long()]  # a CPU tensor indexed with device indices
        with pytest.raises(RuntimeError, match="meta tensors without data"):
            on_meta + without_data
