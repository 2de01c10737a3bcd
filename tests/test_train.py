import zipfile

import numpy as np
import pytest

from minicnn import nn, optim
from minicnn import random as mrandom
from minicnn.train import CheckpointError, accuracy, evaluate, fit, load_checkpoint, save_checkpoint


def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, 2)) + 3 * y[:, None]).astype(np.float32)
    return x, y


def small_net():
    mrandom.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))


def test_fit_learns_and_is_repeatable():
    x, y = blobs()
    runs = []
    for _ in range(2):
        model = small_net()
        history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9), x, y,
                      epochs=5, batch_size=32, validation=blobs(100, 1), progress=False, seed=3)
        runs.append(history)
    assert runs[0] == runs[1]
    assert runs[0]["loss"][-1] < runs[0]["loss"][0]
    assert runs[0]["val_acc"][-1] > 0.9
    assert set(runs[0]) == {"loss", "acc", "lr", "val_loss", "val_acc"} and len(runs[0]["loss"]) == 5


def test_fit_with_mse_and_one_hot_targets_and_step_lr():
    x, y = blobs()
    model = small_net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.MSELoss(), opt, x, np.eye(2, dtype=np.float32)[y], epochs=4, batch_size=50,
                  scheduler=optim.StepLR(opt, 2), progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.01])  # the rate each epoch trained with
    assert history["acc"][-1] > 0.8


def test_nan_loss_stops_training_naming_step_and_lr():
    x, y = blobs()
    x[37] = np.nan
    model = small_net()
    with pytest.raises(FloatingPointError, match=r"loss became nan at step \d+ \(epoch 1\) with learning rate 0.1"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1, batch_size=10,
            progress=False)


def test_evaluate_restores_training_mode():
    x, y = blobs()
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    loss, acc = evaluate(model, nn.CrossEntropyLoss(), x, y)
    assert model.training and 0 <= acc <= 1 and loss > 0


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    path = save_checkpoint(tmp_path / "model.npz", model)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary file left behind
    mrandom.manual_seed(99)
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    load_checkpoint(path, other)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)

    wrong = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 4))
    with pytest.raises(ValueError, match=r"3.weight: expected \(4, 8\), got \(3, 8\)"):
        load_checkpoint(path, wrong)
    missing = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    with pytest.raises(KeyError, match=r"missing keys \['2.weight', '2.bias'\], unexpected keys \['1.weight'"):
        load_checkpoint(path, missing)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", nn.Linear(3, 2))
    raw = path.read_bytes()
    for size in range(0, len(raw), 7):
        path.write_bytes(raw[:size])
        with pytest.raises(CheckpointError, match=r"load_checkpoint: .*m.npz is not a readable checkpoint"):
            load_checkpoint(path)


