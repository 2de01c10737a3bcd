"""The downloaders against a local HTTP server on 127.0.0.1 serving tiny files in the real formats.

No test contacts the internet: every dataset's mirrors are replaced by a closed local port, and each test
passes the local server's address as base_url (or puts it in the mirror list).
"""
import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading

import numpy as np
import pytest

from minicnn.data import download
from minicnn.data import load_cifar10, load_fashion_mnist, load_mnist
from minicnn.data.download import DownloadError, cache_dir, fetch_file, read_idx

LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


# ---------------------------------------------------------------- a local server

class LocalServer:
    """Serves `routes`: path -> list of responses (status, body, announced length or None), used in turn
    (the last one repeats). Every request path is recorded in `requests`."""

    def __init__(self):
        self.routes, self.requests = {}, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                responses = owner.routes.get(self.path)
                if not responses:
                    self.send_error(404, "Not Found")
                    return
                status, body, announced = responses.pop(0) if len(responses) > 1 else responses[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if announced is None else announced))
                self.end_headers()
                self.wfile.write(body)  # HTTP/1.0: the connection closes after the body, short or not

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        # a short poll interval: shutdown() waits for the next poll
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def serve(self, name, body, *more, status=200, announced=None):
        """Serve `body` at /name; `more` are (status, body, announced) responses for later requests."""
        self.routes["/" + name] = [(status, body, announced), *more]


@pytest.fixture
def server():
    s = LocalServer()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    s.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No pause between retries, and no real mirror reachable even if a test forgot base_url."""
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    for name in download.DATASETS:
        monkeypatch.setitem(download.DATASETS[name], "mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.delenv("MINICNN_DATA", raising=False)


def files_in(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def md5(data):
    return "md5:" + hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------- tiny files in the real formats

def idx(array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def gz(data):
    return gzip.compress(data, mtime=0)


def tiny_idx_dataset(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([5, 0, 4, 1, 9, 2], np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([7, 2, 1, 0], np.uint8),
    }
    return arrays, {name: gz(idx(a)) for name, a in arrays.items()}


def use_files(monkeypatch, dataset, blobs):
    """Make `blobs` (name -> bytes) the dataset's file table, with their own checksums."""
    monkeypatch.setitem(download.DATASETS[dataset], "files", {name: md5(b) for name, b in blobs.items()})


def serve_all(server, blobs, prefix=""):
    for name, body in blobs.items():
        server.serve(prefix + name, body)


class _Py2Pickler(pickle._Pickler):
    """Writes byte strings as Python 2 ``str`` (BINSTRING opcodes), as the original CIFAR batches have them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj):
    """A protocol-2 pickle like the ones Python 2 and numpy 1 wrote: bytes as str, numpy.core's module name."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"_codecs" not in data and b"numpy._core" not in data
    return data


