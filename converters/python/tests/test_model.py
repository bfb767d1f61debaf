"""Tests of the PyTorch InfoMamba reference, its config and the safetensors I/O.

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s converters/python/tests -t converters/python
"""

import copy
import json
import logging
import os
import struct
import tempfile
import unittest

import numpy as np
import torch

from infomamba_ref import (ConfigError, InfoMamba, InfoMambaConfig, mi_redundancy_penalty,
                           safetensors_io)
from infomamba_ref.random_weights import randomize_parameters


def make_config(n_concepts=3, level_alpha=0.1, n_layers=2, d_conv=4):
    return InfoMambaConfig.from_dict({
        "architecture": "infomamba",
        "d_model": 16, "n_layers": n_layers, "d_state": 4, "d_conv": d_conv, "expand": 2,
        "n_concepts": n_concepts, "d_concept": 8 if n_concepts else 0,
        "input": {"kind": "continuous", "channels": 3, "names": ["a", "b", "c"],
                  "mean": [10.0, -3.0, 0.5], "std": [4.0, 0.5, 2.0], "level_alpha": level_alpha},
        "output": {"kind": "forecast", "horizon": 5, "channels": 3},
    })


def make_model(cfg, seed=7):
    model = InfoMamba(cfg).double()
    randomize_parameters(model, seed)
    return model


def make_inputs(batch, steps, seed=3):
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float64)[None, :, None]
    phase = torch.rand(batch, 1, 3, generator=gen, dtype=torch.float64) * 6.28
    signal = torch.sin(0.3 * t + phase) + 0.2 * torch.randn(batch, steps, 3, generator=gen, dtype=torch.float64)
    return torch.tensor([10.0, -3.0, 0.5], dtype=torch.float64) + torch.tensor([4.0, 0.5, 2.0]) * signal


def run_steps(model, x, state=None):
    state = state or model.init_state(x.shape[0], torch.float64)
    forecasts = []
    for t in range(x.shape[1]):
        forecast, state = model.step(x[:, t], state)
        forecasts.append(forecast)
    return torch.stack(forecasts, dim=1), state


def assert_states_close(test, a, b, tol):
    pairs = [(a.level, b.level), (a.level_decay, b.level_decay)]
    for sa, sb in zip(a.blocks, b.blocks):
        pairs += [(sa.conv, sb.conv), (sa.ssm, sb.ssm), (sa.memory, sb.memory), (sa.mass, sb.mass)]
    for left, right in pairs:
        test.assertEqual(left is None, right is None)
        if left is not None:
            test.assertEqual(left.shape, right.shape)
            if left.numel():
                test.assertLess((left - right).abs().max().item(), tol)


class SequenceMatchesSteps(unittest.TestCase):
    TOL = 1e-12

    def check(self, cfg):
        model = make_model(cfg)
        x = make_inputs(batch=3, steps=40)
        with torch.no_grad():
            stepped, step_state = run_steps(model, x)
            out = model(x)
        self.assertEqual(tuple(out["forecast"].shape), (3, 40, 5, 3))
        self.assertLess((stepped - out["forecast"]).abs().max().item(), self.TOL * stepped.abs().max().item())
        assert_states_close(self, step_state, out["state"], self.TOL * 100)
        # pred_z is the standardised forecast
        mean = torch.tensor(cfg.input.mean, dtype=torch.float64)
        std = torch.tensor(cfg.input.std, dtype=torch.float64)
        self.assertLess((out["pred_z"] * std + mean - out["forecast"]).abs().max().item(), 1e-12)
        return model, out

    def test_concepts_and_level(self):
        self.check(make_config(n_concepts=3, level_alpha=0.1))

    def test_plain_mamba_block(self):
        model, out = self.check(make_config(n_concepts=0, level_alpha=0.0))
        self.assertTrue(all(g is None for g in out["global"]))
        self.assertFalse(any(".concept." in k or ".imf." in k for k in model.state_dict()))

    def test_conv_width_one(self):
        self.check(make_config(d_conv=1))

    def test_output_from_slices_positions(self):
        model = make_model(make_config())
        x = make_inputs(batch=2, steps=12)
        with torch.no_grad():
            full = model(x)
            tail = model(x, output_from=9)
        self.assertEqual(tuple(tail["pred_z"].shape), (2, 3, 5, 3))
        self.assertLess((full["pred_z"][:, 9:] - tail["pred_z"]).abs().max().item(), 1e-13)


