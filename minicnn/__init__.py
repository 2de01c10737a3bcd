"""minicnn: the companion package of a notebook course on convolutional neural networks.

`minicnn.functional` holds the fast numba-compiled ops (PyTorch names, NCHW layout),
`minicnn.reference` the same ops as short readable loops, `minicnn.data` small
offline datasets, `minicnn.plotting` and `minicnn.widgets` the course's figures.
"""
from minicnn import functional
from minicnn.functional import conv_output_size

__version__ = "0.1.0"
__all__ = ["functional", "conv_output_size", "__version__"]
