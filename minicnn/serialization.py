r"""Reading published weights without PyTorch or TensorFlow: PyTorch ``.pt``/``.pth`` state dicts and HDF5 files.

A PyTorch file is a **pickle**, and unpickling runs whatever functions the pickle names: ``torch.load`` of a
stranger's file can run ``os.system``. `read_torch_file` therefore unpickles with a restricted unpickler that
knows exactly the handful of names a state dict of tensors needs, maps them to small numpy stand-ins, and
refuses everything else with a `WeightsError` that names the refused global. Nothing else is ever imported or
called, and torch is never imported.

The two layouts ``torch.save`` has written:

- **legacy** (PyTorch < 1.6, or ``_use_new_zipfile_serialization=False``): five pickles in a row (a magic
  number, the protocol version 1001, a dict of system information, the object itself, the list of storage keys)
  followed by each storage's bytes, in the order of that list, each preceded by its element count as a 64-bit
  integer;
- **zip** (the default since 1.6): an archive with one folder holding ``data.pkl`` (the object), ``data/<key>``
  (each storage's raw bytes) and ``byteorder``.

In both, a tensor is pickled as a call ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
whose storage is a *persistent id* (a tuple naming the storage's type, key and element count) that the loader
resolves; here each tensor becomes ``as_strided(storage, size, stride)`` copied into a fresh C-contiguous array,
after checking that every element it reads lies inside the storage.

The checksum, when given, is checked on the bytes read, before anything is unpickled; the same bytes are
then parsed, so the file cannot change between the check and the read.

>>> import numpy as np
>>> sha256_of(__file__) == hashlib.sha256(open(__file__, "rb").read()).hexdigest()
True
"""
import collections
import hashlib
import io
import os
import pathlib
import pickle
import struct
import zipfile

import numpy as np

__all__ = ["read_torch_file", "read_hdf5_weights", "sha256_of", "WeightsError"]


class WeightsError(ValueError):
    """A weights file that is not read: wrong checksum, truncated or corrupted, or holding something other than
    names mapped to arrays of numbers (e.g. a pickle that asks for a function outside the allowed few)."""


_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # the first pickle of a legacy torch file
_PROTOCOL_VERSION = 1001

# torch's storage types (the names a pickle gives them) and the numpy dtype of their elements
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # numpy has no bfloat16: the raw 16 bits, widened to float32 after the read
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64, "ComplexDoubleStorage": np.complex128,
}
_ALLOWED = ("collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor, "
            "torch._utils._rebuild_parameter and torch.<type>Storage")


def sha256_of(path):
    """SHA-256 of the file at `path` as 64 hex digits, read in 1 MiB blocks.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "empty")
    ...     _ = path.write_bytes(b"")
    ...     sha256_of(path)
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha256(op, sha256):
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256):
        raise ValueError(f"{op}: sha256 must be a SHA-256 digest written as 64 hex digits (or None), "
                         f"got {sha256!r}")
    return sha256.lower()


def _verified_bytes(op, path, sha256, hint=""):
    """The bytes of the file at `path`, after checking their SHA-256 if one is given."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{op}: path must be a file path (str or pathlib.Path), got {type(path).__name__}")
    expected = _check_sha256(op, sha256)
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{op}: no file at {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{op}: {path} is a folder, not a weights file")
    data = path.read_bytes()
    if expected is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise WeightsError(f"{op}: {path} does not have the expected content: its SHA-256 is {actual}, "
                               f"expected {expected}; the file was not unpickled or read{hint}")
    return data


# ------------------------------------------------------------------------------ what the pickles may name
class _Sealed:
    """Base of the stand-ins below: a pickle's BUILD opcode may not set their attributes (e.g. swap a checked
    stride for an unchecked one after `_rebuild_tensor` validated it)."""

    __slots__ = ()

    def __setstate__(self, state):
        raise WeightsError(f"a {type(self).__name__.lstrip('_')} takes no state from the pickle, got {state!r}")


class _StorageType(_Sealed):
    """Stands for ``torch.FloatStorage`` and its siblings: only their element dtype matters here."""

    __slots__ = ("name", "dtype")

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])

    def __repr__(self):
        return f"torch.{self.name}"


