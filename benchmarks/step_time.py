"""
Times one training step (forward, Eq. 20 loss, backward, Adam step) of each of the six methods on
the same SST batches, interleaved batch by batch so that every method sees the same machine load,
and prints each method's time divided by vanilla's, seconds per SST training epoch (217 batches of
32; model steps only, without allennlp's data loading) and the process's peak RSS.

    .venv/bin/python benchmarks/step_time.py [--batches N] [--threads T]

Targets (issue 2): attention RP/AT/iAT <= 1.10x, word AT/iAT <= 1.7x, peak RSS <= 2 GiB.
"""
import argparse
import json
import resource
import statistics
import time

import _jsonnet
import torch
from allennlp.common import Params
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.samplers import BucketBatchSampler
from allennlp.models import Model

import attention_perturb  # noqa: F401

METHODS = ["vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat"]
TARGETS = {"word_at": 1.7, "word_iat": 1.7, "attention_rp": 1.10, "attention_at": 1.10, "attention_iat": 1.10}


def config(method):
    return json.loads(_jsonnet.evaluate_file(f"training_configs/sst_{method}.jsonnet"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=None, help="batches to time (default: one epoch)")
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    base = config("vanilla")
    reader = DatasetReader.from_params(Params(base["dataset_reader"]))
    instances = list(reader.read(base["train_data_path"]))
    vocab = Vocabulary.from_instances(instances)
    torch.manual_seed(0)
    sampler = BucketBatchSampler(batch_size=32, sorting_keys=["tokens"])
    loader = SimpleDataLoader(instances, batch_size=32)
    loader.index_with(vocab)
    batches = [loader.collate_fn([instances[i] for i in indices]) for indices in sampler.get_batch_indices(instances)]
    if arguments.batches:
        batches = batches[: arguments.batches]

    models, optimizers = {}, {}
    for method in METHODS:
        model_params = config(method)["model"]
        # Random initial embeddings: timing does not depend on the pretrained values.
        model_params["text_field_embedder"]["token_embedders"]["tokens"]["pretrained_file"] = None
        torch.manual_seed(0)
        models[method] = Model.from_params(vocab=vocab, params=Params(model_params)).train()
        optimizers[method] = torch.optim.Adam(models[method].parameters(), lr=1e-3, weight_decay=1e-5, amsgrad=True)

    def step(method, batch):
        optimizers[method].zero_grad()
        models[method](**batch)["loss"].backward()
        optimizers[method].step()

    for batch in batches[:3]:  # warm-up
        for method in METHODS:
            step(method, batch)
    times = {method: [] for method in METHODS}
    for batch in batches:
        for method in METHODS:
            start = time.perf_counter()
            step(method, batch)
            times[method].append(time.perf_counter() - start)

    vanilla = sum(times["vanilla"])
    epoch_batches = -(-6920 // 32)
    print(f"{len(batches)} SST batches of 32, {torch.get_num_threads()} threads")
    print(f"{'method':14s} {'ms/step':>8s} {'median':>8s} {'ratio':>6s} {'target':>7s} {'s/epoch':>8s}")
    for method in METHODS:
        total = sum(times[method])
        ratio = total / vanilla
        target = TARGETS.get(method)
        verdict = "" if target is None else ("ok" if ratio <= target else "OVER")
        print(
            f"{method:14s} {1000 * total / len(batches):8.1f} {1000 * statistics.median(times[method]):8.1f} "
            f"{ratio:6.2f} {('<=%.2f' % target) if target else '':>7s} {total / len(batches) * epoch_batches:8.1f} {verdict}"
        )
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak_gib:.2f} GiB (target <= 2 GiB)")


if __name__ == "__main__":
    main()