class StateCarry(unittest.TestCase):
    def test_two_chunks_equal_one_pass(self):
        for n_concepts, alpha in ((3, 0.1), (0, 0.0)):
            with self.subTest(n_concepts=n_concepts, level_alpha=alpha):
                model = make_model(make_config(n_concepts=n_concepts, level_alpha=alpha))
                x = make_inputs(batch=2, steps=30)
                with torch.no_grad():
                    whole = model(x)
                    first = model(x[:, :11])
                    second = model(x[:, 11:], state=first["state"])
                joined = torch.cat([first["forecast"], second["forecast"]], dim=1)
                self.assertLess((joined - whole["forecast"]).abs().max().item(), 1e-10)
                assert_states_close(self, second["state"], whole["state"], 1e-10)

    def test_chunk_then_steps(self):
        # Chunks shorter than the conv window also have to carry it correctly.
        model = make_model(make_config())
        x = make_inputs(batch=2, steps=20)
        with torch.no_grad():
            whole = model(x)
            a = model(x[:, :2])
            b = model(x[:, 2:4], state=a["state"])
            stepped, _ = run_steps(model, x[:, 4:], state=b["state"])
        self.assertLess((stepped - whole["forecast"][:, 4:]).abs().max().item(), 1e-10)

    def test_fresh_state(self):
        model = make_model(make_config())
        state = model.init_state(2, torch.float64)
        self.assertTrue(torch.equal(state.level_decay, torch.ones(2, 1, dtype=torch.float64)))
        self.assertEqual(float(state.level.abs().sum()), 0.0)
        self.assertEqual(tuple(state.blocks[0].conv.shape), (2, 32, 3))
        self.assertEqual(tuple(state.blocks[0].ssm.shape), (2, 32, 4))
        self.assertEqual(tuple(state.blocks[0].memory.shape), (2, 3, 8))
        self.assertEqual(tuple(state.blocks[0].mass.shape), (2, 3))

    def test_first_step_level_equals_input(self):
        # The bias-corrected level ℓ = m / (1 - p) equals x̃ on the first step.
        model = make_model(make_config())
        x = make_inputs(batch=2, steps=3)
        with torch.no_grad():
            out = model(x)
        mean = torch.tensor([10.0, -3.0, 0.5], dtype=torch.float64)
        std = torch.tensor([4.0, 0.5, 2.0], dtype=torch.float64)
        standardised = (x[:, 0] - mean) / std
        self.assertLess((out["level"][:, 0] - standardised).abs().max().item(), 1e-14)

        state = model.init_state(2, torch.float64)
        with torch.no_grad():
            _, after_one = model.step(x[:, 0], state)
        self.assertAlmostEqual(after_one.level_decay[0, 0].item(), 0.9, places=15)
        self.assertLess((after_one.level - 0.1 * standardised).abs().max().item(), 1e-15)


