import functools
import warnings
from pathlib import Path
from typing import Collection, Dict, List, Optional, Set

import nltk
import torch
from allennlp.data import Vocabulary
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from spacy.lang.en.stop_words import STOP_WORDS

# `make install` copies Debian's WordNet 3.0 here (no nltk download), so no NLTK_DATA is needed.
NLTK_DATA = Path(__file__).resolve().parents[2] / ".venv" / "nltk_data"
if str(NLTK_DATA) not in nltk.data.path:
    nltk.data.path.append(str(NLTK_DATA))

KINDS = ("synonym", "antonym")
# WordNet's parts of speech; adjective satellites ("s") count as adjectives.
PARTS_OF_SPEECH = ("a", "v", "n", "r")


class EnglishWordNetReader(WordNetCorpusReader):
    """nltk's WordNet reader without the map from WordNet 3.0 synsets that only its multilingual
    (OMW) lookups read. nltk builds that map whenever the loaded version's number differs from the
    corpus name "wordnet", which is always, so it maps WordNet 3.0 onto itself by reading the
    sense index twice: most of the reader's 25 s start on this machine."""

    def map_wn(self, version: str = "wordnet") -> None:
        return None


def load_wordnet() -> WordNetCorpusReader:
    """nltk's WordNet reader over the data `make install` lays out, or a one-line error saying so."""
    try:
        root = nltk.data.find("corpora/wordnet")
    except LookupError:
        raise RuntimeError(
            f"WordNet data not found (looked for corpora/wordnet under {NLTK_DATA} and nltk.data.path); "
            "run `make install` (Debian packages wordnet-base and wordnet-sense-index)"
        ) from None
    with warnings.catch_warnings():
        # Only English is used, so the multilingual (OMW) data nltk warns about is not needed.
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        return EnglishWordNetReader(str(root), None)


@functools.lru_cache(maxsize=None)
def shared_wordnet() -> WordNetCorpusReader:
    return load_wordnet()


