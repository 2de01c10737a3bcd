"""Bad input to the training side of minicnn (optimizers, schedulers, batches, fit, evaluate, checkpoints,
gradient checks): every row is one kind of mistake, with the exception and the words its message must contain
(the function, the argument, the rule broken and the values involved).

The test runs in a temporary folder (``monkeypatch.chdir``), so rows that need files write them there.
"""
import zipfile

import numpy as np
import pytest

from minicnn import nn, optim
from minicnn import random as mrandom
from minicnn.data import batches
from minicnn.gradcheck import check_module, gradcheck, numerical_gradient
from minicnn.nn import Module, Parameter
from minicnn.train import CheckpointError, accuracy, evaluate, fit, load_checkpoint, save_checkpoint


def net():
    mrandom.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))


def params():
    return list(net().parameters())


def sgd(model=None, **kwargs):
    return optim.SGD((model or net()).parameters(), lr=0.1, **kwargs)


X = np.random.default_rng(0).standard_normal((10, 2)).astype(np.float32)
Y = np.arange(10) % 2


def train(**kwargs):
    model = kwargs.pop("model", None) or net()
    args = dict(model=model, loss_fn=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1), x=X,
                y=Y, progress=False)
    args.update(kwargs)
    return fit(**args)


def used_up_generator():
    model = net()
    generator = (p for p in model.parameters())
    optim.SGD(generator, lr=0.1)
    return optim.SGD(generator, lr=0.1)


def step_with_wrong_grad_shape():
    weight = Parameter(np.zeros((2, 3)))
    opt = optim.SGD([weight], lr=0.1)
    weight.grad = np.ones(3)
    opt.step()


def nan_loss():
    x = X.copy()
    x[3] = np.nan
    train(x=x, batch_size=5)


def other_optimizer():
    model = net()
    return train(model=model, optimizer=sgd())


def scheduler_of_other_optimizer():
    model = net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    return train(model=model, optimizer=opt, scheduler=optim.StepLR(sgd(), 1))


def saved(name="m.npz", model=None):
    return save_checkpoint(name, model or nn.Linear(3, 2))


def truncated():
    path = saved()
    path.write_bytes(path.read_bytes()[:50])
    return load_checkpoint(path)


def flipped_byte():
    path = saved()
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    raw = bytearray(path.read_bytes())
    raw[info.header_offset + 200] ^= 0x10  # inside the first array's stored bytes
    path.write_bytes(bytes(raw))
    return load_checkpoint(path)


def random_bytes():
    with open("random.npz", "wb") as f:
        f.write(np.random.default_rng(0).bytes(200))
    return load_checkpoint("random.npz")


def npy_file():
    np.save("weights.npy", np.zeros(3, np.float32))
    return load_checkpoint("weights.npy")


def empty_file():
    open("empty.npz", "wb").close()
    return load_checkpoint("empty.npz")


def conv_bn_net(classes):
    mrandom.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, classes))


def load_wrong_shapes():
    saved(model=conv_bn_net(3))
    return load_checkpoint("m.npz", conv_bn_net(4))


def load_missing_keys():
    saved(model=conv_bn_net(3))
    mrandom.manual_seed(0)
    return load_checkpoint("m.npz", nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)))


class WrongBackward(Module):
    """x * w whose backward forgets a factor in one entry of dL/dw."""

    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.array([1.0, 2.0, 3.0]))

    def forward(self, x):
        self._save(x=x)
        return x * self.weight.data

    def backward(self, grad_out, input_grad=True):
        x = self._saved("x")
        grad_w = (grad_out * x).sum(axis=0)
        grad_w[2] = 0.0
        self.weight.accumulate(grad_w)
        return grad_out * self.weight.data


XG = np.random.default_rng(1).standard_normal((2, 3))
W_SMALL = np.array([1.0, 1e-7, 2.0])

