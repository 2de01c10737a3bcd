"""The course's small CNN (minicnn/models/small_cnn.py): layout, sizes, options, and agreement with PyTorch."""
import numpy as np
import pytest

from minicnn import nn
from minicnn.models import small_cnn
from minicnn.random import manual_seed


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def n_params(model):
    return sum(p.data.size for p in model.parameters())


def test_layout_and_parameter_count_follow_the_table():
    model = small_cnn()
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert n_params(model) == (25 * 8 + 8) + (25 * 8 * 16 + 16) + (16 * 49 * 10 + 10) == 11274


def test_options_add_batch_norm_and_both_dropouts_where_the_docstring_says():
    model = small_cnn(batch_norm=True, dropout=0.5, spatial_dropout=0.1, channels=(4, 6), image_size=32,
                      in_channels=3, num_classes=7)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout2d",
                     "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout2d", "Flatten", "Dropout", "Linear"]
    assert model[0].bias is None and model[5].bias is None          # BN cancels a bias
    assert model(np.zeros((2, 3, 32, 32), dtype=np.float32)).shape == (2, 7)
    assert model[-1].weight.data.shape == (7, 6 * 8 * 8)


def test_forward_and_backward_match_pytorch(torch):
    manual_seed(0)
    model = small_cnn(batch_norm=True)
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5, padding=2, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 5, padding=2, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(784, 10)).double()
    ref.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in model.state_dict().items()})
    model.double()
    x = np.random.default_rng(1).random((5, 1, 28, 28))
    out = model(x)
    xt = torch.from_numpy(x).requires_grad_(True)
    expected = ref(xt)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    grad = np.random.default_rng(2).standard_normal(out.shape)
    model.zero_grad()
    dx = model.backward(grad)
    expected.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for ours, theirs in ((model[0].weight, ref[0].weight), (model[4].weight, ref[4].weight), (model[-1].weight,
                                                                                                ref[-1].weight)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 30}, "image_size must be divisible by 4"),
    ({"channels": 8}, "channels must be a pair"),
    ({"channels": (8, 0)}, "channels"),
    ({"dropout": 1.0}, "dropout"),
    ({"spatial_dropout": -0.1}, "spatial_dropout"),
    ({"batch_norm": "yes"}, "batch_norm"),
])
def test_bad_settings_are_refused_with_the_rule(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        small_cnn(**kwargs)


def test_it_learns_real_digits_in_a_few_epochs():
    from minicnn import optim
    from minicnn.data import load_digits_mnist5k
    from minicnn.train import evaluate, fit

    digits = load_digits_mnist5k()
    x, y = digits["x"], digits["y"]
    manual_seed(0)
    model = small_cnn()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9), x[:1000], y[:1000],
        epochs=2, batch_size=50, progress=False)
    _, acc = evaluate(model, nn.CrossEntropyLoss(), x[3200:], y[3200:])
    assert acc > 0.8
