"""`minicnn.onnx.export`: every network of `minicnn.models` and every layer of `minicnn.nn`, exported, run in
onnxruntime (CPU) and compared with minicnn's own evaluation-mode forward; the graphs pass ONNX's checker and
strict shape inference; unsupported modules and bad arguments are refused with clear messages.

What "the same" means here (`assert_same`): on a fixed seeded input, every output value of onnxruntime is within
``1e-5 * |minicnn's value| + 1e-5 * max |minicnn's output|`` of minicnn's (``np.testing.assert_allclose(ort,
mine, rtol=1e-5, atol=1e-5 * abs(mine).max())``), and so the largest difference is below 2e-5 of the largest
output. Both compute in float32; the measured largest difference is about 1e-6 of the largest output (VGG-11).

The bad-argument table at the end needs neither onnx nor onnxruntime (export checks its arguments before it
imports onnx); everything else is skipped where they are not installed.
"""
import sys

import numpy as np
import pytest

import minicnn.onnx
from minicnn import models, nn
from minicnn import random as mrandom
from minicnn.models.vgg import CONFIGS, make_layers

ATOL_OF_MAX = RTOL = 1e-5


@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def ort(onnx):
    return pytest.importorskip("onnxruntime")


def run(ort, model, x, input_name="input"):
    """The output on x of an exported model (a ModelProto or its bytes), from onnxruntime's CPU provider."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {input_name: x})
    return y


def assert_same(got, mine):
    """See the module docstring; returns the largest difference relative to the largest output, for the record."""
    assert got.shape == mine.shape and got.dtype == mine.dtype
    scale = np.abs(mine).max()
    np.testing.assert_allclose(got, mine, rtol=RTOL, atol=ATOL_OF_MAX * scale)
    return float(np.abs(got - mine).max() / scale)


def dims(value_info):
    return tuple(d.dim_value for d in value_info.type.tensor_type.shape.dim)


def nontrivial_batch_norm(model, seed):
    """Running statistics and affine parameters away from 0 and 1, so evaluation-mode batch norm really matters."""
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.running_mean is not None:
            c = module.num_features
            module.running_mean[...] = rng.normal(0.0, 0.3, c)
            module.running_var[...] = rng.uniform(0.5, 2.0, c)
            if module.affine:
                module.weight.data[...] = rng.uniform(0.5, 1.5, c)
                module.bias.data[...] = rng.normal(0.0, 0.3, c)
    return model


def image(shape, seed=2):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def export_run_compare(onnx, ort, model, shape, **kwargs):
    """Export (the model left in training mode), check, run, compare with minicnn's eval forward."""
    proto = minicnn.onnx.export(model, shape, **kwargs)
    data = proto.SerializeToString()  # once: VGG's half a gigabyte takes seconds to serialize
    onnx.checker.check_model(data, full_check=True)  # the whole model, weights included; strict shape inference
    x = image(shape)
    got = run(ort, data, x, kwargs.get("input_name", "input"))
    error = assert_same(got, model.eval()(x))
    return proto, got, error


