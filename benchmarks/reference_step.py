"""
The package's vanilla training step against a plain-torch implementation of the same model, on the
same SST batches, interleaved batch by batch so that both see the same machine load. Prints each
one's time per step and package ÷ reference (target <= 1.15).

    .venv/bin/python benchmarks/reference_step.py [--batches N] [--threads T] [--config PATH]

Both steps are: zero the gradients, forward, loss, backward, optimiser step. The package's model and
optimiser are built from the training config exactly as `allennlp train` builds them
(`Model.from_params`, `Optimizer.from_params` over `trainer.optimizer`), so whatever the config
chooses (embedding standardisation, Adam's implementation) is what is timed. The reference is what
one would write by hand for the paper's Eq. 2-5: `nn.Embedding` -> `nn.LSTM` -> additive
attention -> linear decoder -> BCE with logits, with `torch.optim.Adam` given the same
hyperparameters and its fastest implementation on this device. It starts from the package model's
weights (`copy_weights`), and `tests/test_reference_step.py` checks that the two give the same loss.
The reference's BiLSTM runs unpacked, the fastest way on CPU (`benchmarks/lstm_packing.py`): the
forward direction over the padded batch, the backward one over each row reversed within its length.
"""
import argparse
import json
import resource
import statistics
import time
from typing import Dict, List

import torch
from allennlp.common import Params
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.samplers import BucketBatchSampler
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

import attention_perturb  # noqa: F401

TARGET = 1.15


class ReferenceClassifier(torch.nn.Module):
    """Eq. 2-5 by hand: a one-logit BiLSTM + additive-attention classifier on padded token ids
    (0 = padding), optionally standardising the embeddings per dimension as Miyato et al."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, attention_hidden: int,
                 normalize: bool = False) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = torch.nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.projection = torch.nn.Linear(2 * hidden_size, attention_hidden)
        self.context = torch.nn.Linear(attention_hidden, 1, bias=False)
        self.decoder = torch.nn.Linear(2 * hidden_size, 1)
        self.normalize = normalize

    def embed(self, token_ids: torch.Tensor) -> torch.Tensor:
        embeddings = self.embedding(token_ids)
        if not self.normalize:
            return embeddings
        rows = self.embedding.weight[1:]
        mean = rows.mean(0)
        std = rows.var(0).sqrt().clamp_min(1e-6)
        return (embeddings - mean) / std

    def bilstm(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1, keepdim=True)
        steps = torch.arange(mask.size(1)).unsqueeze(0)
        reverse = torch.where(steps < lengths, lengths - 1 - steps, steps).unsqueeze(-1)
        hidden = self.lstm.hidden_size
        zeros = embeddings.new_zeros(1, embeddings.size(0), hidden)
        directions = []
        for suffix, inputs in (("", embeddings), ("_reverse", embeddings.gather(1, reverse.expand_as(embeddings)))):
            weights = [getattr(self.lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            directions.append(torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)[0])
        directions[1] = directions[1].gather(1, reverse.expand(-1, -1, hidden))
        return torch.cat(directions, dim=-1) * mask.unsqueeze(-1)

    def forward(self, token_ids: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mask = token_ids != 0
        states = self.bilstm(self.embed(token_ids), mask)
        scores = self.context(torch.tanh(self.projection(states))).squeeze(-1)
        attention = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        logits = self.decoder(torch.bmm(attention.unsqueeze(1), states).squeeze(1)).squeeze(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


def reference_for(model: Model) -> ReferenceClassifier:
    """A `ReferenceClassifier` of the same shape as the package's `attention_classifier`, with its weights."""
    (embedder,) = model._text_field_embedder._token_embedders.values()
    lstm = model._encoder._module
    reference = ReferenceClassifier(
        embedder.weight.size(0), embedder.weight.size(1), lstm.hidden_size,
        model._attention.state_projection.out_features, normalize=getattr(embedder, "normalize", False),
    )
    copy_weights(model, reference)
    return reference


