"""Datasets, mini-batches, preprocessing and augmentation.

Offline (what the notebooks and tests use): MNIST-1D generated locally, 5,000 real MNIST digits shipped with
minicnn (data/mnist_5k.npz), photos bundled with matplotlib. For learners online: full MNIST, Fashion-MNIST and
CIFAR-10 downloaded into a cache folder and verified by checksum (`minicnn.data.download`).
"""
from minicnn.data.augment import (
    color_jitter,
    color_pca,
    horizontal_flip,
    pca_color_augment,
    random_crop,
    random_horizontal_flip,
    random_shift,
)
from minicnn.data.digits import load_digits_mnist5k
from minicnn.data.download import load_cifar10, load_fashion_mnist, load_mnist
from minicnn.data.images import load_sample_image, to_grayscale
from minicnn.data.loader import batches
from minicnn.data.mnist1d import load_mnist1d
from minicnn.data.preprocessing import (
    PCAWhitening,
    Standardizer,
    ZCAWhitening,
    pca_whiten,
    standardize,
    zca_whiten,
)

__all__ = [
    "PCAWhitening",
    "Standardizer",
    "ZCAWhitening",
    "batches",
    "color_jitter",
    "color_pca",
    "horizontal_flip",
    "load_cifar10",
    "load_digits_mnist5k",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist1d",
    "load_sample_image",
    "pca_color_augment",
    "pca_whiten",
    "random_crop",
    "random_horizontal_flip",
    "random_shift",
    "standardize",
    "to_grayscale",
    "zca_whiten",
]

from minicnn.data.imagenet import center_crop, imagenet_classes, load_photo, resize_shorter_side

__all__ += ["center_crop", "imagenet_classes", "load_photo", "resize_shorter_side"]