# ------------------------------------------------------------------------------------------------ the networks
NETWORKS = {
    # name: (builder, input shape); 1000-class heads cut to 10 to keep the tests light (same layers otherwise)
    "lenet5": (lambda: models.lenet5(), (1, 1, 32, 32)),
    "lenet5 tanh avg": (lambda: models.lenet5(activation="tanh", pooling="avg"), (2, 1, 32, 32)),
    "lenet5 1998": (lambda: models.lenet5(original=True), (2, 1, 32, 32)),
    "alexnet": (lambda: models.alexnet(num_classes=10), (1, 3, 224, 224)),
    "alexnet two towers": (lambda: models.alexnet(num_classes=10, two_towers=True), (1, 3, 227, 227)),
    # ZFNet's features only: its padded max pools and LRN after pooling, without the 75M-weight FC layer that
    # AlexNet and VGG already take through the same FeaturesClassifier exporter
    "zfnet features": (lambda: models.zfnet(num_classes=10).features, (1, 3, 224, 224)),
    "vgg11": (lambda: models.vgg11(num_classes=10), (1, 3, 224, 224)),
    "vgg11 bn features": (lambda: make_layers(CONFIGS["A"], batch_norm=True), (1, 3, 64, 64)),
    "googlenet": (lambda: models.googlenet(num_classes=10, aux_logits=True), (1, 3, 224, 224)),
    "resnet18": (lambda: models.resnet18(num_classes=10), (1, 3, 224, 224)),
    "resnet50": (lambda: models.resnet50(num_classes=10), (1, 3, 64, 64)),
    "resnet_cifar 20": (lambda: models.resnet_cifar(20), (2, 3, 32, 32)),
    "resnet_cifar 8 plain": (lambda: models.resnet_cifar(8, residual=False, in_channels=1), (2, 1, 28, 28)),
    "efficientnet_lite0": (lambda: models.efficientnet_lite0(num_classes=10), (1, 3, 224, 224)),
    # odd sizes: TensorFlow's SAME padding is asymmetric at every stride-2 layer
    "efficientnet_lite0 odd size": (lambda: models.efficientnet_lite0(num_classes=10), (2, 3, 67, 93)),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_network_matches_minicnn_in_onnxruntime(name, onnx, ort):
    build, shape = NETWORKS[name]
    mrandom.manual_seed(0)
    model = nontrivial_batch_norm(build(), seed=1)
    proto, got, error = export_run_compare(onnx, ort, model, shape)
    print(f"{name}: largest difference {error:.1e} of the largest output")  # the record (pytest -s)
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    assert dims(proto.graph.input[0]) == shape and dims(proto.graph.output[0]) == got.shape


@pytest.mark.parametrize("name", ["lenet5 1998", "googlenet", "resnet18"])
def test_shape_inference_finds_every_shape_the_exporters_wrote(name, onnx):
    build, shape = NETWORKS[name]
    mrandom.manual_seed(0)
    proto = minicnn.onnx.export(build(), shape)
    written = {v.name: dims(v) for v in proto.graph.value_info}
    assert len(written) == len(proto.graph.node) - 1  # every node's output but the graph's
    stripped = onnx.ModelProto()
    stripped.CopyFrom(proto)
    del stripped.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(stripped, check_type=True, strict_mode=True)
    assert {v.name: dims(v) for v in inferred.graph.value_info} == written
    assert dims(inferred.graph.output[0]) == dims(proto.graph.output[0])


class WrongShape(nn.Module):
    def forward(self, x):
        return x


def test_a_custom_exporter_and_a_wrong_shape_caught_by_the_check(onnx, ort, monkeypatch):
    monkeypatch.setattr(minicnn.onnx, "_EXPORTERS", dict(minicnn.onnx._EXPORTERS))  # registered for this test only

    @minicnn.onnx.register(WrongShape)
    def _identity(g, module, x):
        return g.op("Identity", [x], x.shape)

    x = image((2, 3))
    np.testing.assert_array_equal(run(ort, minicnn.onnx.export(nn.Sequential(WrongShape(), nn.ReLU()), x.shape), x),
                                  np.maximum(x, 0))

    @minicnn.onnx.register(WrongShape)  # registering again replaces the exporter
    def _wrong(g, module, x):
        return g.op("Relu", [x], x.shape[:1] + (x.shape[1] + 1,))  # claims one channel too many

    with pytest.raises(RuntimeError, match=r"export: the graph fails ONNX's check, so an exporter wrote a wrong "
                                           r"shape .*node name: 0/Relu.*differ in dimension 1: \(3\) vs \(4\)"):
        minicnn.onnx.export(nn.Sequential(WrongShape(), nn.ReLU()), (1, 3))


def test_parameters_are_initializers_named_by_their_state_dict_keys(onnx):
    mrandom.manual_seed(0)
    model = models.resnet18(num_classes=10)
    proto = minicnn.onnx.export(model, (1, 3, 64, 64))
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert weights.keys() == state.keys()
    for key, value in state.items():
        np.testing.assert_array_equal(weights[key], value)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Add") == 8 and ops.count("BatchNormalization") == 20 and "Dropout" not in ops
    assert proto.graph.node[0].name == "conv1/Conv" and "layer1.0/Add" in {node.name for node in proto.graph.node}


def test_googlenet_aux_classifiers_and_dropout_are_left_out(onnx):
    mrandom.manual_seed(0)
    model = models.googlenet(num_classes=10, aux_logits=True)  # in training mode, as it was built
    proto = minicnn.onnx.export(model, (1, 3, 96, 96))
    names = [t.name for t in proto.graph.initializer]
    assert not any(name.startswith("aux") for name in names)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Concat") == 9 and ops.count("GlobalAveragePool") == 1 and "Dropout" not in ops


def test_export_leaves_the_model_as_it_was(onnx):
    mrandom.manual_seed(0)
    model = nontrivial_batch_norm(models.resnet_cifar(8), seed=1)  # training mode
    before = model.state_dict()
    minicnn.onnx.export(model, (1, 3, 32, 32))
    assert all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_writes_the_file_when_given_a_path(onnx, ort, tmp_path):
    mrandom.manual_seed(0)
    model = models.lenet5()
    path = tmp_path / "lenet5.onnx"
    proto = minicnn.onnx.export(model, (3, 1, 32, 32), path, input_name="digits", output_name="scores")
    loaded = onnx.load(path)
    assert loaded == proto
    assert dims(loaded.graph.input[0]) == (3, 1, 32, 32) and dims(loaded.graph.output[0]) == (3, 10)
    assert run(ort, loaded, image((3, 1, 32, 32)), "digits").shape == (3, 10)
    assert minicnn.onnx.export(model, (1, 1, 32, 32), str(tmp_path / "again.onnx")) is not None
    assert (tmp_path / "again.onnx").stat().st_size > 61706 * 4  # the weights are in the file


@pytest.mark.parametrize("opset", [13, 17, 22, "newest"])
def test_every_supported_opset(opset, onnx, ort):
    newest = onnx.defs.onnx_opset_version()
    opset = newest if opset == "newest" else opset
    if opset > newest:
        pytest.skip(f"the installed onnx {onnx.__version__} knows opsets up to {newest}")
    mrandom.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.LocalResponseNorm(3),
                          nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True), nn.AvgPool2d(2, padding=1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(), nn.Linear(4, 2))
    proto, _, _ = export_run_compare(onnx, ort, nontrivial_batch_norm(model, 1), (2, 3, 9, 9), opset=opset)
    assert proto.opset_import[0].version == opset