class _Storage(_Sealed):
    """A flat run of `numel` elements of one dtype; `array` is filled when its bytes are read."""

    __slots__ = ("key", "type", "numel", "array")

    def __init__(self, key, storage_type, numel):
        self.key, self.type, self.numel, self.array = key, storage_type, numel, None


class _StorageView(_Sealed):
    """A slice of a legacy storage (``view_metadata``): elements offset .. offset + numel of `root`."""

    __slots__ = ("root", "offset", "numel", "type")

    def __init__(self, root, offset, numel):
        self.root, self.offset, self.numel, self.type = root, offset, numel, root.type

    @property
    def array(self):
        return None if self.root.array is None else self.root.array[self.offset:self.offset + self.numel]


class _Tensor(_Sealed):
    """A tensor as the pickle describes it; `_materialize` turns it into an array once the storages are read."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _ints(value, what):
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise WeightsError(f"a tensor's {what} must be a tuple of ints, got {value!r}")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, *ignored):
    # *ignored: requires_grad, backward_hooks and (torch >= 1.13) metadata, none of which an array keeps
    if not isinstance(storage, (_Storage, _StorageView)):
        raise WeightsError(f"a tensor must be built on a storage, got {type(storage).__name__}")
    if type(storage_offset) is not int:
        raise WeightsError(f"a tensor's storage offset must be an int, got {storage_offset!r}")
    return _Tensor(storage, storage_offset, _ints(size, "size"), _ints(stride, "stride"))


def _rebuild_parameter(data, requires_grad, backward_hooks, *ignored):
    # an nn.Parameter is its tensor plus requires_grad, which an array does not need
    if not isinstance(data, _Tensor):
        raise WeightsError(f"a parameter must wrap a tensor, got {type(data).__name__}")
    return data


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,  # PyTorch < 1.0: (storage, offset, size, stride)
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numbers, strings, tuples, lists and dicts, plus the few globals of a state dict of tensors.

    `find_class` is the only door through which a pickle reaches code (a ``GLOBAL`` or ``STACK_GLOBAL``
    opcode names ``module.name`` and gets it back to call); it hands out the numpy stand-ins of `_GLOBALS`
    and refuses everything else. `storages` (None: no persistent ids allowed) collects the storages named by
    persistent ids, shared by key; `parse_id` turns one persistent id into (key, storage type, numel, view).
    """

    def __init__(self, file, path, storages=None, parse_id=None):
        super().__init__(file, encoding="utf-8")
        self._path, self._storages, self._parse_id = path, storages, parse_id

    def find_class(self, module, name):
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name.endswith("Storage"):
            raise WeightsError(f"read_torch_file: {self._path} holds a tensor of type torch.{name}, which minicnn "
                               f"cannot read; readable: {', '.join(sorted(_STORAGE_DTYPES))}")
        raise WeightsError(
            f"read_torch_file: refusing to unpickle {self._path}: its pickle asks for the global {module}.{name}, "
            f"which a state dict of tensors does not need (allowed: {_ALLOWED}); unpickling can run any function "
            f"it names, so the file is not loaded")

    def persistent_load(self, pid):
        if self._storages is None:
            raise WeightsError(f"read_torch_file: {self._path}: a persistent id {pid!r} where none may appear")
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            detail = (" (a whole pickled model with its source code, not a state dict)"
                      if kind in ("module", b"module") else "")
            raise WeightsError(f"read_torch_file: {self._path} refers to a {kind!r} record{detail}; only storages "
                               f"of tensors are read")
        key, storage_type, numel, view = self._parse_id(pid[1:])
        if not isinstance(storage_type, _StorageType) or type(numel) is not int or numel < 0:
            raise WeightsError(f"read_torch_file: {self._path}: malformed storage record {pid!r}")
        storage = self._storages.setdefault(key, _Storage(key, storage_type, numel))
        if storage.type.dtype != storage_type.dtype or storage.numel != numel:
            raise WeightsError(f"read_torch_file: {self._path}: storage {key!r} is described twice, differently")
        if view is None:
            return storage
        view_key, offset, view_numel = view
        if type(offset) is not int or type(view_numel) is not int or not 0 <= offset <= offset + view_numel <= numel:
            raise WeightsError(f"read_torch_file: {self._path}: the view {view_key!r} (elements {offset!r} + "
                               f"{view_numel!r}) does not lie inside storage {key!r} of {numel} elements")
        return _StorageView(storage, offset, view_numel)


