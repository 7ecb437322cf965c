"""
The public raw downloads of the binary classification datasets, as `(file, line, example or
problem)` for `TextClassificationReader.checked`. Labels follow the paper's Appendix A: the second
class named is the positive one.
"""
import csv
import glob
import os
import re
from typing import Iterable, Iterator

from attention_perturb.data.dataset_readers.sst import NEGATIVE, POSITIVE, binary_sentiment, parse_sst_tree
from attention_perturb.data.dataset_readers.text_classification import LocatedExample
from attention_perturb.data.tokenizers import JainWallaceTokenizer

IMDB_LABELS = {"neg": NEGATIVE, "pos": POSITIVE}
NEWSGROUP_LABELS = {"rec.sport.baseball": NEGATIVE, "rec.sport.hockey": POSITIVE}
AG_NEWS_LABELS = {"1": NEGATIVE, "3": POSITIVE}  # World, Business; Sports (2) and Sci/Tech (4) are not used
AG_NEWS_CLASSES = ("1", "2", "3", "4")

_HTML_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_QUOTE_LINE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")
_NON_WORD_RUN = re.compile(r"(\W)+")
_KERAS_PUNCTUATION = str.maketrans({character: " " for character in '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'})


def sst_examples(path: str) -> Iterator[LocatedExample]:
    """Binary SST from a `trainDevTestTrees_PTB` file: neutral trees dropped (see `binary_sentiment`)."""
    with open(path, encoding="utf-8") as trees:
        for line_number, line in enumerate(trees, start=1):
            if not line.strip():
                continue
            try:
                fine_label, words = parse_sst_tree(line)
            except ValueError as problem:
                yield path, line_number, problem
                continue
            label = binary_sentiment(fine_label)
            if label is not None:
                yield path, line_number, {"text": " ".join(words), "label": label}


def utf8_text(path: str):
    """(line, text) of a UTF-8 file, or (line, ValueError) saying where it is not UTF-8, for the
    readers' `checked` to report as `path:line:` (or skip)."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        return 1, data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return line, ValueError(f"not UTF-8 text ({error.reason} at byte {error.start})")


def imdb_examples(split_dir: str) -> Iterator[LocatedExample]:
    """Reviews of an `aclImdb/{train,test}` folder (`neg/*.txt`, `pos/*.txt`; `unsup` is unlabelled
    and not used), as written, in file-name order."""
    for folder, label in IMDB_LABELS.items():
        paths = sorted(glob.glob(os.path.join(split_dir, folder, "*.txt")))
        if not paths:
            raise FileNotFoundError(f"no reviews in {os.path.join(split_dir, folder)}")
        for path in paths:
            line, text = utf8_text(path)
            yield path, line, text if isinstance(text, ValueError) else {"text": text.strip(), "label": label}


def imdb_word_count(review: str) -> int:
    """Words of a raw review as Keras counted them in the `imdb_full.pkl` that Jain & Wallace's
    length limit applies to: punctuation removed, so an HTML line break `<br />` is the word `br`."""
    return len(review.translate(_KERAS_PUNCTUATION).split())


def remove_html_line_breaks(review: str) -> str:
    return " ".join(_HTML_LINE_BREAK.sub(" ", review).split())


def strip_newsgroup_post(post: str) -> str:
    """A post without its header (up to the first blank line), signature (from the last line of
    dashes or blank line) and quoted lines, as scikit-learn's `remove=("headers", "footers", "quotes")` that Jain
    & Wallace use."""
    _, _, body = post.partition("\n\n")
    lines = body.strip().split("\n")
    # As scikit-learn, the last line of dashes or the last blank line starts the signature.
    signature = next((n for n in range(len(lines) - 1, 0, -1) if lines[n].strip().strip("-") == ""), None)
    if signature is not None:
        body = "\n".join(lines[:signature])
    return "\n".join(line for line in body.split("\n") if not _QUOTE_LINE.search(line)).strip()


def clean_newsgroup_text(text: str, tokenizer: JainWallaceTokenizer) -> str:
    """Jain & Wallace's 20News cleaning: their tokens joined by spaces, then every run of non-word
    characters collapsed to its last one (so punctuation between words disappears)."""
    joined = " ".join(token.text for token in tokenizer.tokenize(text))
    return " ".join(_NON_WORD_RUN.sub(r" \1 ", joined).split())


def newsgroup_examples(bydate_dirs: Iterable[str]) -> Iterator[LocatedExample]:
    """Baseball (negative) and hockey (positive) posts of the `20news-bydate-{train,test}` folders,
    stripped and cleaned; posts left empty are dropped, as in Jain & Wallace's notebook."""
    tokenizer = JainWallaceTokenizer()
    for bydate_dir in bydate_dirs:
        for group, label in NEWSGROUP_LABELS.items():
            paths = sorted(glob.glob(os.path.join(bydate_dir, group, "*")), key=_post_order)
            if not paths:
                raise FileNotFoundError(f"no posts in {os.path.join(bydate_dir, group)}")
            for path in paths:
                with open(path, encoding="latin-1") as post:  # the release's encoding
                    text = clean_newsgroup_text(strip_newsgroup_post(post.read()), tokenizer)
                if text:
                    yield path, 1, {"text": text, "label": label}


def _post_order(path: str):
    name = os.path.basename(path)
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def ag_news_examples(path: str) -> Iterator[LocatedExample]:
    """World (negative) and Business (positive) descriptions of an AG News `{train,test}.csv`
    (`"class","title","description"`, class 1..4)."""
    with open(path, encoding="utf-8", newline="") as table:
        rows = csv.reader(table)
        record_start = 1
        for row in rows:
            line_number, record_start = record_start, rows.line_num + 1
            if not row:
                continue
            if len(row) != 3:
                yield path, line_number, ValueError(f"expected 3 columns (class, title, description), found {len(row)}")
            elif row[0].strip() not in AG_NEWS_CLASSES:
                yield path, line_number, ValueError(f"unknown class {row[0]!r} (expected 1..4)")
            elif row[0].strip() in AG_NEWS_LABELS:
                yield path, line_number, {"text": row[2], "label": AG_NEWS_LABELS[row[0].strip()]}
