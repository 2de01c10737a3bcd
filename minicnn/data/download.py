"""Download MNIST, Fashion-MNIST and CIFAR-10 from their official locations, for learners who are online.

The course itself never needs these (see `load_digits_mnist5k` and `load_mnist1d`, which work offline); they are
here for the exercises that want a full-size dataset. Only the standard library is used (urllib).

Files are kept in a cache folder and downloaded once: ``root`` if given, else the environment variable
``MINICNN_DATA``, else ``~/.cache/minicnn``, with one subfolder per dataset. No corrupted or truncated file
is ever used or kept:

- a download goes to a temporary file in the same folder, is checked against its published checksum and its
  Content-Length, and only then renamed (atomically) to its final name; a failed one is deleted;
- failures are retried a bounded number of times (`retries` rounds over the mirrors, with a growing pause),
  except HTTP 4xx answers such as 404, which no retry would change; then `DownloadError` names the file,
  every URL tried and what went wrong (for a bad file: the expected and the actual checksum);
- a cached file is checked again on every load; if it no longer matches, it is deleted and downloaded anew.

The compressed files are parsed directly (gzip, tarfile): nothing is extracted to disk. The CIFAR-10 archive
holds Python pickles, and unpickling untrusted data can run arbitrary code, so the batches are unpickled only
after the archive's checksum matched the official one, and then by an unpickler that accepts nothing but the
numpy array and dtype constructors those batches contain.

The tables below (`DATASETS`) give each dataset's mirrors and files; tests point the loaders at a local
server with ``base_url`` and replace a dataset's ``"files"`` entry with checksums of their own small files.
"""
import gzip
import hashlib
import http.client
import io
import os
import pickle
import struct
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings

import numpy as np

__all__ = ["DATASETS", "DownloadError", "cache_dir", "fetch_file", "load_cifar10", "load_fashion_mnist",
           "load_mnist", "read_idx"]

ENV_VAR = "MINICNN_DATA"
DEFAULT_CACHE = os.path.join("~", ".cache", "minicnn")
RETRY_DELAY = 1.0  # seconds before the second round over the mirrors; doubled before each further round

# Each file's checksum is the MD5 of the official file as published in torchvision's dataset sources
# (pytorch/vision, torchvision/datasets/mnist.py: MNIST.resources, MNIST.mirrors, FashionMNIST.resources,
# FashionMNIST.mirrors; torchvision/datasets/cifar.py: CIFAR10.url, CIFAR10.tgz_md5). Written "algorithm:hex";
# any hashlib algorithm works (e.g. "sha256:...").
DATASETS = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "files": {
            "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
        },
        "classes": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    },
    "fashion_mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "files": {
            "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"],
    },
    "cifar10": {
        "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
        "files": {
            "cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a",
        },
    },
}


class DownloadError(RuntimeError):
    """A file could not be downloaded intact from any mirror within the allowed retries."""


def cache_dir(root=None):
    """The cache folder: `root` if given, else ``$MINICNN_DATA``, else ``~/.cache/minicnn`` (``~`` expanded).

    >>> cache_dir("/tmp/my-data")
    '/tmp/my-data'
    """
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_CACHE
    return os.path.abspath(os.path.expanduser(os.fspath(root)))


def _parse_checksum(op, filename, checksum):
    algorithm, sep, digest = str(checksum).partition(":")
    if not sep or algorithm.lower() not in hashlib.algorithms_available or not digest:
        raise ValueError(f"{op}: the checksum of {filename} must be written 'algorithm:hexdigest', got {checksum!r}")
    return algorithm.lower(), digest.lower()


def _file_digest(path, algorithm):
    h = hashlib.new(algorithm, usedforsecurity=False)  # md5 identifies a file here; it is no security measure
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Truncated(Exception):
    pass