# ------------------------------------------------------------------------------------------------ the layers
def layer_cases():
    return {
        "conv groups stride padding dilation": (nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(1, 2),
                                                          groups=2), (2, 4, 9, 8)),
        "conv padding same, even kernel": (nn.Conv2d(3, 2, 4, padding="same", dilation=2), (1, 3, 10, 9)),
        "conv padding valid, no bias": (nn.Conv2d(3, 2, 3, padding="valid", bias=False), (1, 3, 6, 6)),
        "conv1d": (nn.Sequential(nn.Conv1d(2, 3, 5, stride=2, padding=1), nn.BatchNorm1d(3), nn.Tanh()), (2, 2, 17)),
        "linear without bias": (nn.Sequential(nn.Linear(5, 3, bias=False), nn.BatchNorm1d(3), nn.Sigmoid()), (4, 5)),
        "leaky relu": (nn.LeakyReLU(0.2), (2, 3, 4, 4)),
        "max pool ceil mode drops a window in the padding": (nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True),
                                                             (1, 2, 5, 5)),
        "max pool ceil mode overhang": (nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 2, 8, 7)),
        "avg pool with padding counts the zeros": (nn.AvgPool2d(3, stride=2, padding=1), (1, 2, 7, 6)),
        "adaptive pool by equal windows": (nn.AdaptiveAvgPool2d((2, 3)), (1, 2, 8, 9)),
        "adaptive pool to the input's size": (nn.Sequential(nn.AdaptiveAvgPool2d(5), nn.ReLU()), (1, 2, 5, 5)),
        "batch norm without affine": (nn.BatchNorm2d(3, affine=False, eps=1e-3), (2, 3, 4, 4)),
        "lrn size 1 and 3": (nn.Sequential(nn.LocalResponseNorm(1, 0.3, 0.5, 1.5),
                                           nn.LocalResponseNorm(3, 0.4, 0.75, 2.0)), (1, 6, 3, 3)),
        "lrn on (N, C, L)": (nn.LocalResponseNorm(5, 0.2, 0.75, 1.0), (2, 7, 6)),
        "flatten a middle range": (nn.Flatten(1, 2), (2, 3, 4, 5)),
        "dropout alone": (nn.Dropout(0.5), (2, 3)),
        "empty sequential": (nn.Sequential(), (2, 3)),
        "relu6 and asymmetric zero padding": (nn.Sequential(nn.ZeroPad2d((1, 2, 0, 3)), nn.ReLU6()), (1, 2, 4, 5)),
    }


