from typing import Dict

import torch
from allennlp.common.checks import ConfigurationError

from attention_perturb.interpret.word_importance.base import WordImportance, instances_at


@WordImportance.register("leave_one_out")
class LeaveOneOut(WordImportance):
    """
    p(ŷ | x) − p(ŷ | x without token t): how much the predicted label's probability drops when
    token t is removed from the attended text (the later tokens move up one place). Its magnitude
    is, for two labels, the total variation distance Jain & Wallace use. Every (instance, token)
    variant runs as one row of a batch, `max_batch` rows per forward pass; instances of one token
    have no variant and get 0. No gradient is taken, so `detach_attention` does not apply.

    # Parameters

    max_batch : `int`, optional (default = `1024`)
    """

    measure_name = "leave_one_out"

    def __init__(self, detach_attention: bool = False, max_batch: int = 1024) -> None:
        if detach_attention:
            raise ConfigurationError("leave_one_out takes no gradient: detach_attention does not apply to it")
        super().__init__()
        self.max_batch = max_batch

    def scores(self, model, embedded: Dict, labels: torch.LongTensor) -> torch.Tensor:
        text = model.attended_text(embedded)
        batch_size, length = text.mask.shape
        lengths = text.mask.sum(1)
        drops = text.embeddings.new_zeros(batch_size, length)
        # Variant (b, t) exists where t is a token of b and b keeps at least one token without it.
        instances, removed = ((torch.arange(length, device=lengths.device) < lengths[:, None]) & (lengths[:, None] > 1)).nonzero(as_tuple=True)
        if length < 2 or instances.numel() == 0:
            return drops
        kept = torch.arange(length - 1, device=lengths.device)
        with torch.no_grad():
            clean = model.label_probabilities(model.logits_of(embedded), labels)
            for start in range(0, instances.numel(), self.max_batch):
                instance = instances[start:start + self.max_batch]
                position = removed[start:start + self.max_batch]
                variants = instances_at(embedded, instance)
                source = kept[None, :] + (kept[None, :] >= position[:, None]).long()  # (rows, T - 1)
                shortened = variants[model.attended_key]
                shortened = shortened._replace(
                    embeddings=shortened.embeddings.gather(
                        1, source[:, :, None].expand(-1, -1, shortened.embeddings.size(-1))
                    ),
                    mask=kept[None, :] < (lengths[instance] - 1)[:, None],
                    token_ids=shortened.token_ids.gather(1, source),
                )
                variants[model.attended_key] = shortened
                probabilities = model.label_probabilities(model.logits_of(variants), labels[instance])
                drops[instance, position] = clean[instance] - probabilities
        return drops
