"""
Batched gradient saliency + attention agreement on the SST test set against allennlp's
`SimpleGradient` driven through the predictor one instance at a time, in one run: prints both
times, the speed-up (target >= 20x), the max absolute difference of the two saliency maps, and
the mean Pearson agreement.

    .venv/bin/python benchmarks/saliency_speed.py runs/sst_methods/vanilla/model.tar.gz [--limit N]
"""
import argparse
import time

import numpy
from allennlp.interpret.saliency_interpreters import SimpleGradient
from allennlp.predictors import Predictor

import attention_perturb  # noqa: F401


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("archive")
    parser.add_argument("--data", default="data/sst/test.txt")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    arguments = parser.parse_args()
    predictor = Predictor.from_path(arguments.archive, predictor_name="attention_saliency")
    reader = predictor._dataset_reader
    with open(arguments.data) as trees:
        inputs = [
            {"sentence": parsed["sentence"]}
            for parsed in map(reader.parse_line, filter(str.strip, trees))
            if parsed["label"] is not None
        ]
    inputs = inputs[: arguments.limit]

    start = time.perf_counter()
    ours = []
    for first in range(0, len(inputs), arguments.batch_size):
        ours.extend(predictor.predict_batch_json(inputs[first : first + arguments.batch_size]))
    batched_seconds = time.perf_counter() - start

    interpreter = SimpleGradient(predictor)
    start = time.perf_counter()
    stock = [interpreter.saliency_interpret_from_json(i)["instance_1"]["grad_input_1"] for i in inputs]
    stock_seconds = time.perf_counter() - start

    difference = max(
        float(numpy.max(numpy.abs(numpy.asarray(o["gradient_importance"]) - numpy.asarray(s))))
        for o, s in zip(ours, stock)
    )
    pearsons = [o["pearson"] for o in ours if o["pearson"] is not None]
    print(f"{len(inputs)} sentences")
    print(f"batched (ours, batch {arguments.batch_size}): {batched_seconds:.2f} s  (saliency + attention + agreement)")
    print(f"SimpleGradient, one at a time:  {stock_seconds:.2f} s")
    print(f"speed-up: {stock_seconds / batched_seconds:.1f}x (target >= 20x)")
    print(f"max |ours - SimpleGradient|: {difference:.2e}")
    print(f"mean Pearson(attention, gradient): {numpy.mean(pearsons):.3f} over {len(pearsons)} "
          f"({len(ours) - len(pearsons)} skipped)")


if __name__ == "__main__":
    main()
