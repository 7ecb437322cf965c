import pytest
import torch
from allennlp.data import Vocabulary

from attention_perturb.substitutions import WordNetSubstitutions


@pytest.fixture(scope="module")
def wordnet():
    return WordNetSubstitutions()


def test_antonyms_of_known_words(wordnet):
    assert wordnet.antonyms("good")[0] == "bad"
    assert wordnet.antonyms("bad")[0] == "good"
    assert wordnet.antonyms("happy")[0] == "unhappy"
    assert wordnet.antonyms("unhappy")[0] == "happy"
    assert "ugly" in wordnet.antonyms("beautiful")
    assert wordnet.antonyms("love") == ["hate"]  # the verb (most frequent) only: the noun adds nothing new


def test_direct_antonyms_only_are_the_word_lemmas_own(wordnet):
    """Without the indirect ones, a word's antonyms are its own lemma's direct antonyms in its most
    frequent part of speech; here checked against nltk's WordNet read directly: the antonyms of the
    "great"/"good"/"fresh"/"boring" lemmas in their adjective synsets."""
    from attention_perturb.substitutions.wordnet import shared_wordnet

    direct = WordNetSubstitutions(indirect_antonyms=False)
    reader = shared_wordnet()
    for word in ("great", "good", "fresh", "boring"):
        expected = []
        for synset in reader.synsets(word, "a"):
            for lemma in synset.lemmas():
                if lemma.name().lower() == word:
                    for antonym in lemma.antonyms():
                        name = antonym.name().lower()
                        if "_" not in name and name not in expected:
                            expected.append(name)
        assert direct.antonyms(word) == expected, word
        assert wordnet.antonyms(word)[: len(expected)] == expected  # the indirect ones come after
    assert direct.antonyms("great") == [] and wordnet.antonyms("great")[0] == "small"
    assert "nonpregnant" in wordnet.antonyms("great")


def test_indirect_antonyms_of_satellite_adjectives_come_after_direct_ones(wordnet):
    # "great" (satellite of "large") has no antonym of its own; "boring" has one via "interesting".
    assert wordnet.antonyms("great")[0] == "small"
    assert wordnet.antonyms("boring") == ["interesting"]


def test_synonyms_of_known_words(wordnet):
    assert {"movie", "picture", "flick"} <= set(wordnet.synonyms("film"))
    assert "glad" in wordnet.synonyms("happy")
    assert {"dull", "tedious", "tiresome"} <= set(wordnet.synonyms("boring"))
    # An inflected word gets the lemmas of its base form's senses, without the base form itself.
    assert "movie" in wordnet.synonyms("films") and "film" not in wordnet.synonyms("films")


def test_substitutes_are_single_lowercase_words_without_the_word_itself(wordnet):
    for word in ["good", "Good", "film", "run", "great", "cold", "set"]:
        for kind in ["synonym", "antonym"]:
            substitutes = wordnet.substitutes(word, kind)
            assert word.lower() not in substitutes
            assert len(substitutes) == len(set(substitutes))
            assert all(s == s.lower() and "_" not in s and " " not in s for s in substitutes)


def test_stop_words_neither_get_nor_are_substitutes(wordnet):
    everything = WordNetSubstitutions(stopwords=())
    assert "live" in everything.synonyms("is") and everything.antonyms("has") == ["lack"]
    assert wordnet.synonyms("is") == [] and wordnet.antonyms("never") == []
    assert "well" in everything.synonyms("good") and "well" not in wordnet.synonyms("good")


def test_part_of_speech_is_the_most_frequent_one(wordnet):
    assert wordnet.part_of_speech("good") == "a"
    assert wordnet.part_of_speech("film") == "n"
    assert wordnet.part_of_speech("run") == "v"
    assert wordnet.part_of_speech("boring") == "a"  # the word as written, not the verb "bore"
    assert wordnet.part_of_speech("the") is None
    assert wordnet.synonyms("the") == [] and wordnet.antonyms("the") == []


def test_explicit_part_of_speech(wordnet):
    # The noun "good" (goodness) and its antonym; "s" (satellite) means adjective.
    assert "goodness" in wordnet.synonyms("good", pos="n") and "goodness" not in wordnet.synonyms("good")
    assert wordnet.antonyms("good", pos="n")[0] == "evil"
    assert wordnet.synonyms("good", pos="s") == wordnet.synonyms("good", pos="a")
    with pytest.raises(ValueError, match="part of speech 'x'"):
        wordnet.synonyms("good", pos="x")
    with pytest.raises(ValueError, match="unknown substitution kind 'hyponym'"):
        wordnet.substitutes("good", "hyponym")


def test_substitution_table_on_a_tiny_vocabulary(wordnet):
    vocab = Vocabulary()
    words = ["good", "bad", "evil", "film", "movie", "flick", "the", "happy", "unhappy", "glad"]
    vocab.add_tokens_to_namespace(words, "tokens")
    index = {word: vocab.get_token_index(word, "tokens") for word in words}
    oov = vocab.get_token_index(vocab._oov_token, "tokens")

    antonyms = wordnet.substitution_table(vocab, kind="antonym", max_candidates=3)
    assert antonyms.shape == (vocab.get_vocab_size("tokens"), 3) and antonyms.dtype == torch.long
    assert antonyms[index["good"]].tolist() == [index["bad"], index["evil"], 0]
    assert antonyms[index["bad"]].tolist() == [index["good"], 0, 0]
    assert antonyms[index["happy"]].tolist() == [index["unhappy"], 0, 0]
    assert antonyms[index["film"]].tolist() == [0, 0, 0]

    synonyms = wordnet.substitution_table(vocab, kind="synonym", max_candidates=2)
    assert synonyms.shape == (vocab.get_vocab_size("tokens"), 2)
    # WordNet's order ("movie", "picture", "pic", "flick"), restricted to the vocabulary, then cut.
    assert synonyms[index["film"]].tolist() == [index["movie"], index["flick"]]
    assert synonyms[index["movie"]].tolist() == [index["film"], index["flick"]]
    assert synonyms[index["happy"]].tolist() == [index["glad"], 0]
    # Every row equals the in-vocabulary synonyms, never padding/OOV, never the word itself.
    for word in words:
        expected = [index[s] for s in wordnet.synonyms(word) if s in index][:2]
        assert synonyms[index[word]].tolist() == expected + [0] * (2 - len(expected))
    assert synonyms[0].tolist() == [0, 0] and synonyms[oov].tolist() == [0, 0]
    assert not ((synonyms == oov).any() or (antonyms == oov).any())


def test_substitution_table_rejects_bad_arguments(wordnet):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["good"], "tokens")
    with pytest.raises(ValueError, match="unknown substitution kind 'opposite'"):
        wordnet.substitution_table(vocab, kind="opposite")
    with pytest.raises(ValueError, match="max_candidates must be >= 1"):
        wordnet.substitution_table(vocab, max_candidates=0)


def test_the_reader_skips_nltks_map_of_wordnet_onto_itself():
    """nltk maps WordNet 3.0 onto the loaded WordNet (3.0 again) for multilingual lookups only;
    ours does not build that map, and English lookups do not need it (the tests above)."""
    from attention_perturb.substitutions.wordnet import load_wordnet

    reader = load_wordnet()
    assert reader.get_version() == "3.0" and reader.map30 is None
