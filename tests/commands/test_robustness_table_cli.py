"""`allennlp robustness-table` end to end on fixture archives."""
import json
import math
from pathlib import Path

import pytest
from allennlp.models.archival import load_archive

from attention_perturb.errors import SettingError
from attention_perturb.robustness.attack import attack_file
from attention_perturb.experiments.robustness_table import (
    format_value, found_archives, markdown_table, record_identity, robustness_row, seed_summary,
)
from attention_perturb.robustness.stability import stability_report
from attention_perturb.experiments.record import write_record
from tests.archives import second_seed_archive, train_tiny, vanilla_archive  # noqa: F401
from tests.cli import in_process

DATA = "fixtures/sst/test.txt"


def test_robustness_table_end_to_end(tmp_path, vanilla_archive, second_seed_archive):  # noqa: F811
    archives = tmp_path / "methods"
    for seed, archive in ((1, vanilla_archive), (2, second_seed_archive)):  # two seeds of vanilla
        (archives / "vanilla" / f"seed_{seed}").mkdir(parents=True)
        (archives / "vanilla" / f"seed_{seed}" / "model.tar.gz").symlink_to(archive)
    train_tiny(archives / "attention_iat", method="attention_iat")  # one seed, the flat layout
    table, measures, figure = tmp_path / "table.md", tmp_path / "table.json", tmp_path / "pareto.png"
    # Two archives at a time, each in a spawned process: the numbers below are this process's own.
    result = in_process("robustness-table", "--archives", archives, "--data", DATA, "--budget", "30", "--jobs", "2",
                        "--pgd-clip", "-o", table, "--json-file", measures, "--figure", figure)
    rows = json.loads(measures.read_text())
    assert list(rows) == ["vanilla", "attention_iat"]  # the paper's order, not the folder's
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = table.read_text().splitlines()
    assert result.stdout.splitlines() == lines
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:4] == ["Method", "Seeds", "Test score ↑", "Pearson ↑"]
    assert "JSD seed ↓" in header and "Antonym ASR ↓" in header and "TVD PGD clipped ↓" in header
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:]}
    assert cells["vanilla"][0] == "2" and cells["attention_iat"][0] == "1"
    assert cells["attention_iat"][header.index("JSD seed ↓") - 1] == "–"  # one seed: nothing to compare with
    first, second = rows["vanilla"]["seeds"]
    for heading, key in {"Test score ↑": "test_score", "Synonym ASR ↓": "synonym_attack_success_rate",
                         "JSD PGD ↓": "pgd_jsd", "Suff. ↓": "sufficiency", "JSD seed ↓": "seed_jsd"}.items():
        mean, spread = (first[key] + second[key]) / 2, abs(first[key] - second[key]) / 2 ** 0.5
        assert rows["vanilla"]["mean"][key] == pytest.approx(mean) and rows["vanilla"]["std"][key] == pytest.approx(spread)
        assert cells["vanilla"][header.index(heading) - 1] == f"{format_value(mean)} ± {format_value(spread)}", key
    only = rows["attention_iat"]["seeds"][0]
    assert cells["attention_iat"][header.index("Test score ↑") - 1] == format_value(only["test_score"])

    # Each seed's numbers are the single-purpose tools', the seed columns against the other seed.
    attack = attack_file(vanilla_archive, DATA, "synonym", budget=30).metrics()
    assert first["after_attack_accuracy"] == attack["after_attack_accuracy"]
    assert first["synonym_attack_success_rate"] == attack["synonym_attack_success_rate"]
    for name in ("attention", "gradient"):  # FLAT's consistency between the inputs and their adversarial examples
        assert first[f"adversarial_{name}_kendall_tau"] == attack[f"{name}_kendall_tau"]
        assert first[f"adversarial_{name}_top_k_intersection"] == attack[f"{name}_top5_intersection"]
    assert "KT gradient (adv.) ↑" in header and "Top-k∩ attention (adv.) ↑" in header
    models = [load_archive(archive) for archive in (vanilla_archive, second_seed_archive)]
    instances = [list(archive.validation_dataset_reader.read(DATA)) for archive in models]
    for row, (this, other) in zip((first, second), ((0, 1), (1, 0))):
        report = stability_report(models[this].model, instances[this], second_model=models[other].model,
                                  second_instances=instances[other], pgd_clip=True)
        assert "pgd_clip_tvd" in report
        for key, value in report.items():
            assert row[key] == pytest.approx(value, abs=1e-9), key
    assert first["test_score"] == first["f1"]
    assert [row["measured_by"]["torch_threads"] for row in (first, second, only)] == [1, 1, 1]  # one thread a job


