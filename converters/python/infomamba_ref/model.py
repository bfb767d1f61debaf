"""PyTorch reference of the causal InfoMamba forecaster.

The model is a stack of blocks. Each block runs a Mamba-1 selective scan
(local stream) beside a concept-bottleneck linear filter (global stream). An
information-maximising fusion (IMF) injects the global context into the
scan's step size and B/C projections, then gates the two stream outputs.
Parameter names and shapes match the checkpoint layout the C++ runtime reads.

Two equivalent evaluation paths exist:
  * `InfoMamba.step` advances one time step from an explicit state and is a
    literal transcription of the per-step equations.
  * `InfoMamba.forward` runs a chunk of T steps: projections are batched over
    T and only the recurrences (level, conv window, concept memory, SSM state)
    loop over t. Both accept and return the same state, so a stream can mix
    chunks and single steps.

Two model kinds are implemented: forecasters (continuous input, forecast
output) and token models (token input, logits output).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

SPEC_ARCHITECTURE = "infomamba"


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

class ConfigError(ValueError):
    """Invalid or incomplete model configuration."""


_MISSING = object()


def _take(source: dict, key: str, where: str, default=_MISSING):
    if key in source:
        return source[key]
    if default is _MISSING:
        raise ConfigError(f"config {where}: missing key '{key}'")
    return default


def _warn_unknown(source: dict, known: set, where: str) -> None:
    for key in sorted(set(source) - known):
        logger.warning("config %s: unknown key '%s' ignored", where, key)


@dataclass
class InputConfig:
    """Input adapter: continuous observations of C channels, or token ids."""

    kind: str
    channels: int = 0                      # C, continuous input only
    names: Optional[List[str]] = None      # C channel names, optional
    mean: List[float] = field(default_factory=list)  # μ, C values
    std: List[float] = field(default_factory=list)   # s, C values
    level_alpha: float = 0.0               # α of the streaming level; 0 disables it
    vocab_size: int = 0                    # V, token input only

    @classmethod
    def from_dict(cls, d: dict) -> "InputConfig":
        kind = _take(d, "kind", "input")
        if kind == "tokens":
            _warn_unknown(d, {"kind", "vocab_size"}, "input")
            return cls(kind=kind, vocab_size=int(_take(d, "vocab_size", "input")))
        if kind != "continuous":
            raise ConfigError(f"config input.kind: '{kind}', expected 'continuous' or 'tokens'")
        _warn_unknown(d, {"kind", "channels", "names", "mean", "std", "level_alpha"}, "input")
        cfg = cls(kind=kind,
                  channels=int(_take(d, "channels", "input")),
                  names=_take(d, "names", "input", None),
                  mean=[float(v) for v in _take(d, "mean", "input")],
                  std=[float(v) for v in _take(d, "std", "input")],
                  level_alpha=float(_take(d, "level_alpha", "input", 0.0)))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.kind != "continuous":
            return
        c = self.channels
        if c <= 0:
            raise ConfigError(f"config input.channels: {c}, expected a positive count")
        for key in ("mean", "std"):
            if len(getattr(self, key)) != c:
                raise ConfigError(f"config input.{key}: {len(getattr(self, key))} values, expected {c}")
        if self.names is not None and len(self.names) != c:
            raise ConfigError(f"config input.names: {len(self.names)} names, expected {c}")
        bad = [s for s in self.std if not s > 0.0]
        if bad:
            raise ConfigError(f"config input.std: value {bad[0]}, expected every std > 0")
        if not 0.0 <= self.level_alpha < 1.0:
            raise ConfigError(f"config input.level_alpha: {self.level_alpha}, expected 0 <= alpha < 1")

    def to_dict(self) -> dict:
        if self.kind == "tokens":
            return {"kind": "tokens", "vocab_size": self.vocab_size}
        out = {"kind": self.kind, "channels": self.channels}
        if self.names is not None:
            out["names"] = list(self.names)
        out.update({"mean": list(self.mean), "std": list(self.std), "level_alpha": self.level_alpha})
        return out


@dataclass
class OutputConfig:
    """Output head: an H-step forecast of C channels, or token logits."""

    kind: str
    horizon: int = 0     # H
    channels: int = 0    # C

    @classmethod
    def from_dict(cls, d: dict) -> "OutputConfig":
        kind = _take(d, "kind", "output")
        if kind == "logits":
            _warn_unknown(d, {"kind"}, "output")
            return cls(kind=kind)
        if kind != "forecast":
            raise ConfigError(f"config output.kind: '{kind}', expected 'forecast' or 'logits'")
        _warn_unknown(d, {"kind", "horizon", "channels"}, "output")
        cfg = cls(kind=kind, horizon=int(_take(d, "horizon", "output")),
                  channels=int(_take(d, "channels", "output")))
        if cfg.horizon <= 0:
            raise ConfigError(f"config output.horizon: {cfg.horizon}, expected a positive count")
        return cfg

    def to_dict(self) -> dict:
        if self.kind == "logits":
            return {"kind": "logits"}
        return {"kind": self.kind, "horizon": self.horizon, "channels": self.channels}


_TOP_LEVEL_KEYS = {"architecture", "d_model", "n_layers", "d_state", "d_conv", "expand", "dt_rank",
                   "n_concepts", "d_concept", "norm_eps", "concept_eps", "input", "output"}


@dataclass
class InfoMambaConfig:
    """Hyperparameters of one model, read from and written to config.json."""

    d_model: int                 # D
    n_layers: int                # number of blocks
    d_state: int                 # N
    d_conv: int                  # K
    expand: int                  # E, Di = E·D
    n_concepts: int              # k; 0 disables the global stream and IMF
    d_concept: int               # Dc
    input: InputConfig
    output: OutputConfig
    dt_rank: Optional[int] = None    # R; None means ceil(D / 16)
    norm_eps: float = 1e-5
    concept_eps: float = 1e-6
    architecture: str = SPEC_ARCHITECTURE

    def __post_init__(self):
        if self.dt_rank is None:
            self.dt_rank = math.ceil(self.d_model / 16)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @classmethod
    def from_dict(cls, d: dict) -> "InfoMambaConfig":
        _warn_unknown(d, _TOP_LEVEL_KEYS, "top level")
        architecture = d.get("architecture", SPEC_ARCHITECTURE)
        if architecture != SPEC_ARCHITECTURE:
            raise ConfigError(f"config architecture: '{architecture}', expected '{SPEC_ARCHITECTURE}'")
        n_concepts = int(_take(d, "n_concepts", "top level"))
        # d_concept has no meaning without concepts, so a plain Mamba config may omit it.
        d_concept = int(_take(d, "d_concept", "top level", 0 if n_concepts == 0 else _MISSING))
        dt_rank = d.get("dt_rank")
        cfg = cls(d_model=int(_take(d, "d_model", "top level")),
                  n_layers=int(_take(d, "n_layers", "top level")),
                  d_state=int(_take(d, "d_state", "top level")),
                  d_conv=int(_take(d, "d_conv", "top level")),
                  expand=int(_take(d, "expand", "top level")),
                  n_concepts=n_concepts,
                  d_concept=d_concept,
                  input=InputConfig.from_dict(_take(d, "input", "top level")),
                  output=OutputConfig.from_dict(_take(d, "output", "top level")),
                  dt_rank=None if dt_rank is None else int(dt_rank),
                  norm_eps=float(d.get("norm_eps", 1e-5)),
                  concept_eps=float(d.get("concept_eps", 1e-6)),
                  architecture=architecture)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for key in ("d_model", "n_layers", "d_state", "d_conv", "expand", "dt_rank"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config {key}: {getattr(self, key)}, expected a positive integer")
        if self.n_concepts < 0:
            raise ConfigError(f"config n_concepts: {self.n_concepts}, expected >= 0")
        if self.n_concepts > 0 and self.d_concept <= 0:
            raise ConfigError(f"config d_concept: {self.d_concept}, expected > 0 when n_concepts > 0")
        self.input.validate()
        if (self.input.kind == "continuous" and self.output.kind == "forecast"
                and self.output.channels != self.input.channels):
            raise ConfigError(f"config output.channels: {self.output.channels}, "
                              f"expected input.channels = {self.input.channels}")

    def to_dict(self) -> dict:
        return {
            "architecture": self.architecture,
            "d_model": self.d_model, "n_layers": self.n_layers, "d_state": self.d_state,
            "d_conv": self.d_conv, "expand": self.expand, "dt_rank": self.dt_rank,
            "n_concepts": self.n_concepts, "d_concept": self.d_concept,
            "norm_eps": self.norm_eps, "concept_eps": self.concept_eps,
            "input": self.input.to_dict(), "output": self.output.to_dict(),
        }

    def replace(self, **changes) -> "InfoMambaConfig":
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

@dataclass
class BlockState:
    """Recurrent state of one block for a batch of B streams."""

    conv: torch.Tensor                 # [B, Di, K-1], oldest step first
    ssm: torch.Tensor                  # s, [B, Di, N]
    memory: Optional[torch.Tensor]     # S, [B, k, Dc]; None when k = 0
    mass: Optional[torch.Tensor]       # n, [B, k]; None when k = 0


@dataclass
class StreamState:
    """State of B streams: the streaming level and one BlockState per block."""

    level: Optional[torch.Tensor]      # m, [B, C]; None when level_alpha = 0
    level_decay: Optional[torch.Tensor]  # p, [B, 1]; 1 on a fresh stream
    blocks: List[BlockState]

    def detach(self) -> "StreamState":
        def d(t):
            return None if t is None else t.detach()
        return StreamState(d(self.level), d(self.level_decay),
                           [BlockState(d(b.conv), d(b.ssm), d(b.memory), d(b.mass)) for b in self.blocks])


# --------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))  # D

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class MambaMixer(nn.Module):
    def __init__(self, cfg: InfoMambaConfig):
        super().__init__()
        d, di, n, r, k = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.d_conv
        self.in_proj = nn.Linear(d, 2 * di, bias=False)                  # [2·Di, D]
        self.conv1d = nn.Conv1d(di, di, k, groups=di, bias=True)         # [Di, 1, K], [Di]
        self.x_proj = nn.Linear(di, r + 2 * n, bias=False)               # [R+2N, Di]
        self.dt_proj = nn.Linear(r, di, bias=True)                       # [Di, R], [Di]
        self.A_log = nn.Parameter(torch.zeros(di, n))                    # [Di, N]
        self.D = nn.Parameter(torch.ones(di))                            # [Di]
        self.out_proj = nn.Linear(di, d, bias=False)                     # [D, Di]


class ConceptBottleneck(nn.Module):
    def __init__(self, cfg: InfoMambaConfig):
        super().__init__()
        d, k, dc = cfg.d_model, cfg.n_concepts, cfg.d_concept
        self.write = nn.Linear(d, k, bias=True)                          # [k, D], [k]
        self.value = nn.Linear(d, dc, bias=False)                        # [Dc, D]
        self.retention_logit = nn.Parameter(torch.zeros(k))              # [k]
        self.mix = nn.Linear(k, k, bias=False)                           # [k, k]
        self.read = nn.Linear(d, k, bias=True)                           # [k, D], [k]
        self.out = nn.Linear(dc, d, bias=False)                          # [D, Dc]


class InformationFusion(nn.Module):
    def __init__(self, cfg: InfoMambaConfig):
        super().__init__()
        d, di, n = cfg.d_model, cfg.d_inner, cfg.d_state
        self.dt_inject = nn.Linear(d, di, bias=False)                    # [Di, D]
        self.B_inject = nn.Linear(d, n, bias=False)                      # [N, D]
        self.C_inject = nn.Linear(d, n, bias=False)                      # [N, D]
        self.gate = nn.Linear(2 * d, d, bias=True)                       # [D, 2·D], [D]


class InfoMambaBlock(nn.Module):
    def __init__(self, cfg: InfoMambaConfig):
        super().__init__()
        self.cfg = cfg
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer = MambaMixer(cfg)
        self.has_concepts = cfg.n_concepts > 0
        if self.has_concepts:
            self.concept = ConceptBottleneck(cfg)
            self.imf = InformationFusion(cfg)

    def init_state(self, batch: int, dtype, device) -> BlockState:
        c = self.cfg
        zeros = lambda *shape: torch.zeros(*shape, dtype=dtype, device=device)  # noqa: E731
        return BlockState(
            conv=zeros(batch, c.d_inner, c.d_conv - 1),
            ssm=zeros(batch, c.d_inner, c.d_state),
            memory=zeros(batch, c.n_concepts, c.d_concept) if self.has_concepts else None,
            mass=zeros(batch, c.n_concepts) if self.has_concepts else None)

    # ---- one time step -----------------------------------------------------

    def step(self, h: torch.Tensor, state: BlockState):
        """Advance one step. h: [B, D]. Returns (h_next, new state, m, g)."""
        c, mx = self.cfg, self.mixer
        di, n, r = c.d_inner, c.d_state, c.dt_rank

        u = self.norm(h)                                                     # [B, D]

        # selective recurrent stream: projection and causal depthwise conv
        x, z = mx.in_proj(u).split(di, dim=-1)                               # [B, Di] each
        window = torch.cat([state.conv, x.unsqueeze(-1)], dim=-1)            # [B, Di, K]
        xc = F.silu((window * mx.conv1d.weight[:, 0, :]).sum(-1) + mx.conv1d.bias)
        new_conv = window[:, :, 1:]                                          # [B, Di, K-1]

        # concept-bottleneck linear filter (global stream)
        g = memory = mass = None
        if self.has_concepts:
            cb = self.concept
            a = torch.softmax(cb.write(u), dim=-1)                           # [B, k]
            v = cb.value(u)                                                  # [B, Dc]
            rho = torch.sigmoid(cb.retention_logit)                          # [k]
            memory = rho[:, None] * state.memory + a[:, :, None] * v[:, None, :]   # [B, k, Dc]
            mass = rho * state.mass + a                                      # [B, k]
            means = memory / (mass + c.concept_eps)[:, :, None]              # [B, k, Dc]
            means = means + torch.matmul(cb.mix.weight, means)               # [B, k, Dc]
            q = torch.softmax(cb.read(u), dim=-1)                            # [B, k]
            g = cb.out((means * q[:, :, None]).sum(1))                       # [B, D]

        # IMF part 1: the global context steers Δ, B and C
        delta, b_in, c_out = mx.x_proj(xc).split([r, n, n], dim=-1)          # [B, R], [B, N], [B, N]
        dt_arg = mx.dt_proj(delta)                                           # [B, Di]
        if self.has_concepts:
            dt_arg = dt_arg + self.imf.dt_inject(g)
            b_in = b_in + self.imf.B_inject(g)
            c_out = c_out + self.imf.C_inject(g)
        dt = F.softplus(dt_arg)                                              # Δ, [B, Di]
        a_mat = -torch.exp(mx.A_log)                                         # A, [Di, N]

        # selective scan, one step
        ssm = torch.exp(dt[:, :, None] * a_mat) * state.ssm \
            + (dt * xc)[:, :, None] * b_in[:, None, :]                       # [B, Di, N]
        y = (ssm * c_out[:, None, :]).sum(-1) + mx.D * xc                    # [B, Di]
        y = y * F.silu(z)
        m = mx.out_proj(y)                                                   # [B, D]

        # IMF part 2: gated fusion
        if self.has_concepts:
            gamma = torch.sigmoid(self.imf.gate(torch.cat([m, g], dim=-1)))  # [B, D]
            o = gamma * m + (1 - gamma) * g
        else:
            o = m
        return h + o, BlockState(new_conv, ssm, memory, mass), m, g

    # ---- a chunk of T steps ------------------------------------------------

    def forward(self, h: torch.Tensor, state: BlockState):
        """Run T steps. h: [B, T, D]. Returns (h_next, final state, m, g), m and g [B, T, D]."""
        c, mx = self.cfg, self.mixer
        di, n, r, kw = c.d_inner, c.d_state, c.dt_rank, c.d_conv
        steps = h.shape[1]

        u = self.norm(h)                                                     # [B, T, D]

        # projection and causal depthwise conv over the window [state ; x]
        x, z = mx.in_proj(u).split(di, dim=-1)                               # [B, T, Di] each
        padded = torch.cat([state.conv, x.transpose(1, 2)], dim=-1)          # [B, Di, K-1+T]
        weight = mx.conv1d.weight[:, 0, :]                                   # [Di, K]
        pre = mx.conv1d.bias[None, :, None]
        for j in range(kw):
            pre = pre + weight[None, :, j, None] * padded[:, :, j:j + steps]
        xc = F.silu(pre).transpose(1, 2)                                     # [B, T, Di]
        new_conv = padded[:, :, padded.shape[-1] - (kw - 1):]                # [B, Di, K-1]

        # concept-bottleneck linear filter; only the memory recurrence loops over t
        g = memory = mass = None
        if self.has_concepts:
            cb = self.concept
            a = torch.softmax(cb.write(u), dim=-1)                           # [B, T, k]
            v = cb.value(u)                                                  # [B, T, Dc]
            rho = torch.sigmoid(cb.retention_logit)                          # [k]
            memory, mass = state.memory, state.mass
            memories, masses = [], []
            # unbind() rather than indexing by t: the backward of an index op
            # allocates a full [B, T, ...] gradient per step, which is O(T²).
            writes = (a[..., None] * v[:, :, None, :]).unbind(1)             # T × [B, k, Dc]
            for a_t, write_t in zip(a.unbind(1), writes):
                memory = rho[:, None] * memory + write_t                     # [B, k, Dc]
                mass = rho * mass + a_t                                      # [B, k]
                memories.append(memory)
                masses.append(mass)
            all_memory = torch.stack(memories, dim=1)                        # [B, T, k, Dc]
            all_mass = torch.stack(masses, dim=1)                            # [B, T, k]
            means = all_memory / (all_mass + c.concept_eps)[..., None]       # [B, T, k, Dc]
            means = means + torch.matmul(cb.mix.weight, means)
            q = torch.softmax(cb.read(u), dim=-1)                            # [B, T, k]
            g = cb.out((means * q[..., None]).sum(2))                        # [B, T, D]

        # IMF part 1
        delta, b_in, c_out = mx.x_proj(xc).split([r, n, n], dim=-1)          # [B, T, R|N|N]
        dt_arg = mx.dt_proj(delta)                                           # [B, T, Di]
        if self.has_concepts:
            dt_arg = dt_arg + self.imf.dt_inject(g)
            b_in = b_in + self.imf.B_inject(g)
            c_out = c_out + self.imf.C_inject(g)
        dt = F.softplus(dt_arg)                                              # [B, T, Di]
        a_mat = -torch.exp(mx.A_log)                                         # [Di, N]

        # selective scan: decay and input terms batched over T, recurrence looped
        decay = torch.exp(dt[..., None] * a_mat)                             # [B, T, Di, N]
        drive = (dt * xc)[..., None] * b_in[:, :, None, :]                   # [B, T, Di, N]
        ssm = state.ssm
        states = []
        for decay_t, drive_t in zip(decay.unbind(1), drive.unbind(1)):
            ssm = decay_t * ssm + drive_t                                    # [B, Di, N]
            states.append(ssm)
        all_ssm = torch.stack(states, dim=1)                                 # [B, T, Di, N]
        y = (all_ssm * c_out[:, :, None, :]).sum(-1) + mx.D * xc             # [B, T, Di]
        y = y * F.silu(z)
        m = mx.out_proj(y)                                                   # [B, T, D]

        # IMF part 2
        if self.has_concepts:
            gamma = torch.sigmoid(self.imf.gate(torch.cat([m, g], dim=-1)))
            o = gamma * m + (1 - gamma) * g
        else:
            o = m
        return h + o, BlockState(new_conv, ssm, memory, mass), m, g


class InfoMamba(nn.Module):
    """InfoMamba model: a forecaster or a token model, selected by cfg.input.kind and cfg.output.kind.

    A forecaster ("continuous" input, "forecast" output) has `embed` (Linear)
    and `head`. A token model ("tokens" input, "logits" output) has `embed`
    (Embedding) and `lm_head`. With tie_embeddings=True it has no `lm_head`
    and uses the embedding table as the output projection, which is how a
    checkpoint without `lm_head.weight` is loaded.
    """

    def __init__(self, cfg: InfoMambaConfig, tie_embeddings: bool = False):
        super().__init__()
        cfg.validate()
        kinds = (cfg.input.kind, cfg.output.kind)
        if kinds not in (("continuous", "forecast"), ("tokens", "logits")):
            raise NotImplementedError(
                f"input.kind '{cfg.input.kind}' with output.kind '{cfg.output.kind}': "
                f"expected 'continuous' with 'forecast', or 'tokens' with 'logits'")
        if tie_embeddings and cfg.input.kind != "tokens":
            raise ConfigError(f"tie_embeddings: true with input.kind '{cfg.input.kind}', "
                              f"expected input.kind 'tokens'")
        if cfg.input.kind == "tokens" and cfg.input.vocab_size <= 0:
            raise ConfigError(f"config input.vocab_size: {cfg.input.vocab_size}, expected a positive count")
        self.cfg = cfg
        self.tie_embeddings = tie_embeddings
        d = cfg.d_model
        if cfg.input.kind == "tokens":
            vocab = cfg.input.vocab_size
            self.embed = nn.Embedding(vocab, d)                          # [V, D]
        else:
            ch, hz = cfg.input.channels, cfg.output.horizon
            self.embed = nn.Linear(ch, d, bias=True)                     # [D, C], [D]
        self.layers = nn.ModuleList([InfoMambaBlock(cfg) for _ in range(cfg.n_layers)])
        self.norm_f = RMSNorm(d, cfg.norm_eps)
        if cfg.output.kind == "logits":
            # Registered as None when tied, so state_dict() has no lm_head.weight.
            self.lm_head = None if tie_embeddings else nn.Linear(d, vocab, bias=False)   # [V, D]
        else:
            self.head = nn.Linear(d, hz * ch, bias=True)                 # [H·C, D], [H·C]
        self.reset_parameters()

    @property
    def is_token_model(self) -> bool:
        return self.cfg.input.kind == "tokens"

    @property
    def alpha(self) -> float:
        return self.cfg.input.level_alpha

    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Apply the recommended initialisation to the SSM, concept and IMF parameters.

        Linear and conv weights keep PyTorch's default initialisation.
        """
        c = self.cfg
        with torch.no_grad():
            for block in self.layers:
                mx = block.mixer
                n_idx = torch.arange(1, c.d_state + 1, dtype=torch.float64)
                mx.A_log.copy_(torch.log(n_idx).expand(c.d_inner, c.d_state))
                mx.D.fill_(1.0)
                bound = c.dt_rank ** -0.5
                mx.dt_proj.weight.uniform_(-bound, bound, generator=generator)
                log_dt = torch.empty(c.d_inner, dtype=torch.float64).uniform_(
                    math.log(1e-3), math.log(1e-1), generator=generator)
                dt = torch.exp(log_dt).clamp_min(1e-4)
                mx.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
                if block.has_concepts:
                    # time constants 1/(1-ρ) log-spaced over [4, 1024] steps; logit(ρ) = log(τ - 1)
                    tau = torch.logspace(math.log10(4.0), math.log10(1024.0), c.n_concepts, dtype=torch.float64)
                    block.concept.retention_logit.copy_(torch.log(tau - 1.0))
                    for inject in (block.imf.dt_inject, block.imf.B_inject, block.imf.C_inject):
                        inject.weight.zero_()
                    block.imf.gate.bias.zero_()

    def init_state(self, batch: int, dtype=None, device=None) -> StreamState:
        """Return the state of `batch` fresh streams: all zeros except p = 1."""
        dtype = dtype or self.embed.weight.dtype
        device = device or self.embed.weight.device
        if self.alpha > 0:
            level = torch.zeros(batch, self.cfg.input.channels, dtype=dtype, device=device)
            level_decay = torch.ones(batch, 1, dtype=dtype, device=device)
        else:
            level = level_decay = None
        return StreamState(level, level_decay, [b.init_state(batch, dtype, device) for b in self.layers])

    def _scaling(self, x: torch.Tensor):
        """Return μ and s [C] in the dtype of x.

        They live in config.json rather than the checkpoint. They are built from
        the config's float values, so a float64 model uses them unrounded.
        """
        mean = torch.tensor(self.cfg.input.mean, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.cfg.input.std, dtype=x.dtype, device=x.device)
        return mean, std

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        f = self.head(self.norm_f(h))                                    # [..., H·C]
        return f.unflatten(-1, (self.cfg.output.horizon, self.cfg.input.channels))  # [..., H, C]

    def _embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Return the embedding rows of ids [...] as [..., D], rejecting ids outside [0, V)."""
        vocab = self.cfg.input.vocab_size
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids: dtype {ids.dtype}, expected torch.int64 or torch.int32")
        if ids.numel():
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= vocab:
                bad = low if low < 0 else high
                raise ValueError(f"token id {bad}: out of range, expected 0 <= id < vocab_size {vocab}")
        return self.embed(ids)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        weight = self.embed.weight if self.lm_head is None else self.lm_head.weight   # [V, D]
        return F.linear(self.norm_f(h), weight)                          # [..., V]

    def step(self, x: torch.Tensor, state: StreamState):
        """Consume one input per stream and return (output, new state).

        Forecaster: x is an observation [B, C] in original units and the
        output is the forecast [B, H, C] in original units.
        Token model: x contains token ids [B] and the output is logits [B, V].
        """
        if self.is_token_model:
            return self._step_tokens(x, state)
        return self._step_continuous(x, state)

    def _step_tokens(self, ids: torch.Tensor, state: StreamState):
        h = self._embed_tokens(ids)                                      # [B, D]
        blocks = []
        for block, bstate in zip(self.layers, state.blocks):
            h, new_bstate, _, _ = block.step(h, bstate)
            blocks.append(new_bstate)
        return self._logits(h), StreamState(None, None, blocks)         # [B, V]

    def _step_continuous(self, x: torch.Tensor, state: StreamState):
        mean, std = self._scaling(x)
        xs = (x - mean) / std                                            # x̃, [B, C]
        if self.alpha > 0:
            p = (1 - self.alpha) * state.level_decay                     # [B, 1]
            level = (1 - self.alpha) * state.level + self.alpha * xs     # [B, C]
            ell = level / (1 - p)
        else:
            p = level = None
            ell = torch.zeros_like(xs)
        h = self.embed(xs - ell)                                         # [B, D]
        blocks = []
        for block, bstate in zip(self.layers, state.blocks):
            h, new_bstate, _, _ = block.step(h, bstate)
            blocks.append(new_bstate)
        pred_z = self._head(h) + ell[:, None, :]                         # [B, H, C]
        forecast = pred_z * std + mean
        return forecast, StreamState(level, p, blocks)

    def forward(self, x: torch.Tensor, state: Optional[StreamState] = None, output_from: int = 0) -> Dict:
        """Run a chunk of T steps from `state` (fresh when None).

        Forecaster: x [B, T, C] in original units; see _forward_continuous.
        Token model: x contains token ids [B, T], see _forward_tokens.
        """
        if self.is_token_model:
            return self._forward_tokens(x, state, output_from)
        return self._forward_continuous(x, state, output_from)

    def _forward_tokens(self, ids: torch.Tensor, state: Optional[StreamState], output_from: int) -> Dict:
        """Run token ids [B, T]. The head is evaluated at positions t >= output_from.

        Returns a dict with
          logits  [B, T', V]  logits after each position t >= output_from
          state   StreamState after the last step
          local   list of m [B, T, D], one per block
          global  list of g [B, T, D] (None entries when k = 0)
        """
        batch = ids.shape[0]
        if state is None:
            state = self.init_state(batch)
        h = self._embed_tokens(ids)                                      # [B, T, D]
        blocks, local, global_ = [], [], []
        for block, bstate in zip(self.layers, state.blocks):
            h, new_bstate, m, g = block(h, bstate)
            blocks.append(new_bstate)
            local.append(m)
            global_.append(g)
        return {"logits": self._logits(h[:, output_from:]), "state": StreamState(None, None, blocks),
                "local": local, "global": global_}

    def _forward_continuous(self, x: torch.Tensor, state: Optional[StreamState], output_from: int) -> Dict:
        """Run a chunk x [B, T, C] in original units.

        The head is evaluated only at positions t >= output_from, so pred_z and
        forecast have T - output_from positions. Returns a dict with
          pred_z    [B, T', H, C]  f + ℓ in standardised units
          forecast  [B, T', H, C]  original units
          level     [B, T, C]      ℓ at every position
          state     StreamState after the last step
          local     list of m [B, T, D], one per block
          global    list of g [B, T, D] (None entries when k = 0)
        """
        batch, steps, _ = x.shape
        if state is None:
            state = self.init_state(batch, x.dtype, x.device)
        mean, std = self._scaling(x)
        xs = (x - mean) / std                                            # [B, T, C]

        if self.alpha > 0:
            p, level = state.level_decay, state.level
            ells = []
            for xs_t in xs.unbind(1):
                p = (1 - self.alpha) * p
                level = (1 - self.alpha) * level + self.alpha * xs_t
                ells.append(level / (1 - p))
            ell = torch.stack(ells, dim=1)                               # [B, T, C]
        else:
            p = level = None
            ell = torch.zeros_like(xs)

        h = self.embed(xs - ell)                                         # [B, T, D]
        blocks, local, global_ = [], [], []
        for block, bstate in zip(self.layers, state.blocks):
            h, new_bstate, m, g = block(h, bstate)
            blocks.append(new_bstate)
            local.append(m)
            global_.append(g)

        pred_z = self._head(h[:, output_from:]) + ell[:, output_from:, None, :]   # [B, T', H, C]
        forecast = pred_z * std + mean
        return {"pred_z": pred_z, "forecast": forecast, "level": ell,
                "state": StreamState(level, p, blocks), "local": local, "global": global_}


def mi_redundancy_penalty(local: List[torch.Tensor], global_: List[Optional[torch.Tensor]]) -> torch.Tensor:
    """Return the mean over blocks of ‖corr(m, g)‖²_F / D.

    m and g [B, T, D] are standardised per feature over all batch and time
    positions; corr is their D × D cross-correlation. Blocks without a global
    stream are skipped; with none at all the penalty is 0.
    """
    terms = []
    for m, g in zip(local, global_):
        if g is None:
            continue
        m2 = m.reshape(-1, m.shape[-1])
        g2 = g.reshape(-1, g.shape[-1])
        m2 = (m2 - m2.mean(0)) / (m2.std(0, unbiased=False) + 1e-5)
        g2 = (g2 - g2.mean(0)) / (g2.std(0, unbiased=False) + 1e-5)
        corr = m2.T @ g2 / m2.shape[0]                                   # [D, D]
        terms.append(corr.pow(2).sum() / m.shape[-1])
    if not terms:
        return torch.zeros((), dtype=local[0].dtype, device=local[0].device)
    return torch.stack(terms).mean()
