"""`allennlp robustness-table` end to end on fixture archives."""
import json

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive

from attention_perturb.commands.attack import attack_file
from attention_perturb.commands.robustness_table import format_value, found_archives
from attention_perturb.robustness.stability import stability_report
from tests.archives import second_seed_archive, train_tiny, vanilla_archive  # noqa: F401
from tests.cli import in_process

DATA = "fixtures/sst/test.txt"


def test_robustness_table_end_to_end(tmp_path, vanilla_archive, second_seed_archive):  # noqa: F811
    archives, seconds = tmp_path / "methods", tmp_path / "seed2"
    (archives / "vanilla").mkdir(parents=True)
    (archives / "vanilla" / "model.tar.gz").symlink_to(vanilla_archive)
    train_tiny(archives / "attention_iat", method="attention_iat")
    (seconds / "vanilla").mkdir(parents=True)
    (seconds / "vanilla" / "model.tar.gz").symlink_to(second_seed_archive)
    table, measures = tmp_path / "table.md", tmp_path / "table.json"
    result = in_process("robustness-table", "--archives", archives, "--data", DATA, "--second-archives", seconds,
                        "--budget", "30", "-o", table, "--json-file", measures)
    rows = json.loads(measures.read_text())
    assert list(rows) == ["vanilla", "attention_iat"]  # the paper's order, not the folder's
    lines = table.read_text().splitlines()
    assert result.stdout.splitlines() == lines
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:3] == ["Method", "Test score ↑", "Pearson ↑"] and "JSD seed ↓" in header and "Antonym ASR ↓" in header
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:]}
    assert cells["attention_iat"][header.index("JSD seed ↓") - 1] == "–"  # no second seed for it
    keys = {"Test score ↑": "test_score", "Synonym ASR ↓": "synonym_attack_success_rate", "JSD noise ↓": "noise_jsd",
            "JSD PGD ↓": "pgd_jsd",
            "Suff. ↓": "sufficiency", "JSD seed ↓": "seed_jsd"}
    for heading, key in keys.items():
        assert cells["vanilla"][header.index(heading) - 1] == format_value(rows["vanilla"][key])

    # The same numbers as the single-purpose tools give.
    vanilla = rows["vanilla"]
    attack = attack_file(vanilla_archive, DATA, "synonym", budget=30).metrics()
    assert vanilla["after_attack_accuracy"] == attack["after_attack_accuracy"]
    assert vanilla["synonym_attack_success_rate"] == attack["synonym_attack_success_rate"]
    archive = load_archive(vanilla_archive)
    second = load_archive(second_seed_archive)
    report = stability_report(archive.model, list(archive.validation_dataset_reader.read(DATA)),
                              second_model=second.model, second_instances=list(second.validation_dataset_reader.read(DATA)))
    for key, value in report.items():
        assert vanilla[key] == pytest.approx(value, abs=1e-9), key
    assert vanilla["test_score"] == vanilla["f1"]


def test_a_folder_without_archives_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="--archives: no <method>/model.tar.gz under"):
        found_archives([str(tmp_path)])
