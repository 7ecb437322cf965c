import argparse
import glob
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from allennlp.commands.subcommand import Subcommand

from attention_perturb.data.dataset_readers.babi_qa import BabiReader
from attention_perturb.data.dataset_readers.nli import NliReader
from attention_perturb.data.dataset_readers.pair import Example, PairReader

SPLITS = ("train", "validation", "test")
Splits = Dict[str, List[Example]]


def held_out(examples: List[Example], fraction: float, seed: int) -> Sequence[List[Example]]:
    """(kept, held out): a deterministic random `fraction` of `examples` held out for validation."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = round(fraction * len(examples))
    return [examples[i] for i in sorted(order[cut:])], [examples[i] for i in sorted(order[:cut])]


def one_file(raw_dir: str, pattern: str) -> str:
    matches = sorted(glob.glob(os.path.join(raw_dir, pattern), recursive=True))
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(matches)
        raise FileNotFoundError(f"expected one file matching {pattern} under {raw_dir}, found {found}")
    return matches[0]


def babi(raw_dir: str, reader: PairReader, args: argparse.Namespace) -> Splits:
    """bAbI task N from the `tasks_1-20_v1-2` layout: the `en-10k` files, 15 % of train held out
    (8,500 / 1,500 / 1,000)."""
    train = list(reader.checked_examples(one_file(raw_dir, f"**/en-10k/qa{args.task}_*_train.txt")))
    train, validation = held_out(train, 0.15, args.seed)
    test = list(reader.checked_examples(one_file(raw_dir, f"**/en-10k/qa{args.task}_*_test.txt")))
    return {"train": train, "validation": validation, "test": test}


def snli(raw_dir: str, reader: PairReader, args: argparse.Namespace) -> Splits:
    """SNLI 1.0 as released: train / dev / test, pairs without a gold label dropped."""
    return {
        split: list(reader.checked_examples(one_file(raw_dir, f"**/snli_1.0_{name}.jsonl")))
        for split, name in zip(SPLITS, ("train", "dev", "test"))
    }


def multinli(raw_dir: str, reader: PairReader, args: argparse.Namespace) -> Splits:
    """MultiNLI 1.0: 20 % of train held out for validation; test = dev-matched + dev-mismatched."""
    train = list(reader.checked_examples(one_file(raw_dir, "**/multinli_1.0_train.jsonl")))
    train, validation = held_out(train, 0.20, args.seed)
    test = [
        example
        for name in ("dev_matched", "dev_mismatched")
        for example in reader.checked_examples(one_file(raw_dir, f"**/multinli_1.0_{name}.jsonl"))
    ]
    return {"train": train, "validation": validation, "test": test}


DATASETS: Dict[str, Callable[[str, PairReader, argparse.Namespace], Splits]] = {
    "babi": babi,
    "snli": snli,
    "multinli": multinli,
}
READERS = {"babi": BabiReader, "snli": NliReader, "multinli": NliReader}


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
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def make_dataset(name: str, raw_dir: str, output_dir: str, seed: int = 16377, task: int = 1,
                 skip_invalid: bool = False) -> Dict[str, int]:
    refuse_existing(Path(output_dir))  # before the reading, which can take minutes
    arguments = argparse.Namespace(seed=seed, task=task)
    reader = READERS[name](skip_invalid=skip_invalid)
    splits = DATASETS[name](raw_dir, reader, arguments)
    metadata = {"dataset": name, "raw_dir": str(raw_dir), "seed": seed, **({"task": task} if name == "babi" else {})}
    write_splits(splits, output_dir, metadata)
    return {split: len(examples) for split, examples in splits.items()}


@Subcommand.register("make-dataset")
class MakeDataset(Subcommand):
    """`allennlp make-dataset <name> <raw folder> -o data/<name>`: the paper's train / validation /
    test splits of a public raw download as JSON lines (`{"passage", "question", "label"}`),
    deterministic for a seed, written all or nothing."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Build a dataset's splits.")
        subparser.add_argument("name", choices=sorted(DATASETS))
        subparser.add_argument("raw_dir", help="folder holding the raw download")
        subparser.add_argument("-o", "--output-dir", required=True)
        subparser.add_argument("--seed", type=int, default=16377, help="seed of the held-out splits")
        subparser.add_argument("--task", type=int, default=1, help="bAbI task number")
        subparser.add_argument("--skip-invalid", action="store_true", help="count and skip bad examples")
        subparser.set_defaults(func=make_dataset_from_args)
        return subparser


def make_dataset_from_args(args: argparse.Namespace) -> None:
    sizes = make_dataset(args.name, args.raw_dir, args.output_dir, args.seed, args.task, args.skip_invalid)
    print(f"wrote {args.output_dir}: " + ", ".join(f"{split} {size}" for split, size in sizes.items()))
