import torch
from allennlp.modules.seq2seq_encoders import Seq2SeqEncoder


def reverse_within_lengths(tensor: torch.Tensor, lengths: torch.LongTensor) -> torch.Tensor:
    """`tensor` (batch, time, ...) with each row's first `lengths[b]` steps in reverse order and its
    padding where it was; applied twice, the identity."""
    time = torch.arange(tensor.size(1), device=tensor.device).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    index = torch.where(time < lengths, lengths - 1 - time, time)
    return tensor.gather(1, index.view(*index.shape, *([1] * (tensor.dim() - 2))).expand_as(tensor))


@Seq2SeqEncoder.register("unpacked_lstm")
class UnpackedBiLstm(Seq2SeqEncoder):
    """
    A one-layer bidirectional LSTM with the outputs and gradients of allennlp's `lstm` encoder
    (`bidirectional: true`), computed without packing the batch. On CPU, torch's backward pass
    through a packed LSTM grows far faster than the sequence length: for 32 sequences of 226
    tokens it takes 4.7 times the unpacked one, for 4 of 1,026 tokens 20 times
    (`benchmarks/lstm_packing.py`), which made IMDB and CNN training impractical here.

    The forward direction runs over the padded batch: padding follows each sequence, so it never
    reaches a real token's state. The backward direction runs over each sequence reversed within
    its own length, so that it starts at the sequence's last token, as it does when packed. States
    at padding are zero, as `pad_packed_sequence` leaves them. The parameters live in a
    `torch.nn.LSTM` named `_module`, as in allennlp's wrapper, so that the two encoders share
    initialisation (same seed, same weights) and state-dict keys.

    # Parameters

    input_size : `int`
    hidden_size : `int`
    bidirectional : `bool`, optional (default = `True`)
        Only `True`: the configs' encoder, and the case packing exists for.
    """

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool = True) -> None:
        super().__init__()
        if not bidirectional:
            raise ValueError("unpacked_lstm: only bidirectional: true is implemented (use type 'lstm' otherwise)")
        self._module = torch.nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)

    def get_input_dim(self) -> int:
        return self._module.input_size

    def get_output_dim(self) -> int:
        return 2 * self._module.hidden_size

    def is_bidirectional(self) -> bool:
        return True

    def _direction(self, inputs: torch.Tensor, suffix: str) -> torch.Tensor:
        weights = [getattr(self._module, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        zeros = inputs.new_zeros(1, inputs.size(0), self._module.hidden_size)
        output, _, _ = torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)
        return output

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        lengths = mask.sum(dim=1)
        forward_states = self._direction(inputs, "")
        backward_states = reverse_within_lengths(self._direction(reverse_within_lengths(inputs, lengths), "_reverse"), lengths)
        return torch.cat([forward_states, backward_states], dim=-1) * mask.unsqueeze(-1)