def copy_weights(model: Model, reference: ReferenceClassifier) -> None:
    (embedder,) = model._text_field_embedder._token_embedders.values()
    with torch.no_grad():
        reference.embedding.weight.copy_(embedder.weight)
        reference.lstm.load_state_dict(model._encoder._module.state_dict())
        reference.projection.load_state_dict(model._attention.state_projection.state_dict())
        reference.context.load_state_dict(model._attention.context.state_dict())
        reference.decoder.load_state_dict(model._decoder.state_dict())


def reference_inputs(model: Model, batch: Dict) -> Dict[str, torch.Tensor]:
    """The reference's (token ids, 0/1 target) for an allennlp batch."""
    positive = model.vocab.get_token_index("positive", "labels")
    return {"token_ids": batch["tokens"]["tokens"]["tokens"], "target": (batch["label"] == positive).float()}


def fastest_adam(parameters, optimizer_params: Dict) -> torch.optim.Adam:
    """torch's Adam with the config's hyperparameters and its fused implementation (one kernel
    over every parameter; on CPU since torch 2.4)."""
    settings = {key: value for key, value in optimizer_params.items() if key in ("lr", "weight_decay", "amsgrad", "betas", "eps")}
    return torch.optim.Adam(parameters, fused=True, **settings)


def sst_batches(config: Dict, limit: int = None):
    reader = DatasetReader.from_params(Params(config["dataset_reader"]))
    instances = list(reader.read(config["train_data_path"]))
    vocab = Vocabulary.from_instances(instances)
    torch.manual_seed(0)
    sampler = BucketBatchSampler(batch_size=32, sorting_keys=["tokens"])
    loader = SimpleDataLoader(instances, batch_size=32)
    loader.index_with(vocab)
    batches = [loader.collate_fn([instances[i] for i in indices]) for indices in sampler.get_batch_indices(instances)]
    return vocab, batches[:limit] if limit else batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training_configs/sst_vanilla.jsonnet")
    parser.add_argument("--batches", type=int, default=None, help="batches to time (default: one epoch)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--overrides", default="",
                        help="JSON overrides of the config, e.g. the previous defaults: "
                        '\'{"trainer.optimizer.type": "adam", "model.text_field_embedder.token_embedders.tokens.normalize": true}\'')
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    config = Params.from_file(arguments.config, params_overrides=arguments.overrides).as_dict(quiet=True)
    vocab, batches = sst_batches(config, arguments.batches)
    model_params = config["model"]
    # Random initial embeddings: timing does not depend on the pretrained values.
    model_params["text_field_embedder"]["token_embedders"]["tokens"]["pretrained_file"] = None
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(model_params)).train()
    optimizer_params = config["trainer"]["optimizer"]
    optimizer = Optimizer.from_params(
        model_parameters=[[n, p] for n, p in model.named_parameters() if p.requires_grad],
        params=Params(dict(optimizer_params)),
    )
    reference = reference_for(model).train()
    reference_optimizer = fastest_adam(reference.parameters(), optimizer_params)
    inputs = [reference_inputs(model, batch) for batch in batches]

    def package_step(batch):
        optimizer.zero_grad(set_to_none=True)
        model(**batch)["loss"].backward()
        optimizer.step()

    def reference_step(batch):
        reference_optimizer.zero_grad(set_to_none=True)
        reference(**batch).backward()
        reference_optimizer.step()

    steps = {"package": (package_step, batches), "reference": (reference_step, inputs)}
    for number in range(3):  # warm-up
        for step, data in steps.values():
            step(data[number])
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for number in range(len(batches)):
        for name, (step, data) in steps.items():
            start = time.perf_counter()
            step(data[number])
            times[name].append(time.perf_counter() - start)

    print(f"{arguments.config} {arguments.overrides}: {len(batches)} SST batches of 32, {torch.get_num_threads()} threads; "
          f"package optimiser {type(optimizer).__name__} {json.dumps(optimizer_params)}, reference fused Adam")
    print(f"{'step':10s} {'ms/step':>8s} {'median':>8s}")
    for name, values in times.items():
        print(f"{name:10s} {1000 * sum(values) / len(values):8.1f} {1000 * statistics.median(values):8.1f}")
    ratio = sum(times["package"]) / sum(times["reference"])
    print(f"package / reference: {ratio:.2f} (target <= {TARGET:.2f}: {'ok' if ratio <= TARGET else 'OVER'})")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