def member_data_offset(path, index=0):
    """Where the bytes of the index-th member of a zip archive start (after its local header)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[index]
    raw = path.read_bytes()
    name_length = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    return info.header_offset + 30 + name_length + extra_length, info.compress_size


def test_a_flipped_byte_in_the_data_is_caught_by_the_crc(tmp_path):
    model = nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "m.npz", model)
    start, size = member_data_offset(path)
    raw = bytearray(path.read_bytes())
    raw[start + size - 1] ^= 0x01  # the last byte of the weight: one bit of one float
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError,
                       match=r"m.npz is not a readable checkpoint: the array 'weight' is corrupted \(CRC-32 mismatch\)"):
        load_checkpoint(path, nn.Linear(3, 2))


def test_every_single_byte_flip_is_refused_or_harmless(tmp_path):
    # bytes outside the CRC (time stamps, attributes) may change without harm; nothing else may load
    model = nn.Linear(3, 2)
    expected = model.state_dict()
    raw = save_checkpoint(tmp_path / "m.npz", model).read_bytes()
    path = tmp_path / "flipped.npz"
    refused = 0
    for position in range(len(raw)):
        for flip in (0x01, 0xFF):
            damaged = bytearray(raw)
            damaged[position] ^= flip
            path.write_bytes(bytes(damaged))
            try:
                state = load_checkpoint(path)
            except CheckpointError:
                refused += 1
                continue
            assert list(state) == list(expected), position
            for key, value in expected.items():
                assert state[key].dtype == value.dtype and np.array_equal(state[key], value), (position, key)
    assert refused > len(raw)


def test_files_that_are_not_checkpoints(tmp_path):
    random_bytes = tmp_path / "random.npz"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(CheckpointError, match="not an .npz \\(zip\\) archive") as info:
        load_checkpoint(random_bytes)
    assert "allow_pickle" not in str(info.value) and info.value.__cause__ is None
    assert isinstance(info.value, ValueError)

    np.save(tmp_path / "weights.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(CheckpointError, match="weights.npy .*single-array .npy file"):
        load_checkpoint(tmp_path / "weights.npy")

    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="the file is empty"):
        load_checkpoint(tmp_path / "empty.npz")

    with pytest.raises(FileNotFoundError, match="load_checkpoint: no file at .*missing.npz"):
        load_checkpoint(tmp_path / "missing.npz")


def test_refused_state_is_not_written(tmp_path):
    state = {"w": np.zeros(2, np.float32), "b": np.array([object()])}
    with pytest.raises(TypeError, match="save_checkpoint: b must hold real numbers .*got dtype object"):
        save_checkpoint(tmp_path / "m.npz", state)
    assert list(tmp_path.iterdir()) == []


def test_a_state_dict_mapping_round_trips(tmp_path):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "count": np.array(3, np.int64),
             "mask": np.array([True, False]), "file": np.ones(1), "allow_pickle": np.zeros(1)}  # np.savez's options
    loaded = load_checkpoint(save_checkpoint(str(tmp_path / "state.npz"), state))
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value)
    empty = load_checkpoint(save_checkpoint(tmp_path / "relu.npz", nn.ReLU()))  # no parameters: an empty archive
    assert empty == {}


def test_fit_asks_the_first_layer_to_skip_the_input_gradient():
    calls = []

    class Spy(nn.Sequential):
        def backward(self, grad_out, input_grad=True):
            calls.append(input_grad)
            return super().backward(grad_out, input_grad=input_grad)

    x, y = blobs(40)
    mrandom.manual_seed(0)
    model = Spy(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, batch_size=20, progress=False)
    assert calls == [False, False]


def test_plateau_scheduler_follows_the_validation_loss():
    seen = []

    class Spy(optim.ReduceLROnPlateau):
        def step(self, metric):
            seen.append(metric)
            super().step(metric)

    x, y = blobs()
    model = small_net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.CrossEntropyLoss(), opt, x[:150], y[:150], epochs=3, batch_size=50,
                  validation=[x[150:], y[150:]], scheduler=Spy(opt), progress=False)
    assert seen == history["val_loss"] and seen != history["loss"]


def test_zero_epochs_train_nothing():
    x, y = blobs(20)
    model = small_net()
    before = model.state_dict()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=0,
                  validation=(x, y), progress=False)
    assert history == {"loss": [], "acc": [], "lr": [], "val_loss": [], "val_acc": []}
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_evaluate_and_accuracy_on_a_single_sample():
    x, y = blobs(1)
    loss, acc = evaluate(small_net(), nn.CrossEntropyLoss(), x, y, batch_size=1)
    assert loss > 0 and acc in (0.0, 1.0)
    assert accuracy(np.array([[0.2, 0.8]]), np.array([[0.0, 1.0]])) == 1.0  # one-hot targets


def test_state_dict_moves_into_pytorch_and_back():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(64, 2))
    ours(np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32))  # move running stats
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    mrandom.manual_seed(5)
    back = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    back.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(1).standard_normal((3, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def _final_line(text):
    """What a terminal or JupyterLab shows of a stream with carriage returns: each line's last rewrite."""
    lines = [next((part for part in reversed(line.split("\r")) if part), "") for line in text.split("\n")]
    return [line for line in lines if line.strip()][-1]


def test_progress_bar_is_text_with_the_run_name_and_ends_at_100_percent(capsys):
    x, y = blobs(60)
    model = small_net()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=20,
        validation=blobs(30, 1), name="momentum run")
    err = capsys.readouterr().err            # a terminal: stderr
    final = _final_line(err)
    assert final.startswith("momentum run: 100%") and "6/6" in final and "val_acc=" in final, final


def test_progress_bar_goes_to_stdout_in_a_notebook_kernel(capsys, monkeypatch):
    import minicnn.train

    monkeypatch.setattr(minicnn.train, "_in_notebook", lambda: True)
    x, y = blobs(40)
    model = small_net()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1, batch_size=20)
    out, err = capsys.readouterr()
    assert _final_line(out).startswith("training: 100%") and err == ""
    assert len(_final_line(out)) <= 100          # fits a notebook's width


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": 3}, TypeError, "fit: name must be a str"),
    ({"progress": "yes"}, TypeError, "fit: progress must be"),
])
def test_progress_settings_are_checked(kwargs, error, message):
    x, y = blobs(20)
    model = small_net()
    with pytest.raises(error, match=message):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, **kwargs)
