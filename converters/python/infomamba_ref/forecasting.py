"""Data loading, splits, missing-value filling and evaluation protocols for the trainer.

Splits follow the convention of the Time-Series-Library benchmarks: every part
after the training split starts L rows early so that its first window has a
full context of L rows, and z-scores use the population std of the training
rows.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .model import InfoMamba, StreamState

TIME_COLUMNS = {"date", "time", "timestamp"}


# --------------------------------------------------------------------------
# CSV series and splits
# --------------------------------------------------------------------------

def load_series(path: str, columns: Optional[Sequence[str]] = None) -> Tuple[List[str], np.ndarray]:
    """Read a CSV with a header row. Return (column names, values [T, C] float64).

    Empty cells become NaN. Without `columns`, every column except one named
    date, time or timestamp (case-insensitive) is used.
    """
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        rows = [row for row in reader if row]
    if columns is None:
        columns = [h for h in header if h.lower() not in TIME_COLUMNS]
    indices = []
    for name in columns:
        if name not in header:
            raise ValueError(f"{path}: column '{name}' not found, available columns: {', '.join(header)}")
        indices.append(header.index(name))
    values = np.full((len(rows), len(indices)), np.nan)
    for r, row in enumerate(rows):
        for c, i in enumerate(indices):
            cell = row[i].strip() if i < len(row) else ""
            if cell:
                values[r, c] = float(cell)
    return list(columns), values


@dataclass
class Splits:
    """Row ranges [begin, end) of the three parts of a series."""

    train: Tuple[int, int]
    val: Tuple[int, int]
    test: Tuple[int, int]


def split_rows(n_rows: int, kind: str, context: int) -> Splits:
    """Return the train/validation/test row ranges for a split kind and context L."""
    if kind in ("etth", "ettm"):
        scale = 1 if kind == "etth" else 4
        train_end, val_end, test_end = 8640 * scale, 11520 * scale, 14400 * scale
        if n_rows < test_end:
            raise ValueError(f"split {kind}: series has {n_rows} rows, expected at least {test_end}")
        return Splits((0, train_end), (train_end - context, val_end), (val_end - context, test_end))
    if kind == "ratio":
        n_train = int(n_rows * 0.7)
        n_test = int(n_rows * 0.2)
        n_val = n_rows - n_train - n_test
        return Splits((0, n_train), (n_train - context, n_train + n_val), (n_rows - n_test - context, n_rows))
    raise ValueError(f"split '{kind}' is not known, expected etth, ettm or ratio")


def fit_scaler(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Return per-channel mean and population std, ignoring NaN."""
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    if np.any(~(std > 0)):
        raise ValueError(f"training rows have a constant or empty channel (std {std.tolist()})")
    return mean, std


# --------------------------------------------------------------------------
# Running a model over inputs that may contain missing values
# --------------------------------------------------------------------------

def _concat_state_free(outputs: List[Dict], key: str, dim: int):
    parts = [o[key] for o in outputs]
    if isinstance(parts[0], list):
        return [None if parts[0][i] is None else torch.cat([p[i] for p in parts], dim=dim)
                for i in range(len(parts[0]))]
    return torch.cat(parts, dim=dim)


def run_filling_missing(model: InfoMamba, x: torch.Tensor, state: Optional[StreamState] = None,
                        output_from: int = 0) -> Dict:
    """Run model.forward over x [B, T, C] in original units, filling NaN inputs.

    A missing value is replaced by the model's own one-step-ahead forecast for
    it (row 1 of the forecast made after the previous step), as a streaming
    runtime can do at inference. On the first step of a fresh stream no
    forecast exists yet, so the channel mean μ is used. The filled values are
    detached from the graph. The sequence is cut at every step where some
    stream has a gap, so the result equals stepping one at a time.
    Returns the same dict as InfoMamba.forward.
    """
    missing = torch.isnan(x)
    if not bool(missing.any()):
        return model(x, state, output_from)

    x = x.clone()
    gap_steps = torch.nonzero(missing.any(dim=2).any(dim=0)).flatten().tolist()
    bounds = sorted(set([0] + gap_steps + [x.shape[1]]))
    mean = torch.tensor(model.cfg.input.mean, dtype=x.dtype, device=x.device)
    outputs = []
    previous = None                                      # forecast [B, H, C] after the last step
    for begin, end in zip(bounds[:-1], bounds[1:]):
        if missing[:, begin].any():
            fill = mean.expand_as(x[:, begin]) if previous is None else previous[:, 0].detach()
            x[:, begin] = torch.where(missing[:, begin], fill, x[:, begin])
        out = model(x[:, begin:end], state, 0)
        state = out["state"]
        previous = out["forecast"][:, -1]
        outputs.append(out)

    merged = {key: _concat_state_free(outputs, key, 1)
              for key in ("pred_z", "forecast", "level", "local", "global")}
    merged["pred_z"] = merged["pred_z"][:, output_from:]
    merged["forecast"] = merged["forecast"][:, output_from:]
    merged["state"] = state
    merged["filled_inputs"] = x
    return merged