def test_two_archives_with_two_jobs_are_measured_in_spawned_processes(tmp_path):
    """Two tasks already go to the pool (and its first failure is raised here, with the spawned
    process's traceback as its cause)."""
    import concurrent.futures.process

    from attention_perturb.experiments.robustness_table import measured_rows

    tasks = [("vanilla", seed, (str(tmp_path / f"seed_{seed}.tar.gz"), DATA, None)) for seed in (1, 2)]
    with pytest.raises(Exception) as raised:
        list(measured_rows(tasks, 2, {"budget": 1}))
    assert "seed_1.tar.gz" in str(raised.value) or "seed_2.tar.gz" in str(raised.value)
    assert isinstance(raised.value.__cause__, concurrent.futures.process._RemoteTraceback)


def test_a_record_keeps_each_seeds_measures_across_sittings(tmp_path, vanilla_archive, second_seed_archive):  # noqa: F811
    archives, record = tmp_path / "methods", tmp_path / "record.json"
    for seed, archive in ((1, vanilla_archive), (2, second_seed_archive)):
        (archives / "vanilla" / f"seed_{seed}").mkdir(parents=True)
        (archives / "vanilla" / f"seed_{seed}" / "model.tar.gz").symlink_to(archive)
    options = ["--budget", "30", "--max-instances", "4"]
    # An earlier sitting measured seed 1 (values set by hand here, so that re-measuring it would show).
    identity = record_identity(DATA, False, {"noise_std": 0.01, "top_k": 5, "budget": 30, "max_instances": 4,
                                             "batch_size": 64, "pgd_clip": False})
    write_record(record, identity, {"vanilla": {1: {"test_score": 0.25, "pearson": 0.5}}})
    measures = tmp_path / "first.json"
    in_process("robustness-table", "--archives", archives, "--data", DATA, *options, "--record", record,
               "-o", tmp_path / "first.md", "--json-file", measures)
    first, second = json.loads(measures.read_text())["vanilla"]["seeds"]
    assert first == {"test_score": 0.25, "pearson": 0.5}  # from the record, not measured again
    # Measured in this process (one job), each value the single-purpose tools', against seed 1's archive.
    for kind in ("synonym", "antonym"):
        attack = attack_file(second_seed_archive, DATA, kind, budget=30, max_instances=4).metrics()
        assert second[f"{kind}_attack_success_rate"] == attack[f"{kind}_attack_success_rate"]
        if kind == "synonym":
            assert second["after_attack_accuracy"] == attack["after_attack_accuracy"]
            assert "attention_kendall_tau" not in attack  # no word changed here: the primary test's archive has them
            assert not any(key.startswith("adversarial_") for key in second)
    models = [load_archive(archive) for archive in (second_seed_archive, vanilla_archive)]
    instances = [list(archive.validation_dataset_reader.read(DATA))[:4] for archive in models]
    report = stability_report(models[0].model, instances[0], second_model=models[1].model,
                              second_instances=instances[1])
    assert "seed_jsd" in report and "pgd_clip_tvd" not in report
    for key, value in report.items():
        assert second[key] == pytest.approx(value, abs=1e-9), key
    assert second["test_score"] == second["f1"] and "pgd_clip_tvd" not in second
    # Each measured seed names what trained its archive (the run's own provenance.json and config) and what measured it.
    trained = json.loads((Path(second_seed_archive).parent / "provenance.json").read_text())
    assert second["provenance"]["processes"] == trained and second["provenance"]["seeds"]["random_seed"] == 8
    assert second["measured_by"]["torch_threads"] >= 1 and "commit" in second["measured_by"]
    assert json.loads(record.read_text())["runs"]["vanilla"] == {"1": first, "2": second}
    assert json.loads(measures.read_text())["vanilla"]["mean"]["test_score"] == pytest.approx((0.25 + second["test_score"]) / 2)

    # A later sitting without the archives gives the same table from the record alone.
    (tmp_path / "gone").mkdir()
    in_process("robustness-table", "--archives", tmp_path / "gone", "--data", DATA, *options, "--record", record,
               "-o", tmp_path / "later.md", "--json-file", tmp_path / "later.json")
    assert (tmp_path / "later.md").read_text() == (tmp_path / "first.md").read_text()
    assert json.loads((tmp_path / "later.json").read_text()) == json.loads(measures.read_text())

    # Measures taken under other options, or an archive outside a seed folder, are refused in one line.
    result = in_process("robustness-table", "--archives", archives, "--data", DATA, "--budget", "31",
                        "--max-instances", "4", "--record", record, "-o", tmp_path / "other.md", check=False)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
        f"error: {record}: this record's runs were made with another budget; use the settings it was made with "
        f"or choose another --record")
    result = in_process("robustness-table", "--archives", archives, "--data", DATA, *options, "--batch-size", "8",
                        "--record", record, "-o", tmp_path / "other.md", check=False)  # noise is drawn per batch
    assert result.returncode == 1 and "made with another batch_size" in result.stderr.strip().splitlines()[-1]
    (tmp_path / "flat" / "vanilla").mkdir(parents=True)
    (tmp_path / "flat" / "vanilla" / "model.tar.gz").symlink_to(vanilla_archive)
    result = in_process("robustness-table", "--archives", tmp_path / "flat", "--data", DATA, *options,
                        "--record", tmp_path / "new.json", "-o", tmp_path / "flat.md", check=False)
    assert result.returncode == 1 and "is not in a seed_<n> folder" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "flat.md").exists() and not (tmp_path / "new.json").exists()
    # ... before any seed is measured, also beside a method in seed folders (which comes first).
    (tmp_path / "flat" / "attention_iat").mkdir()
    (tmp_path / "flat" / "attention_iat" / "model.tar.gz").symlink_to(vanilla_archive)
    (tmp_path / "flat" / "vanilla" / "model.tar.gz").unlink()
    (tmp_path / "flat" / "vanilla" / "seed_1").mkdir()
    (tmp_path / "flat" / "vanilla" / "seed_1" / "model.tar.gz").symlink_to(vanilla_archive)
    result = in_process("robustness-table", "--archives", tmp_path / "flat", "--data", DATA, *options,
                        "--record", tmp_path / "new.json", "-o", tmp_path / "flat.md", check=False)
    assert result.returncode == 1 and "attention_iat/model.tar.gz is not in a seed_<n> folder" in result.stderr
    assert not (tmp_path / "new.json").exists()  # vanilla seed 1 was not measured first


