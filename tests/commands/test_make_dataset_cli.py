"""`allennlp make-dataset`, then `train` with a shipped config and `evaluate`, through allennlp's own
command-line entry point (tests/cli.py)."""
import json
from collections import Counter

from attention_perturb.data.tokenizers import JainWallaceTokenizer
from tests.cli import in_process
from tests.data.test_builders import bad_agnews


def test_make_dataset_then_train_and_evaluate_the_shipped_cnn_config(tmp_path):
    data, run = tmp_path / "cnn", tmp_path / "run"
    made = in_process("make-dataset", "cnn", "fixtures/cnn", "-o", str(data), "--protocol", "reduced")
    assert f"wrote {data}: train 12, validation 4, test 4" in made.stdout
    # The paper's config (training_configs/lib/cnn.libsonnet) with tiny dimensions and random vectors.
    tiny = {
        "embedding_dim": 8, "pretrained_file": None,  # of the tokens embedder
        "input_size": 8, "hidden_size": 4,  # of both encoders
        "input_dim": 8, "hidden_dim": 5, "query_dim": 8,  # of the attention
    }
    overrides = {
        "train_data_path": str(data / "train.jsonl"),
        "validation_data_path": str(data / "validation.jsonl"),
        "test_data_path": str(data / "test.jsonl"),
        "vocabulary.min_count.tokens": 1,
        **{f"model.text_field_embedder.token_embedders.tokens.{key}": tiny[key] for key in ("embedding_dim", "pretrained_file")},
        **{f"model.{encoder}.{key}": tiny[key] for encoder in ("passage_encoder", "question_encoder")
           for key in ("input_size", "hidden_size")},
        **{f"model.attention.{key}": tiny[key] for key in ("input_dim", "hidden_dim", "query_dim")},
        "model.decoder_hidden": 6,
        "data_loader.batch_sampler.batch_size": 4,
        "trainer.num_epochs": 2,
    }
    in_process("train", "training_configs/cnn_attention_iat.jsonnet", "-s", str(run), "-o", json.dumps(overrides))
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"best_validation_accuracy", "test_accuracy", "test_micro_f1", "training_adversarial_loss"} <= set(metrics)
    labels = (run / "vocabulary" / "labels.txt").read_text().split()
    assert len(labels) == 1000 and labels[0].startswith("@entity")

    output = tmp_path / "evaluated.json"
    in_process("evaluate", str(run / "model.tar.gz"), str(data / "test.jsonl"), "--output-file", str(output))
    evaluated = json.loads(output.read_text())
    assert 0.0 <= evaluated["accuracy"] <= 1.0
    assert evaluated["accuracy"] == metrics["test_accuracy"]


def test_shipped_agnews_config_trains_on_made_splits_in_process(tmp_path):
    from allennlp.commands.train import train_model_from_file

    from attention_perturb.data.builders import make_dataset

    data = tmp_path / "agnews"
    make_dataset("agnews", "fixtures/agnews", str(data))
    overrides = {
        "train_data_path": str(data / "train.jsonl"),
        "validation_data_path": str(data / "validation.jsonl"),
        "test_data_path": str(data / "test.jsonl"),
        "model.text_field_embedder.token_embedders.tokens.embedding_dim": 8,
        "model.text_field_embedder.token_embedders.tokens.pretrained_file": None,
        "model.encoder.input_size": 8,
        "model.encoder.hidden_size": 4,
        "model.attention.input_dim": 8,
        "model.attention.hidden_dim": 5,
        "trainer.num_epochs": 1,
    }
    model = train_model_from_file(
        "training_configs/agnews_word_at.jsonnet", str(tmp_path / "run"), overrides=json.dumps(overrides)
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"test_f1", "test_accuracy", "best_validation_f1"} <= set(metrics)
    assert sorted(model.vocab.get_token_to_index_vocabulary("labels")) == ["negative", "positive"]
    # min_count 5 of the config: exactly the words seen at least 5 times in train are known.
    tokenizer = JainWallaceTokenizer()
    counts = Counter(t.text for line in open(data / "train.jsonl") for t in tokenizer.tokenize(json.loads(line)["text"]))
    known = set(model.vocab.get_token_to_index_vocabulary("tokens")) - {"@@PADDING@@", "@@UNKNOWN@@"}
    assert known == {word for word, count in counts.items() if count >= 5}
    assert min(counts.values()) < 5 and "qq" in known


def test_the_command_passes_its_seed_task_and_skip_invalid_to_the_builder(tmp_path):
    out = tmp_path / "babi"
    made = in_process("make-dataset", "babi", "fixtures/babi", "-o", str(out), "--seed", "5", "--task", "2")
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["seed"], meta["task"], meta["dataset"]) == (5, 2, "babi")
    assert made.stdout == f"wrote {out}: " + ", ".join(f"{split} {size}" for split, size in meta["sizes"].items()) + "\n"

    raw = bad_agnews(tmp_path, '"5","Title","Text"\n')
    refused = in_process("make-dataset", "agnews", str(raw), "-o", str(tmp_path / "strict"), check=False)
    assert refused.stderr.strip().splitlines()[-1].startswith(f"error: {raw / 'ag_news_csv' / 'train.csv'}:")
    lenient = in_process("make-dataset", "agnews", str(raw), "-o", str(tmp_path / "lenient"), "--skip-invalid")
    assert json.loads((tmp_path / "lenient" / "meta.json").read_text())["sizes"]["train"] == 18, lenient.stdout