@pytest.mark.parametrize("name", list(layer_cases()))
def test_layer_matches_minicnn(name, onnx, ort):
    mrandom.manual_seed(0)
    model, shape = layer_cases()[name]
    export_run_compare(onnx, ort, nontrivial_batch_norm(model, 1), shape)


def test_float64_export(onnx, ort):
    mrandom.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).double()
    proto = minicnn.onnx.export(model, (2, 6), dtype=np.float64)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert {t.data_type for t in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}
    x = np.random.default_rng(0).standard_normal((2, 6))
    np.testing.assert_allclose(run(ort, proto, x), model(x), rtol=1e-12)
    # a float64 model exported as float32 (the default): weights cast
    assert {t.data_type for t in minicnn.onnx.export(model, (2, 6)).graph.initializer} == {onnx.TensorProto.FLOAT}


# ------------------------------------------------------------------------------------------------ refusals
class Cube(nn.Module):
    def forward(self, x):
        return x ** 3


class LoudReLU(nn.ReLU):
    def forward(self, x):
        return 10 * super().forward(x)


REFUSALS = [
    # (case, model builder, input shape, error, message)
    ("a module without exporter", lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.ReLU(), Cube())),
     (1, 1, 5, 5), TypeError, r"export: no ONNX exporter for 1\.1 \(Cube\).*@minicnn\.onnx\.register\(Cube\)"),
    ("the model itself without exporter", Cube, (1, 2), TypeError, r"no ONNX exporter for the model \(Cube\)"),
    ("a subclass overriding forward", lambda: nn.Sequential(LoudReLU()), (1, 2), TypeError,
     r"export: 0 \(LoudReLU\) overrides the forward of ReLU, which the ReLU exporter mirrors"),
    ("adaptive windows of different sizes", lambda: models.alexnet(num_classes=2), (1, 3, 67, 67), ValueError,
     r"export: avgpool \(AdaptiveAvgPool2d\): adaptive pooling from \(1, 1\) to \(6, 6\) has windows of "
     r"different sizes"),
    ("wrong channel count", lambda: models.resnet_cifar(8), (1, 1, 32, 32), ValueError,
     r"export: conv1 \(Conv2d\): expects 3 input channels \(dimension 1\), got shape \(1, 1, 32, 32\)"),
    ("image too small for a kernel", lambda: nn.Conv2d(1, 1, 5), (1, 1, 3, 3), ValueError,
     r"export: the model \(Conv2d\): kernel \(5, 5\) .* larger than the padded input"),
    ("pool larger than the input", lambda: nn.Sequential(nn.MaxPool2d(4)), (1, 1, 3, 3), ValueError,
     r"export: 0 \(MaxPool2d\): kernel_size \(4, 4\) is larger than the padded input"),
    ("linear fed an image", lambda: nn.Sequential(nn.Linear(4, 2)), (1, 1, 2, 2), ValueError,
     r"export: 0 \(Linear\): expects an input with 2 dimensions \(N, in_features\), got shape \(1, 1, 2, 2\)"),
    ("lenet5 fed 28x28 digits", models.lenet5, (1, 1, 28, 28), ValueError,
     r"export: the model \(LeNet5\): expects x of shape \(N, 1, 32, 32\), got \(1, 1, 28, 28\)"),
    ("lrn of even size", lambda: nn.LocalResponseNorm(4), (1, 6, 2, 2), ValueError,
     r"size=4 is even; ONNX's LRN centres an even window one channel later"),
    ("batch norm without running statistics", lambda: nn.BatchNorm2d(2, track_running_stats=False), (1, 2, 2, 2),
     ValueError, r"has no running statistics \(track_running_stats=False\)"),
]


