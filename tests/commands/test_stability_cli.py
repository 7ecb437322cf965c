"""`allennlp stability` end to end, in subprocesses."""
import json
import math
import subprocess
import sys

import pytest
from allennlp.common.checks import ConfigurationError

from attention_perturb.data.errors import EmptyDatasetError
from attention_perturb.commands.stability import stability_file

from tests.archives import archive_without_attention, second_seed_archive, vanilla_archive  # noqa: F401

DATA = "fixtures/sst/test.txt"


def stability(*args):
    return subprocess.run(
        [sys.executable, "-m", "allennlp", "stability", *args], capture_output=True, text=True, timeout=300
    )


def test_stability_end_to_end(tmp_path, vanilla_archive, second_seed_archive):  # noqa: F811
    output = tmp_path / "stability.json"
    result = stability(vanilla_archive, DATA, "--second-archive", second_seed_archive, "--noise-std", "0.1",
                       "--top-k", "3", "--output-file", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert json.loads(result.stdout) == report
    assert report["instances"] == 12
    for name in ("noise_jsd", "synonym_jsd", "seed_jsd"):
        assert 0 <= report[name] <= math.log(2)
    for name in ("noise_tvd", "synonym_tvd", "seed_tvd", "accuracy"):
        assert 0 <= report[name] <= 1
    assert -1 <= report["comprehensiveness"] <= 1 and -1 <= report["sufficiency"] <= 1


def test_archive_without_attention_gives_a_one_line_error_and_no_output(tmp_path, archive_without_attention):  # noqa: F811
    output = tmp_path / "out.json"
    result = stability(archive_without_attention, DATA, "--output-file", str(output))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {archive_without_attention}: stability needs an attention model "
        "(attention_classifier, seat_classifier, flat_classifier); this archive holds a BasicClassifier, which has no attention"
    )
    assert not output.exists()


@pytest.mark.parametrize("problem, message", [
    ("empty data", "empty.txt: nothing to read: it holds no example"),
    ("missing second archive", "--second-archive: .*missing.tar.gz does not exist"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, problem, message, vanilla_archive):  # noqa: F811
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises((ConfigurationError, EmptyDatasetError), match=message):
        if problem == "empty data":
            stability_file(vanilla_archive, str(empty))
        else:
            stability_file(vanilla_archive, DATA, second_archive=str(tmp_path / "missing.tar.gz"))
