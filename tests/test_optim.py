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
    # the full list of refused settings is tests/bad_input/test_bad_input_training.py
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        optim.Adam(nn.Linear(2, 2).parameters(), lr=0)


def test_settings_at_the_edge_of_their_range_are_accepted():
    params = list(nn.Linear(2, 2).parameters())
    sgd = optim.SGD(params, lr=np.float32(0.1), momentum=0, weight_decay=0.0)
    assert sgd.lr == pytest.approx(0.1) and sgd.momentum == 0 and isinstance(sgd.lr, float)
    adam = optim.Adam(params, lr=1, betas=[0.0, 0.0], eps=0, weight_decay=0)
    assert adam.betas == (0.0, 0.0) and adam.eps == 0
    optim.Adam(params, betas=(np.float64(0.5), 0.999999))
    optim.StepLR(sgd, step_size=np.int64(1), gamma=2.0)  # a growing rate is unusual but allowed, as in PyTorch
    optim.ReduceLROnPlateau(sgd, patience=0, threshold=0, min_lr=0)


def test_parameters_can_come_from_a_generator_once():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    params = (p for _, p in model.named_parameters())
    opt = optim.SGD(params, lr=0.1)
    assert opt.params == list(model.parameters())
    with pytest.raises(ValueError, match="iterator that yielded nothing.*used up"):
        optim.SGD(params, lr=0.1)


def test_a_weight_shared_by_two_layers_must_be_listed_once():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight = a.weight  # weight tying
    model = nn.Sequential(a, b)
    params = list(model.parameters())
    if len(params) == 4:  # minicnn's parameters() does not remove duplicates: the optimizer refuses them
        with pytest.raises(ValueError, match=r"params\[0\] and params\[2\] are the same Parameter"):
            optim.SGD(params, lr=0.1)
    unique = list({id(p): p for p in params}.values())
    assert len(optim.SGD(unique, lr=0.1).params) == 3


def test_step_skips_parameters_without_gradient_and_checks_shapes():
    used, unused = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = optim.SGD([used, unused], lr=0.5)
    used.accumulate(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(used.data, 0.5)
    np.testing.assert_array_equal(unused.data, 1.0)
    unused.grad = np.ones(5)  # set by hand, bypassing accumulate's check
    with pytest.raises(ValueError, match=r"SGD.step: params\[1\].grad has shape \(5,\) but the parameter has "
                                         r"shape \(2,\)"):
        opt.step()


def test_plateau_counts_nan_as_not_improved_like_pytorch(torch):
    metrics = [1.0, 0.5, float("nan"), float("nan"), 0.4, float("nan"), float("nan"), float("nan"), 0.1]
    ours = optim.SGD([Parameter(np.zeros(1))], lr=1.0)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    plateau = optim.ReduceLROnPlateau(ours, patience=1, factor=0.5)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, patience=1, factor=0.5)
    for metric in metrics:
        plateau.step(metric)
        torch_plateau.step(metric)
        assert ours.lr == pytest.approx(theirs.param_groups[0]["lr"]), metric
    assert ours.lr < 1.0


def test_plateau_accepts_numpy_metrics_and_max_mode():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=1.0)
    plateau = optim.ReduceLROnPlateau(opt, mode="max", patience=0)
    plateau.step(np.float32(0.5))
    plateau.step(np.array(0.9))
    assert opt.lr == 1.0
    plateau.step(np.array([0.8]))  # accuracy fell: reduce
    assert opt.lr == pytest.approx(0.1)
