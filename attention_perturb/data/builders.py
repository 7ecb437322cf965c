"""`allennlp make-dataset`'s builders: the paper's train / validation / test splits of each dataset's public
raw download, deterministic for a seed, written all or nothing."""
import glob
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set

from allennlp.data import DatasetReader

from attention_perturb.data.dataset_readers.babi_qa import BabiReader
from attention_perturb.errors import PartialReleaseError
from attention_perturb.errors import SettingError
from attention_perturb.data.dataset_readers.cnn import CnnReader
from attention_perturb.data.dataset_readers.nli import NliReader
from attention_perturb.data.dataset_readers.pair import PairReader
from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader
from attention_perturb.data.raw_formats import (
    ag_news_examples,
    imdb_examples,
    imdb_word_count,
    newsgroup_examples,
    remove_html_line_breaks,
    sst_examples,
)

SPLITS = ("train", "validation", "test")


class BuildSettings(NamedTuple):
    """What shapes a dataset's splits besides its raw files: the held-out splits' seed, the bAbI task
    and the protocol (`full`, or `reduced` for a partial release)."""

    seed: int
    task: int
    protocol: str
Example = Dict[str, Optional[str]]
Splits = Dict[str, List[Example]]
PROTOCOLS = ("full", "reduced")

# Examples in each file (or folder) of the full releases: the full protocol refuses fewer.
RELEASE_SIZES: Dict[str, Dict[str, int]] = {
    "snli": {"snli_1.0_train.jsonl": 549_367, "snli_1.0_dev.jsonl": 9_842, "snli_1.0_test.jsonl": 9_824},
    "multinli": {"multinli_1.0_train.jsonl": 392_702, "multinli_1.0_dev_matched.jsonl": 9_815,
                 "multinli_1.0_dev_mismatched.jsonl": 9_832},
    "cnn": {"training": 380_298, "validation": 3_924, "test": 3_198},
}
# What `--protocol reduced` makes of each partial release; recorded in meta.json.
REDUCED_PROTOCOLS = {
    "snli": "SNLI-reduced: the dev set split 90 / 10 into train / validation (seeded), test = the test set; "
            "the train file is not used",
    "multinli": "MultiNLI-reduced: dev_matched split 90 / 10 into train / validation (seeded), "
                "test = dev_mismatched",
    "cnn": "CNN-sample: the shipped training / validation / test folders as they are",
}


def reduced_hint(dataset: str) -> str:
    name = REDUCED_PROTOCOLS[dataset].split(":")[0]
    return f"for a partial release pass --protocol reduced ({name})"


