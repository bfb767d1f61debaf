"""PyTorch reference implementation of the InfoMamba streaming forecaster."""

from .model import (BlockState, ConfigError, InfoMamba, InfoMambaConfig, InputConfig, OutputConfig,
                    StreamState, mi_redundancy_penalty)
from . import safetensors_io

__all__ = ["BlockState", "ConfigError", "InfoMamba", "InfoMambaConfig", "InputConfig", "OutputConfig",
           "StreamState", "mi_redundancy_penalty", "safetensors_io"]