def _download_once(url, destination, timeout):
    """Stream `url` into the file `destination`; return the number of bytes, refusing a short body."""
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(destination, "wb") as out:
        announced = response.headers.get("Content-Length")
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            received += len(block)
    # http.client returns b"" when the connection closes early instead of raising: compare the sizes ourselves
    if announced is not None and received != int(announced):
        raise _Truncated(f"truncated download: received {received} of the {int(announced)} bytes announced")
    return received


def fetch_file(filename, checksum, folder, base_urls, retries=3, timeout=60.0, verbose=False, op="fetch_file"):
    """Return the path of `filename` in `folder`, downloading it from the first working mirror if needed.

    Parameters
    ----------
    filename : str
        Name of the file, appended to each base URL.
    checksum : str
        ``"algorithm:hexdigest"``, e.g. ``"md5:f68b3c2d..."``; a file that does not match is never kept.
    folder : str
        Where the file is kept (created if missing).
    base_urls : list of str
        Mirrors, tried in order in each round.
    retries : int
        Rounds over the mirrors before giving up (>= 1).
    timeout : float
        Seconds to wait for the server at each step.

    Raises
    ------
    DownloadError
        Naming the file, each URL and attempt, and what went wrong (HTTP status, truncation, or the expected and
        actual checksum).
    """
    algorithm, expected = _parse_checksum(op, filename, checksum)
    if isinstance(base_urls, str):
        base_urls = [base_urls]
    if not base_urls:
        raise ValueError(f"{op}: no base URL to download {filename} from")
    if not isinstance(retries, int) or retries < 1:
        raise ValueError(f"{op}: retries must be an int >= 1, got {retries!r}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, filename)
    if os.path.exists(path):
        actual = _file_digest(path, algorithm)
        if actual == expected:
            return path
        warnings.warn(
            f"{op}: the cached {path} is corrupted ({algorithm} {actual}, expected {expected}); downloading it again",
            stacklevel=3,
        )
        os.remove(path)

    urls = [base.rstrip("/") + "/" + filename for base in base_urls]
    failures, given_up = [], set()
    for attempt in range(1, retries + 1):
        for url in urls:
            if url in given_up:
                continue
            fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
            os.close(fd)
            try:
                if verbose:
                    print(f"{op}: downloading {url}", file=sys.stderr)
                size = _download_once(url, partial, timeout)
                actual = _file_digest(partial, algorithm)
                if actual != expected:
                    failures.append(f"{url} (attempt {attempt}): checksum mismatch: expected {algorithm} {expected}, "
                                    f"got {actual} ({size} bytes)")
                    continue
                os.replace(partial, path)  # atomic: the final name only ever holds a verified file
                return path
            except urllib.error.HTTPError as error:
                error.close()
                failures.append(f"{url} (attempt {attempt}): HTTP error {error.code} {error.reason}")
                if 400 <= error.code < 500:  # not found, forbidden...: asking again gives the same answer
                    given_up.add(url)
            except (OSError, http.client.HTTPException, _Truncated) as error:  # URLError and timeouts are OSErrors
                failures.append(f"{url} (attempt {attempt}): {type(error).__name__}: {error}")
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
        if len(given_up) == len(urls):
            break
        if attempt < retries:
            time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
    raise DownloadError(
        f"{op}: could not download {filename} intact (expected {algorithm} {expected}); nothing was kept in "
        f"{folder}. Attempts:\n  " + "\n  ".join(failures)
    )


def _fetch_dataset(name, op, root, base_url, retries, timeout, verbose):
    spec = DATASETS[name]
    folder = os.path.join(cache_dir(root), name)
    mirrors = spec["mirrors"] if base_url is None else base_url
    return {filename: fetch_file(filename, checksum, folder, mirrors, retries, timeout, verbose, op)
            for filename, checksum in spec["files"].items()}


_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(data):
    """Parse the IDX format of MNIST (uncompressed bytes) into an array.

    Layout: two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian uint32, then the
    values, big-endian, row-major.

    >>> read_idx(bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
    array([[1, 2, 3],
           [4, 5, 6]], dtype=uint8)
    """
    data = bytes(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: not an IDX file: it must start with 0, 0, a type code in "
                         f"{sorted(_IDX_DTYPES)}, got the bytes {list(data[:4])}")
    ndim, header = data[3], 4 + 4 * data[3]
    if len(data) < header:
        raise ValueError(f"read_idx: IDX header of {ndim} dimensions needs {header} bytes, the data has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"read_idx: shape {shape} of {dtype} needs {expected} bytes of values, "
                         f"the data has {len(data) - header}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _check_dtype(op, dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)):
        raise TypeError(f"{op}: dtype must be float32 or float64 (scaled to [0, 1]) or uint8 (raw 0..255), "
                        f"got {dtype}")
    return dtype


def _scale(images, dtype):
    """uint8 images as they are for dtype uint8, else scaled to [0, 1]."""
    if dtype == np.uint8:
        return np.ascontiguousarray(images, dtype=np.uint8)
    out = images.astype(dtype)
    out /= dtype.type(255)
    return out


def _read_gzip(op, path):
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{op}: {path} matched its checksum but is not a valid gzip file: {error}") from None


def _load_idx_dataset(name, op, root, base_url, dtype, retries, timeout, verbose):
    dtype = _check_dtype(op, dtype)
    paths = _fetch_dataset(name, op, root, base_url, retries, timeout, verbose)
    out = {}
    for split, prefix in (("", "train"), ("_test", "t10k")):
        images_path, labels_path = paths[f"{prefix}-images-idx3-ubyte.gz"], paths[f"{prefix}-labels-idx1-ubyte.gz"]
        images, labels = read_idx(_read_gzip(op, images_path)), read_idx(_read_gzip(op, labels_path))
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{op}: expected (N, H, W) uint8 images and N labels, got images {images.shape} "
                             f"{images.dtype} in {images_path} and labels {labels.shape} in {labels_path}")
        if len(labels) and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"{op}: labels in {labels_path} must be 0..9, got {labels.min()}..{labels.max()}")
        out["x" + split] = _scale(images[:, None], dtype)
        out["y" + split] = labels.astype(np.int64)
    out["classes"] = list(DATASETS[name]["classes"])
    return out