ROWS = [
    # ---------------------------------------------------------------- optimizers: the settings
    ("sgd_lr_negative", lambda: optim.SGD(params(), lr=-0.1), ValueError, r"SGD: lr must be > 0, got -0.1"),
    ("adam_lr_zero", lambda: optim.Adam(params(), lr=0), ValueError, r"Adam: lr must be > 0, got 0"),
    ("sgd_lr_nan", lambda: optim.SGD(params(), lr=float("nan")), ValueError,
     r"SGD: lr must be a finite number, got nan"),
    ("sgd_lr_inf", lambda: optim.SGD(params(), lr=float("inf")), ValueError,
     r"SGD: lr must be a finite number, got inf"),
    ("sgd_lr_string", lambda: optim.SGD(params(), lr="0.1"), TypeError,
     r"SGD: lr must be a real number, got '0.1' \(str\)"),
    ("adam_lr_bool", lambda: optim.Adam(params(), lr=True), TypeError,
     r"Adam: lr must be a real number, got True \(bool\)"),
    ("sgd_momentum_negative", lambda: sgd(momentum=-0.9), ValueError, r"SGD: momentum must be >= 0, got -0.9"),
    ("sgd_weight_decay_negative", lambda: sgd(weight_decay=-5e-4), ValueError,
     r"SGD: weight_decay must be >= 0, got -0.0005"),
    ("sgd_nesterov_without_momentum", lambda: sgd(nesterov=True), ValueError,
     r"SGD: Nesterov momentum needs momentum > 0, got momentum=0"),
    ("sgd_nesterov_not_bool", lambda: sgd(momentum=0.9, nesterov="yes"), TypeError,
     r"SGD: nesterov must be True or False, got 'yes'"),
    ("adam_beta1_one", lambda: optim.Adam(params(), betas=(1.0, 0.999)), ValueError,
     r"Adam: betas\[0\] must be in \[0, 1\), got 1"),
    ("adam_beta2_negative", lambda: optim.Adam(params(), betas=(0.9, -0.1)), ValueError,
     r"Adam: betas\[1\] must be in \[0, 1\), got -0.1"),
    ("adam_beta2_above_one", lambda: optim.Adam(params(), betas=(0.9, 1.5)), ValueError,
     r"Adam: betas\[1\] must be in \[0, 1\), got 1.5"),
    ("adam_betas_a_number", lambda: optim.Adam(params(), betas=0.9), TypeError,
     r"Adam: betas must be a pair \(beta1, beta2\).*got 0.9"),
    ("adam_betas_three", lambda: optim.Adam(params(), betas=(0.9, 0.99, 0.999)), TypeError,
     r"Adam: betas must be a pair \(beta1, beta2\).*got \(0.9, 0.99, 0.999\)"),
    ("adam_eps_negative", lambda: optim.Adam(params(), eps=-1e-8), ValueError, r"Adam: eps must be >= 0, got -1e-08"),
    ("adam_weight_decay_negative", lambda: optim.Adam(params(), weight_decay=-0.01), ValueError,
     r"Adam: weight_decay must be >= 0, got -0.01"),
    # ---------------------------------------------------------------- optimizers: the parameters
    ("optimizer_given_the_model", lambda: optim.SGD(net(), lr=0.1), TypeError,
     r"SGD: params is the model \(Sequential\) itself, not its parameters; pass model.parameters\(\)"),
    ("optimizer_given_a_layer", lambda: optim.Adam(nn.Linear(2, 2)), TypeError,
     r"Adam: params is the model \(Linear\) itself.*pass model.parameters\(\)"),
    ("optimizer_used_up_generator", used_up_generator, ValueError,
     r"SGD: got an empty parameter list: params is an iterator that yielded nothing \(already used up"),
    ("optimizer_empty_list", lambda: optim.SGD([], lr=0.1), ValueError, r"SGD: got an empty parameter list"),
    ("optimizer_raw_arrays", lambda: optim.SGD([Parameter(np.zeros(2)), np.zeros((2, 3))], lr=0.1), TypeError,
     r"SGD: params\[1\] has type ndarray of shape \(2, 3\), not minicnn.nn.Parameter; pass model.parameters\(\)"),
    ("optimizer_state_dict", lambda: optim.SGD(net().state_dict(), lr=0.1), TypeError,
     r"SGD: params must be an iterable of Parameters, got a dict.*pass model.parameters\(\)"),
    ("optimizer_one_array", lambda: optim.SGD(np.zeros((2, 3)), lr=0.1), TypeError,
     r"SGD: params must be an iterable of minicnn.nn.Parameter, got an ndarray of shape \(2, 3\)"),
    ("optimizer_one_parameter", lambda: optim.SGD(Parameter(np.zeros(2)), lr=0.1), TypeError,
     r"SGD: params must be an iterable of Parameters, got a single Parameter"),
    ("optimizer_a_set", lambda: optim.SGD(set(params()), lr=0.1), TypeError,
     r"SGD: params must be an ordered collection \(a list\), got a set"),
    ("optimizer_not_iterable", lambda: optim.SGD(0.1, lr=0.1), TypeError,
     r"SGD: params must be an iterable of Parameters, got float"),
    ("optimizer_duplicate_parameters", lambda: optim.SGD(params() * 2, lr=0.1), ValueError,
     r"SGD: params\[0\] and params\[4\] are the same Parameter of shape \(4, 2\); each parameter must appear once"),
    ("optimizer_step_grad_wrong_shape", step_with_wrong_grad_shape, ValueError,
     r"SGD.step: params\[0\].grad has shape \(3,\) but the parameter has shape \(2, 3\)"),
    # ---------------------------------------------------------------- schedulers
    ("steplr_step_size_zero", lambda: optim.StepLR(sgd(), step_size=0), ValueError,
     r"StepLR: step_size must be >= 1, got 0"),
    ("steplr_step_size_float", lambda: optim.StepLR(sgd(), step_size=2.5), TypeError,
     r"StepLR: step_size must be an int, got 2.5"),
    ("steplr_gamma_zero", lambda: optim.StepLR(sgd(), 2, gamma=0), ValueError, r"StepLR: gamma must be > 0, got 0"),
    ("steplr_gamma_negative", lambda: optim.StepLR(sgd(), 2, gamma=-0.1), ValueError,
     r"StepLR: gamma must be > 0, got -0.1"),
    ("steplr_given_the_model", lambda: optim.StepLR(net(), 2), TypeError,
     r"StepLR: optimizer must be a minicnn.optim optimizer \(SGD, Adam\), got Sequential"),
    ("plateau_mode", lambda: optim.ReduceLROnPlateau(sgd(), mode="minimum"), ValueError,
     r"ReduceLROnPlateau: mode must be 'min' or 'max', got 'minimum'"),
    ("plateau_factor_one", lambda: optim.ReduceLROnPlateau(sgd(), factor=1.0), ValueError,
     r"ReduceLROnPlateau: factor must be in \(0, 1\), got 1"),
    ("plateau_factor_string", lambda: optim.ReduceLROnPlateau(sgd(), factor="0.1"), TypeError,
     r"ReduceLROnPlateau: factor must be a real number, got '0.1'"),
    ("plateau_patience_negative", lambda: optim.ReduceLROnPlateau(sgd(), patience=-1), ValueError,
     r"ReduceLROnPlateau: patience must be >= 0, got -1"),
    ("plateau_patience_float", lambda: optim.ReduceLROnPlateau(sgd(), patience=2.5), TypeError,
     r"ReduceLROnPlateau: patience must be an int, got 2.5"),
    ("plateau_threshold_negative", lambda: optim.ReduceLROnPlateau(sgd(), threshold=-1e-4), ValueError,
     r"ReduceLROnPlateau: threshold must be >= 0, got -0.0001"),
    ("plateau_min_lr_negative", lambda: optim.ReduceLROnPlateau(sgd(), min_lr=-1e-6), ValueError,
     r"ReduceLROnPlateau: min_lr must be >= 0, got -1e-06"),
    ("plateau_step_with_evaluate_tuple", lambda: optim.ReduceLROnPlateau(sgd()).step((0.5, 0.9)), TypeError,
     r"ReduceLROnPlateau.step: metric must be a number, e.g. the validation loss, got tuple.*pass its loss"),
    ("plateau_step_with_string", lambda: optim.ReduceLROnPlateau(sgd()).step("0.5"), TypeError,
     r"ReduceLROnPlateau.step: metric must be a number.*got str"),
    # ---------------------------------------------------------------- batches
    ("batches_batch_size_zero", lambda: batches(X, Y, 0), ValueError, r"batches: batch_size must be >= 1, got 0"),
    ("batches_batch_size_float", lambda: batches(X, Y, 2.5), TypeError,
     r"batches: batch_size must be an int, got 2.5 \(float\)"),
    ("batches_batch_size_bool", lambda: batches(X, Y, True), TypeError,
     r"batches: batch_size must be an int, got True \(bool\)"),
    ("batches_length_mismatch", lambda: batches(X, Y[:7], 4), ValueError,
     r"batches: x has 10 samples but y has 7 \(shapes \(10, 2\) and \(7,\)\)"),
    ("batches_scalar_x", lambda: batches(3.0, Y, 4), ValueError,
     r"batches: x must be an array with one sample per row \(first axis\), got a 0-d value 3.0"),
    ("batches_rng_an_int", lambda: batches(X, Y, 4, rng=0), TypeError,
     r"batches: rng must be a numpy.random.Generator .* or None, got int 0"),
    ("batches_shuffle_a_string", lambda: batches(X, Y, 4, shuffle="no"), TypeError,
     r"batches: shuffle must be True or False, got 'no'"),
    # ---------------------------------------------------------------- fit
    ("fit_batch_size_zero", lambda: train(batch_size=0), ValueError, r"fit: batch_size must be >= 1, got 0"),
    ("fit_batch_size_float", lambda: train(batch_size=2.5), TypeError, r"fit: batch_size must be an int, got 2.5"),
    ("fit_epochs_negative", lambda: train(epochs=-1), ValueError, r"fit: epochs must be >= 0, got -1"),
    ("fit_epochs_float", lambda: train(epochs=1.5), TypeError, r"fit: epochs must be an int, got 1.5"),
    ("fit_empty_training_set", lambda: train(x=X[:0], y=Y[:0]), ValueError,
     r"fit: the training set is empty \(x has shape \(0, 2\)\); it needs at least one sample"),
    ("fit_length_mismatch", lambda: train(y=Y[:9]), ValueError, r"fit: x has 10 samples but y has 9"),
    ("fit_validation_not_a_pair", lambda: train(validation=X), TypeError,
     r"fit: validation must be a pair \(x_val, y_val\) of arrays, got an ndarray of shape \(10, 2\)"),
    ("fit_validation_three_items", lambda: train(validation=(X, Y, Y)), TypeError,
     r"fit: validation must be a pair \(x_val, y_val\) of arrays, got tuple of length 3"),
    ("fit_validation_length_mismatch", lambda: train(validation=(X, Y[:5])), ValueError,
     r"fit: validation x has 10 samples but validation y has 5"),
    ("fit_validation_empty", lambda: train(validation=(X[:0], Y[:0])), ValueError,
     r"fit: the validation set is empty \(validation x has shape \(0, 2\)\)"),
    ("fit_model_not_a_module", lambda: fit(lambda x: x, nn.CrossEntropyLoss(), sgd(), X, Y), TypeError,
     r"fit: model must be a minicnn.nn.Module, got function"),
    ("fit_model_and_loss_swapped", lambda: fit(nn.CrossEntropyLoss(), net(), sgd(), X, Y), TypeError,
     r"fit: model is a loss \(CrossEntropyLoss\), not a network; the order is fit\(model, loss_fn, optimizer"),
    ("fit_loss_without_backward", lambda: train(loss_fn=lambda s, y: 0.0), TypeError,
     r"fit: loss_fn must be a loss module with forward and backward"),
    ("fit_optimizer_class_not_instance", lambda: train(optimizer=optim.SGD), TypeError,
     r"fit: optimizer must be a minicnn.optim optimizer.*got type"),
    ("fit_optimizer_of_another_model", other_optimizer, ValueError,
     r"fit: the optimizer holds none of the model's parameters.*SGD\(model.parameters\(\), ...\)"),
    ("fit_scheduler_of_another_optimizer", scheduler_of_other_optimizer, ValueError,
     r"fit: the scheduler adjusts a different optimizer than the one given to fit"),
    ("fit_scheduler_not_a_scheduler", lambda: train(scheduler=0.1), TypeError,
     r"fit: scheduler must be a StepLR or ReduceLROnPlateau \(or None\), got float"),
    ("fit_nan_loss", nan_loss, FloatingPointError,
     r"fit: the loss became nan at step 1 \(epoch 1\) with learning rate 0.1"),
    # ---------------------------------------------------------------- evaluate and accuracy
    ("evaluate_empty_set", lambda: evaluate(net(), nn.CrossEntropyLoss(), X[:0], Y[:0]), ValueError,
     r"evaluate: the evaluation set is empty \(x has shape \(0, 2\)\)"),
    ("evaluate_length_mismatch", lambda: evaluate(net(), nn.CrossEntropyLoss(), X, Y[:3]), ValueError,
     r"evaluate: x has 10 samples but y has 3"),
    ("evaluate_batch_size_zero", lambda: evaluate(net(), nn.CrossEntropyLoss(), X, Y, batch_size=0), ValueError,
     r"evaluate: batch_size must be >= 1, got 0"),
    ("accuracy_length_mismatch", lambda: accuracy(np.zeros((4, 3)), np.zeros(1, int)), ValueError,
     r"accuracy: scores has 4 rows but y has 1"),
    ("accuracy_scores_one_dimensional", lambda: accuracy(np.zeros(4), np.zeros(4, int)), ValueError,
     r"accuracy: scores must have 2 dimensions \(samples, classes\), got shape \(4,\)"),
    ("accuracy_empty", lambda: accuracy(np.zeros((0, 3)), np.zeros(0, int)), ValueError,
     r"accuracy: no samples"),
    # ---------------------------------------------------------------- checkpoints
    ("save_object_array", lambda: save_checkpoint("m.npz", {"w": np.zeros(2), "meta": np.array([{"a": 1}])}),
     TypeError, r"save_checkpoint: meta must hold real numbers \(bool, int or float\), got dtype object"),
    ("save_complex_array", lambda: save_checkpoint("m.npz", {"w": np.zeros(2, complex)}), TypeError,
     r"save_checkpoint: w must hold real numbers .*got dtype complex128"),
    ("save_string_array", lambda: save_checkpoint("m.npz", {"name": np.array(["conv"])}), TypeError,
     r"save_checkpoint: name must hold real numbers .*got dtype <U4"),
    ("save_non_string_key", lambda: save_checkpoint("m.npz", {0: np.zeros(2)}), TypeError,
     r"save_checkpoint: every key must be a str .*got 0 \(int\)"),
    ("save_a_list", lambda: save_checkpoint("m.npz", [np.zeros(2)]), TypeError,
     r"save_checkpoint: model must be a minicnn.nn.Module or a state dict .*got list"),
    ("save_arguments_swapped", lambda: save_checkpoint(net(), "m.npz"), TypeError,
     r"save_checkpoint: path must be a file path \(str or pathlib.Path\), got Sequential; the order is "
     r"save_checkpoint\(path, model\)"),
    ("save_into_missing_folder", lambda: save_checkpoint("no/such/folder/m.npz", net()), FileNotFoundError,
     r"save_checkpoint: the folder no/such/folder does not exist"),
    ("save_onto_a_folder", lambda: save_checkpoint(".", net()), IsADirectoryError,
     r"save_checkpoint: \. is a folder; give a file name"),
    ("load_truncated", truncated, CheckpointError,
     r"load_checkpoint: m.npz is not a readable checkpoint: truncated or corrupted archive"),
    ("load_flipped_byte", flipped_byte, CheckpointError,
     r"load_checkpoint: m.npz is not a readable checkpoint: the array 'weight' is corrupted \(CRC-32 mismatch\)"),
    ("load_random_bytes", random_bytes, CheckpointError,
     r"load_checkpoint: random.npz is not a readable checkpoint: it is not an .npz \(zip\) archive$"),
    ("load_npy_file", npy_file, CheckpointError,
     r"load_checkpoint: weights.npy is not a readable checkpoint: it is a single-array .npy file"),
    ("load_empty_file", empty_file, CheckpointError, r"load_checkpoint: empty.npz .*\(the file is empty\)"),
    ("load_missing_file", lambda: load_checkpoint("missing.npz"), FileNotFoundError,
     r"load_checkpoint: no file at missing.npz"),
    ("load_a_folder", lambda: load_checkpoint("."), IsADirectoryError, r"load_checkpoint: \. is a folder"),
    ("load_arguments_swapped", lambda: load_checkpoint(net(), "m.npz"), TypeError,
     r"load_checkpoint: path must be a file path .*the order is load_checkpoint\(path, model\)"),
    ("load_into_a_state_dict", lambda: load_checkpoint(saved(), {"weight": None}), TypeError,
     r"load_checkpoint: model must be a minicnn.nn.Module \(or None\), got dict"),
    ("load_wrong_shapes", load_wrong_shapes, ValueError,
     r"load_state_dict for Sequential: shape mismatch for 3.weight: expected \(4, 8\), got \(3, 8\)"),
    ("load_missing_keys", load_missing_keys, KeyError,
     r"missing keys \['2.weight', '2.bias'\], unexpected keys \['1.weight'"),
    # ---------------------------------------------------------------- gradient checks
    ("gradcheck_too_few_gradients", lambda: gradcheck(lambda x, w: x * w, lambda g, x, w: g * w, [XG, XG]),
     ValueError, r"gradcheck: backward returned 1 gradient\(s\) for 2 input\(s\); it must return one per input"),
    ("gradcheck_too_many_gradients", lambda: gradcheck(lambda x: 2 * x, lambda g, x: (2 * g, g), [XG]), ValueError,
     r"gradcheck: backward returned 2 gradient\(s\) for 1 input\(s\)"),
    ("gradcheck_gradient_wrong_shape", lambda: gradcheck(lambda x: x.sum(axis=0), lambda g, x: g, [XG]), ValueError,
     r"gradcheck: backward's gradient for input 0 has shape \(3,\) but input 0 has shape \(2, 3\)"),
    ("gradcheck_gradient_broadcastable_shape",
     lambda: gradcheck(lambda x, b: x + b, lambda g, x, b: (g, g), [XG, np.zeros(3)]), ValueError,
     r"gradcheck: backward's gradient for input 1 has shape \(2, 3\) but input 1 has shape \(3,\)"),
    ("gradcheck_gradient_none", lambda: gradcheck(lambda x: 2 * x, lambda g, x: None, [XG]), TypeError,
     r"gradcheck: backward's gradient for input 0 must be an array of shape \(2, 3\), got NoneType"),
    ("gradcheck_forward_returns_tuple", lambda: gradcheck(lambda x: (x, x), lambda g, x: g, [XG]), TypeError,
     r"gradcheck: forward must return an array \(or a number\), got tuple"),
    ("gradcheck_forward_returns_ints", lambda: gradcheck(lambda x: x.argmax(axis=1), lambda g, x: x, [XG]),
     TypeError, r"gradcheck: forward must return floating-point values, got dtype int64"),
    ("gradcheck_forward_nan", lambda: gradcheck(lambda x: x * np.nan, lambda g, x: g, [XG]), ValueError,
     r"gradcheck: forward returned NaN or inf at the given inputs"),
    ("gradcheck_integer_input", lambda: gradcheck(lambda x: 2 * x, lambda g, x: 2 * g, [np.arange(3)]), TypeError,
     r"gradcheck: inputs\[0\] must hold floating-point numbers .*got dtype int64"),
    ("gradcheck_inputs_one_array", lambda: gradcheck(lambda x: 2 * x, lambda g, x: 2 * g, XG), TypeError,
     r"gradcheck: inputs must be a list of arrays, one per argument of forward \(e.g. \[x\]\), got a single "
     r"ndarray of shape \(2, 3\)"),
    ("gradcheck_no_inputs", lambda: gradcheck(lambda: np.zeros(1), lambda g: (), []), ValueError,
     r"gradcheck: inputs is empty"),
    ("gradcheck_h_zero", lambda: gradcheck(lambda x: 2 * x, lambda g, x: 2 * g, [XG], h=0), ValueError,
     r"gradcheck: h must be a positive finite number, got 0"),
    ("gradcheck_tol_negative", lambda: gradcheck(lambda x: 2 * x, lambda g, x: 2 * g, [XG], tol=-1e-6), ValueError,
     r"gradcheck: tol must be >= 0 \(np.inf to only measure\), got -1e-06"),
    ("gradcheck_small_entry_wrong",
     lambda: gradcheck(lambda x: x * W_SMALL, lambda g, x: g * W_SMALL * [1, 2, 1], [XG]), AssertionError,
     r"gradcheck: input 0 relative error .* > 1e-06 \(worst entry \(\d, 1\)"),
    ("numerical_gradient_float32", lambda: numerical_gradient(lambda: 0.0, np.zeros(3, np.float32)), TypeError,
     r"numerical_gradient: use float64 \(got float32\)"),
    ("numerical_gradient_a_list", lambda: numerical_gradient(lambda: 0.0, [1.0, 2.0]), TypeError,
     r"numerical_gradient: x must be the float64 ndarray that f reads .*got list"),
    ("check_module_not_a_module", lambda: check_module(np.tanh, XG), TypeError,
     r"check_module: module must be a minicnn.nn.Module, got ufunc"),
    ("check_module_integer_x", lambda: check_module(nn.Linear(3, 2), np.ones((2, 3), int)), TypeError,
     r"check_module: x must hold floating-point numbers .*got dtype int64"),
    ("check_module_tol_nan", lambda: check_module(nn.Linear(3, 2), XG, tol=float("nan")), ValueError,
     r"check_module: tol must be >= 0"),
    ("check_module_wrong_backward", lambda: check_module(WrongBackward(), XG), AssertionError,
     r"check_module\(WrongBackward\): relative errors above 1e-06: \{'weight': .*\}; worst is weight "
     r"\(worst entry \(2,\)"),
]


@pytest.mark.parametrize("case_id, call, error, match", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_refused_with_a_clear_message(case_id, call, error, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        call()


def test_row_ids_are_unique():
    ids = [r[0] for r in ROWS]
    assert len(ids) == len(set(ids)) and len(ids) >= 30


def test_refused_checkpoints_never_suggest_pickles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for make in (truncated, flipped_byte, random_bytes, npy_file, empty_file):
        with pytest.raises(CheckpointError) as info:
            make()
        assert "pickle" not in str(info.value), make.__name__
