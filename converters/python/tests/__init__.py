"""Tests of the PyTorch reference."""