class ParameterLayout(unittest.TestCase):
    def test_names_and_shapes(self):
        cfg = make_config()
        shapes = {k: tuple(v.shape) for k, v in InfoMamba(cfg).state_dict().items()}
        d, di, n, k, dc, r, kw, c, h = 16, 32, 4, 3, 8, 1, 4, 3, 5
        expected = {
            "embed.weight": (d, c), "embed.bias": (d,),
            "norm_f.weight": (d,), "head.weight": (h * c, d), "head.bias": (h * c,),
        }
        for i in range(2):
            p = f"layers.{i}."
            expected.update({
                p + "norm.weight": (d,),
                p + "mixer.in_proj.weight": (2 * di, d),
                p + "mixer.conv1d.weight": (di, 1, kw), p + "mixer.conv1d.bias": (di,),
                p + "mixer.x_proj.weight": (r + 2 * n, di),
                p + "mixer.dt_proj.weight": (di, r), p + "mixer.dt_proj.bias": (di,),
                p + "mixer.A_log": (di, n), p + "mixer.D": (di,),
                p + "mixer.out_proj.weight": (d, di),
                p + "concept.write.weight": (k, d), p + "concept.write.bias": (k,),
                p + "concept.value.weight": (dc, d),
                p + "concept.retention_logit": (k,),
                p + "concept.mix.weight": (k, k),
                p + "concept.read.weight": (k, d), p + "concept.read.bias": (k,),
                p + "concept.out.weight": (d, dc),
                p + "imf.dt_inject.weight": (di, d),
                p + "imf.B_inject.weight": (n, d), p + "imf.C_inject.weight": (n, d),
                p + "imf.gate.weight": (d, 2 * d), p + "imf.gate.bias": (d,),
            })
        self.assertEqual(shapes, expected)

    def test_recommended_init(self):
        model = InfoMamba(make_config(n_concepts=4))
        block = model.layers[0]
        self.assertTrue(torch.allclose(block.mixer.A_log[5], torch.log(torch.arange(1.0, 5.0))))
        self.assertTrue(torch.all(block.mixer.D == 1))
        dt = torch.nn.functional.softplus(block.mixer.dt_proj.bias)
        self.assertGreaterEqual(dt.min().item(), 1e-3 * 0.999)
        self.assertLessEqual(dt.max().item(), 1e-1 * 1.001)
        tau = 1 / (1 - torch.sigmoid(block.concept.retention_logit.double()))
        self.assertAlmostEqual(tau[0].item(), 4.0, places=3)
        self.assertAlmostEqual(tau[-1].item(), 1024.0, delta=0.5)
        self.assertEqual(block.imf.dt_inject.weight.abs().sum().item(), 0.0)
        self.assertEqual(block.imf.gate.bias.abs().sum().item(), 0.0)


class MutualInformationPenalty(unittest.TestCase):
    def test_correlated_streams_are_penalised(self):
        gen = torch.Generator().manual_seed(0)
        m = torch.randn(4, 50, 8, generator=gen)
        independent = mi_redundancy_penalty([m], [torch.randn(4, 50, 8, generator=gen)])
        identical = mi_redundancy_penalty([m], [m.clone()])
        self.assertLess(independent.item(), 0.1)
        self.assertGreater(identical.item(), 0.99)

    def test_no_global_stream_gives_zero(self):
        m = torch.randn(2, 5, 4)
        self.assertEqual(mi_redundancy_penalty([m], [None]).item(), 0.0)


