#!/usr/bin/env bash
# The paper's ε random search (0-30) for the three attention methods on SST, on a CPU budget:
# TRIALS trials per method (default 5; the paper ran 100) of 4 epochs (training_configs/search_spaces/epsilon_cpu.json),
# one trial at a time; then allentune's report per method and the Figure-4 plot.
#   bash benchmarks/sst_epsilon_search.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-5}
BIN=.venv/bin
export RAY_worker_niceness=0  # Ray starts trial workers at nice 15, which starves them on a shared machine
for method in attention_iat attention_at attention_rp; do
  $BIN/allennlp tune search --experiment-name sst_$method --num-cpus 1 --num-gpus 0 --cpus-per-trial 1 \
    --gpus-per-trial 0 --search-space training_configs/search_spaces/epsilon_cpu.json --num-samples "$TRIALS" \
    --base-config training_configs/search/sst_$method.jsonnet --include-package attention_perturb --log-dir runs/tune
  $BIN/allennlp tune report --log-dir runs/tune/sst_$method --performance-metric best_validation_f1 --model $method
done
$BIN/allennlp tune plot --result-file runs/tune/sst_attention_{iat,at,rp}/results.jsonl --output-file figures/figure4_sst.png \
  --data-name SST --x epsilon --performance-metric-field best_validation_f1
