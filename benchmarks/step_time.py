"""
Times one training step (forward, loss, backward, Adam step) of each method on the same SST
batches, interleaved batch by batch so that every method sees the same machine load, and prints
each method's time divided by vanilla's, seconds per SST training epoch (217 batches of 32; model
steps only, without allennlp's data loading) and the process's peak RSS.

    .venv/bin/python benchmarks/step_time.py [--batches N] [--threads T] [--methods vanilla seat flat bat ...] [--cuda-device 0]

The six methods of the paper by default; `seat`, `flat` and `bat` use their shipped configs (SEAT
starts from the vanilla model built here, as `vanilla_archive` would load it; the one-off WordNet
tables of FLAT and BAT are built before timing and their time printed separately).
Targets (issue 2): attention RP/AT/iAT <= 1.10x, word AT/iAT <= 1.7x, peak RSS <= 2 GiB.
With `--cuda-device N` the models and batches are on that GPU, each step ends with a synchronisation
(so its time is the GPU's), and the peak GPU memory is printed too.
"""
import argparse
import json
import resource
import statistics
import time

import _jsonnet
import torch
from allennlp.common import Params
from allennlp.models import Model
from allennlp.nn.util import move_to_device
from allennlp.common.util import import_module_and_submodules
from allennlp.training.optimizers import Optimizer

import attention_perturb  # noqa: F401
from attention_perturb.experiments.methods import config_for, method_names, trained_by_perturbation
from attention_perturb.experiments.reproduce_table2 import CONFIG_PATTERN
from reference_step import sst_batches  # benchmarks/, the script's own folder

# The registry's methods (training_configs/lib/methods.libsonnet): those trained by a perturbation, and the neighbours.
METHODS = trained_by_perturbation()
NEIGHBOURS = method_names("neighbour")
TARGETS = {"word_at": 1.7, "word_iat": 1.7, "attention_rp": 1.10, "attention_at": 1.10, "attention_iat": 1.10}


def config(method):
    return json.loads(_jsonnet.evaluate_file(config_for(CONFIG_PATTERN, "sst", method), ext_vars={"METHOD": method}))


def model_params(method, neighbour_refresh=None):
    params = config(method)["model"]
    if method == "word_iat" and neighbour_refresh:
        params["perturbation"]["neighbour_refresh"] = neighbour_refresh
    # Random initial embeddings: timing does not depend on the pretrained values.
    params["text_field_embedder"]["token_embedders"]["tokens"]["pretrained_file"] = None
    params.pop("vanilla_archive", None)
    return params


def start_from_vanilla(seat, vanilla):
    """What `vanilla_archive` does, from the in-memory vanilla model."""
    state = vanilla.state_dict()
    state.update({f"_vanilla_attention.{k}": v for k, v in vanilla._attention.state_dict().items()})
    state["_from_vanilla"] = torch.tensor(True)
    seat.load_state_dict(state)


def build_word_tables(models):
    """FLAT's and BAT's WordNet tables are built once per run; returns the seconds it took."""
    start = time.perf_counter()
    if "flat" in models:
        models["flat"].synonym_table()
    if "bat" in models:
        models["bat"].substitution_table("synonym")
        models["bat"].substitution_table("antonym")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=None, help="batches to time (default: one epoch)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS + NEIGHBOURS)
    parser.add_argument("--neighbour-refresh", type=int, default=None,
                        help="Word iAT re-searches its neighbours every N steps (default: the config's, once)")
    parser.add_argument("--cuda-device", type=int, default=-1, help="the GPU to time on (default: the CPU)")
    parser.add_argument("--include-package", nargs="+", default=[], help="packages that register further methods' classes")
    arguments = parser.parse_args()
    for package in arguments.include_package:
        import_module_and_submodules(package)
    device = torch.device("cuda", arguments.cuda_device) if arguments.cuda_device >= 0 else torch.device("cpu")
    methods = ["vanilla"] + [method for method in arguments.methods if method != "vanilla"]
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    vocab, batches = sst_batches(config("vanilla"), arguments.batches)
    batches = [move_to_device(batch, device) for batch in batches]

    models = {}
    for method in methods:
        torch.manual_seed(0)
        params = Params(model_params(method, arguments.neighbour_refresh))
        models[method] = Model.from_params(vocab=vocab, params=params).train().to(device)
    if "seat" in models:
        start_from_vanilla(models["seat"], models["vanilla"])
    table_seconds = build_word_tables(models)
    # Each method's optimiser as its config builds it (`trainer.optimizer`, e.g. fused Adam).
    optimizers = {
        method: Optimizer.from_params(
            model_parameters=[[name, p] for name, p in model.named_parameters() if p.requires_grad],
            params=Params(config(method)["trainer"]["optimizer"]),
        )
        for method, model in models.items()
    }

    optimizer_seconds = {method: 0.0 for method in methods}

    def synchronise():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step(method, batch):
        optimizers[method].zero_grad()
        models[method](**batch)["loss"].backward()
        synchronise()
        start = time.perf_counter()
        optimizers[method].step()
        synchronise()
        optimizer_seconds[method] += time.perf_counter() - start

    first_step = {}
    for number, batch in enumerate(batches[:3]):  # warm-up
        for method in methods:
            start = time.perf_counter()
            step(method, batch)
            if number == 0:
                first_step[method] = time.perf_counter() - start
    times = {method: [] for method in methods}
    optimizer_seconds.update({method: 0.0 for method in methods})
    for batch in batches:
        for method in methods:
            start = time.perf_counter()
            step(method, batch)
            times[method].append(time.perf_counter() - start)

    vanilla = sum(times["vanilla"])
    epoch_batches = -(-6920 // 32)
    on = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"{len(batches)} SST batches of 32, {on}")
    print(f"{'method':14s} {'ms/step':>8s} {'median':>8s} {'ratio':>6s} {'target':>7s} {'s/epoch':>8s}")
    for method in methods:
        total = sum(times[method])
        ratio = total / vanilla
        target = TARGETS.get(method)
        verdict = "" if target is None else ("ok" if ratio <= target else "OVER")
        print(
            f"{method:14s} {1000 * total / len(batches):8.1f} {1000 * statistics.median(times[method]):8.1f} "
            f"{ratio:6.2f} {('<=%.2f' % target) if target else '':>7s} {total / len(batches) * epoch_batches:8.1f} {verdict}"
        )
    optimizer = optimizer_seconds["vanilla"]
    floor = (2 * (vanilla - optimizer) + optimizer) / vanilla
    print(f"vanilla's optimiser step: {1000 * optimizer / len(batches):.1f} ms of its {1000 * vanilla / len(batches):.1f}; "
          f"Word AT/iAT run vanilla's forward and backward twice (the second pass on e + δ needs ∇_e L of the "
          f"first), so their floor is {floor:.2f}x vanilla without embedding standardisation")
    if "word_iat" in models:
        print(
            f"Word iAT's first step, which builds the neighbour table of all {vocab.get_vocab_size('tokens')} words, "
            f"took {first_step['word_iat']:.1f} s (vanilla's {first_step['vanilla']:.2f} s); "
            "re-searches (--neighbour-refresh) are inside the timed steps"
        )
    if "flat" in models or "bat" in models:
        print(f"WordNet tables for FLAT/BAT ({vocab.get_vocab_size('tokens')} words) built once in {table_seconds:.1f} s")
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak_gib:.2f} GiB (target <= 2 GiB)")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