class SafetensorsRoundTrip(unittest.TestCase):
    def test_round_trip_dtypes_and_metadata(self):
        tensors = {
            "f64": np.arange(6, dtype=np.float64).reshape(2, 3) / 7,
            "f32": np.linspace(-1, 1, 5, dtype=np.float32),
            "f16": np.array([[0.5, -2.0]], dtype=np.float16),
            "torch_f32": torch.randn(3, 1, 2),
            "scalar": np.float32(3.5),
            "empty": np.zeros((0, 4), dtype=np.float32),
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.safetensors")
            safetensors_io.save(tensors, path, metadata={"format": "pt", "seed": "3"})
            with open(path, "rb") as f:
                (header_len,) = struct.unpack("<Q", f.read(8))
            self.assertEqual(header_len % 8, 0)
            loaded, metadata = safetensors_io.load_with_metadata(path)
        self.assertEqual(metadata, {"format": "pt", "seed": "3"})
        self.assertEqual(set(loaded), set(tensors))
        for name, value in tensors.items():
            expected = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            self.assertEqual(loaded[name].dtype, expected.dtype, name)
            self.assertEqual(loaded[name].shape, expected.shape, name)
            self.assertTrue(np.array_equal(loaded[name], expected), name)

    def test_bf16_read(self):
        value = torch.tensor([1.0, -0.375, 3.0e5], dtype=torch.bfloat16)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "b.safetensors")
            safetensors_io.save({"w": value}, path)
            loaded = safetensors_io.load(path)["w"]
        self.assertEqual(loaded.dtype, np.float32)
        self.assertTrue(np.array_equal(loaded, value.float().numpy()))

    def test_truncated_file_is_rejected(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.safetensors")
            safetensors_io.save({"w": np.ones((4, 4), dtype=np.float32)}, path)
            with open(path, "rb") as f:
                blob = f.read()
            with open(path, "wb") as f:
                f.write(blob[:-4])
            with self.assertRaisesRegex(safetensors_io.SafetensorsError, "data_offsets"):
                safetensors_io.load(path)

    def test_model_weights_round_trip(self):
        model = make_model(make_config()).float()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.safetensors")
            safetensors_io.save(model.state_dict(), path)
            loaded = safetensors_io.load(path)
        fresh = InfoMamba(make_config())
        fresh.load_state_dict({k: torch.from_numpy(v) for k, v in loaded.items()})
        for name, value in model.state_dict().items():
            self.assertTrue(torch.equal(fresh.state_dict()[name], value), name)


class ConfigFormat(unittest.TestCase):
    def test_round_trip(self):
        cfg = make_config()
        text = json.dumps(cfg.to_dict())
        again = InfoMambaConfig.from_dict(json.loads(text))
        self.assertEqual(again, cfg)
        self.assertEqual(again.to_dict(), cfg.to_dict())

    def test_defaults(self):
        d = make_config().to_dict()
        for key in ("dt_rank", "norm_eps", "concept_eps"):
            del d[key]
        del d["input"]["level_alpha"]
        d["d_model"] = 40
        cfg = InfoMambaConfig.from_dict(d)
        self.assertEqual(cfg.dt_rank, 3)  # ceil(40 / 16)
        self.assertEqual(cfg.norm_eps, 1e-5)
        self.assertEqual(cfg.concept_eps, 1e-6)
        self.assertEqual(cfg.input.level_alpha, 0.0)

    def test_missing_key_is_an_error(self):
        for path in (("d_state",), ("n_concepts",), ("input", "mean"), ("output", "horizon")):
            with self.subTest(key=".".join(path)):
                d = copy.deepcopy(make_config().to_dict())
                target = d
                for part in path[:-1]:
                    target = target[part]
                del target[path[-1]]
                with self.assertRaisesRegex(ConfigError, f"missing key '{path[-1]}'"):
                    InfoMambaConfig.from_dict(d)

    def test_unknown_key_warns(self):
        d = make_config().to_dict()
        d["flash"] = True
        with self.assertLogs("infomamba_ref.model", level=logging.WARNING) as logs:
            InfoMambaConfig.from_dict(d)
        self.assertIn("unknown key 'flash'", logs.output[0])

    def test_channel_count_mismatch(self):
        d = make_config().to_dict()
        d["input"]["std"] = [1.0, 2.0]
        with self.assertRaisesRegex(ConfigError, "input.std: 2 values, expected 3"):
            InfoMambaConfig.from_dict(d)


FIXTURE_ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "fixtures")


class CommittedFixtures(unittest.TestCase):
    """The parity fixtures must still match this reference."""

    def test_fixtures_reproduce(self):
        for preset in ("infomamba", "mamba", "deep"):
            folder = os.path.join(FIXTURE_ROOT, preset)
            if not os.path.isdir(folder):
                self.skipTest(f"fixture folder {folder} not found")
            with self.subTest(preset=preset):
                with open(os.path.join(folder, "config.json")) as f:
                    cfg = InfoMambaConfig.from_dict(json.load(f))
                weights = safetensors_io.load(os.path.join(folder, "model.safetensors"))
                self.assertTrue(all(w.dtype == np.float32 for w in weights.values()))
                reference, metadata = safetensors_io.load_with_metadata(
                    os.path.join(folder, "reference.safetensors"))
                self.assertEqual(metadata["preset"], preset)
                model = InfoMamba(cfg).double()
                model.load_state_dict({k: torch.from_numpy(v).double() for k, v in weights.items()})
                inputs = torch.from_numpy(reference["inputs"])
                stepped, _ = run_steps(model, inputs[None])
                expected = reference["forecasts"]
                self.assertEqual(expected.shape, (inputs.shape[0], cfg.output.horizon * cfg.input.channels))
                got = stepped[0].detach().reshape(inputs.shape[0], -1).numpy()
                self.assertLess(np.abs(got - expected).max(), 1e-9 * np.abs(expected).max())


