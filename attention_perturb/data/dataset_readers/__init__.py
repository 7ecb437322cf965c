from attention_perturb.data.dataset_readers.sst import SstTreesReader  # noqa: F401
