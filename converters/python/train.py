#!/usr/bin/python3
"""Train an InfoMamba forecaster on a multivariate CSV series.

Training windows are random runs of --seq-len rows from the training split,
each started from a fresh state. Every position t >= --warmup predicts the
next H rows, and the loss is the MSE of those forecasts in z-units (missing
targets masked) plus the MI redundancy penalty between the local and global
streams. Validation uses the standard protocol (L context rows from a fresh
state, stride-1 windows); the weights with the best validation MSE are kept.

Example:
  /usr/bin/python3 converters/python/train.py --data ETTh1.csv --split etth \\
      --horizon 96 --out samples/etth1/checkpoint
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time

# OpenMP workers that spin while waiting slow training several times over when
# another process shares the cores; this must be set before torch starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from infomamba_ref import InfoMamba, InfoMambaConfig, mi_redundancy_penalty, safetensors_io  # noqa: E402
from infomamba_ref.forecasting import (evaluate_windows, fit_scaler, load_series,  # noqa: E402
                                       run_filling_missing, split_rows, window_origins)

log = logging.getLogger("train")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train an InfoMamba forecaster on a CSV series.")
    p.add_argument("--data", required=True, help="CSV file with a header row")
    p.add_argument("--columns", help="comma-separated value columns (default: all but date/time/timestamp)")
    p.add_argument("--split", choices=["etth", "ettm", "ratio"], default="ratio",
                   help="row split: ETT hourly, ETT 15-minute, or 70/10/20 percent")
    p.add_argument("--context", type=int, default=96, help="context rows L of the validation protocol")
    p.add_argument("--horizon", type=int, required=True, help="forecast horizon H in rows")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--d-state", type=int, default=16)
    p.add_argument("--d-conv", type=int, default=4)
    p.add_argument("--expand", type=int, default=2)
    p.add_argument("--n-concepts", type=int, default=8)
    p.add_argument("--d-concept", type=int, default=32)
    p.add_argument("--level-alpha", type=float, default=None,
                   help="streaming level rate alpha (default: 2 / (L + 1))")
    p.add_argument("--seq-len", type=int, default=192, help="rows per training window")
    p.add_argument("--warmup", type=int, default=32, help="leading positions of a window left out of the loss")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches-per-epoch", type=int, default=60)
    p.add_argument("--epochs", type=int, default=20, help="maximum number of epochs")
    p.add_argument("--patience", type=int, default=4, help="epochs without validation improvement before stopping")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine-decayed to 10 percent)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--mi-weight", type=float, default=0.01, help="weight of the MI redundancy penalty (0 disables)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    p.add_argument("--val-stride", type=int, default=1, help="stride between validation windows")
    p.add_argument("--time-budget", type=float, default=None,
                   help="wall seconds for training: no epoch starts that would end later")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--out", required=True, help="output directory")
    return p.parse_args(argv)


def sample_batch(values_z, values, train, seq_len, horizon, batch_size, rng):
    """Return inputs [B, T, C] (original units) and z-unit targets [B, T, H, C] of random windows."""
    begin, end = train
    starts = rng.integers(begin, end - seq_len - horizon + 1, size=batch_size)
    rows = starts[:, None] + np.arange(seq_len)[None, :]                    # [B, T]
    target_rows = rows[:, :, None] + 1 + np.arange(horizon)[None, None, :]  # [B, T, H]
    return values[rows], values_z[target_rows]


def masked_mse(pred, target):
    valid = ~torch.isnan(target)
    diff = torch.where(valid, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return diff.pow(2).sum() / valid.sum().clamp_min(1)


def save_checkpoint(model, out_dir):
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(model.cfg.to_dict(), f, indent=2)
        f.write("\n")
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    safetensors_io.save(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    torch.save(state, os.path.join(out_dir, "model.pt"))


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    wall_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    columns = args.columns.split(",") if args.columns else None
    names, values = load_series(args.data, columns)
    splits = split_rows(len(values), args.split, args.context)
    mean, std = fit_scaler(values[splits.train[0]:splits.train[1]])
    values_z = (values - mean) / std
    log.info("data %s: %d rows, channels %s, split train %s val %s test %s, %d missing values",
             args.data, len(values), names, splits.train, splits.val, splits.test, int(np.isnan(values).sum()))

    level_alpha = args.level_alpha if args.level_alpha is not None else 2.0 / (args.context + 1)
    cfg = InfoMambaConfig.from_dict({
        "architecture": "infomamba",
        "d_model": args.d_model, "n_layers": args.n_layers, "d_state": args.d_state,
        "d_conv": args.d_conv, "expand": args.expand,
        "n_concepts": args.n_concepts, "d_concept": args.d_concept if args.n_concepts else 0,
        "input": {"kind": "continuous", "channels": len(names), "names": names,
                  "mean": mean.tolist(), "std": std.tolist(), "level_alpha": level_alpha},
        "output": {"kind": "forecast", "horizon": args.horizon, "channels": len(names)},
    })
    model = InfoMamba(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %d parameters, config %s", n_params, json.dumps(cfg.to_dict())[:300])

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total_batches = args.epochs * args.batches_per_epoch

    def lr_factor(batch_index):
        # Cosine decay to 10 percent over the planned batches. It depends on the
        # batch count only, so a run with a fixed seed repeats. The time budget
        # can end a run early but never changes its schedule.
        progress = batch_index / total_batches
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    val_starts = window_origins(splits.val, args.context, args.horizon)[::args.val_stride]
    history = []
    best = {"epoch": -1, "val_mse": math.inf}
    best_state = None
    epochs_since_best = 0
    for epoch in range(args.epochs):
        epoch_start = time.time()
        model.train()
        losses, penalties = [], []
        for _ in range(args.batches_per_epoch):
            x, target = sample_batch(values_z, values, splits.train, args.seq_len, args.horizon,
                                     args.batch_size, rng)
            x = torch.as_tensor(x, dtype=torch.float32)
            target = torch.as_tensor(target[:, args.warmup:], dtype=torch.float32)  # [B, T-warmup, H, C]
            # Missing inputs are filled with the model's own one-step forecast, as at inference.
            out = run_filling_missing(model, x, output_from=args.warmup)
            loss = masked_mse(out["pred_z"], target)
            penalty = mi_redundancy_penalty(out["local"], out["global"])
            total = loss + args.mi_weight * penalty if args.mi_weight > 0 else loss
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            penalties.append(penalty.item())
        train_seconds = time.time() - epoch_start

        model.eval()
        val = evaluate_windows(model, values, val_starts, args.context)
        record = {"epoch": epoch, "train_mse": float(np.mean(losses)), "mi_penalty": float(np.mean(penalties)),
                  "val_mse": val["mse"], "val_mae": val["mae"], "lr": schedule.get_last_lr()[0],
                  "train_seconds": train_seconds, "epoch_seconds": time.time() - epoch_start}
        history.append(record)
        log.info("epoch %d: train mse %.4f, mi %.4f, val mse %.4f mae %.4f, %.0f s (train %.0f s)",
                 epoch, record["train_mse"], record["mi_penalty"], val["mse"], val["mae"],
                 record["epoch_seconds"], train_seconds)

        if val["mse"] < best["val_mse"]:
            best = {"epoch": epoch, "val_mse": val["mse"], "val_mae": val["mae"]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            epochs_since_best = 0
        else:
            epochs_since_best += 1
            if epochs_since_best >= args.patience:
                log.info("early stop: no validation improvement for %d epochs", args.patience)
                break
        elapsed = time.time() - wall_start
        if args.time_budget is not None and elapsed + record["epoch_seconds"] > args.time_budget:
            log.info("time budget: %.0f s used, next epoch would exceed %.0f s", elapsed, args.time_budget)
            break

    model.load_state_dict(best_state)
    save_checkpoint(model, args.out)
    wall = time.time() - wall_start
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump({"args": vars(args), "parameters": n_params, "epochs": history, "best_epoch": best["epoch"],
                   "val_mse": best["val_mse"], "val_mae": best["val_mae"], "wall_seconds": wall,
                   "validation_windows": int(len(val_starts))}, f, indent=2)
        f.write("\n")
    log.info("best epoch %d: val mse %.4f mae %.4f; wall time %.0f s; wrote %s",
             best["epoch"], best["val_mse"], best["val_mae"], wall, args.out)


if __name__ == "__main__":
    main()