# -------------------------------------------------------------------------------------------- the two layouts
def _legacy_id(fields):
    # legacy: (storage_type, root_key, location, numel, view_metadata); the location (e.g. 'cuda:0') is ignored
    if len(fields) != 5:
        raise WeightsError(f"a legacy storage record has 5 fields, got {fields!r}")
    storage_type, key, _location, numel, view = fields
    if view is not None and (not isinstance(view, tuple) or len(view) != 3):
        raise WeightsError(f"a storage view must be (key, offset, numel), got {view!r}")
    return key, storage_type, numel, view


def _zip_id(fields):
    # zip: (storage_type, key, location, numel)
    if len(fields) != 4:
        raise WeightsError(f"a storage record has 4 fields, got {fields!r}")
    storage_type, key, _location, numel = fields
    if not isinstance(key, str):
        raise WeightsError(f"a storage key must be a str, got {key!r}")
    return key, storage_type, numel, None


def _fill(storage, raw, byteorder):
    """Give `storage` its elements from `raw` (exactly numel * itemsize bytes), in native byte order."""
    dtype = storage.type.dtype.newbyteorder(byteorder)
    storage.array = np.frombuffer(raw, dtype=dtype, count=storage.numel).astype(storage.type.dtype)


def _read_legacy(data, path):
    f = io.BytesIO(data)
    for expected in (_MAGIC_NUMBER, _PROTOCOL_VERSION):
        if _RestrictedUnpickler(f, path).load() != expected:  # even these small pickles may not name a global
            raise WeightsError(f"read_torch_file: {path} is not a PyTorch file: it does not start with "
                               f"torch.save's magic number and protocol version {_PROTOCOL_VERSION}")
    sys_info = _RestrictedUnpickler(f, path).load()
    if not isinstance(sys_info, dict):
        raise WeightsError(f"read_torch_file: {path}: the system information after the protocol version should "
                           f"be a dict, got {type(sys_info).__name__}")
    byteorder = "<" if sys_info.get("little_endian", True) else ">"
    storages = {}
    result = _RestrictedUnpickler(f, path, storages, _legacy_id).load()
    keys = _RestrictedUnpickler(f, path).load()
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(map(str, storages)):
        raise WeightsError(f"read_torch_file: {path}: the list of storages after the pickle does not match the "
                           f"storages the tensors use")
    for key in keys:
        storage = storages[key]
        count = f.read(8)
        raw = f.read(storage.numel * storage.type.dtype.itemsize)
        if len(count) < 8 or len(raw) < storage.numel * storage.type.dtype.itemsize:
            raise WeightsError(f"read_torch_file: {path} is truncated: it ends inside the data of storage {key!r}")
        numel = struct.unpack(byteorder + "q", count)[0]
        if numel != storage.numel:
            raise WeightsError(f"read_torch_file: {path}: storage {key!r} should hold {storage.numel} elements, its "
                               f"data says {numel}")
        _fill(storage, raw, byteorder)
    return result


def _read_zip(data, path):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickles = [name for name in archive.namelist() if name.count("/") == 1 and name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise WeightsError(f"read_torch_file: {path} is a zip archive but not a torch.save file: it should hold "
                               f"one <folder>/data.pkl, found {len(pickles) or 'none'}")
        folder = pickles[0][:-len("data.pkl")]
        names = set(archive.namelist())
        byteorder = "<"
        if folder + "byteorder" in names:
            mark = archive.read(folder + "byteorder")
            if mark not in (b"little", b"big"):
                raise WeightsError(f"read_torch_file: {path}: unknown byte order {mark!r}")
            byteorder = "<" if mark == b"little" else ">"
        storages = {}
        result = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path, storages, _zip_id).load()
        for key, storage in storages.items():
            name = f"{folder}data/{key}"
            if name not in names:
                raise WeightsError(f"read_torch_file: {path} has no member {name} (the data of storage {key!r})")
            raw = archive.read(name)  # zipfile checks the member's CRC-32 as it reads
            expected = storage.numel * storage.type.dtype.itemsize
            if len(raw) != expected:
                raise WeightsError(f"read_torch_file: {path}: storage {key!r} should hold {expected} bytes, its "
                                   f"member {name} holds {len(raw)}")
            _fill(storage, raw, byteorder)
    return result


