"""Instances the robustness measures cannot read, made from readable ones (for their error tests)."""
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
