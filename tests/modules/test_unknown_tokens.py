"""`without_unknown_tokens`: the released code's dropping of out-of-vocabulary words, as tensors."""
import torch

from attention_perturb.modules.unknown_tokens import without_unknown_tokens

UNKNOWN = 1


def by_hand(rows):
    """Each row's tokens other than unknown and padding, in order; a row of unknown tokens only keeps
    its first; padded to the longest result (at least one column)."""
    kept = []
    for row in rows:
        real = [token for token in row if token != 0]
        known = [token for token in real if token != UNKNOWN]
        kept.append(known or real[:1])
    width = max(1, max(len(tokens) for tokens in kept))
    return [tokens + [0] * (width - len(tokens)) for tokens in kept]


def compacted(rows, indexer="tokens", key="tokens"):
    text = {indexer: {key: torch.tensor(rows)}}
    result = without_unknown_tokens(text, UNKNOWN)
    assert list(result) == [indexer] and list(result[indexer]) == [key]
    tensor = result[indexer][key]
    assert tensor.dtype == torch.long
    return tensor.tolist()


def test_kept_tokens_move_up_in_order_and_a_text_of_unknowns_keeps_its_first():
    rows = [[5, 1, 6, 1, 7], [1, 1, 0, 0, 0], [8, 9, 0, 0, 0]]
    assert compacted(rows) == by_hand(rows) == [[5, 6, 7], [1, 0, 0], [8, 9, 0]]


def test_every_row_shape_against_the_rule_by_hand():
    cases = [
        [[1, 2, 3, 4]],                         # one unknown at the start
        [[2, 3, 4, 1]],                         # at the end
        [[2, 3, 4, 5]],                         # none: unchanged
        [[1, 1, 1, 1]],                         # only unknowns: the first stays
        [[1, 1], [0, 0]],                       # an all-padding row stays empty
        [[0, 0, 0]],                            # nothing at all: one column of padding
        [[3, 1, 0, 0], [1, 4, 1, 5], [6, 0, 0, 0]],
        [[7, 8, 9, 1, 1, 1, 2], [1, 0, 0, 0, 0, 0, 0]],
    ]
    for rows in cases:
        assert compacted(rows) == by_hand(rows), rows


def test_the_field_keeps_its_indexer_and_key_names():
    assert compacted([[2, 1, 3]], indexer="words", key="token_ids") == [[2, 3]]


def test_a_batch_drawn_at_random_matches_the_rule():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        ids = torch.randint(1, 5, (4, 9), generator=generator)  # 1 is unknown; 0 only pads
        lengths = torch.randint(0, 10, (4,), generator=generator)
        ids[torch.arange(9)[None, :] >= lengths[:, None]] = 0  # padding after each text
        rows = ids.tolist()
        assert compacted(rows) == by_hand(rows), rows


def test_long_texts_keep_their_order():
    """Long rows, where an unstable sort would reorder the kept tokens."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (8, 3000), generator=generator)
    ids[:, 2500:] = 0
    rows = ids.tolist()
    assert compacted(rows) == by_hand(rows)
