"""
Forward and backward time of allennlp's packed `lstm` encoder against `unpacked_lstm` (same
weights, same outputs; `attention_perturb/modules/unpacked_lstm.py`), on batches of the lengths the
datasets give, interleaved so that both see the same machine load. Prints seconds per batch and
packed ÷ unpacked.

    .venv/bin/python benchmarks/lstm_packing.py [--threads 1] [--repeats 3]

Shapes (batch × padded length, row lengths drawn between half and all of it): the mean padded
length of the training batches of SST (21.9), bAbI task 1's passages (39.0) and IMDB (225.9, 512
at most), and CNN-sample's first training batch (32 × 1705) cut to 8 rows to keep the packed run
within minutes.
"""
import argparse
import statistics
import time

import torch
from allennlp.common import Params
from allennlp.modules.seq2seq_encoders import Seq2SeqEncoder

import attention_perturb  # noqa: F401

SHAPES = {"SST": (32, 22), "bAbI-1": (32, 39), "IMDB": (32, 226), "CNN-sample": (8, 1705)}


def encoder(kind: str) -> Seq2SeqEncoder:
    torch.manual_seed(0)
    params = {"type": kind, "input_size": 300, "hidden_size": 128}
    if kind == "lstm":
        params["bidirectional"] = True
    return Seq2SeqEncoder.from_params(Params(params))


def seconds(module: Seq2SeqEncoder, inputs: torch.Tensor, mask: torch.Tensor) -> float:
    started = time.perf_counter()
    module(inputs, mask).sum().backward()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modules = {"packed": encoder("lstm"), "unpacked": encoder("unpacked_lstm")}
    print(f"{args.threads} thread(s), median of {args.repeats} interleaved repeats, forward + backward per batch")
    print("| data | batch | packed s | unpacked s | packed ÷ unpacked |")
    print("|---|---|---|---|---|")
    for name, (batch, length) in SHAPES.items():
        generator = torch.Generator().manual_seed(1)
        lengths = torch.randint(length // 2, length + 1, (batch,), generator=generator)
        lengths[0] = length
        mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
        inputs = torch.randn(batch, length, 300, generator=generator, requires_grad=True)
        times = {kind: [] for kind in modules}
        for _ in range(args.repeats):
            for kind, module in modules.items():
                times[kind].append(seconds(module, inputs, mask))
        packed, unpacked = (statistics.median(times[kind]) for kind in ("packed", "unpacked"))
        print(f"| {name} | {batch} × {length} | {packed:.3f} | {unpacked:.3f} | {packed / unpacked:.2f} |", flush=True)


if __name__ == "__main__":
    main()