# --------------------------------------------------------------------------
# Evaluation protocols
# --------------------------------------------------------------------------

class ErrorAccumulator:
    """Sums squared and absolute errors over non-missing targets."""

    def __init__(self):
        self.squared = 0.0
        self.absolute = 0.0
        self.count = 0

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:
        valid = ~np.isnan(target)
        diff = np.where(valid, pred - np.nan_to_num(target), 0.0)
        self.squared += float((diff ** 2).sum())
        self.absolute += float(np.abs(diff).sum())
        self.count += int(valid.sum())

    def result(self) -> Dict[str, float]:
        n = max(self.count, 1)
        return {"mse": self.squared / n, "mae": self.absolute / n, "targets": self.count}


def window_origins(split: Tuple[int, int], context: int, horizon: int) -> np.ndarray:
    """Return the start rows of stride-1 windows (L context rows, then H targets) inside split."""
    begin, end = split
    count = end - begin - context - horizon + 1
    if count <= 0:
        raise ValueError(f"split [{begin}, {end}) is too short: a window needs {context} + {horizon} rows")
    return np.arange(begin, begin + count)


def target_block(z_values: np.ndarray, origins: np.ndarray, context: int, horizon: int) -> np.ndarray:
    """Return targets [W, H, C] of the windows starting at origins, in z-units."""
    offsets = origins[:, None] + context + np.arange(horizon)[None, :]
    return z_values[offsets]


@torch.no_grad()
def evaluate_windows(model: InfoMamba, values: np.ndarray, starts: np.ndarray, context: int,
                     batch_size: int = 256) -> Dict[str, float]:
    """Score the standard protocol: each window runs its L context rows from a fresh state.

    values are in original units [T, C]; errors are in z-units and average over
    windows, steps and channels (missing targets excluded).
    """
    cfg = model.cfg
    horizon = cfg.output.horizon
    mean, std = np.asarray(cfg.input.mean), np.asarray(cfg.input.std)
    z_values = (values - mean) / std
    dtype = next(model.parameters()).dtype
    acc = ErrorAccumulator()
    for i in range(0, len(starts), batch_size):
        chunk = starts[i:i + batch_size]
        rows = chunk[:, None] + np.arange(context)[None, :]
        x = torch.as_tensor(values[rows], dtype=dtype)                   # [W, L, C]
        out = run_filling_missing(model, x, output_from=context - 1)
        pred = out["pred_z"][:, -1].double().numpy()                     # [W, H, C]
        acc.add(pred, target_block(z_values, chunk, context, horizon))
    return acc.result()


@torch.no_grad()
def evaluate_stream(model: InfoMamba, values: np.ndarray, starts: np.ndarray, context: int,
                    chunk_rows: int = 1024) -> Dict[str, float]:
    """Score forecasts of one stream that consumes the whole series from row 0.

    The forecast made after row s + L - 1 is scored against rows s + L .. s + L + H - 1,
    for the same window starts s as the standard protocol.
    """
    cfg = model.cfg
    horizon = cfg.output.horizon
    mean, std = np.asarray(cfg.input.mean), np.asarray(cfg.input.std)
    z_values = (values - mean) / std
    dtype = next(model.parameters()).dtype
    first_origin = int(starts[0]) + context - 1
    last_origin = int(starts[-1]) + context - 1
    state = None
    preds = []
    for begin in range(0, last_origin + 1, chunk_rows):
        end = min(begin + chunk_rows, last_origin + 1)
        x = torch.as_tensor(values[None, begin:end], dtype=dtype)
        out = run_filling_missing(model, x, state)
        state = out["state"]
        keep_from = max(first_origin - begin, 0)
        if keep_from < end - begin:
            preds.append(out["pred_z"][0, keep_from:].double().numpy())
    pred = np.concatenate(preds)                                         # [W, H, C]
    acc = ErrorAccumulator()
    acc.add(pred, target_block(z_values, starts, context, horizon))
    return acc.result()


def evaluate_repeat_last(values: np.ndarray, mean: np.ndarray, std: np.ndarray, starts: np.ndarray,
                         context: int, horizon: int) -> Dict[str, float]:
    """Score the naive forecast that repeats the last observed context value of each channel."""
    z_values = (values - mean) / std
    acc = ErrorAccumulator()
    for s in starts:
        window = z_values[s:s + context]
        last = np.full(window.shape[1], np.nan)
        for c in range(window.shape[1]):
            observed = window[~np.isnan(window[:, c]), c]
            if observed.size:
                last[c] = observed[-1]
        pred = np.broadcast_to(np.nan_to_num(last), (horizon, window.shape[1]))
        acc.add(pred[None], target_block(z_values, np.array([s]), context, horizon))
    return acc.result()
