#!/usr/bin/env bash
# SEAT, FLAT and BAT as their authors run them, beside the six methods (issue 33), resumable: rerun to continue.
#   bash benchmarks/sst_neighbours.sh SIX_ARCHIVES [seeds: a count N for 1..N, or a list such as "2 3" (default 3)]
# SIX_ARCHIVES holds the six methods' archives, SIX_ARCHIVES/<method>/seed_<n>/model.tar.gz (reproduce-table2's
# layout, e.g. runs/sst_table2); they are linked into OUT/<method>/seed_<n> (OUT default runs/sst_neighbours).
# Then, for each seed, every run of benchmarks/sst_neighbours.json is trained into OUT/<name>/seed_<n> with that
# seed (a finished run is kept, an interrupted one continues with --recover; JOBS trainings at a time, default 2,
# each on one thread). Then every archive under OUT is measured by `allennlp robustness-table --pgd-clip` (budget
# BUDGET, default 40, full SST test set) into the record benchmarks/results/sst_neighbours_record.json, as each
# seed finishes, and BAT's attack protocol (benchmarks/sst_bat_protocol.py, first 500 test sentences) of the
# plan's bat_protocol_methods into benchmarks/results/sst_neighbours_bat_protocol_record.json; a record's seeds
# are not measured again. Last, `allennlp results benchmarks/results` makes the results files' sections anew.
# DRY_RUN=1 prints every command instead of running it, and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
six=${1:?usage: bash benchmarks/sst_neighbours.sh SIX_ARCHIVES [seeds]}
seeds=${2:-3}
[[ $seeds =~ ^[0-9]+$ ]] && seeds=$(seq 1 "$seeds")
out=${OUT:-runs/sst_neighbours}
plan=benchmarks/sst_neighbours.json
jobs=${JOBS:-2} running=0
run() { if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "$@"; echo; else "$@"; fi; }

six_methods=(vanilla word_at word_iat attention_rp attention_at attention_iat)
for seed in $seeds; do  # every archive of the six checked before anything is linked or trained
  for method in "${six_methods[@]}"; do
    test -f "$six/$method/seed_$seed/model.tar.gz" || { echo "missing $six/$method/seed_$seed/model.tar.gz: run reproduce-table2 first" >&2; exit 1; }
  done
done
for seed in $seeds; do
  for method in "${six_methods[@]}"; do
    run mkdir -p "$out/$method"
    run ln -sfn "$(realpath "$six/$method/seed_$seed")" "$out/$method/seed_$seed"
  done
done

train() {  # train NAME SEED CONFIG OVERRIDES: skip a finished run, continue an interrupted one
  local dir="$out/$1/seed_$2" recover=()
  [ -f "$dir/model.tar.gz" ] && return 0
  [ -d "$dir" ] && recover=(--recover)
  run mkdir -p "$out/$1"
  if [ -n "${DRY_RUN:-}" ]; then
    run .venv/bin/python -m allennlp train "$3" -s "$dir" -o "$4" "${recover[@]}"
  else
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python -m allennlp train "$3" -s "$dir" -o "$4" "${recover[@]}" > "$dir.log" 2>&1
  fi
}
start() {  # start NAME SEED CONFIG OVERRIDES once fewer than JOBS trainings run
  if [ -n "${DRY_RUN:-}" ]; then train "$@"; return; fi
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
  train "$@" & running=$((running + 1))
}
for seed in $seeds; do
  # name <TAB> config <TAB> overrides (the run's, and the seed as random, numpy and pytorch seed)
  while IFS=$'\t' read -r name config overrides; do
    start "$name" "$seed" "$config" "$overrides"
  done < <(.venv/bin/python -c '
import json, sys
seed = int(sys.argv[2])
for run in json.load(open(sys.argv[1]))["runs"]:
    overrides = {**run["overrides"], "random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}
    print(run["name"], run["config"], json.dumps(overrides), sep="\t")' "$plan" "$seed")
done
while (( running > 0 )); do wait -n; running=$((running - 1)); done

run .venv/bin/python -m allennlp robustness-table --archives "$out" --data data/sst/test.txt --budget "${BUDGET:-40}" --pgd-clip \
  --jobs "$jobs" --record benchmarks/results/sst_neighbours_record.json \
  -o "$out/robustness_table.md" --json-file "$out/robustness_table.json"
mapfile -t protocol < <(.venv/bin/python -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["bat_protocol_methods"]))' "$plan")
run .venv/bin/python benchmarks/sst_bat_protocol.py --archives "$out" --methods "${protocol[@]}" --max-instances 500 \
  --record benchmarks/results/sst_neighbours_bat_protocol_record.json --output "$out/bat_protocol.md"
run .venv/bin/python -m allennlp results benchmarks/results