class WordNetSubstitutions:
    """
    Word substitutes from WordNet 3.0: synonyms (oversensitivity perturbations) and antonyms
    (undersensitivity perturbations), as single lower-case words in one part of speech.

    Without a part of speech, a word's own is its most frequent one in WordNet's tagged corpus
    counts (of the word as written, else of its base form, else by number of senses), and
    substitutes come from the senses of that part of speech only, most frequent sense first.
    Antonyms are WordNet's direct ones, then for satellite adjectives the indirect ones of their
    head. Substitutes are lemmas, so an inflected word gets uninflected ones ("films" -> "movie").
    Stop words neither get nor are substitutes (as in TextAttack's PWWS): WordNet would otherwise
    offer "is" -> "live" (be, live) or "has" -> "lack".

    # Parameters

    wordnet : `WordNetCorpusReader`, optional (default = the one `make install` lays out)
    stopwords : `Collection[str]`, optional (default = spaCy's English stop words)
    indirect_antonyms : `bool`, optional (default = `True`)
        Add the satellites' indirect antonyms after the direct ones, which are often no opposite
        in context ("great" -> "nonpregnant", "good" -> "distant"). BAT's code takes no indirect
        antonyms (`word_swap_antonym.py`, hannahxchen/balanced-adversarial-training @ be044a8),
        but the first direct antonym of every lemma of every synset of the word, in any part of
        speech, filtered by part of speech in context ("big" -> small, little; ours: little).
    """

    def __init__(
        self,
        wordnet: Optional[WordNetCorpusReader] = None,
        stopwords: Optional[Collection[str]] = None,
        indirect_antonyms: bool = True,
    ) -> None:
        self._wordnet = wordnet or shared_wordnet()
        self._stopwords = frozenset(STOP_WORDS if stopwords is None else stopwords)
        self.indirect_antonyms = indirect_antonyms
        self._candidates = functools.lru_cache(maxsize=None)(self._uncached_candidates)
        self.part_of_speech = functools.lru_cache(maxsize=None)(self.part_of_speech)  # type: ignore[method-assign]

    def synonyms(self, word: str, pos: Optional[str] = None) -> List[str]:
        return list(self._candidates(word.lower(), pos, "synonym"))

    def antonyms(self, word: str, pos: Optional[str] = None) -> List[str]:
        return list(self._candidates(word.lower(), pos, "antonym"))

    def substitutes(self, word: str, kind: str, pos: Optional[str] = None) -> List[str]:
        return list(self._candidates(word.lower(), pos, kind))

    def in_vocabulary(self, word: str, own_id: int, kind: str, vocab: Vocabulary, namespace: str) -> List[int]:
        """The ids of `word`'s substitutes of `kind` that are in `namespace`, in WordNet's order:
        never padding, OOV (see `unusable_ids`) or the word's own id `own_id`."""
        token_to_index = vocab.get_token_to_index_vocabulary(namespace)
        excluded = unusable_ids(vocab, namespace)
        return [
            token_to_index[substitute]
            for substitute in self.substitutes(word, kind)
            if token_to_index.get(substitute, 0) not in excluded and token_to_index[substitute] != own_id
        ]

    def part_of_speech(self, word: str) -> Optional[str]:
        """The word's most frequent WordNet part of speech (a, v, n or r), None if not in WordNet."""
        synsets = self._wordnet.synsets(word)
        if not synsets:
            return None
        surface: Dict[str, int] = dict.fromkeys(PARTS_OF_SPEECH, 0)
        base: Dict[str, int] = dict.fromkeys(PARTS_OF_SPEECH, 0)
        senses: Dict[str, int] = dict.fromkeys(PARTS_OF_SPEECH, 0)
        for synset in synsets:
            pos = _coarse(synset.pos())
            senses[pos] += 1
            base_form = self._wordnet.morphy(word, synset.pos())
            for lemma in synset.lemmas():
                name = lemma.name().lower()
                if name == word:
                    surface[pos] += lemma.count()
                elif name == base_form:
                    base[pos] += lemma.count()
        return max(PARTS_OF_SPEECH, key=lambda pos: (surface[pos], base[pos], senses[pos]))

    def _uncached_candidates(self, word: str, pos: Optional[str], kind: str) -> tuple:
        check_kind(kind)
        if pos is not None and _coarse(pos) not in PARTS_OF_SPEECH:
            raise ValueError(f"unknown WordNet part of speech {pos!r}; expected one of a, s, v, n, r")
        if word in self._stopwords:
            return ()
        own_pos = _coarse(pos) if pos is not None else self.part_of_speech(word)
        if own_pos is None:
            return ()
        # nltk's "a" already includes the satellites "s".
        synsets = self._wordnet.synsets(word, own_pos)
        excluded = {word} | {self._wordnet.morphy(word, synset.pos()) or word for synset in synsets}
        if kind == "synonym":
            lemmas = [lemma for synset in synsets for lemma in synset.lemmas()]
        else:
            own = [lemma for synset in synsets for lemma in synset.lemmas() if lemma.name().lower() in excluded]
            # Satellite adjectives have no antonyms of their own, only the indirect ones of the
            # head adjective they are similar to (WordNet's adjective clusters); those come after.
            heads = (
                [head for synset in synsets if synset.pos() == "s" for head in synset.similar_tos()]
                if self.indirect_antonyms else []
            )
            lemmas = [antonym for lemma in own for antonym in lemma.antonyms()] + [
                antonym for head in heads for lemma in head.lemmas() for antonym in lemma.antonyms()
            ]
        found: List[str] = []
        for lemma in lemmas:
            name = lemma.name().lower()
            if "_" not in name and name not in excluded and name not in self._stopwords and name not in found:
                found.append(name)
        return tuple(found)

    def substitution_table(
        self,
        vocab: Vocabulary,
        namespace: str = "tokens",
        kind: str = "synonym",
        max_candidates: int = 8,
    ) -> torch.LongTensor:
        """
        `(vocab_size, max_candidates)` ids of each word's in-vocabulary substitutes of `kind`, in
        WordNet's order, padded with the padding id 0. Padding and OOV never appear as a candidate,
        and their own rows are empty.
        """
        check_kind(kind)
        if max_candidates < 1:
            raise ValueError(f"max_candidates must be >= 1, got {max_candidates}")
        excluded = unusable_ids(vocab, namespace)
        table = torch.zeros(vocab.get_vocab_size(namespace), max_candidates, dtype=torch.long)
        for token, index in vocab.get_token_to_index_vocabulary(namespace).items():
            if index in excluded:
                continue
            candidates = self.in_vocabulary(token, index, kind, vocab, namespace)[:max_candidates]
            table[index, : len(candidates)] = torch.tensor(candidates, dtype=torch.long)
        return table


def shared_substitutions(indirect_antonyms: bool = True) -> WordNetSubstitutions:
    """One `WordNetSubstitutions` over the default WordNet and stop words per process (and choice
    of antonyms), so that its caches of each word's part of speech and substitutes (a lemma count
    is a search in WordNet's sense index) serve every model, attack and measure that process runs,
    not one each."""
    return _shared_substitutions(bool(indirect_antonyms))


@functools.lru_cache(maxsize=None)
def _shared_substitutions(indirect_antonyms: bool) -> WordNetSubstitutions:
    return WordNetSubstitutions(indirect_antonyms=indirect_antonyms)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown substitution kind {kind!r}; expected one of {', '.join(KINDS)}")


def unusable_ids(vocab: Vocabulary, namespace: str) -> Set[int]:
    """Padding and the OOV id (0 where the namespace has none): never substituted, never substitutes."""
    return {0, vocab.get_token_to_index_vocabulary(namespace).get(vocab._oov_token, 0)}


def _coarse(pos: str) -> str:
    return "a" if pos == "s" else pos
