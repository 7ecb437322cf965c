from typing import Dict, List

import spacy
from allennlp.data.tokenizers import Token, Tokenizer


class SharedTokens:
    """
    One `Token` per distinct word, without character offsets (nothing here reads them), for the
    tokenizers to hand out: a token in an instance then costs a pointer, not its own object and
    string (about 190 bytes more). Reading and indexing IMDB's training set (3.5 M tokens) grows a
    process by 173 MiB with shared tokens, 836 MiB without (`benchmarks/instance_memory.py`). The
    tokens are kept for the table's life, one per distinct word seen.
    """

    def __init__(self) -> None:
        self._tokens: Dict[str, Token] = {}

    def __call__(self, word: str) -> Token:
        token = self._tokens.get(word)
        if token is None:
            token = self._tokens[word] = Token(word)
        return token


@Tokenizer.register("jain_wallace")
class JainWallaceTokenizer(Tokenizer):
    """
    spaCy's rule-based English tokenizer (`spacy.blank("en")`, no model download needed) with the
    preprocessing of Jain & Wallace (2019) that Kitada & Iyatomi follow: every token is lower-cased
    and every token containing a digit becomes `qq`. Out-of-vocabulary words become `@@UNKNOWN@@`
    later, when the vocabulary indexes them. Equal words share one `Token` (`SharedTokens`).

    # Parameters

    lowercase : `bool`, optional (default = `True`)
    number_token : `str`, optional (default = `"qq"`)
        Replacement for any token that contains a digit.
    """

    def __init__(self, lowercase: bool = True, number_token: str = "qq") -> None:
        self._spacy = spacy.blank("en")
        self._lowercase = lowercase
        self._number_token = number_token
        self._shared_token = SharedTokens()

    def normalize(self, text: str) -> str:
        if any(character.isdigit() for character in text):
            return self._number_token
        return text.lower() if self._lowercase else text

    def tokenize(self, text: str) -> List[Token]:
        return [self._shared_token(self.normalize(token.text)) for token in self._spacy.tokenizer(text) if not token.is_space]

    def batch_tokenize(self, texts: List[str]) -> List[List[Token]]:
        return [self.tokenize(text) for text in texts]
