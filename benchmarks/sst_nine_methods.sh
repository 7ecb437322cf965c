#!/usr/bin/env bash
# The nine-method robustness table over seeds (issue 13, item 3), resumable: rerun to continue.
# Superseded by benchmarks/sst_neighbours.sh (SEAT fully as coded, FLAT-adv, BAT's weight swept, float64
# and clamped measures). Its record, benchmarks/results/sst_robustness.json, predates the float64 measures,
# so today's robustness-table refuses to add to it: RECORD names another (default that one).
#   bash benchmarks/sst_nine_methods.sh [seeds: a count N for 1..N, or a list such as "2 3" (default 3)] [archives of the six methods]
# The six methods' archives come from reproduce-table2 (default runs/table2_sst_chosen, the agreement
# study's 5-seed block at the chosen ε), linked into runs/sst_nine/<method>/seed_<n>. SEAT is trained
# from each seed's own vanilla model (the paper's Eq. 6) and, as its authors' code trains it, from
# scratch (seat_code, and with its top-k weight λ2 = 10 instead of 1000: seat_code_topk_weight_10, an
# ablation); FLAT (and, as an ablation, with relaxed word masks: flat_soft_masks) and BAT from
# scratch; all with seed n. Then `allennlp robustness-table`
# over the full SST test set, with the attack budget and instance count of BUDGET / MAX_INSTANCES
# (defaults 40 and all), into runs/sst_nine/robustness_table.{md,json}. Each
# seed's measures go into the record benchmarks/results/sst_robustness.json as they finish,
# so a sitting that ends part-way keeps them, and the next measures only what the record lacks (a later
# sitting can train only the seeds still missing: e.g. "3"; a seed's seed columns compare it with the
# next seed present in its own sitting, so train at least two seeds per sitting). JOBS (default 2)
# trainings, then JOBS archives' measures, run side by side, each on one thread. Then `allennlp results`
# makes benchmarks/results/sst_robustness.md's tables and its Pareto picture from the record.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-3}
[[ $seeds =~ ^[0-9]+$ ]] && seeds=$(seq 1 "$seeds")
six=${2:-runs/table2_sst_chosen}
out=runs/sst_nine
train() {  # train CONFIG DIR OVERRIDES: skip a finished run, continue an interrupted one
  local recover=()
  [ -f "$2/model.tar.gz" ] && return 0
  [ -d "$2" ] && recover=(--recover)
  mkdir -p "$(dirname "$2")"
  .venv/bin/allennlp train "$1" -s "$2" -o "$3" "${recover[@]}" > "$2.log" 2>&1
}
for seed in $seeds; do  # every archive checked before anything trains
  for method in vanilla word_at word_iat attention_rp attention_at attention_iat; do
    test -f "$six/$method/seed_$seed/model.tar.gz" || { echo "missing $six/$method/seed_$seed/model.tar.gz: run reproduce-table2 first" >&2; exit 1; }
    mkdir -p "$out/$method"
    ln -sfn "$(realpath "$six/$method/seed_$seed")" "$out/$method/seed_$seed"
  done
done
jobs=${JOBS:-2} running=0
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
start() {  # start CONFIG DIR OVERRIDES once fewer than JOBS trainings run
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
  train "$@" & running=$((running + 1))
}
for seed in $seeds; do
  seeding="\"random_seed\": $seed, \"numpy_seed\": $seed, \"pytorch_seed\": $seed"
  start training_configs/sst_seat.jsonnet "$out/seat/seed_$seed" \
    "{\"model.vanilla_archive\": \"$out/vanilla/seed_$seed/model.tar.gz\", $seeding}"
  start training_configs/sst_seat_embedding.jsonnet "$out/seat_code/seed_$seed" "{$seeding}"
  start training_configs/sst_flat.jsonnet "$out/flat/seed_$seed" "{$seeding}"
  start training_configs/sst_bat.jsonnet "$out/bat/seed_$seed" "{$seeding}"
  # The ablation of sst_seat_measure.md: SEAT as coded with the top-k weight λ2 = 10 instead of 1000.
  start training_configs/sst_seat_embedding.jsonnet "$out/seat_code_topk_weight_10/seed_$seed" \
    "{\"model.top_k_weight\": 10, $seeding}"
  # FLAT with the relaxed word masks it had before the authors' binary ones (sst_neighbours_vs_papers.md).
  start training_configs/sst_flat.jsonnet "$out/flat_soft_masks/seed_$seed" \
    "{\"model.hard_masks\": false, \"model.temperature\": 0.5, \"model.mask_hidden_dim\": 100, $seeding}"
done
while (( running > 0 )); do wait -n; running=$((running - 1)); done
unset OMP_NUM_THREADS MKL_NUM_THREADS
limit=(); [ -n "${MAX_INSTANCES:-}" ] && limit=(--max-instances "$MAX_INSTANCES")
.venv/bin/allennlp robustness-table --archives "$out" --data data/sst/test.txt --budget "${BUDGET:-40}" "${limit[@]}" \
  --jobs "${JOBS:-2}" --record "${RECORD:-benchmarks/results/sst_robustness.json}" \
  -o "$out/robustness_table.md" --json-file "$out/robustness_table.json"
.venv/bin/allennlp results benchmarks/results