def load_mnist(root=None, base_url=None, dtype=np.float32, retries=3, timeout=60.0, verbose=False):
    """Download (once) and load MNIST (LeCun et al., 1998): 60,000 training and 10,000 test handwritten digits,
    28x28 grayscale, white ink (1.0) on black (0.0).

    Parameters
    ----------
    root : str or path, optional
        Cache folder; default ``$MINICNN_DATA`` or ``~/.cache/minicnn``. The files go to ``root/mnist/``.
    base_url : str or list of str, optional
        Mirror(s) to download from instead of ``DATASETS["mnist"]["mirrors"]``.
    dtype : numpy dtype
        float32 or float64 (pixels scaled to [0, 1]) or uint8 (raw 0..255, a quarter of the memory).
    retries : int
        Rounds over the mirrors before giving up.
    timeout : float
        Seconds to wait for the server at each step.
    verbose : bool
        Print each download to stderr.

    Returns
    -------
    dict
        ``x`` (60000, 1, 28, 28), ``y`` (60000,) int64, ``x_test`` (10000, 1, 28, 28), ``y_test`` (10000,) int64,
        ``classes`` (the 10 class names).

    Raises
    ------
    DownloadError
        If a file cannot be downloaded intact (see `fetch_file`).
    """
    return _load_idx_dataset("mnist", "load_mnist", root, base_url, dtype, retries, timeout, verbose)


def load_fashion_mnist(root=None, base_url=None, dtype=np.float32, retries=3, timeout=60.0, verbose=False):
    """Download (once) and load Fashion-MNIST (Xiao et al., 2017): 60,000 training and 10,000 test 28x28
    grayscale photos of clothing in 10 classes, a harder drop-in replacement for MNIST.

    Arguments and result as in `load_mnist` (files in ``root/fashion_mnist/``); ``classes`` are
    ``['T-shirt/top', 'Trouser', ...]``.
    """
    return _load_idx_dataset("fashion_mnist", "load_fashion_mnist", root, base_url, dtype, retries, timeout,
                             verbose)


