"""
Memory of a dataset's instances as `allennlp train` holds them: what the resident set (RSS) of a
fresh process grows by when it reads a JSON-lines file with the `text_classification` reader and
indexes it (vocabulary from the file, words seen fewer than `--min-count` times unknown), with the
tokenizer's shared `Token`s and with a new `Token` per occurrence, as the tokenizer made them
before 0d1e748. Each variant runs in a process of its own; prints MiB, seconds and the ratio.

    .venv/bin/python benchmarks/instance_memory.py data/imdb/train.jsonl [--min-count 10]
"""
import argparse
import json
import subprocess
import sys
import time
from typing import List

from allennlp.data.tokenizers import Token

from attention_perturb.data.tokenizers import JainWallaceTokenizer

VARIANTS = ("shared", "per_occurrence")


class TokenPerOccurrenceTokenizer(JainWallaceTokenizer):
    """The tokenizer before 0d1e748: a new `Token`, with its character offset, for every word."""

    def tokenize(self, text: str) -> List[Token]:
        return [Token(self.normalize(t.text), idx=t.idx) for t in self._spacy.tokenizer(text) if not t.is_space]


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def measure(path: str, variant: str, min_count: int) -> dict:
    from allennlp.data import Vocabulary

    from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader

    tokenizer = JainWallaceTokenizer() if variant == "shared" else TokenPerOccurrenceTokenizer()
    before, started = resident_mib(), time.perf_counter()
    instances = list(TextClassificationReader(tokenizer=tokenizer).read(path))
    vocab = Vocabulary.from_instances(instances, min_count={"tokens": min_count})
    for instance in instances:
        instance.index_fields(vocab)
    mib, seconds = resident_mib() - before, time.perf_counter() - started
    return {"instances": len(instances), "tokens": sum(len(i["tokens"].tokens) for i in instances),
            "mib": mib, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--min-count", type=int, default=10)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one measurement, in this process
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.path, args.variant, args.min_count)))
        return
    results = {}
    for variant in VARIANTS:
        command = [sys.executable, __file__, args.path, "--min-count", str(args.min_count), "--variant", variant]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(output.strip().splitlines()[-1])
    first = results["shared"]
    print(f"{args.path}: {first['instances']:,} instances, {first['tokens']:,} tokens")
    for variant, result in results.items():
        print(f"  {variant:>14}: {result['mib']:7.0f} MiB  {result['seconds']:5.1f} s")
    print(f"  per occurrence / shared: {results['per_occurrence']['mib'] / first['mib']:.2f}x memory")


if __name__ == "__main__":
    main()
