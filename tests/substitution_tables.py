"""Fixed word-substitution tables that tests install in place of WordNet's, so that a model's
substitutes can be worked out by hand."""
import torch


def fixed_synonyms(vocabulary_size):
    """Word id -> its "synonyms": none for every third word, else the next two ids (wrapping, never 0)."""
    following = lambda word, step: 1 + (word - 1 + step) % (vocabulary_size - 1)  # noqa: E731
    return {word: [] if word % 3 == 0 else [following(word, 1), following(word, 2)] for word in range(1, vocabulary_size)}


def table_of(synonyms, width):
    table = torch.zeros(len(synonyms) + 1, width, dtype=torch.long)
    for word, substitutes in synonyms.items():
        table[word, :len(substitutes)] = torch.tensor(substitutes, dtype=torch.long)
    return table
