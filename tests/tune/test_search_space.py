import json
import math

import numpy as np
import pytest
from ray.tune.search.sample import Categorical, Float, Integer

from attention_perturb.tune.search_space import SearchSpaceError, read_search_space, sample_assignment


def write(tmp_path, content) -> str:
    path = tmp_path / "space.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_each_sampling_strategy_and_fixed_values(tmp_path):
    space = read_search_space(write(tmp_path, {
        "EPSILON": {"sampling strategy": "uniform", "bounds": [0, 30]},
        "LR": {"sampling strategy": "loguniform", "bounds": [1e-4, 1e-1]},
        "SEED": {"sampling strategy": "integer", "bounds": [3, 6]},
        "ENCODER": {"sampling strategy": "choice", "choices": ["lstm", "gru"]},
        "CUDA_DEVICE": -1,
        "DROPOUT": 0.5,
        "NAME": "sst",
        "LOWER": True,
    }))
    assert isinstance(space["EPSILON"], Float) and (space["EPSILON"].lower, space["EPSILON"].upper) == (0, 30)
    assert isinstance(space["LR"], Float) and (space["LR"].lower, space["LR"].upper) == (1e-4, 1e-1)
    assert isinstance(space["SEED"], Integer) and (space["SEED"].lower, space["SEED"].upper) == (3, 6)
    assert isinstance(space["ENCODER"], Categorical) and space["ENCODER"].categories == ["lstm", "gru"]
    assert (space["CUDA_DEVICE"], space["DROPOUT"], space["NAME"], space["LOWER"]) == ("-1", "0.5", "sst", "true")

    draws = [sample_assignment(space, seed=0, index=index) for index in range(200)]
    epsilons = np.array([float(d["EPSILON"]) for d in draws])
    learning_rates = np.array([float(d["LR"]) for d in draws])
    seeds = {int(d["SEED"]) for d in draws}
    assert epsilons.min() >= 0 and epsilons.max() < 30 and epsilons.std() > 5
    assert learning_rates.min() >= 1e-4 and learning_rates.max() <= 1e-1
    # log-uniform: the log is uniform, so about half the draws fall below the geometric mean 10^-2.5
    assert 0.35 < np.mean(learning_rates < 10 ** -2.5) < 0.65
    assert seeds == {3, 4, 5}  # [lo, hi) as allentune's np.random.randint
    assert {d["ENCODER"] for d in draws} == {"lstm", "gru"}
    assert all(d["CUDA_DEVICE"] == "-1" and d["NAME"] == "sst" for d in draws)
    assert all(str(int(d["SEED"])) == d["SEED"] for d in draws)


def test_trial_draws_depend_only_on_seed_and_index(tmp_path):
    space = read_search_space(write(tmp_path, {"EPSILON": {"sampling strategy": "uniform", "bounds": [0, 30]}}))
    assert sample_assignment(space, 0, 7) == sample_assignment(space, 0, 7)
    assert sample_assignment(space, 0, 7) != sample_assignment(space, 0, 8)
    assert sample_assignment(space, 0, 7) != sample_assignment(space, 1, 7)
    assert math.isfinite(float(sample_assignment(space, 0, 7)["EPSILON"]))


def test_trial_names_do_not_change_when_a_search_grows(tmp_path):
    from attention_perturb.tune.experiment import Experiment

    space = read_search_space(write(tmp_path, {"EPSILON": {"sampling strategy": "uniform", "bounds": [0, 30]}}))
    experiment = Experiment(tmp_path / "sst_attention_iat")
    small, large = experiment.plan(space, 0, 1000), experiment.plan(space, 0, 1001)
    assert [trial.name for trial in small] == [trial.name for trial in large[:1000]]
    assert small[0].directory == large[0].directory == tmp_path / "sst_attention_iat" / "run_000"
    assert large[1000].name == "run_1000" and large[1000].environment == sample_assignment(space, 0, 1000)


@pytest.mark.parametrize("content, message", [
    ({"EPSILON": {"sampling strategy": "gaussian", "bounds": [0, 1]}}, "EPSILON: \"sampling strategy\" must be one of"),
    ({"EPSILON": {"bounds": [0, 1]}}, "EPSILON: \"sampling strategy\" must be one of"),
    ({"EPSILON": {"sampling strategy": "uniform"}}, "EPSILON: \"bounds\" must be [lo, hi]"),
    ({"EPSILON": {"sampling strategy": "uniform", "bounds": [0, "30"]}}, "EPSILON: \"bounds\" must be [lo, hi]"),
    ({"EPSILON": {"sampling strategy": "uniform", "bounds": [30, 0]}}, "EPSILON: \"bounds\" need lo < hi"),
    ({"LR": {"sampling strategy": "loguniform", "bounds": [0, 1]}}, "LR: \"bounds\" of a loguniform must be positive"),
    ({"SEED": {"sampling strategy": "integer", "bounds": [0, 2.5]}}, "SEED: \"bounds\" of an integer must be integers"),
    ({"ENCODER": {"sampling strategy": "choice", "choices": []}}, "ENCODER: \"choices\" must be a non-empty list"),
    ({"EPSILON": {"sampling strategy": "uniform", "bounds": [0, 1], "bound": 2}}, "EPSILON: unknown field(s) ['bound']"),
    ({"EPSILON": [0, 30]}, "EPSILON: expected a fixed value or a sampling block"),
    ({"MY-VAR": 1}, "MY-VAR: not a valid environment-variable name"),
    ([1, 2], "expected a JSON object"),
    ('{"EPSILON": 1,\n}', "line 2: not valid JSON"),
])
def test_bad_search_spaces_are_rejected_naming_file_and_key(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(SearchSpaceError) as error:
        read_search_space(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_shipped_search_space_is_the_papers():
    space = read_search_space("training_configs/search_spaces/epsilon.json")
    assert (space["EPSILON"].lower, space["EPSILON"].upper) == (0, 30)
    assert {"SEED", "CUDA_DEVICE", "NUM_EPOCHS"} <= set(space)


@pytest.mark.parametrize("content, message", [
    ({"EPSILON": {"sampling strategy": "uniform", "bounds": [1, 1]}}, 'EPSILON: "bounds" need lo < hi, got [1, 1]'),
    ({"1X": 1}, "1X: not a valid environment-variable name"),
    ({"": 1}, "not a valid environment-variable name"),
    ({"EPSILON": {"sampling strategy": "uniform", "bounds": [0, True]}},
     'EPSILON: "bounds" must be [lo, hi] numbers, got [0, True]'),
    ({"LR": {"sampling strategy": "loguniform", "bounds": [-1, 1]}},
     'LR: "bounds" of a loguniform must be positive, got [-1, 1]'),
])
def test_each_bad_entry_is_named_in_full(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(SearchSpaceError) as error:
        read_search_space(path)
    assert str(error.value) == f"{path}: {message}"


def test_a_name_may_hold_underscores_and_digits_after_its_first_letter(tmp_path):
    space = read_search_space(write(tmp_path, {"NUM_EPOCHS_2": 3, "A1": True}))
    assert space == {"NUM_EPOCHS_2": "3", "A1": "true"}
