#!/usr/bin/env bash
# Full SST runs (8 epochs, fixed seed) for the given methods (default: all six), each followed by
# `allennlp evaluate` on the test split; prints one line per method: test F1, accuracy, s/epoch.
# Usage: bash benchmarks/sst_methods.sh [method ...]   (extra allennlp flags via OVERRIDES='{"...": ...}')
set -euo pipefail
cd "$(dirname "$0")/.."
methods=("$@"); [ ${#methods[@]} -gt 0 ] || methods=(vanilla word_at word_iat attention_rp attention_at attention_iat)
out=${OUT_DIR:-runs/sst_methods}
mkdir -p "$out"
for method in "${methods[@]}"; do
  run="$out/$method${SUFFIX:-}"
  rm -rf "$run"
  .venv/bin/allennlp train "training_configs/sst_$method.jsonnet" -s "$run" -o "${OVERRIDES:-{\}}" > "$run.train.log" 2>&1
  .venv/bin/allennlp evaluate "$run/model.tar.gz" data/sst/test.txt --output-file "$run/test_metrics.json" > "$run.eval.log" 2>&1
  .venv/bin/python - "$run" "$method${SUFFIX:-}" <<'PY'
import json, sys, datetime
run, method = sys.argv[1:3]
test = json.load(open(f"{run}/test_metrics.json"))
train = json.load(open(f"{run}/metrics.json"))
h, m, s = train["training_duration"].split(":")
seconds = (int(h) * 3600 + int(m) * 60 + float(s)) / (train["epoch"] + 1)
print(f"{method:24s} test_f1={100*test['f1']:.2f} test_acc={100*test['accuracy']:.2f} "
      f"best_epoch={train['best_epoch']} s/epoch={seconds:.1f}", flush=True)
PY
done
