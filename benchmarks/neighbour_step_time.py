"""
Times one training step (forward, loss, backward, Adam step) of SEAT and FLAT against vanilla on
the same SST batches (the shipped configs' dimensions, random initial embeddings), interleaved
batch by batch so every method sees the same machine load, and prints each one's time divided by
vanilla's and the seconds per SST epoch (217 batches of 32, model steps only). SEAT starts from
the vanilla model built here (its weights copied as `vanilla_archive` would); FLAT's one-off
WordNet synonym table is built before timing and its time printed separately.

    .venv/bin/python benchmarks/neighbour_step_time.py [--batches N] [--threads T]
"""
import argparse
import json
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

METHODS = ["vanilla", "seat", "flat"]


def model_params(method):
    params = json.loads(_jsonnet.evaluate_file(f"training_configs/sst_{method}.jsonnet"))["model"]
    params["text_field_embedder"]["token_embedders"]["tokens"]["pretrained_file"] = None
    params.pop("vanilla_archive", None)
    return params


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40, help="batches to time")
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    reader = DatasetReader.from_params(Params({"type": "sst_trees"}))
    instances = list(reader.read("data/sst/train.txt"))
    vocab = Vocabulary.from_instances(instances)
    torch.manual_seed(0)
    sampler = BucketBatchSampler(batch_size=32, sorting_keys=["tokens"])
    loader = SimpleDataLoader(instances, batch_size=32)
    loader.index_with(vocab)
    indices = list(sampler.get_batch_indices(instances))
    epoch_batches = len(indices)
    batches = [loader.collate_fn([instances[i] for i in chunk]) for chunk in indices[: arguments.batches]]

    models = {}
    for method in METHODS:
        torch.manual_seed(0)
        models[method] = Model.from_params(vocab=vocab, params=Params(model_params(method))).train()
    seat, vanilla = models["seat"], models["vanilla"]
    state = vanilla.state_dict()
    state.update({f"_vanilla_attention.{k}": v for k, v in vanilla._attention.state_dict().items()})
    state["_from_vanilla"] = torch.tensor(True)
    seat.load_state_dict(state)
    start = time.perf_counter()
    models["flat"].synonym_table()
    table_seconds = time.perf_counter() - start
    optimizers = {
        method: torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        for method, model in models.items()
    }

    times = {method: [] for method in METHODS}
    for batch in batches:
        for method in METHODS:
            start = time.perf_counter()
            optimizers[method].zero_grad()
            models[method](**batch)["loss"].backward()
            optimizers[method].step()
            times[method].append(time.perf_counter() - start)
    base = statistics.median(times["vanilla"])
    print(f"{len(batches)} SST batches of 32, {torch.get_num_threads()} threads")
    for method in METHODS:
        median = statistics.median(times[method])
        print(f"{method:8s} {median * 1000:7.1f} ms/step  {median / base:5.2f}x vanilla  "
              f"{median * epoch_batches:6.1f} s/epoch")
    print(f"flat: WordNet synonym table for {vocab.get_vocab_size('tokens')} words built once in {table_seconds:.1f} s")


if __name__ == "__main__":
    main()
