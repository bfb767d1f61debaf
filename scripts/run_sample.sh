#!/usr/bin/env bash
# Sets up everything, then runs the main job on the shipped sample: convert the
# trained co2 checkpoint, stream the weekly co2 series through it one row at a
# time, show the last forecasts and the accuracy of every forecast whose target
# has arrived.
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

echo
echo "== stream: samples/co2/co2_weekly.csv, one forecast per row"
"$cli" forecast "$out_dir/co2.imb" --input "$repo_dir/samples/co2/co2_weekly.csv" \
  --output "$out_dir/co2_forecast.csv" --evaluate

echo
echo "== the last 3 rows of $build_dir/sample/co2_forecast.csv (date and the first 8 forecast steps)"
tail -n 3 "$out_dir/co2_forecast.csv" | cut -d, -f1-9
