#!/usr/bin/python3
"""Build a small random-weight model and its float64 reference outputs.

Writes into --out:
  config.json            hyperparameters, μ and s (float32-exact values)
  model.safetensors      F32 weights
  reference.safetensors  F64 `inputs` [T, C] and `forecasts` [T, H·C], both in
                         original units. Row t of `forecasts` is the forecast
                         after consuming inputs[0..t] from a fresh state,
                         laid out step-major: index (r-1)·C + c for step r.

Token presets (`tokens`, `tokens_tied`) write `inputs` [T, 1] holding the
token ids as float64 values and `forecasts` [T, V] holding the logits after
each token. The `tokens_tied` checkpoint has no lm_head.weight, so the
embedding table is the output projection.

The reference runs in float64 on the F32-rounded weights, so a float32
runtime that loads model.safetensors differs from it by rounding only.
Before writing, the script checks that the step and sequence forms agree and
that removing any part of the model (IMF injections, gate, concepts, level,
SSM state) changes the outputs, so no part of the fixture is inert.

Usage:
  /usr/bin/python3 converters/python/make_fixture.py --out DIR --seed S --preset infomamba
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from infomamba_ref import InfoMamba, InfoMambaConfig, safetensors_io  # noqa: E402
from infomamba_ref.random_weights import randomize_parameters  # noqa: E402

PRESETS = {
    "infomamba": dict(d_model=16, n_layers=2, d_state=4, d_conv=4, expand=2, dt_rank=2,
                      n_concepts=3, d_concept=8, channels=3, horizon=5, level_alpha=0.1, steps=48),
    "mamba": dict(d_model=16, n_layers=1, d_state=4, d_conv=4, expand=2, dt_rank=None,
                  n_concepts=0, d_concept=0, channels=2, horizon=4, level_alpha=0.0, steps=32),
    "deep": dict(d_model=24, n_layers=3, d_state=8, d_conv=4, expand=2, dt_rank=None,
                 n_concepts=5, d_concept=6, channels=4, horizon=3, level_alpha=0.05, steps=40),
    "tokens": dict(d_model=16, n_layers=2, d_state=4, d_conv=4, expand=2, dt_rank=None,
                   n_concepts=3, d_concept=8, vocab_size=11, tie_embeddings=False, steps=24),
    "tokens_tied": dict(d_model=16, n_layers=1, d_state=4, d_conv=4, expand=2, dt_rank=None,
                        n_concepts=0, d_concept=8, vocab_size=9, tie_embeddings=True, steps=20),
}

# A part "matters" when removing it moves some forecast by more than this
# many standard deviations s of its channel, or some logit by more than this.
MIN_RELATIVE_EFFECT = 1e-2


def f32(values):
    """Round to the nearest float32 and return Python floats (exact in JSON)."""
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def is_token_preset(preset: dict) -> bool:
    return "vocab_size" in preset


def build_config(preset: dict, gen: np.random.Generator) -> InfoMambaConfig:
    if is_token_preset(preset):
        return InfoMambaConfig.from_dict({
            "architecture": "infomamba",
            "d_model": preset["d_model"], "n_layers": preset["n_layers"], "d_state": preset["d_state"],
            "d_conv": preset["d_conv"], "expand": preset["expand"],
            **({"dt_rank": preset["dt_rank"]} if preset["dt_rank"] else {}),
            "n_concepts": preset["n_concepts"], "d_concept": preset["d_concept"],
            "input": {"kind": "tokens", "vocab_size": preset["vocab_size"]},
            "output": {"kind": "logits"},
        })
    channels = preset["channels"]
    mean = f32(gen.uniform(-20.0, 60.0, channels))
    std = f32(np.exp(gen.uniform(math.log(0.3), math.log(12.0), channels)))
    return InfoMambaConfig.from_dict({
        "architecture": "infomamba",
        "d_model": preset["d_model"], "n_layers": preset["n_layers"], "d_state": preset["d_state"],
        "d_conv": preset["d_conv"], "expand": preset["expand"],
        **({"dt_rank": preset["dt_rank"]} if preset["dt_rank"] else {}),
        "n_concepts": preset["n_concepts"], "d_concept": preset["d_concept"],
        "input": {"kind": "continuous", "channels": channels,
                  "names": [f"ch{c}" for c in range(channels)],
                  "mean": mean, "std": std, "level_alpha": preset["level_alpha"]},
        "output": {"kind": "forecast", "horizon": preset["horizon"], "channels": channels},
    })


def build_inputs(cfg: InfoMambaConfig, steps: int, gen: np.random.Generator) -> np.ndarray:
    """Return [T, C] float32-exact inputs: a smooth periodic signal plus noise, in original units."""
    channels = cfg.input.channels
    t = np.arange(steps)[:, None]
    period = gen.uniform(8.0, 30.0, channels)
    phase = gen.uniform(0.0, 2 * math.pi, channels)
    drift = gen.uniform(-0.02, 0.02, channels)
    z = 1.2 * np.sin(2 * math.pi * t / period + phase) + drift * t + 0.3 * gen.standard_normal((steps, channels))
    x = np.asarray(cfg.input.mean) + np.asarray(cfg.input.std) * (0.5 + z)  # offset so the level matters
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def build_token_inputs(cfg: InfoMambaConfig, steps: int, gen: np.random.Generator) -> np.ndarray:
    """Return [T, 1] uniformly random token ids in [0, V), stored as float64 values."""
    ids = gen.integers(0, cfg.input.vocab_size, size=(steps, 1))
    return ids.astype(np.float64)


def model_inputs(model: InfoMamba, inputs: torch.Tensor) -> torch.Tensor:
    """Return the stored inputs in the form model.step takes: [T] ids for tokens, else [T, C]."""
    if model.is_token_model:
        return inputs[:, 0].long()
    return inputs


def stepped_forecasts(model: InfoMamba, inputs: torch.Tensor) -> torch.Tensor:
    """Return [T, H·C] forecasts, or [T, V] logits, from stepping a fresh single stream."""
    x = model_inputs(model, inputs)
    state = model.init_state(1, torch.float64)
    rows = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            output, state = model.step(x[t:t + 1], state)              # [1, H, C] or [1, V]
            rows.append(output.reshape(-1))
    return torch.stack(rows)


def sequence_forecasts(model: InfoMamba, inputs: torch.Tensor) -> torch.Tensor:
    """Return the rows of stepped_forecasts computed in one forward call."""
    x = model_inputs(model, inputs)
    with torch.no_grad():
        out = model(x[None])
    output = out["logits"] if model.is_token_model else out["forecast"]
    return output[0].reshape(x.shape[0], -1)


def copy_model(model: InfoMamba) -> InfoMamba:
    changed = InfoMamba(InfoMambaConfig.from_dict(model.cfg.to_dict()),
                        tie_embeddings=model.tie_embeddings).double()
    changed.load_state_dict(model.state_dict())
    return changed


def ablations(model: InfoMamba):
    """Yield (part name, function that removes the part from a model copy)."""
    def zero(names):
        def apply(m):
            with torch.no_grad():
                for name, p in m.named_parameters():
                    if any(s in name for s in names):
                        p.zero_()
        return apply

    def no_level(m):
        m.cfg = InfoMambaConfig.from_dict(m.cfg.to_dict())   # a copy, so the original keeps its α
        m.cfg.input.level_alpha = 0.0

    def no_ssm_memory(m):
        with torch.no_grad():
            for block in m.layers:
                block.mixer.A_log.fill_(30.0)  # exp(Δ·A) underflows to 0: no state carried over

    yield "ssm state", no_ssm_memory
    yield "conv taps", zero(["conv1d.weight"])
    if model.cfg.n_concepts > 0:
        yield "imf.dt_inject", zero(["imf.dt_inject"])
        yield "imf.B_inject", zero(["imf.B_inject"])
        yield "imf.C_inject", zero(["imf.C_inject"])
        yield "imf.gate", zero(["imf.gate"])
        yield "concept.mix", zero(["concept.mix"])
        yield "concept.out", zero(["concept.out"])
    if model.cfg.input.level_alpha > 0:
        yield "streaming level", no_level


def check_every_part_matters(model: InfoMamba, inputs: torch.Tensor, reference: torch.Tensor) -> None:
    # Forecast differences are measured in z-units, so channels with a small s
    # count as much as the others. Logits have no scale and are compared as they are.
    if model.is_token_model:
        scale = torch.ones(model.cfg.input.vocab_size, dtype=torch.float64)                  # [V]
        unit = "logit"
    else:
        scale = torch.tensor(model.cfg.input.std, dtype=torch.float64).repeat(model.cfg.output.horizon)  # [H·C]
        unit = "std"
    for part, remove in ablations(model):
        changed = copy_model(model)
        remove(changed)
        effect = ((stepped_forecasts(changed, inputs) - reference) / scale).abs().max().item()
        print(f"  removing {part:16s} moves outputs by {effect:.3g} {unit}", file=sys.stderr)
        if not effect > MIN_RELATIVE_EFFECT:
            raise SystemExit(f"fixture check failed: removing {part} moves outputs by {effect:.3g} {unit}, "
                             f"expected more than {MIN_RELATIVE_EFFECT}")


def check_tied_head(model: InfoMamba, inputs: torch.Tensor, reference: torch.Tensor) -> None:
    """Check that a tied model has no lm_head.weight and matches an untied copy with lm_head = embed."""
    if "lm_head.weight" in model.state_dict():
        raise SystemExit("fixture check failed: tied model has lm_head.weight, expected none")
    untied = InfoMamba(InfoMambaConfig.from_dict(model.cfg.to_dict())).double()
    weights = dict(model.state_dict())
    weights["lm_head.weight"] = weights["embed.weight"].clone()
    untied.load_state_dict(weights)
    mismatch = (stepped_forecasts(untied, inputs) - reference).abs().max().item()
    print(f"  untied copy with lm_head = embed differs by {mismatch:.3g}", file=sys.stderr)
    if mismatch != 0.0:
        raise SystemExit(f"fixture check failed: tied logits differ from lm_head = embed by {mismatch:.3g}, "
                         f"expected 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, required=True, help="seed of weights, μ, s and inputs")
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True, help="model size preset")
    args = parser.parse_args()

    preset = PRESETS[args.preset]
    gen = np.random.default_rng(args.seed)
    cfg = build_config(preset, gen)

    model = InfoMamba(cfg, tie_embeddings=preset.get("tie_embeddings", False))
    randomize_parameters(model, args.seed)
    model = model.float().double()          # the reference uses the F32-rounded weights

    if model.is_token_model:
        inputs = torch.from_numpy(build_token_inputs(cfg, preset["steps"], gen))   # [T, 1]
    else:
        inputs = torch.from_numpy(build_inputs(cfg, preset["steps"], gen))         # [T, C]
    forecasts = stepped_forecasts(model, inputs)                         # [T, H·C] or [T, V]

    sequence = sequence_forecasts(model, inputs)
    mismatch = (sequence - forecasts).abs().max().item()
    if not mismatch < 1e-9 * forecasts.abs().max().item():
        raise SystemExit(f"fixture check failed: sequence and step forms differ by {mismatch:.3g}")
    if not torch.isfinite(forecasts).all():
        raise SystemExit("fixture check failed: non-finite forecasts")
    check_every_part_matters(model, inputs, forecasts)
    if model.is_token_model and model.tie_embeddings:
        check_tied_head(model, inputs, forecasts)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg.to_dict(), f, indent=2)
        f.write("\n")
    weights = {name: value.float() for name, value in model.state_dict().items()}
    safetensors_io.save(weights, os.path.join(args.out, "model.safetensors"))
    if model.is_token_model:
        layout = "row t: logits after token id inputs[t, 0], index v for token v"
    else:
        layout = "row t: forecast after input t, index (r-1)*C + c"
    safetensors_io.save(
        {"inputs": inputs.numpy(), "forecasts": forecasts.numpy()},
        os.path.join(args.out, "reference.safetensors"),
        metadata={"preset": args.preset, "seed": str(args.seed),
                  "steps": str(inputs.shape[0]),
                  "forecasts_layout": layout,
                  "generator": "converters/python/make_fixture.py"})
    print(f"wrote {args.out}: preset {args.preset}, seed {args.seed}, T={inputs.shape[0]}, "
          f"output range [{forecasts.min().item():.3f}, {forecasts.max().item():.3f}]", file=sys.stderr)


if __name__ == "__main__":
    main()