def _materialize(key, tensor):
    """The array a `_Tensor` stands for, checked to read only elements inside its storage."""
    flat, size, stride, offset = tensor.storage.array, tensor.size, tensor.stride, tensor.offset
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride) or offset < 0:
        raise WeightsError(f"tensor {key!r} has an invalid layout: size {size}, stride {stride}, offset {offset}")
    if 0 in size:
        array = np.zeros(size, dtype=flat.dtype)
    else:
        # the last element read; as_strided does not check bounds, so a bad stride would read foreign memory
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= len(flat):
            raise WeightsError(f"tensor {key!r} (size {size}, stride {stride}, offset {offset}) reads element "
                               f"{last} of a storage of {len(flat)} elements")
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=[s * itemsize for s in stride],
                                               writeable=False)
        array = np.array(view, order="C")
    if tensor.storage.type.name == "BFloat16Storage":
        array = (array.astype(np.uint32) << 16).view(np.float32)  # bfloat16 is float32's top 16 bits: exact
    return array


def read_torch_file(path, sha256=None):
    """Read a state dict saved with ``torch.save`` (legacy or zip layout) as numpy arrays, without torch.

    Only a mapping of names to tensors is accepted (``model.state_dict()``, an OrderedDict or a dict); the
    pickle is read by a restricted unpickler (see the module docstring), so a file that asks for any other
    function or class, e.g. a whole pickled model or a malicious ``os.system`` call, is refused before
    anything runs.

    Parameters
    ----------
    path : str or pathlib.Path
    sha256 : str, optional
        Expected SHA-256 of the file (64 hex digits), checked before anything is unpickled.

    Returns
    -------
    collections.OrderedDict of str -> numpy.ndarray
        In the file's order. Every array is C-contiguous and writeable, and shares memory with no other (tensors
        that shared a storage in the file no longer do), with the tensor's dtype: float32, float64, float16,
        int64, int32, int16, int8, uint8, bool, complex64 or complex128; bfloat16 becomes float32 (exactly).
        A 0-d tensor (e.g. batch norm's ``num_batches_tracked``) becomes a 0-d array. Where the tensors lived
        (``'cuda:0'``) is ignored.

    Raises
    ------
    WeightsError (a ValueError)
        Wrong checksum; truncated or corrupted file; not a torch.save file; a refused global (named in the
        message); anything but names mapped to tensors; a tensor reaching outside its storage.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "evil.pt")
    ...     _ = path.write_bytes(pickle.dumps(eval, protocol=4))   # a pickle naming builtins.eval
    ...     read_torch_file(path)
    Traceback (most recent call last):
    minicnn.serialization.WeightsError: read_torch_file: refusing to unpickle ...: its pickle asks for the global
    builtins.eval, ...
    """
    return _parse_torch(_verified_bytes("read_torch_file", path, sha256), pathlib.Path(path))


def _parse_torch(data, path):
    """The state dict in `data`, the bytes of the torch file at `path` (named in errors)."""
    try:
        if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            result = _read_zip(data, path)
        elif data.startswith(b"\x80"):  # a binary pickle: the legacy layout's magic number
            result = _read_legacy(data, path)
        else:
            raise WeightsError(f"read_torch_file: {path} is not a PyTorch file (neither a zip archive nor a "
                               f"pickle)" + (": the file is empty" if not data else ""))
        return _state_dict(result, path)
    except WeightsError as err:
        if str(err).startswith("read_torch_file: "):
            raise
        # raised by a stand-in, which does not know the file
        raise WeightsError(f"read_torch_file: {path}: {err}") from None
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, struct.error, ValueError, TypeError, KeyError,
            IndexError, AttributeError, OverflowError, MemoryError, UnicodeDecodeError, RecursionError) as err:
        # a damaged pickle can fail in many ways; none of them may pass for a readable file
        raise WeightsError(f"read_torch_file: {path} is truncated or corrupted ({type(err).__name__}: {err})") \
            from None