def test_seed_summary_and_cells_by_hand():
    rows = [{"test_score": 0.8, "pearson": 0.5, "seed_jsd": math.nan}, {"test_score": 0.9, "pearson": 0.7}]
    summary = seed_summary(rows)
    # mean, sample std (n − 1), seeds: (0.8 + 0.9) / 2 = 0.85, √(2 · 0.05²) = 0.0707…; a NaN is left out.
    assert summary["test_score"] == pytest.approx((0.85, 0.0707107, 2), rel=1e-5)
    assert summary["pearson"] == pytest.approx((0.6, 0.1414214, 2), rel=1e-5)
    assert "seed_jsd" not in summary
    line = markdown_table({"vanilla": summary}).splitlines()[2]
    assert line == "| vanilla | 2 | 0.850 ± 0.071 | 0.600 ± 0.141 |"
    assert markdown_table({"flat": seed_summary(rows[:1])}).splitlines()[2] == "| flat | 1 | 0.800 | 0.500 |"
    # A method with no valid measure on any seed (all NaN): no seed counted, a dash in every column.
    table = markdown_table({"flat": seed_summary(rows[:1]), "bat": seed_summary([{"pearson": math.nan}])})
    assert table.splitlines()[3] == "| bat | 0 | – | – |"
    assert [format_value(value) for value in (0.0004, -0.0004, 0.001, None, math.nan, 12.3456)] == [
        "0.0004", "-0.0004", "0.001", "–", "–", "12.346"]


def test_a_method_folder_with_both_layouts_is_refused(tmp_path):
    (tmp_path / "vanilla" / "seed_1").mkdir(parents=True)
    (tmp_path / "vanilla" / "model.tar.gz").write_bytes(b"")
    (tmp_path / "vanilla" / "seed_1" / "model.tar.gz").write_bytes(b"")
    with pytest.raises(SettingError, match="^archives: .* holds both model.tar.gz and seed_<n> archives"):
        found_archives([str(tmp_path)])
    (tmp_path / "vanilla" / "model.tar.gz").unlink()
    for seed in (10, 2):
        (tmp_path / "vanilla" / f"seed_{seed}").mkdir()
        (tmp_path / "vanilla" / f"seed_{seed}" / "model.tar.gz").write_bytes(b"")
    assert [path.parent.name for path in found_archives([str(tmp_path)])["vanilla"]] == ["seed_1", "seed_2", "seed_10"]


