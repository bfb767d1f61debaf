#!/usr/bin/env bash
# Retrains the two committed sample models with the exact settings that produced
# them, evaluates them, and converts them to .imb files.
#
# Usage: scripts/train_samples.sh [etth1|co2|all] [ETTh1.csv]
# ETTh1.csv defaults to ../shared/data/ETTh1.csv beside the repository; the data
# set is not part of the repository. Needs /usr/bin/python3 with torch (see
# scripts/setup.sh --with-python) and a built infomamba CLI in build/.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
which="${1:-all}"
etth1_csv="${2:-$repo_dir/../shared/data/ETTh1.csv}"
python=/usr/bin/python3
cli="$repo_dir/build/samples/infomamba"
cd "$repo_dir"

if [[ "$which" == etth1 || "$which" == all ]]; then
  if [[ ! -f "$etth1_csv" ]]; then
    echo "error: $etth1_csv not found; pass the path of ETTh1.csv as the second argument" >&2
    exit 1
  fi
  start=$(date +%s)
  "$python" converters/python/train.py --data "$etth1_csv" --split etth --horizon 96 --context 96 \
    --d-model 64 --n-layers 2 --d-state 8 --d-conv 4 --expand 2 --n-concepts 8 --d-concept 32 \
    --level-alpha 0.02 --seq-len 160 --warmup 32 --batch-size 32 --batches-per-epoch 40 --epochs 20 \
    --patience 4 --lr 1e-3 --mi-weight 0.01 --seed 2024 --time-budget 1500 --threads 2 \
    --out samples/etth1/checkpoint
  "$python" converters/python/evaluate.py --checkpoint samples/etth1/checkpoint --data "$etth1_csv" \
    --split etth > samples/etth1/checkpoint/eval.json
  echo "etth1: train and evaluate took $(( $(date +%s) - start )) s" >&2
  "$cli" convert samples/etth1/checkpoint -o samples/etth1/etth1.imb
fi

if [[ "$which" == co2 || "$which" == all ]]; then
  start=$(date +%s)
  "$python" converters/python/train.py --data samples/co2/co2_weekly.csv --columns co2 --split ratio \
    --horizon 52 --context 104 --d-model 32 --n-layers 2 --d-state 8 --n-concepts 4 --d-concept 16 \
    --seq-len 260 --warmup 52 --batch-size 24 --batches-per-epoch 20 --epochs 12 --patience 4 \
    --lr 4e-3 --mi-weight 0.01 --seed 2024 --time-budget 600 --threads 2 --out samples/co2/checkpoint
  "$python" converters/python/evaluate.py --checkpoint samples/co2/checkpoint \
    --data samples/co2/co2_weekly.csv --columns co2 --split ratio > samples/co2/checkpoint/eval.json
  echo "co2: train and evaluate took $(( $(date +%s) - start )) s" >&2
  "$cli" convert samples/co2/checkpoint -o samples/co2/co2.imb
fi