def make_token_config(n_concepts=3, vocab_size=11, n_layers=2):
    return InfoMambaConfig.from_dict({
        "architecture": "infomamba",
        "d_model": 16, "n_layers": n_layers, "d_state": 4, "d_conv": 4, "expand": 2,
        "n_concepts": n_concepts, "d_concept": 8 if n_concepts else 0,
        "input": {"kind": "tokens", "vocab_size": vocab_size},
        "output": {"kind": "logits"},
    })


def make_token_model(cfg, tie_embeddings=False, seed=7):
    model = InfoMamba(cfg, tie_embeddings=tie_embeddings).double()
    randomize_parameters(model, seed)
    return model


def make_token_ids(batch, steps, vocab_size, seed=5):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (batch, steps), generator=gen)


def run_token_steps(model, ids, state=None):
    state = state or model.init_state(ids.shape[0], torch.float64)
    logits = []
    for t in range(ids.shape[1]):
        step_logits, state = model.step(ids[:, t], state)
        logits.append(step_logits)
    return torch.stack(logits, dim=1), state


class TokenModel(unittest.TestCase):
    TOL = 1e-12

    def test_step_matches_sequence(self):
        for n_concepts, tied in ((3, False), (0, False), (3, True), (0, True)):
            with self.subTest(n_concepts=n_concepts, tie_embeddings=tied):
                model = make_token_model(make_token_config(n_concepts=n_concepts), tie_embeddings=tied)
                ids = make_token_ids(batch=3, steps=30, vocab_size=11)
                with torch.no_grad():
                    stepped, step_state = run_token_steps(model, ids)
                    out = model(ids)
                self.assertEqual(tuple(stepped.shape), (3, 30, 11))
                self.assertEqual(tuple(out["logits"].shape), (3, 30, 11))
                self.assertEqual(out["logits"].dtype, torch.float64)
                scale = stepped.abs().max().item()
                self.assertLess((stepped - out["logits"]).abs().max().item(), self.TOL * scale)
                assert_states_close(self, step_state, out["state"], self.TOL * 100)

    def test_two_chunks_equal_one_pass(self):
        model = make_token_model(make_token_config())
        ids = make_token_ids(batch=2, steps=25, vocab_size=11)
        with torch.no_grad():
            whole = model(ids)
            first = model(ids[:, :3])
            second = model(ids[:, 3:], state=first["state"])
        joined = torch.cat([first["logits"], second["logits"]], dim=1)
        self.assertLess((joined - whole["logits"]).abs().max().item(), 1e-10)
        assert_states_close(self, second["state"], whole["state"], 1e-10)

    def test_state_has_no_level(self):
        model = make_token_model(make_token_config())
        state = model.init_state(2, torch.float64)
        self.assertIsNone(state.level)
        self.assertIsNone(state.level_decay)

    def test_first_logits_use_embedding_row(self):
        # One step from a fresh state: h is row id of embed.weight plus the blocks' outputs.
        model = make_token_model(make_token_config())
        ids = torch.tensor([4, 9])
        with torch.no_grad():
            logits, _ = model.step(ids, model.init_state(2, torch.float64))
            h = model.embed.weight[ids]
            for block, bstate in zip(model.layers, model.init_state(2, torch.float64).blocks):
                h, _, _, _ = block.step(h, bstate)
            expected = model.lm_head(model.norm_f(h))
        self.assertLess((logits - expected).abs().max().item(), 1e-14)

    def test_tied_head_uses_embedding_table(self):
        cfg = make_token_config(n_concepts=0, vocab_size=9, n_layers=1)
        tied = make_token_model(cfg, tie_embeddings=True)
        self.assertNotIn("lm_head.weight", tied.state_dict())
        self.assertIsNone(tied.lm_head)

        untied = InfoMamba(cfg).double()
        weights = dict(tied.state_dict())
        weights["lm_head.weight"] = weights["embed.weight"].clone()
        untied.load_state_dict(weights)

        ids = make_token_ids(batch=2, steps=12, vocab_size=9)
        with torch.no_grad():
            tied_logits = tied(ids)["logits"]
            untied_logits = untied(ids)["logits"]
        self.assertTrue(torch.equal(tied_logits, untied_logits))

    def test_tied_head_follows_unused_embedding_row(self):
        # Token 8 never occurs in the input, so its row reaches the output only through the head.
        cfg = make_token_config(n_concepts=0, vocab_size=9, n_layers=1)
        model = make_token_model(cfg, tie_embeddings=True)
        ids = make_token_ids(batch=2, steps=12, vocab_size=8)
        with torch.no_grad():
            before = model(ids)["logits"]
            model.embed.weight[8].mul_(-1.0)
            after = model(ids)["logits"]
        self.assertLess((after[..., :8] - before[..., :8]).abs().max().item(), 1e-15)
        self.assertLess((after[..., 8] + before[..., 8]).abs().max().item(), 1e-14)
        self.assertGreater(before[..., 8].abs().max().item(), 0.1)

    def test_parameter_layout(self):
        d, v = 16, 11
        untied = {k: tuple(t.shape) for k, t in InfoMamba(make_token_config()).state_dict().items()}
        self.assertEqual(untied["embed.weight"], (v, d))
        self.assertEqual(untied["lm_head.weight"], (v, d))
        self.assertEqual(untied["norm_f.weight"], (d,))
        for name in ("embed.bias", "head.weight", "head.bias", "lm_head.bias"):
            self.assertNotIn(name, untied)
        tied = InfoMamba(make_token_config(), tie_embeddings=True).state_dict()
        self.assertEqual(set(untied) - set(tied), {"lm_head.weight"})

    def test_out_of_range_id_is_rejected(self):
        model = make_token_model(make_token_config())
        state = model.init_state(1, torch.float64)
        with self.assertRaisesRegex(ValueError, "token id 11: out of range"):
            model.step(torch.tensor([11]), state)
        with self.assertRaisesRegex(ValueError, "token id -1: out of range"):
            model(torch.tensor([[0, -1]]))

    def test_float_ids_are_rejected(self):
        model = make_token_model(make_token_config())
        with self.assertRaisesRegex(TypeError, "torch.float64"):
            model(torch.zeros(1, 3, dtype=torch.float64))

    def test_tie_requires_token_input(self):
        with self.assertRaisesRegex(ConfigError, "tie_embeddings"):
            InfoMamba(make_config(), tie_embeddings=True)

    def test_config_round_trip(self):
        cfg = make_token_config()
        again = InfoMambaConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        self.assertEqual(again, cfg)
        self.assertEqual(cfg.to_dict()["input"], {"kind": "tokens", "vocab_size": 11})
        self.assertEqual(cfg.to_dict()["output"], {"kind": "logits"})


