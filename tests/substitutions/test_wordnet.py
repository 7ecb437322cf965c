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


def test_a_kind_other_than_synonym_or_antonym_is_refused_everywhere(wordnet):
    """The message names the kinds exactly, and no path treats an unknown kind as antonyms."""
    message = "^unknown substitution kind 'hyponym'; expected one of synonym, antonym$"
    for call in (lambda: wordnet.substitutes("good", "hyponym"), lambda: wordnet.substitutes("the", "hyponym"),
                 lambda: wordnet._candidates("good", None, "hyponym"),
                 lambda: wordnet.substitution_table(Vocabulary(), kind="hyponym")):
        with pytest.raises(ValueError, match=message):
            call()


def test_substitutes_take_the_part_of_speech_they_are_given(wordnet):
    assert wordnet.substitutes("good", "synonym", pos="n") == wordnet.synonyms("good", pos="n")
    assert "goodness" in wordnet.substitutes("good", "synonym", pos="n")
    assert wordnet.substitutes("good", "antonym", pos="n")[0] == "evil" != wordnet.substitutes("good", "antonym")[0]


def expected_part_of_speech(word):
    """The documented rule, computed per part of speech from nltk's WordNet: the most frequent by
    the tagged-corpus counts of the word as written, then of its base form, then by its number of
    senses (ties to the first of a, v, n, r)."""
    from attention_perturb.substitutions.wordnet import shared_wordnet

    reader = shared_wordnet()
    scores = {}
    for part in ("a", "v", "n", "r"):
        synsets = [s for s in reader.synsets(word) if s.pos() == part or (part == "a" and s.pos() == "s")]
        surface = sum(lemma.count() for s in synsets for lemma in s.lemmas() if lemma.name().lower() == word)
        base = sum(lemma.count() for s in synsets for lemma in s.lemmas()
                   if lemma.name().lower() != word and lemma.name().lower() == reader.morphy(word, s.pos()))
        scores[part] = (surface, base, len(synsets))
    return max(scores, key=scores.get) if any(n for _, _, n in scores.values()) else None


# Each decided past the first rule: no count of the word as written ("lacks", "leaves", "bases": the
# base form's counts, summed over its senses), or no count at all (the number of senses: "much", "australian",
# "humour").
TIE_BREAKS = ("credits", "lacks", "leaves", "bases", "signals", "much", "australian", "humour", "layered")


@pytest.mark.parametrize("word", TIE_BREAKS)
def test_part_of_speech_follows_its_rule_where_the_counts_tie(wordnet, word):
    assert wordnet.part_of_speech(word) == expected_part_of_speech(word)


def test_the_tie_break_words_exercise_every_rule():
    """The words above reach past the first criterion, so the test above checks the later ones."""
    from attention_perturb.substitutions.wordnet import shared_wordnet

    reader = shared_wordnet()
    surfaceless = [w for w in TIE_BREAKS if not any(lemma.name().lower() == w for s in reader.synsets(w) for lemma in s.lemmas())]
    assert {"lacks", "leaves", "bases"} <= set(surfaceless)
    uncounted = [w for w in TIE_BREAKS if all(lemma.count() == 0 for s in reader.synsets(w) for lemma in s.lemmas())]
    assert uncounted, "no word is decided by its number of senses"


def test_shared_substitutions_are_one_per_choice_of_antonyms():
    from attention_perturb.substitutions.wordnet import shared_substitutions

    assert shared_substitutions() is shared_substitutions(True) is shared_substitutions(1)
    assert shared_substitutions(True).indirect_antonyms is True
    assert shared_substitutions(False).indirect_antonyms is False and shared_substitutions(0) is shared_substitutions(False)


def test_unusable_ids_are_padding_and_oov_or_padding_alone():
    from attention_perturb.substitutions.wordnet import unusable_ids

    vocab = Vocabulary(non_padded_namespaces=["plain"])
    vocab.add_tokens_to_namespace(["good"], "tokens")
    vocab.add_tokens_to_namespace(["filler", "good", "bad", "evil"], "plain")
    assert unusable_ids(vocab, "tokens") == {0, vocab.get_token_index(vocab._oov_token, "tokens")} == {0, 1}
    assert unusable_ids(vocab, "plain") == {0}


def test_substitutes_outside_a_namespace_without_oov_are_left_out(wordnet):
    vocab = Vocabulary(non_padded_namespaces=["plain"])
    vocab.add_tokens_to_namespace(["filler", "good", "bad", "evil"], "plain")
    good = vocab.get_token_index("good", "plain")
    assert wordnet.in_vocabulary("good", good, "antonym", vocab, "plain") == [vocab.get_token_index(w, "plain") for w in ("bad", "evil")]


def test_one_candidate_and_the_default_of_eight(wordnet):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["good", "bad", "evil"], "tokens")
    one = wordnet.substitution_table(vocab, kind="antonym", max_candidates=1)
    assert one.shape == (vocab.get_vocab_size("tokens"), 1) and one[vocab.get_token_index("good", "tokens")].tolist() == [
        vocab.get_token_index("bad", "tokens")]
    assert wordnet.substitution_table(vocab).shape == (vocab.get_vocab_size("tokens"), 8)


def test_missing_wordnet_data_is_one_line_saying_how_to_install_it(monkeypatch, tmp_path):
    import nltk

    from attention_perturb.substitutions.wordnet import NLTK_DATA, load_wordnet

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(RuntimeError) as refused:
        load_wordnet()
    assert str(refused.value) == (
        f"WordNet data not found (looked for corpora/wordnet under {NLTK_DATA} and nltk.data.path); "
        "run `make install` (Debian packages wordnet-base and wordnet-sense-index)")


def test_loading_wordnet_raises_no_warning_about_multilingual_data():
    import warnings

    from attention_perturb.substitutions.wordnet import load_wordnet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_wordnet()
    assert not [w for w in caught if "multilingual" in str(w.message)]
