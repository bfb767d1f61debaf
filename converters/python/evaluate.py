#!/usr/bin/python3
"""Evaluate a trained InfoMamba checkpoint on the test split of a CSV series.

Prints JSON with MSE and MAE in z-units, averaged over windows, steps and
channels (missing targets excluded). Two protocols are scored:
  standard  Each stride-1 test window runs its L context rows from a fresh state.
            The forecast after the L-th row is scored against the next H rows.
  stream    One stream consumes the whole series from row 0. The forecast it
            makes at each window's last context row is scored on the same windows.
The naive forecast that repeats the last context value is scored on the same
windows as a check of the split and scaling.

Example:
  /usr/bin/python3 converters/python/evaluate.py --checkpoint samples/etth1/checkpoint \\
      --data ETTh1.csv --split etth
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from infomamba_ref import InfoMamba, InfoMambaConfig, safetensors_io  # noqa: E402
from infomamba_ref.forecasting import (evaluate_repeat_last, evaluate_stream, evaluate_windows,  # noqa: E402
                                       load_series, split_rows, window_origins)


def load_checkpoint(folder: str) -> InfoMamba:
    """Build a float32 model from config.json and model.safetensors in folder."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = InfoMambaConfig.from_dict(json.load(f))
    model = InfoMamba(cfg)
    weights = safetensors_io.load(os.path.join(folder, "model.safetensors"))
    model.load_state_dict({name: torch.from_numpy(value).float() for name, value in weights.items()})
    return model.eval()


def main(argv=None):
    p = argparse.ArgumentParser(description="Evaluate an InfoMamba checkpoint on the test split of a CSV series.")
    p.add_argument("--checkpoint", required=True, help="folder with config.json and model.safetensors")
    p.add_argument("--data", required=True, help="CSV file with a header row")
    p.add_argument("--split", choices=["etth", "ettm", "ratio"], required=True, help="row split, as in training")
    p.add_argument("--columns", help="comma-separated value columns (default: the checkpoint's channel names)")
    p.add_argument("--context", type=int, default=None,
                   help="context rows L (default: the training context from train_log.json, else 96)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    start = time.time()
    model = load_checkpoint(args.checkpoint)
    cfg = model.cfg
    context = args.context
    if context is None:
        context = 96
        log_path = os.path.join(args.checkpoint, "train_log.json")
        if os.path.exists(log_path):
            with open(log_path) as f:
                context = int(json.load(f)["args"]["context"])

    columns = args.columns.split(",") if args.columns else cfg.input.names
    names, values = load_series(args.data, columns)
    if len(names) != cfg.input.channels:
        raise SystemExit(f"data has {len(names)} value columns, expected {cfg.input.channels} "
                         f"(the checkpoint's input.channels); choose them with --columns")
    splits = split_rows(len(values), args.split, context)
    horizon = cfg.output.horizon
    starts = window_origins(splits.test, context, horizon)
    mean, std = np.asarray(cfg.input.mean), np.asarray(cfg.input.std)

    standard = evaluate_windows(model, values, starts, context)
    stream = evaluate_stream(model, values, starts, context)
    repeat = evaluate_repeat_last(values, mean, std, starts, context, horizon)

    report = {
        "data": args.data, "columns": names, "split": args.split,
        "test_rows": list(splits.test), "context": context, "horizon": horizon, "windows": int(len(starts)),
        "standard": {"mse": standard["mse"], "mae": standard["mae"]},
        "stream": {"mse": stream["mse"], "mae": stream["mae"]},
        "repeat_last": {"mse": repeat["mse"], "mae": repeat["mae"]},
        "scored_targets": standard["targets"],
        "missing_targets": int(len(starts) * horizon * len(names) - standard["targets"]),
        "wall_seconds": time.time() - start,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
