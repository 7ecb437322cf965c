"""Jain & Wallace's preprocessing: spaCy's English tokens, lower-cased, every token with a digit
`qq`; equal words share one `Token`."""
from attention_perturb.data.tokenizers import JainWallaceTokenizer


def test_tokens_are_lowercased_and_tokens_with_digits_become_qq():
    tokens = JainWallaceTokenizer().tokenize("The Rangers won 4 games in  1994!")  # the extra space is no token
    assert [token.text for token in tokens] == ["the", "rangers", "won", "qq", "games", "in", "qq", "!"]


def test_batch_tokenize_tokenizes_each_text_in_order():
    tokenizer = JainWallaceTokenizer()
    batch = tokenizer.batch_tokenize(["A Dog barks.", "", "It is 3 years old"])
    assert [[token.text for token in tokens] for tokens in batch] == [
        ["a", "dog", "barks", "."], [], ["it", "is", "qq", "years", "old"]]
    assert batch[0][1] is tokenizer.tokenize("dog")[0]  # one shared Token per word


def test_without_lowercase_the_case_is_kept_and_numbers_still_become_qq():
    tokens = JainWallaceTokenizer(lowercase=False).tokenize("The Film of 1999")
    assert [token.text for token in tokens] == ["The", "Film", "of", "qq"]
