"""Instances and archives the robustness measures cannot read, made from readable ones (for their error tests)."""
import json
import tarfile
from pathlib import Path

from allennlp.data import Instance
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer


def with_words_renamed(instance: Instance) -> Instance:
    """The text under `words` instead of `tokens`; other fields kept."""
    fields = {name: field for name, field in instance.fields.items() if name != "tokens"}
    return Instance({"words": instance["tokens"], **fields})


def with_two_indexers(instance: Instance) -> Instance:
    """The same words indexed twice, under `tokens` and `again`; other fields kept."""
    indexers = {"tokens": SingleIdTokenIndexer(), "again": SingleIdTokenIndexer()}
    return Instance({**instance.fields, "tokens": TextField(instance["tokens"].tokens, indexers)})


def with_two_indexer_reader(archive_file: str, folder: Path) -> str:
    """The archive unpacked into `folder` (a serialization folder allennlp loads as an archive), its
    reader indexing the words twice, under `tokens` and `again`; the model is the same."""
    with tarfile.open(archive_file) as archive:
        archive.extractall(folder)
    config = json.loads((folder / "config.json").read_text())
    config["dataset_reader"]["token_indexers"] = {"tokens": {"type": "single_id"}, "again": {"type": "single_id"}}
    config.pop("validation_dataset_reader", None)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)