def held_out(
    examples: List[Example], fraction: float, seed: int, stratify_by: Optional[str] = None
) -> Sequence[List[Example]]:
    """(kept, held out): a deterministic random `fraction` of `examples` held out, both parts in
    the original order. With `stratify_by` (a key, e.g. "label") the fraction is taken from each of
    its values, so that both parts keep the class proportions."""
    groups: Dict[Optional[str], List[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(example[stratify_by] if stratify_by else None, []).append(index)
    shuffler = random.Random(seed)
    held: Set[int] = set()
    for key in sorted(groups, key=str):
        order = list(groups[key])
        shuffler.shuffle(order)
        held.update(order[: round(fraction * len(order))])
    kept = [example for index, example in enumerate(examples) if index not in held]
    return kept, [example for index, example in enumerate(examples) if index in held]


def one_match(raw_dir: str, pattern: str, folder: bool = False) -> str:
    """The one file (or folder) under `raw_dir` matching the glob `pattern`."""
    kind = "folder" if folder else "file"
    matches = [
        path for path in sorted(glob.glob(os.path.join(raw_dir, pattern), recursive=True))
        if os.path.isdir(path) == folder
    ]
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(matches)
        raise FileNotFoundError(f"expected one {kind} matching {pattern} under {raw_dir}, found {found}")
    return matches[0]


def one_file(raw_dir: str, pattern: str) -> str:
    return one_match(raw_dir, pattern)


def release_file(raw_dir: str, pattern: str, dataset: str) -> str:
    """`one_file` of a release with partial copies: a missing file names the flag that would do
    without it."""
    try:
        return one_file(raw_dir, pattern)
    except FileNotFoundError as error:
        raise PartialReleaseError(f"{error}; {reduced_hint(dataset)}") from None


def whole(examples: List[Example], path: str, dataset: str, reader) -> List[Example]:
    """`examples` read from `path`, refused when the file holds fewer than the full release's."""
    expected = RELEASE_SIZES[dataset][os.path.basename(path)]
    found = len(examples) + reader.skipped
    if found < expected:
        raise PartialReleaseError(
            f"{path}: {found:,} examples, the full release has {expected:,}; {reduced_hint(dataset)}"
        )
    return examples


def one_folder(raw_dir: str, pattern: str) -> str:
    return one_match(raw_dir, pattern, folder=True)


def babi(raw_dir: str, reader: PairReader, settings: BuildSettings) -> Splits:
    """bAbI task N from the `tasks_1-20_v1-2` layout: the `en-10k` files, 15 % of train held out
    (8,500 / 1,500 / 1,000)."""
    train = list(reader.checked_examples(one_file(raw_dir, f"**/en-10k/qa{settings.task}_*_train.txt")))
    train, validation = held_out(train, 0.15, settings.seed)
    test = list(reader.checked_examples(one_file(raw_dir, f"**/en-10k/qa{settings.task}_*_test.txt")))
    return {"train": train, "validation": validation, "test": test}


def release_examples(raw_dir: str, reader: PairReader, dataset: str, name: str, settings: BuildSettings) -> List[Example]:
    """The examples of one release file; under the full protocol the whole file or an error (a
    missing file under the reduced protocol is only named: that protocol is already the one asked)."""
    if settings.protocol != "full":
        return list(reader.checked_examples(one_file(raw_dir, f"**/{name}")))
    path = release_file(raw_dir, f"**/{name}", dataset)
    return whole(list(reader.checked_examples(path)), path, dataset, reader)


def snli(raw_dir: str, reader: PairReader, settings: BuildSettings) -> Splits:
    """SNLI 1.0 as released: train / dev / test, pairs without a gold label dropped (549,367 / 9,842
    / 9,824). SNLI-reduced (`--protocol reduced`): the dev set split 90 / 10 into train /
    validation, test = test."""
    if settings.protocol == "reduced":
        dev = release_examples(raw_dir, reader, "snli", "snli_1.0_dev.jsonl", settings)
        train, validation = held_out(dev, 0.10, settings.seed)
        return {"train": train, "validation": validation,
                "test": release_examples(raw_dir, reader, "snli", "snli_1.0_test.jsonl", settings)}
    return {
        split: release_examples(raw_dir, reader, "snli", f"snli_1.0_{name}.jsonl", settings)
        for split, name in zip(SPLITS, ("train", "dev", "test"))
    }


def multinli(raw_dir: str, reader: PairReader, settings: BuildSettings) -> Splits:
    """MultiNLI 1.0: 20 % of train held out for validation; test = dev-matched + dev-mismatched.
    MultiNLI-reduced (`--protocol reduced`): dev-matched split 90 / 10 into train / validation,
    test = dev-mismatched."""
    if settings.protocol == "reduced":
        matched = release_examples(raw_dir, reader, "multinli", "multinli_1.0_dev_matched.jsonl", settings)
        train, validation = held_out(matched, 0.10, settings.seed)
        return {"train": train, "validation": validation,
                "test": release_examples(raw_dir, reader, "multinli", "multinli_1.0_dev_mismatched.jsonl", settings)}
    train = release_examples(raw_dir, reader, "multinli", "multinli_1.0_train.jsonl", settings)
    train, validation = held_out(train, 0.20, settings.seed)
    test = [
        example
        for name in ("dev_matched", "dev_mismatched")
        for example in release_examples(raw_dir, reader, "multinli", f"multinli_1.0_{name}.jsonl", settings)
    ]
    return {"train": train, "validation": validation, "test": test}


def sst(raw_dir: str, reader: TextClassificationReader, settings: BuildSettings) -> Splits:
    """Binary SST from `trainDevTestTrees_PTB` (`trees/{train,dev,test}.txt`), neutral sentences
    dropped: 6,920 / 872 / 1,821."""
    return {
        split: list(reader.checked(sst_examples(one_file(raw_dir, f"**/{name}.txt"))))
        for split, name in zip(SPLITS, ("train", "dev", "test"))
    }


def imdb(raw_dir: str, reader: TextClassificationReader, settings: BuildSettings) -> Splits:
    """IMDB from `aclImdb/{train,test}/{neg,pos}` as Jain & Wallace: reviews of more than 6 and
    fewer than 400 words (counted as in the Keras `imdb_full.pkl` they start from); 20 % of train
    held out for validation; the test set a random 20 % of the test reviews (the paper: 17,186 /
    4,294 / 4,353)."""

    def short_reviews(split_dir: str) -> List[Example]:
        return [
            {"text": remove_html_line_breaks(review["text"]), "label": review["label"]}
            for review in reader.checked(imdb_examples(split_dir))
            if 6 < imdb_word_count(review["text"]) < 400
        ]

    train, validation = held_out(short_reviews(one_folder(raw_dir, "**/train")), 0.2, settings.seed)
    _, test = held_out(short_reviews(one_folder(raw_dir, "**/test")), 0.2, settings.seed)
    return {"train": train, "validation": validation, "test": test}


def newsgroups(raw_dir: str, reader: TextClassificationReader, settings: BuildSettings) -> Splits:
    """20 Newsgroups, rec.sport.baseball (negative) vs rec.sport.hockey (positive), from
    `20news-bydate-{train,test}` pooled as Jain & Wallace and the authors do: 20 % held out for
    test, then 20 % of the rest for validation, both stratified by label; then posts of more than
    6 and fewer than 500 words kept (the paper: 1,145 / 278 / 357)."""
    folders = [one_folder(raw_dir, f"**/20news-bydate-{part}") for part in ("train", "test")]
    posts = list(reader.checked(newsgroup_examples(folders)))
    rest, test = held_out(posts, 0.2, settings.seed, stratify_by="label")
    train, validation = held_out(rest, 0.2, settings.seed, stratify_by="label")
    return {
        split: [post for post in examples if 6 < len(post["text"].split()) < 500]
        for split, examples in zip(SPLITS, (train, validation, test))
    }


def agnews(raw_dir: str, reader: TextClassificationReader, settings: BuildSettings) -> Splits:
    """AG News (`ag_news_csv/{train,test}.csv`), World (negative) vs Business (positive), the
    description column; 15 % of train held out for validation: 51,000 / 9,000 / 3,800."""
    train = list(reader.checked(ag_news_examples(one_file(raw_dir, "**/train.csv"))))
    train, validation = held_out(train, 0.15, settings.seed)
    test = list(reader.checked(ag_news_examples(one_file(raw_dir, "**/test.csv"))))
    return {"train": train, "validation": validation, "test": test}


def cnn(raw_dir: str, reader: CnnReader, settings: BuildSettings) -> Splits:
    """CNN (`cnn/questions/{training,validation,test}/*.question`) as released: 380,298 / 3,924 /
    3,198 questions. CNN-sample (`--protocol reduced`): the folders as they are."""
    folders = {split: one_folder(raw_dir, f"**/questions/{name}") for split, name in zip(SPLITS, ("training", "validation", "test"))}
    if settings.protocol == "full":  # counted before the reading, which takes long on the release
        for folder in folders.values():
            found, expected = len(glob.glob(os.path.join(folder, "*.question"))), RELEASE_SIZES["cnn"][os.path.basename(folder)]
            if found < expected:
                raise PartialReleaseError(
                    f"{folder}: {found:,} questions, the full release has {expected:,}; {reduced_hint('cnn')}"
                )
    return {split: list(reader.checked_examples(folder)) for split, folder in folders.items()}


DATASETS: Dict[str, Callable[[str, DatasetReader, BuildSettings], Splits]] = {
    "babi": babi,
    "snli": snli,
    "multinli": multinli,
    "sst": sst,
    "imdb": imdb,
    "20news": newsgroups,
    "agnews": agnews,
    "cnn": cnn,
}
READERS = {
    "babi": BabiReader,
    "snli": NliReader,
    "multinli": NliReader,
    "sst": TextClassificationReader,
    "imdb": TextClassificationReader,
    "20news": TextClassificationReader,
    "agnews": TextClassificationReader,
    "cnn": CnnReader,
}


def refuse_existing(output: Path) -> None:
    if output.exists():
        raise FileExistsError(f"{output} already exists; remove it or choose another -o")


def write_splits(splits: Splits, output_dir: str, metadata: Dict) -> None:
    """Writes `<split>.jsonl` and `meta.json` into a fresh folder, all or nothing: the files go to a
    temporary folder beside `output_dir`, renamed into place only when complete."""
    output = Path(output_dir)
    refuse_existing(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for split, examples in splits.items():
            with open(staging / f"{split}.jsonl", "w", encoding="utf-8") as lines:
                for example in examples:
                    lines.write(json.dumps(example) + "\n")
        sizes = {split: len(examples) for split, examples in splits.items()}
        (staging / "meta.json").write_text(json.dumps({**metadata, "sizes": sizes}, indent=2) + "\n")
        os.chmod(staging, 0o755)  # mkdtemp makes it private (0700); a dataset folder is for sharing
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def make_dataset(name: str, raw_dir: str, output_dir: str, seed: int = 16377, task: int = 1,
                 skip_invalid: bool = False, protocol: str = "full") -> Dict[str, int]:
    """Writes the splits of dataset `name` and returns their sizes. `protocol` is `full` (the
    paper's, from the whole release) or `reduced` (a partial release, see `REDUCED_PROTOCOLS`)."""
    if protocol not in PROTOCOLS:
        raise SettingError("protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if protocol == "reduced" and name not in REDUCED_PROTOCOLS:
        raise SettingError("protocol", f"{name} has no reduced protocol (those with one: {', '.join(sorted(REDUCED_PROTOCOLS))})")
    refuse_existing(Path(output_dir))  # before the reading, which can take minutes
    settings = BuildSettings(seed=seed, task=task, protocol=protocol)
    reader = READERS[name](skip_invalid=skip_invalid)
    splits = DATASETS[name](raw_dir, reader, settings)
    description = REDUCED_PROTOCOLS[name] if protocol == "reduced" else "the paper's, from the full release"
    metadata = {"dataset": name, "raw_dir": str(raw_dir), "seed": seed, "protocol": protocol,
                "protocol_description": description, **({"task": task} if name == "babi" else {})}
    write_splits(splits, output_dir, metadata)
    return {split: len(examples) for split, examples in splits.items()}