def test_a_folder_without_archives_is_refused(tmp_path):
    (tmp_path / "aaa" / "seed_1").mkdir(parents=True)  # a method folder without an archive is passed over
    (tmp_path / "aaa" / "notes").mkdir()
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SettingError) as raised:
        found_archives([str(tmp_path), str(tmp_path / "aaa")])
    assert str(raised.value) == (f"archives: no <method>/model.tar.gz or <method>/seed_<n>/model.tar.gz under "
                                 f"{tmp_path}, {tmp_path / 'aaa'}")
    assert found_archives([str(tmp_path)], allow_none=True) == {}
    (tmp_path / "vanilla").mkdir()
    (tmp_path / "vanilla" / "model.tar.gz").write_bytes(b"")
    assert found_archives([str(tmp_path)]) == {"vanilla": [tmp_path / "vanilla" / "model.tar.gz"]}
    with pytest.raises(SettingError) as raised:
        found_archives([str(tmp_path / "notes.txt")])
    assert str(raised.value) == f"archives: {tmp_path / 'notes.txt'} is not a folder"


def test_one_method_in_two_folders_is_refused_naming_both_archives(tmp_path):
    for folder in ("first", "second"):
        (tmp_path / folder / "vanilla" / "seed_1").mkdir(parents=True)
        (tmp_path / folder / "vanilla" / "seed_1" / "model.tar.gz").write_bytes(b"")
    (tmp_path / "second" / "vanilla" / "seed_2").mkdir()
    (tmp_path / "second" / "vanilla" / "seed_2" / "model.tar.gz").write_bytes(b"")
    with pytest.raises(SettingError) as raised:
        found_archives([str(tmp_path / "first"), str(tmp_path / "second")])
    first, second = (tmp_path / folder / "vanilla" / "seed_1" / "model.tar.gz" for folder in ("first", "second"))
    assert str(raised.value) == f"archives: two archives for vanilla: {first} and {second}"


def test_a_record_needs_each_archive_in_its_seed_folder():
    from attention_perturb.experiments.robustness_table import seed_of, seed_or_position

    assert seed_of(Path("m/vanilla/seed_12/model.tar.gz")) == 12
    assert seed_or_position(Path("m/vanilla/seed_12/model.tar.gz"), 0) == 12
    assert seed_or_position(Path("m/vanilla/model.tar.gz"), 3) == 3
    with pytest.raises(SettingError) as raised:
        seed_of(Path("m/vanilla/model.tar.gz"))
    assert str(raised.value) == ("record: m/vanilla/model.tar.gz is not in a seed_<n> folder; a record keeps "
                                 "measures by seed, so use the <method>/seed_<n>/model.tar.gz layout")


def test_differences_to_vanilla_are_paired_by_seed_and_computed_by_hand(tmp_path):
    """From a record alone (no archive): FLAT's seeds 1-2 and BAT's seeds 2-3 against vanilla's 1-3."""
    record = tmp_path / "record.json"
    identity = record_identity(DATA, False, {"noise_std": 0.01, "top_k": 5, "budget": None, "max_instances": None,
                                             "batch_size": 64, "pgd_clip": False})
    write_record(record, identity, {
        "vanilla": {1: {"test_score": 0.80, "after_attack_accuracy": 0.25}, 2: {"test_score": 0.90, "after_attack_accuracy": 0.5},
                    3: {"test_score": 0.70, "after_attack_accuracy": 0.375}},
        "flat": {1: {"test_score": 0.82, "after_attack_accuracy": 0.75}, 2: {"test_score": 0.86, "after_attack_accuracy": 1.0}},
        "bat": {2: {"test_score": 0.91, "after_attack_accuracy": 0.625}, 3: {"test_score": 0.75, "after_attack_accuracy": math.nan}},
    })
    (tmp_path / "gone").mkdir()
    result = in_process("robustness-table", "--archives", tmp_path / "gone", "--data", DATA, "--record", record,
                        "-o", tmp_path / "table.md", "--json-file", tmp_path / "table.json")
    measures = json.loads((tmp_path / "table.json").read_text())
    assert measures["bat"]["seed_numbers"] == [2, 3] and "difference_to_vanilla" not in measures["vanilla"]
    # FLAT − vanilla at seeds 1, 2: test score +0.02, −0.04 → mean −0.01, s = 0.06/√2, CI = t(0.975, 1) · s/√2 = 12.706 · 0.03.
    flat = measures["flat"]["difference_to_vanilla"]
    assert flat["test_score"] == pytest.approx({"mean": -0.01, "half_width": 12.7062047 * 0.03, "count": 2})
    # after-attack +0.5, +0.5 (exact in binary): no spread, so the CI is 0 and excludes zero.
    assert flat["after_attack_accuracy"] == {"mean": 0.5, "half_width": 0.0, "count": 2}
    # BAT − vanilla at seeds 2, 3 (not 1): +0.01, +0.05; its after-attack accuracy only at seed 2 (seed 3 is NaN).
    bat = measures["bat"]["difference_to_vanilla"]
    assert bat["test_score"] == pytest.approx({"mean": 0.03, "half_width": 12.7062047 * 0.02, "count": 2})
    assert bat["after_attack_accuracy"] == {"mean": 0.125, "half_width": None, "count": 1}
    lines = result.stdout.splitlines()
    start = lines.index("| Method | Seeds | Δ Test score ↑ | Δ After-attack acc. ↑ |")
    assert lines[start + 2] == "| flat − vanilla | 2 | -0.010 ± 0.381 | +0.500 ± 0.000 * |"
    assert lines[start + 3] == "| bat − vanilla | 2 | +0.030 ± 0.254 | +0.125 |"
    assert (tmp_path / "table.md").read_text().splitlines() == lines


