"""The math of every op as functions on numpy arrays: forward and backward side by side (like torch.nn.functional)."""
from minicnn.functional.conv import (
    conv1d,
    conv1d_backward,
    conv2d,
    conv2d_backward,
    conv_output_size,
    convolve,
    correlate,
)

__all__ = ["conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv_output_size", "convolve", "correlate"]
