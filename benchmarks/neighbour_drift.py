"""
How fast Word iAT's neighbour sets go stale: trains the real `sst_word_iat` model (pretrained
vectors, the config's optimiser) and, every `--every` steps, computes the K nearest words of the
whole vocabulary. For each gap it prints the share of a word's K neighbours that are still among
its K neighbours that many steps later, averaged over the training tokens (frequent words count
more, as they are perturbed more), and the seconds one table takes. Pick `neighbour_refresh` from it.

    .venv/bin/python benchmarks/neighbour_drift.py [--steps 1000] [--every 100] [--threads 1]
"""
import argparse
import json
import time

import _jsonnet
import torch
from allennlp.common import Params
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.samplers import BucketBatchSampler
from allennlp.models import Model

import attention_perturb  # noqa: F401
from attention_perturb.perturbations.word_interpretable import nearest_neighbours


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    config = json.loads(_jsonnet.evaluate_file("training_configs/sst_word_iat.jsonnet"))
    reader = DatasetReader.from_params(Params(config["dataset_reader"]))
    instances = list(reader.read(config["train_data_path"]))
    vocab = Vocabulary.from_instances(instances)
    num_neighbours = config["model"]["perturbation"]["num_neighbours"]
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(config["model"])).train()
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-5, amsgrad=True
    )
    loader = SimpleDataLoader(instances, batch_size=32)
    loader.index_with(vocab)
    sampler = BucketBatchSampler(batch_size=32, sorting_keys=["tokens"])

    def batches():
        while True:
            for indices in sampler.get_batch_indices(instances):
                yield loader.collate_fn([instances[i] for i in indices])

    token_counts = torch.zeros(vocab.get_vocab_size("tokens"))
    tables, seconds = {}, []
    for step, batch in zip(range(arguments.steps + 1), batches()):
        if step % arguments.every == 0:
            start = time.perf_counter()
            with torch.no_grad():
                matrix = model.embedding_matrix()
                tables[step] = nearest_neighbours(torch.arange(matrix.size(0)), matrix, num_neighbours)
            seconds.append(time.perf_counter() - start)
        if step == arguments.steps:
            break
        token_ids = batch["tokens"]["tokens"]["tokens"]
        token_counts += torch.bincount(token_ids.flatten(), minlength=len(token_counts))
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        optimizer.step()

    token_counts[0] = 0
    weights = token_counts / token_counts.sum()
    print(f"{len(instances)} SST sentences, {len(token_counts)} words, K = {num_neighbours}, "
          f"{-(-len(instances) // 32)} steps per epoch")
    print(f"one neighbour table: {sum(seconds) / len(seconds):.2f} s ({torch.get_num_threads()} threads)")
    print(f"{'gap (steps)':>12s} {'neighbours kept':>16s}")
    steps = sorted(tables)
    for gap in steps[1:]:
        pairs = [(a, a + gap) for a in steps if a + gap in tables]
        kept = []
        for a, b in pairs:
            same = (tables[a].unsqueeze(2) == tables[b].unsqueeze(1)).any(dim=2).float().mean(dim=1)
            kept.append(float((weights * same).sum()))
        print(f"{gap:12d} {sum(kept) / len(kept):16.3f}")


if __name__ == "__main__":
    main()