def _state_dict(result, path):
    """The unpickled `result` as an OrderedDict of arrays, if it is a mapping of names to tensors."""
    if not isinstance(result, dict):
        what = "a single tensor" if isinstance(result, _Tensor) else f"a {type(result).__name__}"
        raise WeightsError(f"read_torch_file: {path} holds {what}, not a state dict (a mapping of names to "
                           f"tensors, as model.state_dict() returns)")
    state = collections.OrderedDict()
    for key, value in result.items():
        if not isinstance(key, str) or not isinstance(value, _Tensor):
            raise WeightsError(f"read_torch_file: {path} is not a state dict of tensors: the entry {key!r} holds "
                               f"a {type(value).__name__}" + (", not a tensor" if isinstance(key, str) else ""))
        if value.storage.array is None:
            raise WeightsError(f"read_torch_file: {path}: the data of tensor {key!r} is missing")
        state[key] = _materialize(key, value)
    return state


# ------------------------------------------------------------------------------------------------------ HDF5
def _import_h5py(op):
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{op}: reading HDF5 weight files needs the package h5py, which is not installed; "
                          f"install it with: python -m pip install h5py") from None
    return h5py


def read_hdf5_weights(path, sha256=None):
    """Every dataset of an HDF5 weights file (Keras' ``.weights.h5``), keyed by its path inside the file.

    Reads with h5py (imported only here); no code in the file is run (HDF5 holds no code). Groups and
    attributes are not returned; every dataset must hold numbers.

    Parameters
    ----------
    path : str or pathlib.Path
    sha256 : str, optional
        Expected SHA-256 of the file (64 hex digits), checked before the file is parsed.

    Returns
    -------
    collections.OrderedDict of str -> numpy.ndarray
        Sorted by path, e.g. ``'block1/layers/conv2d/vars/0'``: Keras' layout, so a Conv2D kernel is
        (kH, kW, C_in, C_out) ("HWIO"): ``w.transpose(3, 2, 0, 1)`` gives PyTorch's (C_out, C_in, kH, kW).

    Raises
    ------
    ImportError
        h5py is not installed (the message gives the pip command).
    WeightsError (a ValueError)
        Wrong checksum, not an HDF5 file, or a dataset that does not hold numbers.

    Examples
    --------
    >>> import tempfile, h5py
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "w.h5")
    ...     with h5py.File(path, "w") as f:
    ...         _ = f.create_dataset("dense/vars/0", data=np.ones((3, 2), np.float32))
    ...     {key: value.shape for key, value in read_hdf5_weights(path).items()}
    {'dense/vars/0': (3, 2)}
    """
    h5py = _import_h5py("read_hdf5_weights")
    return _parse_hdf5(_verified_bytes("read_hdf5_weights", path, sha256), pathlib.Path(path), h5py)


def _parse_hdf5(data, path, h5py):
    """The datasets in `data`, the bytes of the HDF5 file at `path` (named in errors)."""
    op = "read_hdf5_weights"
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        # the signature may also sit at 512, 1024, ... bytes (a user block); Keras never writes one
        raise WeightsError(f"{op}: {path} is not an HDF5 file (it does not start with the HDF5 signature)")
    arrays = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    value = obj[()]
                    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                        raise WeightsError(f"{op}: {path}: the dataset {name!r} does not hold numbers "
                                           f"(dtype {obj.dtype})")
                    arrays[name] = value
            f.visititems(visit)  # hard links only: an external link to another file is not followed
    except WeightsError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise WeightsError(f"{op}: {path} is truncated or corrupted ({type(err).__name__}: {err})") from None
    return collections.OrderedDict(sorted(arrays.items()))
