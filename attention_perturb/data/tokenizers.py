from typing import List

import spacy
from allennlp.data.tokenizers import Token, Tokenizer


@Tokenizer.register("jain_wallace")
class JainWallaceTokenizer(Tokenizer):
    """
    spaCy's rule-based English tokenizer (`spacy.blank("en")`, no model download needed) with the
    preprocessing of Jain & Wallace (2019) that Kitada & Iyatomi follow: every token is lower-cased
    and every token containing a digit becomes `qq`. Out-of-vocabulary words become `@@UNKNOWN@@`
    later, when the vocabulary indexes them.

    # Parameters

    lowercase : `bool`, optional (default = `True`)
    number_token : `str`, optional (default = `"qq"`)
        Replacement for any token that contains a digit.
    """

    def __init__(self, lowercase: bool = True, number_token: str = "qq") -> None:
        self._spacy = spacy.blank("en")
        self._lowercase = lowercase
        self._number_token = number_token

    def normalize(self, text: str) -> str:
        if any(character.isdigit() for character in text):
            return self._number_token
        return text.lower() if self._lowercase else text

    def tokenize(self, text: str) -> List[Token]:
        return [
            Token(self.normalize(token.text), idx=token.idx)
            for token in self._spacy.tokenizer(text)
            if not token.is_space
        ]

    def batch_tokenize(self, texts: List[str]) -> List[List[Token]]:
        return [self.tokenize(text) for text in texts]
