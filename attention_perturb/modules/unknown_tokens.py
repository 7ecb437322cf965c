import torch
from allennlp.data import TextFieldTensors
from allennlp.nn import util


def without_unknown_tokens(text: TextFieldTensors, unknown_id: int) -> TextFieldTensors:
    """The token ids of `text` with every unknown token removed and the rest moved up (a text of
    unknown tokens only keeps its first one, so that every text has a token)."""
    token_ids = util.get_token_ids_from_text_field_tensors(text)
    keep = (token_ids != unknown_id) & (token_ids != 0)
    keep[:, 0] |= ~keep.any(1) & (token_ids[:, 0] != 0)
    order = (~keep).to(torch.int8).argsort(dim=1, stable=True)  # kept tokens first, in order
    compacted = token_ids.gather(1, order) * keep.gather(1, order)
    length = max(int(keep.sum(1).max()), 1)
    ((indexer, tensors),) = text.items()
    ((key, _),) = tensors.items()
    return {indexer: {key: compacted[:, :length]}}
