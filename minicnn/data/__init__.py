"""Small real datasets that work offline: MNIST-1D (generated locally) and photos bundled with matplotlib."""
from minicnn.data.images import load_sample_image, to_grayscale
from minicnn.data.loader import batches
from minicnn.data.mnist1d import load_mnist1d

__all__ = ["batches", "load_mnist1d", "load_sample_image", "to_grayscale"]