@pytest.mark.parametrize("case, build, shape, error, match", REFUSALS, ids=[row[0] for row in REFUSALS])
def test_refuses_what_it_cannot_export(case, build, shape, error, match, onnx):
    mrandom.manual_seed(0)
    with pytest.raises(error, match=match):
        minicnn.onnx.export(build(), shape)


def test_opset_newer_than_the_installed_onnx(onnx):
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(ValueError, match=rf"opset {newest + 1} is unknown to the installed onnx .* up to {newest}"):
        minicnn.onnx.export(nn.ReLU(), (1, 2), opset=newest + 1)


def test_missing_onnx_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match="pip install onnx"):
        minicnn.onnx.export(nn.ReLU(), (1, 2))


def test_register_refuses_what_is_not_a_module_class():
    with pytest.raises(TypeError, match="register: module_type must be a subclass of minicnn.nn.Module"):
        minicnn.onnx.register(nn.ReLU())


# the bad-argument table (the pattern of tests/bad_input/): needs no onnx, export checks before importing it
RELU = nn.ReLU()
BAD_ARGUMENTS = [
    ("model a function", lambda: minicnn.onnx.export(np.tanh, (1, 2)), TypeError,
     "export: model must be a minicnn.nn.Module .* got ufunc"),
    ("model a torch-like class, not an instance", lambda: minicnn.onnx.export(nn.ReLU, (1, 2)), TypeError,
     "model must be a minicnn.nn.Module"),
    ("input_shape an int", lambda: minicnn.onnx.export(RELU, 32), TypeError,
     r"export: input_shape must be a tuple of positive ints with the batch first, e.g. \(1, 3, 224, 224\)"),
    ("input_shape an array", lambda: minicnn.onnx.export(RELU, np.zeros((1, 3))), TypeError,
     "input_shape must be a tuple"),
    ("input_shape empty", lambda: minicnn.onnx.export(RELU, ()), ValueError, "export: input_shape is empty"),
    ("input_shape with a zero", lambda: minicnn.onnx.export(RELU, (0, 3, 8, 8)), ValueError,
     r"every size in input_shape must be >= 1, got \(0, 3, 8, 8\)"),
    ("input_shape with a float", lambda: minicnn.onnx.export(RELU, (1, 3.0)), TypeError,
     r"input_shape must hold ints, got 3.0 \(float\)"),
    ("input_shape with None for the batch", lambda: minicnn.onnx.export(RELU, (None, 3)), TypeError,
     "input_shape must hold ints, got None"),
    ("opset a string", lambda: minicnn.onnx.export(RELU, (1, 2), opset="17"), TypeError,
     r"export: opset must be an int \(the ONNX operator set version, e.g. 17\), got '17'"),
    ("opset True", lambda: minicnn.onnx.export(RELU, (1, 2), opset=True), TypeError, "opset must be an int"),
    ("opset too old", lambda: minicnn.onnx.export(RELU, (1, 2), opset=9), ValueError,
     r"export: opset must be >= 13 \(the oldest whose operators minicnn writes\), got 9"),
    ("opset negative", lambda: minicnn.onnx.export(RELU, (1, 2), opset=-1), ValueError, "opset must be >= 13"),
    ("same input and output names", lambda: minicnn.onnx.export(RELU, (1, 2), input_name="x", output_name="x"),
     ValueError, "input_name and output_name must differ .* both are 'x'"),
    ("empty input name", lambda: minicnn.onnx.export(RELU, (1, 2), input_name=""), TypeError,
     "input_name must be a non-empty string"),
    ("integer dtype", lambda: minicnn.onnx.export(RELU, (1, 2), dtype=np.int32), TypeError,
     "export: dtype must be float32 or float64"),
    ("path a file object", lambda: minicnn.onnx.export(RELU, (1, 2), sys.stdout), TypeError,
     "export: path must be None .* or a file name, got"),
    ("settings given by position", lambda: minicnn.onnx.export(RELU, (1, 2), None, 17), TypeError, "positional"),
]


@pytest.mark.parametrize("case_id, call, error, match", BAD_ARGUMENTS, ids=[row[0] for row in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_with_a_clear_message(case_id, call, error, match):
    with pytest.raises(error, match=match):
        call()
