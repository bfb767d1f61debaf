#!/usr/bin/env bash
# Sets up everything, then runs the main job on the shipped sample. It converts
# the trained co2 checkpoint and streams the weekly co2 series through it one
# row at a time. Then it shows the accuracy of the forecasts made in the
# held-out test part of the series, and the last forecasts.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-build}"

bash "$repo_dir/scripts/setup.sh" "$build_dir"
cli="$repo_dir/$build_dir/samples/infomamba"
out_dir="$repo_dir/$build_dir/sample"
mkdir -p "$out_dir"

echo
echo "== convert: samples/co2/checkpoint -> $build_dir/sample/co2.imb"
"$cli" convert "$repo_dir/samples/co2/checkpoint" -o "$out_dir/co2.imb"

# The model was trained on the first 70 % of the rows. Forecasts made from data
# row 1827 on target only the last 20 %, which training never saw.
echo
echo "== stream: samples/co2/co2_weekly.csv, one 52-week forecast per row;"
echo "   scored: forecasts made from data row 1827 on (targets in the held-out last 20 %)"
"$cli" forecast "$out_dir/co2.imb" --input "$repo_dir/samples/co2/co2_weekly.csv" \
  --output "$out_dir/co2_forecast.csv" --evaluate-from 1827

# The naive baseline on the same 405 windows, from the PyTorch evaluation.
eval_json="$repo_dir/samples/co2/checkpoint/eval.json"
naive_value() {
  sed -n '/"repeat_last"/,/}/p' "$eval_json" | grep "\"$1\"" | sed 's/.*: *\([0-9.eE+-]*\).*/\1/'
}
echo
printf '== for comparison, repeating the last observed value: MSE (std) %.4f, MAE (std) %.4f\n' \
  "$(naive_value mse)" "$(naive_value mae)"

echo
echo "== the last 3 rows of $build_dir/sample/co2_forecast.csv (date and the first 8 of 52 forecast steps, ppm)"
{ head -n 1 "$out_dir/co2_forecast.csv"; tail -n 3 "$out_dir/co2_forecast.csv"; } | cut -d, -f1-9
