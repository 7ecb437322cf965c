"""Model archives: a truncated, foreign or non-tar file is a `NotAModelArchive` naming the path and
the underlying error, from the pre-check and from loading alike; a whole archive loads with its
keyword arguments; `archive_and_instances` checks the model, reads at most `max_instances` of the
input and names an input that gives none."""
import gzip
from pathlib import Path

import pytest
import torch
from allennlp.models.archival import Archive

from attention_perturb.archives import NotAModelArchive, archive_and_instances, check_model_archive, load_model_archive
from attention_perturb.errors import EmptyDatasetError
from tests.archives import vanilla_archive  # noqa: F401  (fixture)
from tests.devices import on_the_first_gpu

DEV = "fixtures/sst/dev.txt"  # 14 trees, 12 of them not neutral
TRUNCATED = "EOFError: Compressed file ended before the end-of-stream marker was reached"


def bad_archives(folder, archive):
    """(path, what it raises) for a truncated archive, a text file and a gzip of text."""
    whole = Path(archive).read_bytes()
    truncated, text, gzipped = folder / "truncated.tar.gz", folder / "notes.tar.gz", folder / "text.tar.gz"
    truncated.write_bytes(whole[:len(whole) // 2])  # the first member's header is readable, the end is not
    text.write_text("not an archive\n")
    gzipped.write_bytes(gzip.compress(b"hello world\n" * 100))
    return [(truncated, TRUNCATED), (text, "ReadError: not a gzip file"), (gzipped, "ReadError: invalid header")]


def assert_not_a_model_archive(raised, path, cause):
    assert str(raised.value) == f"not a model archive: {path} ({cause})"
    assert isinstance(raised.value, ValueError)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__  # `from None`: the gzip/tarfile traceback is not shown


def test_a_whole_archive_a_folder_and_a_missing_path_pass_the_check(tmp_path, vanilla_archive):
    assert check_model_archive(vanilla_archive) is None
    assert check_model_archive(str(tmp_path)) is None  # allennlp's own error for these
    assert check_model_archive(str(tmp_path / "missing.tar.gz")) is None


def test_a_broken_archive_fails_the_check_with_its_path_and_cause(tmp_path, vanilla_archive):
    for path, cause in bad_archives(tmp_path, vanilla_archive):
        with pytest.raises(NotAModelArchive) as raised:
            check_model_archive(str(path))
        assert_not_a_model_archive(raised, path, cause)


def test_a_broken_archive_fails_to_load_with_its_path_and_cause(tmp_path, vanilla_archive):
    for path, cause in bad_archives(tmp_path, vanilla_archive):
        with pytest.raises(NotAModelArchive) as raised:
            load_model_archive(str(path))
        assert_not_a_model_archive(raised, path, cause)


def test_a_missing_archive_is_allennlps_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model_archive(str(tmp_path / "missing.tar.gz"))


def test_a_whole_archive_loads_with_the_keyword_arguments(vanilla_archive):
    archive = load_model_archive(vanilla_archive)
    assert isinstance(archive, Archive)
    assert archive.config["trainer"]["num_epochs"] == 2
    overridden = load_model_archive(vanilla_archive, cuda_device=-1, overrides={"trainer": {"num_epochs": 7}})
    assert overridden.config["trainer"]["num_epochs"] == 7


@pytest.fixture
def checked():
    calls = []

    def check(model, archive_file):
        calls.append((model, archive_file))

    check.calls = calls
    return check


def sentences(instances):
    return [instance["metadata"]["sentence"] for instance in instances]


def test_archive_and_instances_checks_the_model_and_reads_every_instance(vanilla_archive, checked):
    archive, instances = archive_and_instances(vanilla_archive, DEV, checked)
    assert isinstance(archive, Archive)
    assert checked.calls == [(archive.model, vanilla_archive)]
    assert next(archive.model.parameters()).device == torch.device("cpu")
    every = list(archive.validation_dataset_reader.read(DEV))
    assert len(every) == len(instances) == 12
    assert sentences(instances) == sentences(every)


@pytest.mark.parametrize("max_instances", [1, 5, 12, 50])
def test_archive_and_instances_reads_the_first_max_instances(vanilla_archive, checked, max_instances):
    archive, instances = archive_and_instances(vanilla_archive, DEV, checked, max_instances=max_instances)
    every = list(archive.validation_dataset_reader.read(DEV))
    assert sentences(instances) == sentences(every[:max_instances])


def test_no_instances_is_an_error_naming_the_input_and_purpose(vanilla_archive, checked):
    with pytest.raises(EmptyDatasetError) as raised:
        archive_and_instances(vanilla_archive, DEV, checked, max_instances=0)
    assert str(raised.value) == f"{DEV}: no instances to measure"
    assert len(checked.calls) == 1  # the model was checked first
    with pytest.raises(EmptyDatasetError) as raised:
        archive_and_instances(vanilla_archive, DEV, checked, 0, -1, "attack")
    assert str(raised.value) == f"{DEV}: no instances to attack"


def test_a_model_the_check_refuses_is_not_read_for(vanilla_archive, tmp_path):
    refusal = ValueError("no attention layer")

    def refuse(model, archive_file):
        raise refusal

    with pytest.raises(ValueError) as raised:
        archive_and_instances(vanilla_archive, str(tmp_path / "missing.txt"), refuse)
    assert raised.value is refusal


def test_a_broken_archive_is_named_before_the_check(tmp_path, vanilla_archive, checked):
    (path, cause), *_ = bad_archives(tmp_path, vanilla_archive)
    with pytest.raises(NotAModelArchive) as raised:
        archive_and_instances(str(path), DEV, checked)
    assert_not_a_model_archive(raised, path, cause)
    assert checked.calls == []


def test_the_cuda_device_is_passed_on(vanilla_archive, checked):
    loaded = on_the_first_gpu(lambda: archive_and_instances(vanilla_archive, DEV, checked, cuda_device=0))
    if loaded:
        assert next(loaded[0].model.parameters()).device == torch.device("cuda", 0)
