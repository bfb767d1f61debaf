"""Random weights under which every part of an InfoMamba model changes the output.

The recommended initialisation zeroes the IMF injections and the gate bias, so
a freshly built model would not exercise them. Tests and parity fixtures use
these weights instead: every matrix is drawn with scale 1/sqrt(fan_in) so
activations stay O(1), and the SSM and concept parameters are spread over
their useful ranges.
"""

from __future__ import annotations

import math

import torch

from .model import InfoMamba


def randomize_parameters(model: InfoMamba, seed: int) -> None:
    """Overwrite every parameter of model with seeded random values."""
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg

    def normal(shape, scale):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(*shape, generator=gen, dtype=torch.float64)

    with torch.no_grad():
        for name, param in model.named_parameters():
            leaf = name.rsplit(".", 2)
            kind = leaf[-1]
            owner = leaf[-2] if len(leaf) > 1 else ""
            shape = tuple(param.shape)

            if owner in ("norm", "norm_f"):
                value = 1.0 + normal(shape, 0.2)                         # RMSNorm gains around 1
            elif kind == "A_log":
                n_idx = torch.arange(1, cfg.d_state + 1, dtype=torch.float64)
                value = torch.log(n_idx).expand(*shape) + normal(shape, 0.2)
            elif kind == "D":
                value = 1.0 + normal(shape, 0.3)
            elif kind == "retention_logit":
                value = uniform(shape, -2.0, 6.0)                        # ρ from 0.12 to 0.9975
            elif owner == "dt_proj" and kind == "bias":
                # Larger steps than the recommended [0.001, 0.1], so that short
                # test sequences move the SSM state noticeably.
                dt = torch.exp(uniform(shape, math.log(1e-2), math.log(0.5)))
                value = dt + torch.log(-torch.expm1(-dt))               # inverse softplus
            elif owner == "conv1d" and kind == "weight":
                value = normal(shape, 1.0 / math.sqrt(cfg.d_conv))
            elif kind == "bias":
                value = normal(shape, 0.3)
            elif owner.endswith("_inject"):
                value = normal(shape, 0.5 / math.sqrt(shape[1]))        # non-zero, smaller than the main paths
            else:
                value = normal(shape, 1.0 / math.sqrt(shape[-1] if param.dim() > 1 else 1))
            param.copy_(value)