class CommittedTokenFixtures(unittest.TestCase):
    """The token parity fixtures must still match this reference."""

    def test_fixtures_reproduce(self):
        for preset, tied in (("tokens", False), ("tokens_tied", True)):
            folder = os.path.join(FIXTURE_ROOT, preset)
            if not os.path.isdir(folder):
                self.skipTest(f"fixture folder {folder} not found")
            with self.subTest(preset=preset):
                with open(os.path.join(folder, "config.json")) as f:
                    cfg = InfoMambaConfig.from_dict(json.load(f))
                weights = safetensors_io.load(os.path.join(folder, "model.safetensors"))
                self.assertTrue(all(w.dtype == np.float32 for w in weights.values()))
                self.assertEqual("lm_head.weight" not in weights, tied)
                reference, metadata = safetensors_io.load_with_metadata(
                    os.path.join(folder, "reference.safetensors"))
                self.assertEqual(metadata["preset"], preset)
                model = InfoMamba(cfg, tie_embeddings=tied).double()
                model.load_state_dict({k: torch.from_numpy(v).double() for k, v in weights.items()})

                inputs = reference["inputs"]
                vocab = cfg.input.vocab_size
                self.assertEqual(inputs.shape[1], 1)
                self.assertTrue(np.array_equal(inputs, np.round(inputs)))
                self.assertGreaterEqual(inputs.min(), 0)
                self.assertLess(inputs.max(), vocab)
                ids = torch.from_numpy(inputs[:, 0].astype(np.int64))
                with torch.no_grad():
                    stepped, _ = run_token_steps(model, ids[None])
                expected = reference["forecasts"]
                self.assertEqual(expected.shape, (inputs.shape[0], vocab))
                got = stepped[0].numpy()
                self.assertLess(np.abs(got - expected).max(), 1e-9 * np.abs(expected).max())


if __name__ == "__main__":
    unittest.main()
