import numpy as np
import pytest

from minicnn import nn, optim
from minicnn import random as mrandom
from minicnn.train import evaluate, fit, load_checkpoint, save_checkpoint


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
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(Exception):
        load_checkpoint(path)


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
