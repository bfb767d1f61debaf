"""Tests of the trainer's data helpers: splits, missing-value filling and scoring."""

import os
import tempfile
import unittest

import numpy as np
import torch

from infomamba_ref.forecasting import (evaluate_repeat_last, evaluate_stream, evaluate_windows, load_series,
                                       run_filling_missing, split_rows, window_origins)
from tests.test_model import make_config, make_inputs, make_model


class Splits(unittest.TestCase):
    def test_etth_borders(self):
        s = split_rows(17420, "etth", 96)
        self.assertEqual(s.train, (0, 8640))
        self.assertEqual(s.val, (8544, 11520))
        self.assertEqual(s.test, (11424, 14400))
        self.assertEqual(len(window_origins(s.test, 96, 96)), 2785)

    def test_ettm_borders(self):
        s = split_rows(69680, "ettm", 96)
        self.assertEqual(s.test, (46080 - 96, 57600))
        self.assertEqual(len(window_origins(s.test, 96, 96)), 11425)

    def test_ratio_borders(self):
        s = split_rows(2284, "ratio", 104)
        self.assertEqual(s.train, (0, 1598))
        self.assertEqual(s.val, (1598 - 104, 1598 + 230))
        self.assertEqual(s.test, (2284 - 456 - 104, 2284))

    def test_short_series_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "expected at least 14400"):
            split_rows(14000, "etth", 96)


class CsvLoading(unittest.TestCase):
    def test_empty_cells_and_date_column(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.csv")
            with open(path, "w") as f:
                f.write("date,a,b\n2020-01-01,1.5,2\n2020-01-02,,3\n")
            names, values = load_series(path)
            self.assertEqual(names, ["a", "b"])
            self.assertEqual(values.shape, (2, 2))
            self.assertTrue(np.isnan(values[1, 0]))
            names, values = load_series(path, ["b"])
            self.assertEqual(values[:, 0].tolist(), [2.0, 3.0])
            with self.assertRaisesRegex(ValueError, "column 'c' not found"):
                load_series(path, ["c"])


class MissingInputs(unittest.TestCase):
    def test_fill_matches_stepping(self):
        model = make_model(make_config())
        x = make_inputs(batch=2, steps=15)
        x[0, 0, 1] = float("nan")      # first step: filled with μ
        x[0, 6, 0] = float("nan")
        x[1, 6, 2] = float("nan")
        x[1, 11, :] = float("nan")
        with torch.no_grad():
            out = run_filling_missing(model, x)
            state = model.init_state(2, torch.float64)
            mean = torch.tensor(model.cfg.input.mean, dtype=torch.float64)
            previous = None
            expected = []
            for t in range(15):
                x_t = x[:, t].clone()
                fill = mean.expand_as(x_t) if previous is None else previous[:, 0]
                x_t = torch.where(torch.isnan(x_t), fill, x_t)
                previous, state = model.step(x_t, state)
                expected.append(previous)
        expected = torch.stack(expected, dim=1)
        self.assertFalse(torch.isnan(out["forecast"]).any())
        self.assertLess((out["forecast"] - expected).abs().max().item(), 1e-10)

    def test_without_gaps_is_plain_forward(self):
        model = make_model(make_config())
        x = make_inputs(batch=2, steps=10)
        with torch.no_grad():
            a = run_filling_missing(model, x, output_from=4)["pred_z"]
            b = model(x, output_from=4)["pred_z"]
        self.assertTrue(torch.equal(a, b))


class Scoring(unittest.TestCase):
    def test_repeat_last_on_constant_series(self):
        values = np.tile(np.array([[5.0, -1.0]]), (40, 1))
        values[20:] += 2.0
        starts = np.array([0, 8])
        result = evaluate_repeat_last(values, np.zeros(2), np.ones(2), starts, context=10, horizon=5)
        # Window 0 predicts its targets exactly. Window 8 (targets rows 18..22) is
        # 2 too low on rows 20..22: 6 of the 20 targets, squared error 4 each.
        self.assertAlmostEqual(result["mse"], 24 / 20, places=12)
        self.assertAlmostEqual(result["mae"], 12 / 20, places=12)
        self.assertEqual(result["targets"], 20)

    def test_stream_equals_windows_when_context_is_whole_history(self):
        # A window starting at row 0 has the same history as the stream.
        model = make_model(make_config())
        values = make_inputs(batch=1, steps=40)[0].numpy()
        starts = np.array([0])
        with torch.no_grad():
            a = evaluate_windows(model, values, starts, context=20)
            b = evaluate_stream(model, values, starts, context=20, chunk_rows=7)
        self.assertAlmostEqual(a["mse"], b["mse"], places=10)
        self.assertAlmostEqual(a["mae"], b["mae"], places=10)


if __name__ == "__main__":
    unittest.main()