def _array_reconstructor():
    """numpy's own unpickling helper for arrays (numpy.core.multiarray._reconstruct in numpy 1, ._core in 2)."""
    return np.zeros(1).__reduce__()[0]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numbers, plus numpy arrays; refuses every other global."""

    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),  # how the CIFAR batches (numpy 1, Python 2) name it
        ("numpy._core.multiarray", "_reconstruct"),  # numpy 2's name
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}: a CIFAR batch holds only "
                                         "numpy arrays, lists, strings and numbers")
        if name == "_reconstruct":
            return _array_reconstructor()
        return getattr(np, name)


def _unpickle_batch(op, tar, member_name, archive):
    try:
        member = tar.getmember(member_name)
    except KeyError:
        raise ValueError(f"{op}: {archive} has no member {member_name}") from None
    if not member.isfile():
        raise ValueError(f"{op}: {member_name} in {archive} is not a regular file")
    data = tar.extractfile(member).read()
    try:
        # latin1: the batches were pickled by Python 2; its byte strings must reach numpy unchanged
        batch = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as error:
        raise ValueError(f"{op}: could not unpickle {member_name} in {archive}: {error}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{op}: {member_name} in {archive} should hold a dict, got {type(batch).__name__}")
    return batch


def _cifar_images(op, batch, member_name):
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        got = f"{data.shape} {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{op}: 'data' in {member_name} must be a uint8 array of shape (N, 3072), got {got}")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"{op}: 'labels' in {member_name} must be {len(data)} labels in 0..9, got shape "
                         f"{labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels  # each row: 1024 red, 1024 green, 1024 blue values, row-major


def load_cifar10(root=None, base_url=None, dtype=np.float32, retries=3, timeout=60.0, verbose=False):
    """Download (once) and load CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test colour photos,
    32x32, in 10 classes.

    The official archive (``cifar-10-python.tar.gz``, 163 MiB) holds Python pickles: they are read only after
    the archive matched its checksum, with an unpickler that accepts numpy arrays and nothing else.

    Parameters
    ----------
    root : str or path, optional
        Cache folder; default ``$MINICNN_DATA`` or ``~/.cache/minicnn``. The archive goes to ``root/cifar10/``.
    base_url : str or list of str, optional
        Mirror(s) to download from instead of ``DATASETS["cifar10"]["mirrors"]``.
    dtype : numpy dtype
        float32 or float64 (scaled to [0, 1]; 600 MiB of float32 for the training images) or uint8 (0..255).
    retries, timeout, verbose
        As in `load_mnist`.

    Returns
    -------
    dict
        ``x`` (50000, 3, 32, 32) NCHW RGB, ``y`` (50000,) int64, ``x_test`` (10000, 3, 32, 32),
        ``y_test`` (10000,) int64, ``classes`` (``['airplane', 'automobile', ...]``).
    """
    op = "load_cifar10"
    dtype = _check_dtype(op, dtype)
    paths = _fetch_dataset("cifar10", op, root, base_url, retries, timeout, verbose)
    archive = paths["cifar-10-python.tar.gz"]
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{op}: {archive} matched its checksum but is not a tar.gz archive: {error}") from None
    with tar:
        parts = {}
        for split, names in (("", [f"data_batch_{i}" for i in range(1, 6)]), ("_test", ["test_batch"])):
            images, labels = zip(*(_cifar_images(op, _unpickle_batch(op, tar, f"cifar-10-batches-py/{n}", archive), n)
                                   for n in names))
            parts["x" + split] = _scale(np.concatenate(images), dtype)
            parts["y" + split] = np.concatenate(labels)
        meta = _unpickle_batch(op, tar, "cifar-10-batches-py/batches.meta", archive)
    parts["classes"] = [str(name) for name in meta.get("label_names", [])]
    return parts
