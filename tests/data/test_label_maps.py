"""Label maps, length filters and split sizes of every `make-dataset` builder, on the raw-format
fixtures: a named raw example of each dataset lands on its expected label, in the JSON lines and
in the instance the training config's reader makes of them (for SST, the reader of the raw trees
the config trains on); the length filters keep and drop their boundary examples; and each build
has the split sizes of the table."""
import json
import shutil

import pytest
from allennlp.common import Params
from allennlp.data import DatasetReader

from attention_perturb.data.builders import RELEASE_SIZES, make_dataset

SPLITS = ("train", "validation", "test")

# name: (dataset, raw folder, make_dataset options, training config whose reader reads the output)
BUILDS = {
    "sst": ("sst", "fixtures/sst", {}, "sst_vanilla"),
    "imdb": ("imdb", "fixtures/imdb", {}, "imdb_vanilla"),
    "20news": ("20news", "fixtures/20news", {}, "20news_vanilla"),
    "agnews": ("agnews", "fixtures/agnews", {}, "agnews_vanilla"),
    "cnn": ("cnn", "fixtures/cnn", {"protocol": "reduced"}, "cnn_sample_vanilla"),
    "babi1": ("babi", "fixtures/babi", {"task": 1}, "babi1_vanilla"),
    "babi2": ("babi", "fixtures/babi", {"task": 2}, "babi2_vanilla"),
    "babi3": ("babi", "fixtures/babi", {"task": 3}, "babi3_vanilla"),
    "snli": ("snli", "fixtures/nli", {}, "snli_vanilla"),  # the full protocol, the fixture taken as the release
    "multinli": ("multinli", "fixtures/multinli_partial", {"protocol": "reduced"}, "multinli_reduced_vanilla"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each build's folder, made once for the module."""
    folder = tmp_path_factory.mktemp("label_maps")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(RELEASE_SIZES, "snli", {f"snli_1.0_{name}.jsonl": 5 for name in ("train", "dev", "test")})
        for name, (dataset, raw, options, _) in BUILDS.items():
            make_dataset(dataset, raw, str(folder / name), **options)
    return folder


def records(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name, sizes", [
    # 44 / 14 / 14 trees, of which 4 / 2 / 2 neutral roots dropped
    ("sst", {"train": 40, "validation": 12, "test": 12}),
    # 26 train reviews less 12_1 (400 words) and 12_10 (6): 24, round(20 %) = 5 held out; 5 of the 26 test reviews
    ("imdb", {"train": 19, "validation": 5, "test": 5}),
    # 20 + 20 posts: 8 for test, 6 of the other 32 for validation; the 4 of at most 6 words fall in train
    ("20news", {"train": 22, "validation": 6, "test": 8}),
    # 11 World + 10 Business train rows: round(15 % of 21) = 3 held out; 4 + 4 test rows
    ("agnews", {"train": 18, "validation": 3, "test": 8}),
    ("cnn", {"train": 12, "validation": 4, "test": 4}),  # the question files of each folder
    # 10 train questions, round(1.5) = 2 held out; 5 test questions
    ("babi1", {"train": 8, "validation": 2, "test": 5}),
    # 4 train questions, round(0.6) = 1 held out; 2 test questions
    ("babi2", {"train": 3, "validation": 1, "test": 2}),
    ("babi3", {"train": 3, "validation": 1, "test": 2}),
    ("snli", {"train": 5, "validation": 5, "test": 5}),  # 6 pairs per file, one without a gold label
    # 20 dev_matched pairs split 18 / 2, the 10 dev_mismatched pairs the test set
    ("multinli", {"train": 18, "validation": 2, "test": 10}),
])
def test_split_sizes(built, name, sizes):
    assert {split: len(records(built / name, split)) for split in SPLITS} == sizes
    assert json.loads((built / name / "meta.json").read_text())["sizes"] == sizes


# (build, fields identifying the raw example, its expected label; None: dropped from every split)
EXAMPLES = [
    ("sst", {"text": "This is n't a new idea ."}, "negative"),  # train.txt:20, root 1
    ("sst", {"text": "Here 's yet another studio horror franchise mucking up its storyline with glitches casual "
                     "fans could correct in their sleep ."}, "negative"),  # dev.txt:9, root 0
    ("sst", {"text": "A warm , funny , engaging film ."}, "positive"),  # dev.txt:3, root 4
    ("sst", {"text": "If you sometimes like to go to the movies to have fun , Wasabi is a good place to start ."},
     "positive"),  # test.txt:2, root 3
    ("sst", {"text": "No one goes unindicted here , which is probably for the best ."}, None),  # dev.txt:2, root 2
    ("imdb", {"text": "The plot makes no sense... The cast looks lost. A waste of 90 minutes!"}, "negative"),  # neg/3_1
    ("imdb", {"text": "A moving story... The 2 leads are great... Funny and warm!"}, "positive"),  # pos/8_7
    ("imdb", {"text": "An unlabelled review that is never read."}, None),  # train/unsup/0_0
    ("20news", {"text": "the puck crossed the line the rangers won in overtime the penalty kill was perfect the "
                        "goalie stopped qq shots ."}, "positive"),  # rec.sport.hockey
    ("20news", {"text": "their bullpen is weak this season he hit qq home runs the pitcher threw a qq mph fastball "
                        "spring training starts soon ."}, "negative"),  # rec.sport.baseball
    ("agnews", {"text": "The central bank left interest rates unchanged."}, "positive"),  # class 3, Business
    ("agnews", {"text": "The UN Security Council met to discuss the crisis in the region."}, "negative"),  # class 1
    ("agnews", {"text": "Olympic champion wins again in the 100m."}, None),  # class 2, Sports
    # training/1032888d….question and test/05fbec3a….question: the answer on their seventh line
    ("cnn", {"question": "( @entity9 ) -- @entity34 met @placeholder in @entity10 on tuesday , 24 days after the "
                         "talks in @entity25 ended"}, "@entity5"),
    ("cnn", {"question": "( @entity28 ) -- @placeholder met @entity29 in @entity11 on tuesday , 14 days after the "
                         "talks in @entity30 ended"}, "@entity39"),
    ("babi1", {"passage": "Mary moved to the bathroom. John went to the hallway.", "question": "Where is Mary?"},
     "bathroom"),
    ("babi2", {"passage": "Mary moved to the bathroom. Sandra journeyed to the bedroom. Mary got the football there. "
                          "Mary went back to the kitchen.", "question": "Where is the football?"}, "kitchen"),
    ("babi3", {"passage": "Mary moved to the bathroom. Mary got the football there. Mary went to the kitchen. Mary "
                          "went back to the garden.", "question": "Where was the football before the garden?"},
     "kitchen"),
    ("snli", {"passage": "A person on a horse jumps over a broken down airplane.",
              "question": "A person is training his horse for a competition."}, "neutral"),  # snli_1.0_dev.jsonl:1
    ("snli", {"passage": "Two women are embracing while holding to go packages.",
              "question": "The sisters are hugging goodbye."}, None),  # gold label "-"
    ("multinli", {"passage": "Three friends is sitting in a kitchen.",
                  "question": "Three friends is sitting with a friend."}, "neutral"),  # dev_mismatched:1, test
]


def config_reader(name):
    params = Params.from_file(f"training_configs/{BUILDS[name][3]}.jsonnet").as_dict(quiet=True)
    return DatasetReader.from_params(Params(params["dataset_reader"])), params


@pytest.mark.parametrize("name, fields, label", EXAMPLES, ids=[f"{name}-{label}" for name, _, label in EXAMPLES])
def test_a_named_raw_example_lands_on_its_label(built, name, fields, label):
    found = [(split, index, record) for split in SPLITS for index, record in enumerate(records(built / name, split))
             if all(record[key] == value for key, value in fields.items())]
    if label is None:
        assert found == []
        return
    assert found and {record["label"] for _, _, record in found} == {label}, found  # fixtures repeat some examples
    split, index, _ = found[0]
    reader, params = config_reader(name)
    if name == "sst":  # SST trains on the raw trees: the same sentence there has the same label
        raw = {"train": params["train_data_path"], "validation": params["validation_data_path"],
               "test": params["test_data_path"]}[split].replace("data/sst", "fixtures/sst")
        labels = {instance["label"].label for instance in reader.read(raw)
                  if instance["metadata"]["sentence"] == fields["text"]}
    else:
        labels = {list(reader.read(str(built / name / f"{split}.jsonl")))[index]["label"].label}
    assert labels == {label}


def kept_texts(folder):
    return {record["text"] for split in SPLITS for record in records(folder, split)}


def test_imdb_keeps_reviews_of_7_to_399_words_as_keras_counts_them(tmp_path):
    """Jain & Wallace keep reviews of more than 6 and fewer than 400 words, counted as Keras
    tokenised the `imdb_full.pkl` (punctuation removed, so `<br />` is the word `br`)."""
    raw = tmp_path / "raw"
    shutil.copytree("fixtures/imdb", raw)
    reviews = {"sixwords": 6, "sevenwords": 7, "threehundredninetyninewords": 399, "fourhundredwords": 400}
    for index, (tag, words) in enumerate(reviews.items(), start=20):
        (raw / "aclImdb" / "train" / "pos" / f"{index}_9.txt").write_text(" ".join([tag] + ["good"] * (words - 1)))
    (raw / "aclImdb" / "train" / "neg" / "20_1.txt").write_text("linebreak bad bad bad bad bad<br />")  # 6 + br
    make_dataset("imdb", str(raw), str(tmp_path / "imdb"))
    kept = kept_texts(tmp_path / "imdb")
    assert {tag for tag in reviews if any(text.startswith(tag + " ") for text in kept)} == {
        "sevenwords", "threehundredninetyninewords"}
    assert "linebreak bad bad bad bad bad" in kept


def test_20news_keeps_posts_of_7_to_499_words(tmp_path):
    """Posts of more than 6 and fewer than 500 words of the cleaned text are kept, whichever split
    they fall in."""
    raw = tmp_path / "raw"
    shutil.copytree("fixtures/20news", raw)
    posts = {"sixwords": 6, "sevenwords": 7, "fourhundredninetyninewords": 499, "fivehundredwords": 500}
    for number, (tag, words) in enumerate(posts.items(), start=200000):
        body = " ".join([tag] + ["puck"] * (words - 1))
        (raw / "20news-bydate-train" / "rec.sport.hockey" / str(number)).write_text(
            f"From: fan@school.edu\nSubject: words\n\n{body}\n")
    make_dataset("20news", str(raw), str(tmp_path / "20news"))
    kept = kept_texts(tmp_path / "20news")
    assert {tag for tag in posts if any(text.startswith(tag + " ") for text in kept)} == {
        "sevenwords", "fourhundredninetyninewords"}