def test_the_table_measures_the_primary_agreement_alone(tmp_path):
    """An archive trained to report leave-one-out agreement too: the table's Pearson is evaluate's,
    and leave-one-out, which it never shows, is not computed."""
    archive = train_tiny(tmp_path / "loo", overrides={"model.agreement_measures": [{"type": "leave_one_out"}]})
    evaluated = in_process("evaluate", archive, DATA, "--output-file", tmp_path / "evaluated.json")
    assert evaluated.returncode == 0
    metrics = json.loads((tmp_path / "evaluated.json").read_text())
    assert "pearson_leave_one_out" in metrics
    row = robustness_row(archive, DATA, budget=5, max_instances=None)
    assert row["pearson"] == pytest.approx(metrics["pearson"], abs=1e-9)
    assert not any(key.endswith("leave_one_out") for key in row)
    attack = attack_file(archive, DATA, "synonym", budget=5).metrics()  # the defaults: top 5
    for name in ("attention", "gradient"):  # FLAT's consistency, where some attack changed a word
        assert row[f"adversarial_{name}_kendall_tau"] == attack[f"{name}_kendall_tau"]
        assert row[f"adversarial_{name}_top_k_intersection"] == attack[f"{name}_top5_intersection"]
    loaded = load_archive(archive)
    report = stability_report(loaded.model, list(loaded.validation_dataset_reader.read(DATA)))
    for key, value in report.items():  # noise 0.01, batches of 64, no second model, no clipped PGD
        assert row[key] == pytest.approx(value, abs=1e-9), key
    assert "seed_jsd" not in row and "pgd_clip_tvd" not in row


def test_seeds_are_measured_in_turn_so_that_an_interrupted_sitting_keeps_whole_seeds(tmp_path, vanilla_archive):  # noqa: F811
    archives, record = tmp_path / "methods", tmp_path / "record.json"
    for method in ("vanilla", "attention_iat"):
        for seed in (1, 2):
            (archives / method / f"seed_{seed}").mkdir(parents=True)
    for seed in (1, 2):
        (archives / "vanilla" / f"seed_{seed}" / "model.tar.gz").symlink_to(vanilla_archive)
    (archives / "attention_iat" / "seed_1" / "model.tar.gz").write_bytes(b"truncated")  # stops the sitting
    (archives / "attention_iat" / "seed_2" / "model.tar.gz").symlink_to(vanilla_archive)
    result = in_process("robustness-table", "--archives", archives, "--data", DATA, "--budget", "5", "--max-instances", "3",
                        "--record", record, "-o", tmp_path / "table.md", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: not a model archive: {archives / 'attention_iat' / 'seed_1'}")
    # vanilla's first seed, then attention_iat's first (which failed): vanilla's second was not reached.
    assert list(json.loads(record.read_text())["runs"]["vanilla"]) == ["1"]
    assert not (tmp_path / "table.md").exists()


def test_a_records_identity_is_the_data_the_second_archives_and_every_measuring_option():
    options = {"noise_std": 0.01, "top_k": 5, "budget": 30, "batch_size": 64, "pgd_clip": True, "jobs": 2}
    assert record_identity("data.txt", True, options) == {
        "command": "robustness-table", "data": "data.txt", "second_archives": True, "noise_std": 0.01, "top_k": 5,
        "budget": 30, "max_instances": None, "batch_size": 64, "pgd_clip": True, "stability_precision": "float64"}