def tar_gz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tiny_cifar(seed=0, batch=2, test=3):
    rng = np.random.default_rng(seed)
    members, images, labels = {}, {}, {}
    for name, n in [(f"data_batch_{i}", batch) for i in range(1, 6)] + [("test_batch", test)]:
        images[name] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, n).tolist()
        entry = {b"batch_label": name.encode(), b"labels": labels[name], b"data": images[name],
                 b"filenames": [f"img_{k}.png".encode() for k in range(n)]}
        members[f"cifar-10-batches-py/{name}"] = py2_pickle(entry)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = {b"num_cases_per_batch": batch, b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    members["cifar-10-batches-py/batches.meta"] = py2_pickle(meta)
    return images, labels, names, tar_gz(members)


# ---------------------------------------------------------------- MNIST and Fashion-MNIST

@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_download_parse_and_reuse_the_cache(server, tmp_path, monkeypatch, dataset):
    arrays, blobs = tiny_idx_dataset()
    use_files(monkeypatch, dataset, blobs)
    serve_all(server, blobs)
    d = LOADERS[dataset](root=tmp_path, base_url=server.url, timeout=5)
    assert d["x"].shape == (6, 1, 28, 28) and d["x"].dtype == np.float32 and d["y"].dtype == np.int64
    assert d["x_test"].shape == (4, 1, 28, 28) and d["y_test"].tolist() == [7, 2, 1, 0]
    np.testing.assert_array_equal(d["x"][:, 0], arrays["train-images-idx3-ubyte.gz"] / np.float32(255))
    assert d["y"].tolist() == [5, 0, 4, 1, 9, 2] and len(d["classes"]) == 10
    assert sorted(server.requests) == sorted("/" + name for name in blobs)
    assert files_in(tmp_path) == sorted(os.path.join(dataset, name) for name in blobs)

    raw = LOADERS[dataset](root=tmp_path, base_url=server.url, dtype=np.uint8)
    assert len(server.requests) == 4  # the second load made no request
    np.testing.assert_array_equal(raw["x_test"][:, 0], arrays["t10k-images-idx3-ubyte.gz"])


def test_env_var_and_default_cache_folder(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)
    serve_all(server, blobs)
    monkeypatch.setitem(download.DATASETS["mnist"], "mirrors", [server.url])  # the default mirrors, here local
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    load_mnist()
    assert len(files_in(tmp_path / "env" / "mnist")) == 4
    assert cache_dir(tmp_path / "arg") == str(tmp_path / "arg")  # the argument wins
    monkeypatch.delenv("MINICNN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == str(tmp_path / "home" / ".cache" / "minicnn")


def test_corrupted_file_is_retried_then_reported_and_not_kept(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)
    serve_all(server, blobs)
    first = "train-images-idx3-ubyte.gz"
    bad = bytearray(blobs[first])
    bad[100] ^= 0xFF  # one flipped byte, same length
    server.serve(first, bytes(bad))
    with pytest.raises(DownloadError) as error:
        load_mnist(root=tmp_path, base_url=server.url, retries=3, timeout=5)
    message = str(error.value)
    assert first in message
    assert f"expected md5 {hashlib.md5(blobs[first]).hexdigest()}" in message
    assert f"got {hashlib.md5(bytes(bad)).hexdigest()}" in message
    assert server.requests == ["/" + first] * 3  # bounded retries
    assert files_in(tmp_path) == []  # no corrupted or partial file left behind


def test_a_bad_download_followed_by_a_good_one_succeeds(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)
    serve_all(server, blobs)
    first = "train-images-idx3-ubyte.gz"
    server.serve(first, b"garbage", (500, b"server trouble", None), (200, blobs[first], None))
    d = load_mnist(root=tmp_path, base_url=server.url, retries=3, timeout=5)
    assert d["x"].shape == (6, 1, 28, 28)
    assert server.requests.count("/" + first) == 3
    assert len(files_in(tmp_path)) == 4  # no temporary files left


def test_truncated_download_is_detected(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)
    first = "train-images-idx3-ubyte.gz"
    body = blobs[first]
    server.serve(first, body[: len(body) // 2], announced=len(body))  # the connection closes half-way
    with pytest.raises(DownloadError, match=rf"truncated download: received {len(body) // 2} of the "
                                            rf"{len(body)} bytes announced"):
        load_mnist(root=tmp_path, base_url=server.url, retries=2, timeout=5)
    assert len(server.requests) == 2 and files_in(tmp_path) == []


def test_http_404_gives_a_clear_error_without_pointless_retries(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)  # the server has none of them
    with pytest.raises(DownloadError, match=r"train-images-idx3-ubyte.gz.*HTTP error 404 Not Found") as error:
        load_mnist(root=tmp_path, base_url=server.url, retries=3, timeout=5)
    assert server.url + "train-images-idx3-ubyte.gz" in str(error.value)
    assert len(server.requests) == 1 and files_in(tmp_path) == []


def test_next_mirror_is_tried(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)
    serve_all(server, blobs, prefix="good/")
    d = load_mnist(root=tmp_path, base_url=[server.url + "missing/", server.url + "good/"], timeout=5)
    assert d["y_test"].tolist() == [7, 2, 1, 0]
    assert server.requests.count("/missing/train-images-idx3-ubyte.gz") == 1


def test_unreachable_server_is_reported(tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)could not download f.bin intact .*Connection refused"):
        fetch_file("f.bin", md5(b"x"), str(tmp_path), ["http://127.0.0.1:9/"], retries=2, timeout=5)
    assert files_in(tmp_path) == []


def test_corrupted_cache_file_is_replaced(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    use_files(monkeypatch, "mnist", blobs)
    serve_all(server, blobs)
    load_mnist(root=tmp_path, base_url=server.url, timeout=5)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"bit rot")
    with pytest.warns(UserWarning, match="t10k-labels-idx1-ubyte.gz is corrupted"):
        d = load_mnist(root=tmp_path, base_url=server.url, timeout=5)
    assert d["y_test"].tolist() == [7, 2, 1, 0]
    assert server.requests.count("/t10k-labels-idx1-ubyte.gz") == 2 and len(server.requests) == 5


def test_a_file_with_the_right_checksum_but_wrong_format_is_refused(server, tmp_path, monkeypatch):
    _, blobs = tiny_idx_dataset()
    blobs["train-images-idx3-ubyte.gz"] = gz(b"not an idx file")
    use_files(monkeypatch, "mnist", blobs)
    serve_all(server, blobs)
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist(root=tmp_path, base_url=server.url, timeout=5)


def test_read_idx_formats_and_errors():
    ints = np.arange(6, dtype=">i4").reshape(2, 3)
    data = bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 3) + ints.tobytes()
    out = read_idx(data)
    assert out.dtype == np.int32 and out.dtype.isnative and out.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match=r"shape \(2, 3\) of >i4 needs 24 bytes of values, the data has 20"):
        read_idx(data[:-4])
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(b"\x1f\x8b\x08\x00")


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="dtype must be float32 or float64 .* or uint8"):
        load_mnist(root=tmp_path, dtype=np.int32)
    with pytest.raises(ValueError, match="retries must be an int >= 1"):
        fetch_file("f", md5(b""), str(tmp_path), ["http://127.0.0.1:9/"], retries=0)
    with pytest.raises(ValueError, match="must be written 'algorithm:hexdigest'"):
        fetch_file("f", "f68b3c2d", str(tmp_path), ["http://127.0.0.1:9/"])


def test_the_official_table_is_well_formed():
    for name, spec in download.DATASETS.items():
        for filename, checksum in spec["files"].items():
            algorithm, digest = checksum.split(":")
            assert algorithm == "md5" and len(digest) == 32 and int(digest, 16) >= 0, (name, filename)
    assert len(download.DATASETS["mnist"]["files"]) == 4 and len(download.DATASETS["fashion_mnist"]["files"]) == 4


# ---------------------------------------------------------------- CIFAR-10

def test_cifar10_download_parse_and_cache_reuse(server, tmp_path, monkeypatch):
    images, labels, names, archive = tiny_cifar()
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    server.serve("cifar-10-python.tar.gz", archive)
    d = load_cifar10(root=tmp_path, base_url=server.url, timeout=5)
    assert d["x"].shape == (10, 3, 32, 32) and d["x"].dtype == np.float32
    assert d["x_test"].shape == (3, 3, 32, 32) and d["y"].dtype == np.int64
    train = np.concatenate([images[f"data_batch_{i}"] for i in range(1, 6)])
    np.testing.assert_array_equal(d["x"].reshape(10, 3072), train / np.float32(255))
    # a row holds 1024 red values, then green, then blue, each 32x32 row-major
    assert d["x"][0, 1, 0, 5] == np.float32(train[0, 1024 + 5]) / np.float32(255)
    assert d["y"].tolist() == sum((labels[f"data_batch_{i}"] for i in range(1, 6)), [])
    assert d["y_test"].tolist() == labels["test_batch"] and d["classes"] == names
    raw = load_cifar10(root=tmp_path, base_url=server.url, dtype=np.uint8)
    assert len(server.requests) == 1  # cached
    np.testing.assert_array_equal(raw["x_test"].reshape(3, 3072), images["test_batch"])
    assert files_in(tmp_path) == [os.path.join("cifar10", "cifar-10-python.tar.gz")]  # nothing extracted


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")  # would create a file when unpickled


def test_cifar_pickles_with_other_globals_are_refused(server, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    archive = tar_gz({"cifar-10-batches-py/data_batch_1": pickle.dumps({"data": _Evil(str(marker))})})
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})  # even with a matching checksum
    server.serve("cifar-10-python.tar.gz", archive)
    with pytest.raises(ValueError, match=r"refusing to load the global (builtins|io)\.open"):
        load_cifar10(root=tmp_path / "cache", base_url=server.url, timeout=5)
    assert not marker.exists()


def test_cifar_archive_missing_a_batch(server, tmp_path, monkeypatch):
    archive = tar_gz({"cifar-10-batches-py/test_batch": b""})
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    server.serve("cifar-10-python.tar.gz", archive)
    with pytest.raises(ValueError, match="has no member cifar-10-batches-py/data_batch_1"):
        load_cifar10(root=tmp_path, base_url=server.url, timeout=5)
