import pytest
import torch
from allennlp.common import Params
from allennlp.modules.seq2seq_encoders import Seq2SeqEncoder
from allennlp.nn import util

from attention_perturb.modules.unpacked_lstm import reverse_within_lengths
from tests.devices import device, placed_on  # noqa: F401

LENGTHS = [9, 3, 6, 1, 0]  # a full row, short rows, one token, and an all-padding row


def encoders(input_size=7, hidden_size=5):
    """allennlp's packed `lstm` and ours, each built after the same seed, in float64."""
    built = []
    for params in ({"type": "lstm", "input_size": input_size, "hidden_size": hidden_size, "bidirectional": True},
                   {"type": "unpacked_lstm", "input_size": input_size, "hidden_size": hidden_size}):
        torch.manual_seed(0)
        built.append(Seq2SeqEncoder.from_params(Params(params)).double())
    return built


def padded_batch(lengths=LENGTHS, time=9, size=7):
    torch.manual_seed(1)
    inputs = torch.randn(len(lengths), time, size, dtype=torch.float64, requires_grad=True)
    mask = torch.arange(time).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return inputs, mask


def test_reverse_within_lengths_by_hand():
    tensor = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    lengths = torch.tensor([3, 2, 4])
    assert reverse_within_lengths(tensor, lengths).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0], [9, 8, 7, 6]]
    features = torch.randn(3, 4, 2)
    assert torch.equal(reverse_within_lengths(reverse_within_lengths(features, lengths), lengths), features)


def test_same_initial_weights_and_state_dict_keys_as_allennlps_lstm():
    packed, unpacked = encoders()
    assert list(packed.state_dict()) == list(unpacked.state_dict())
    for name, value in packed.state_dict().items():
        assert torch.equal(value, unpacked.state_dict()[name]), name
    assert (unpacked.get_input_dim(), unpacked.get_output_dim(), unpacked.is_bidirectional()) == (7, 10, True)


def test_states_and_gradients_equal_the_packed_lstms():
    packed, unpacked = encoders()
    inputs, mask = padded_batch()
    upstream = torch.randn(len(LENGTHS), 9, 10, dtype=torch.float64)
    results = []
    for encoder in (packed, unpacked):
        states = encoder(inputs, mask)
        final = util.get_final_encoder_states(states[:-1], mask[:-1], bidirectional=True)  # (the rows with a token)
        gradients = torch.autograd.grad((states * upstream).sum() + final.sum(), [inputs, *encoder.parameters()])
        results.append((states, final, gradients))
    (states, final, gradients), (our_states, our_final, our_gradients) = results
    torch.testing.assert_close(our_states, states, rtol=0, atol=1e-12)
    torch.testing.assert_close(our_final, final, rtol=0, atol=1e-12)
    assert len(gradients) == 9  # the input, and four weight tensors per direction
    for ours, theirs in zip(our_gradients, gradients):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    # The backward direction starts at each row's own last token: its state there depends on that token only.
    assert not torch.allclose(our_states[1, 2, 5:], our_states[0, 2, 5:])


def test_padding_stays_zero_and_cannot_reach_a_real_state():
    _, unpacked = encoders()
    inputs, mask = padded_batch()
    states = unpacked(inputs, mask)
    assert torch.count_nonzero(states[~mask]) == 0
    assert torch.count_nonzero(states[mask].abs() > 0) > 0
    noisy = inputs.detach().clone()
    noisy[~mask] += 100.0
    torch.testing.assert_close(unpacked(noisy, mask), states.detach(), rtol=0, atol=0)


def test_in_evaluation_mode_too():
    packed, unpacked = encoders()
    packed.eval(), unpacked.eval()
    inputs, mask = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(unpacked(inputs, mask), packed(inputs, mask), rtol=0, atol=1e-12)


def test_a_one_directional_encoder_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^unpacked_lstm: only bidirectional: true is implemented \(use type 'lstm' otherwise\)$"):
        Seq2SeqEncoder.from_params(Params({"type": "unpacked_lstm", "input_size": 3, "hidden_size": 2,
                                           "bidirectional": False}))


def test_states_and_gradients_on_the_inputs_device_equal_the_cpus(device):
    _, unpacked = encoders()
    inputs, mask = padded_batch()
    expected = unpacked(inputs, mask)
    (expected_gradient,) = torch.autograd.grad(expected.sum(), inputs)
    with placed_on(device) as placed:
        placed_inputs = inputs.detach().to(placed).requires_grad_()
        states = unpacked.to(placed)(placed_inputs, mask.to(placed))
        (gradient,) = torch.autograd.grad(states.sum(), placed_inputs)
        assert states.device.type == placed.type
        states, gradient = states.cpu(), gradient.cpu()
    torch.testing.assert_close(states, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(gradient, expected_gradient, rtol=0, atol=1e-12)
