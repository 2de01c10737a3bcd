import numpy as np
import pytest

from minicnn import nn, optim
from minicnn.nn import Parameter


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("make, make_torch", [
    (lambda p: optim.SGD(p, lr=0.1), lambda T, p: T.optim.SGD(p, lr=0.1)),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4), lambda T, p: T.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4)),
    (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), lambda T, p: T.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    (lambda p: optim.Adam(p, lr=1e-2), lambda T, p: T.optim.Adam(p, lr=1e-2)),
    (lambda p: optim.Adam(p, lr=1e-3, weight_decay=1e-2), lambda T, p: T.optim.Adam(p, lr=1e-3, weight_decay=1e-2)),
])
def test_optimizers_follow_pytorch_update_rules(torch, make, make_torch):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    ours = Parameter(start.copy())
    theirs = torch.tensor(start.copy(), requires_grad=True)
    opt, topt = make([ours]), make_torch(torch, [theirs])
    for step in range(5):
        grad = rng.standard_normal((3, 4))
        opt.zero_grad()
        ours.accumulate(grad)
        opt.step()
        topt.zero_grad()
        theirs.grad = torch.tensor(grad)
        topt.step()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}")


def test_schedulers():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    sched = optim.StepLR(opt, step_size=2, gamma=0.1)
    lrs = []
    for _ in range(5):
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [0.1, 0.01, 0.01, 0.001, 0.001])

    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    plateau = optim.ReduceLROnPlateau(opt, patience=2)
    for loss in [1.0, 0.9, 0.9, 0.9, 0.9]:
        plateau.step(loss)
    assert opt.lr == pytest.approx(0.01)  # three epochs without improvement > patience 2


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate must be > 0"):
        optim.Adam(nn.Linear(2, 2).parameters(), lr=0)
