"""Photos that ship inside matplotlib, so the image chapters need no download."""
import numpy as np

_SAMPLES = {
    "grace_hopper": "grace_hopper.jpg",  # 600 x 512 RGB portrait of Rear Admiral Grace Hopper
}


def load_sample_image(name="grace_hopper"):
    """Load a photo bundled with matplotlib as a uint8 array of shape (H, W, 3), values in [0, 255].

    Parameters
    ----------
    name : str
        One of ``'grace_hopper'``.

    Examples
    --------
    >>> img = load_sample_image()
    >>> img.shape, img.dtype
    ((600, 512, 3), dtype('uint8'))
    """
    import matplotlib.cbook
    import matplotlib.image

    if name not in _SAMPLES:
        raise ValueError(f"load_sample_image: unknown image {name!r}; choose one of {sorted(_SAMPLES)}")
    with matplotlib.cbook.get_sample_data(_SAMPLES[name]) as f:
        return np.asarray(matplotlib.image.imread(f, format="jpg"))


def to_grayscale(image, dtype=np.float64):
    """Luminance (ITU-R BT.601 weights) of an (H, W, 3) image, scaled to [0, 1].

    >>> to_grayscale(np.full((2, 2, 3), 255, np.uint8))
    array([[1., 1.],
           [1., 1.]])
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"to_grayscale: expected an (H, W, 3) RGB image, got shape {image.shape}")
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    rgb = image.astype(np.float64) / scale
    # elementwise, not a matmul: BLAS could round differently on another CPU
    gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return gray.astype(dtype)
