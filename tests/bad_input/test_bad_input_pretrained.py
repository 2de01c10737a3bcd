"""Bad input to the pretrained-weights side of minicnn (weights files, the weights registry, the ImageNet helpers):
every row is one kind of mistake, with the exception and the words its message must contain (the function, the
argument, the rule broken and the values involved).

The test runs in a temporary folder (``monkeypatch.chdir``), so rows that need files write them there.
"""
import pathlib
import pickle

import numpy as np
import pytest

from minicnn.data import center_crop, imagenet_classes, load_photo, resize_shorter_side
from minicnn.models import hed_preprocess, lenet5_advertorch, pretrained_state_dict
from minicnn.serialization import WeightsError, read_hdf5_weights, read_torch_file


def written(name, content):
    pathlib.Path(name).write_bytes(content)
    return name


class Exploit:
    def __reduce__(self):
        return exec, ("open('ran.txt', 'w').close()",)


ROWS = [
    # ----------------------------------------------------------------------------------------- weights files
    ("torch_no_file", lambda: read_torch_file("missing.pt"), FileNotFoundError,
     r"read_torch_file: no file at missing.pt"),
    ("torch_folder", lambda: read_torch_file("."), IsADirectoryError, r"read_torch_file: \. is a folder"),
    ("torch_path_not_a_path", lambda: read_torch_file(3), TypeError,
     r"read_torch_file: path must be a file path \(str or pathlib.Path\), got int"),
    ("torch_sha256_too_short", lambda: read_torch_file(written("w.pt", b"x"), sha256="abc"), ValueError,
     r"read_torch_file: sha256 must be a SHA-256 digest written as 64 hex digits \(or None\), got 'abc'"),
    ("torch_sha256_not_hex", lambda: read_torch_file(written("w.pt", b"x"), sha256="g" * 64), ValueError,
     r"sha256 must be a SHA-256 digest written as 64 hex digits"),
    ("torch_wrong_sha256", lambda: read_torch_file(written("w.pt", b"x"), sha256="0" * 64), WeightsError,
     r"read_torch_file: w.pt does not have the expected content: its SHA-256 is 2d711642b726b044.*, expected 0{64}"),
    ("torch_empty_file", lambda: read_torch_file(written("w.pt", b"")), WeightsError,
     r"read_torch_file: w.pt is not a PyTorch file .*the file is empty"),
    ("torch_text_file", lambda: read_torch_file(written("w.pt", b"weights")), WeightsError,
     r"w.pt is not a PyTorch file \(neither a zip archive nor a pickle\)"),
    ("torch_exec_pickle", lambda: read_torch_file(written("w.pt", pickle.dumps(Exploit(), protocol=4))),
     WeightsError, r"refusing to unpickle w.pt: its pickle asks for the global builtins.exec"),
    ("torch_truncated_pickle", lambda: read_torch_file(written("w.pt", pickle.dumps(list(range(100)), 2)[:50])),
     WeightsError, r"w.pt is truncated or corrupted \(\w+"),
    ("hdf5_not_hdf5", lambda: read_hdf5_weights(written("w.h5", b"\x89PNG\r\n")), WeightsError,
     r"read_hdf5_weights: w.h5 is not an HDF5 file"),
    ("hdf5_wrong_sha256", lambda: read_hdf5_weights(written("w.h5", b"x"), sha256="1" * 64), WeightsError,
     r"read_hdf5_weights: w.h5 does not have the expected content"),
    # ---------------------------------------------------------------------------------------------- registry
    ("pretrained_unknown_name", lambda: pretrained_state_dict("resnet50"), ValueError,
     r"pretrained_state_dict: unknown weights 'resnet50'; choose one of \['efficientnet_lite0', 'lenet5_advertorch', "
     r"'vgg16_hed'\]"),
    ("lenet5_advertorch_weights_true", lambda: lenet5_advertorch(weights=True), ValueError,
     r"lenet5_advertorch: weights must be None \(untrained\) or 'DEFAULT' .*got True"),
    ("lenet5_advertorch_integer_pixels", lambda: lenet5_advertorch()(np.zeros((1, 1, 28, 28), np.uint8)), TypeError,
     r"AdvertorchLeNet5: x must be float32 or float64"),
    ("lenet5_advertorch_nhwc", lambda: lenet5_advertorch()(np.zeros((1, 28, 28, 1), np.float32)), ValueError,
     r"AdvertorchLeNet5: expected x of shape \(N, 1, 28, 28\) .*got \(1, 28, 28, 1\)"),
    ("hed_preprocess_float_pixels", lambda: hed_preprocess(np.zeros((4, 4, 3))), TypeError,
     r"hed_preprocess: expected uint8 pixels in 0..255 .*got float64"),
    ("hed_preprocess_chw", lambda: hed_preprocess(np.zeros((3, 4, 4), np.uint8)), ValueError,
     r"hed_preprocess: expected an \(H, W, 3\) RGB image, got shape \(3, 4, 4\)"),
    # ----------------------------------------------------------------------------------------- ImageNet data
    ("imagenet_classes_unknown_kind", lambda: imagenet_classes("wordnet"), ValueError,
     r"imagenet_classes: kind must be one of \['clean', 'short', 'synonyms'\], got 'wordnet'"),
    ("load_photo_unknown", lambda: load_photo("cat"), ValueError,
     r"load_photo: unknown photo 'cat'; choose one of \['chelsea', 'coffee'\]"),
    ("resize_size_zero", lambda: resize_shorter_side(np.zeros((4, 4, 3), np.uint8), 0), ValueError,
     r"resize_shorter_side: size must be >= 1, got 0"),
    ("resize_size_float", lambda: resize_shorter_side(np.zeros((4, 4, 3), np.uint8), 2.5), TypeError,
     r"resize_shorter_side: size must be an int, got 2.5"),
    ("resize_batch", lambda: resize_shorter_side(np.zeros((2, 3, 4, 4)), 2), ValueError,
     r"resize_shorter_side: expected a non-empty \(H, W\) or \(H, W, C\) image, got shape \(2, 3, 4, 4\)"),
    ("resize_empty", lambda: resize_shorter_side(np.zeros((0, 4)), 2), ValueError,
     r"expected a non-empty \(H, W\) or \(H, W, C\) image, got shape \(0, 4\)"),
    ("resize_int64_pixels", lambda: resize_shorter_side(np.zeros((4, 4), np.int64), 2), TypeError,
     r"resize_shorter_side: expected uint8 or floating-point pixels, got int64"),
    ("center_crop_too_big", lambda: center_crop(np.zeros((100, 120, 3)), 224), ValueError,
     r"center_crop: crop \(224, 224\) is larger than the image \(100, 120\); resize first, e.g. "
     r"resize_shorter_side\(image, 224\)"),
    ("center_crop_three_sizes", lambda: center_crop(np.zeros((10, 10)), (2, 2, 2)), TypeError,
     r"center_crop: size must be an int or a tuple of 2 ints, got \(2, 2, 2\)"),
    ("center_crop_a_vector", lambda: center_crop(np.zeros(10), 2), ValueError,
     r"center_crop: expected an \(H, W\) or \(H, W, C\) image, got shape \(10,\)"),
]


@pytest.mark.parametrize("case_id, call, error, match", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_refused_with_a_clear_message(case_id, call, error, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        call()
    assert not (tmp_path / "ran.txt").exists()


def test_row_ids_are_unique():
    ids = [r[0] for r in ROWS]
    assert len(ids) == len(set(ids)) and len(ids) >= 20
