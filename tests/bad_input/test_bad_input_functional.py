"""The bad-input table for `minicnn.functional`: one row per kind of mistake a learner makes.

Each row calls the op wrongly and expects an error whose message names the argument and the rule it
broke (the regex). The table is the regression record of every such case found so far; see also
test_bad_input_nn.py and test_bad_input_training.py.
"""
import numpy as np
import pytest

import minicnn.functional as F

f32, f64 = np.float32, np.float64


def x4(shape=(2, 3, 8, 8), dtype=f64):
    return np.ones(shape, dtype)


W = np.ones((4, 3, 3, 3))
MASK = np.ones((2, 3), f64)

ROWS = [
    # ---- convolution
    ("conv2d int input", lambda: F.conv2d(np.ones((1, 3, 8, 8), int), W), TypeError, "x must be float32 or float64"),
    ("conv2d mixed dtypes", lambda: F.conv2d(x4(dtype=f32), W), TypeError, "same dtype.*x is float32, weight is float64"),
    ("conv2d 3-D x", lambda: F.conv2d(np.ones((3, 8, 8)), W), ValueError, r"x with 4 dimensions \(N, C, H, W\)"),
    ("conv2d 3-D weight", lambda: F.conv2d(x4(), np.ones((4, 3, 3))), ValueError, "weight with 4 dimensions"),
    ("conv2d channel mismatch", lambda: F.conv2d(x4((2, 5, 8, 8)), W), ValueError, "filter depth must equal the input depth"),
    ("conv2d groups 0", lambda: F.conv2d(x4(), W, groups=0), ValueError, "conv2d: groups must be >= 1, got 0"),
    ("conv2d float groups", lambda: F.conv2d(x4(), W, groups=1.0), TypeError, "conv2d: groups must be an int"),
    ("conv2d groups not dividing", lambda: F.conv2d(x4(), np.ones((4, 1, 3, 3)), groups=2), ValueError, "groups=2 must divide"),
    ("conv2d bias shape", lambda: F.conv2d(x4(), W, np.ones(3)), ValueError, r"bias must have shape \(4,\)"),
    ("conv2d stride 0", lambda: F.conv2d(x4(), W, stride=0), ValueError, "stride must be >= 1"),
    ("conv2d stride 2**70", lambda: F.conv2d(x4(), W, stride=2 ** 70), ValueError, r"stride must be below 2\*\*62"),
    ("conv2d stride of 3 ints", lambda: F.conv2d(x4(), W, stride=(1, 2, 3)), TypeError, "stride must be an int or a tuple of 2 ints"),
    ("conv2d float stride", lambda: F.conv2d(x4(), W, stride=1.5), TypeError, "stride must be an int or a tuple"),
    ("conv2d bool stride", lambda: F.conv2d(x4(), W, stride=True), TypeError, "stride must be an int or a tuple"),
    ("conv2d negative padding", lambda: F.conv2d(x4(), W, padding=-1), ValueError, "padding must be >= 0"),
    ("conv2d unknown padding word", lambda: F.conv2d(x4(), W, padding="full"), ValueError, "padding must be an int, a tuple of ints, 'valid' or 'same'"),
    ("conv2d same padding with stride", lambda: F.conv2d(x4(), W, padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    ("conv2d dilation 0", lambda: F.conv2d(x4(), W, dilation=0), ValueError, "dilation must be >= 1"),
    ("conv2d kernel larger than input", lambda: F.conv2d(x4((1, 3, 2, 2)), W), ValueError, "larger than the padded input"),
    ("conv2d zero-sized kernel", lambda: F.conv2d(x4(), np.ones((4, 3, 0, 3))), ValueError, "dimension of size 0"),
    ("conv2d no filters", lambda: F.conv2d(x4(), np.ones((0, 3, 3, 3))), ValueError, "dimension of size 0"),
    ("conv2d empty image", lambda: F.conv2d(x4((1, 3, 0, 8)), np.ones((4, 3, 1, 1))), ValueError, "spatial dimension of size 0"),
    ("conv2d_backward grad_out shape", lambda: F.conv2d_backward(np.ones((2, 4, 5, 5)), x4(), W), ValueError, r"grad_out must have the forward output's shape .* = \(2, 4, 6, 6\)"),
    ("conv2d_backward grad_out dtype", lambda: F.conv2d_backward(np.ones((2, 4, 6, 6), f32), x4(), W), TypeError, "same dtype"),
    ("conv2d_backward settings differ from forward", lambda: F.conv2d_backward(np.ones((2, 4, 6, 6)), x4(), W, stride=2), ValueError, "grad_out must have the forward output's shape"),
    ("conv2d_backward input_grad a string", lambda: F.conv2d_backward(np.ones((2, 4, 6, 6)), x4(), W, input_grad="no"), TypeError, "input_grad must be True or False"),
    ("conv1d 4-D x", lambda: F.conv1d(x4(), np.ones((4, 3, 3))), ValueError, r"x with 3 dimensions \(N, C, L\)"),
    ("conv1d stride tuple of 2", lambda: F.conv1d(np.ones((1, 3, 8)), np.ones((4, 3, 3)), stride=(1, 1)), TypeError, "tuple of 1 ints"),
    ("convolve unknown mode", lambda: F.convolve(np.ones(5), np.ones(3), mode="wider"), ValueError, "mode must be one of"),
    ("convolve mixed dtypes", lambda: F.convolve(np.ones(5, f32), np.ones(3)), TypeError, "same dtype"),
    ("convolve a batch", lambda: F.convolve(np.ones((1, 1, 5)), np.ones((1, 1, 3))), ValueError, "use conv1d/conv2d for batches"),
    ("convolve narrow with a long kernel", lambda: F.convolve(np.ones(3), np.ones(5), mode="valid"), ValueError, "needs a kernel no larger than x"),
    ("correlate int signal", lambda: F.correlate(np.arange(5), np.ones(3)), TypeError, "x must be float32 or float64"),
    ("conv_output_size stride 0", lambda: F.conv_output_size(32, 5, stride=0), ValueError, "stride must be >= 1"),
    ("conv_output_size float", lambda: F.conv_output_size(32.0, 5), TypeError, "input_size must be an int"),
    ("conv_output_size kernel too big", lambda: F.conv_output_size(3, 5), ValueError, "the kernel spans 5 cells"),
    ("conv_output_size 14.5", lambda: F.conv_output_size(32, 5, stride=2, exact=True), ValueError, r"= 14.5 is not an integer"),
    # ---- pooling
    ("max_pool2d 3-D x", lambda: F.max_pool2d(np.ones((3, 8, 8)), 2), ValueError, "x with 4 dimensions"),
    ("max_pool2d kernel 0", lambda: F.max_pool2d(x4(), 0), ValueError, "kernel_size must be >= 1"),
    ("max_pool2d stride 2**70", lambda: F.max_pool2d(x4(), 2, stride=2 ** 70), ValueError, r"stride must be below 2\*\*62"),
    ("avg_pool2d stride 2**70", lambda: F.avg_pool2d(x4(), 2, stride=2 ** 70), ValueError, r"stride must be below 2\*\*62"),
    ("max_pool2d padding over half", lambda: F.max_pool2d(x4(), 2, padding=2), ValueError, "padding .* must be at most half of kernel_size"),
    ("max_pool2d kernel larger than input", lambda: F.max_pool2d(x4((1, 1, 2, 2)), 3), ValueError, "larger than the padded input"),
    ("max_pool2d int input", lambda: F.max_pool2d(np.ones((1, 1, 4, 4), int), 2), TypeError, "x must be float32 or float64"),
    ("max_pool2d return_indices a string", lambda: F.max_pool2d(x4(), 2, return_indices="yes"), TypeError, "return_indices must be True or False"),
    ("max_pool2d_backward grad_out shape", lambda: F.max_pool2d_backward(np.ones((2, 3, 3, 3)), x4(), 2), ValueError, r"grad_out must have the forward output's shape \(2, 3, 4, 4\)"),
    ("max_pool2d_backward float indices", lambda: F.max_pool2d_backward(np.ones((2, 3, 4, 4)), x4(), 2, indices=np.zeros((2, 3, 4, 4))), ValueError, "indices must be integers"),
    ("max_pool2d_backward indices out of range", lambda: F.max_pool2d_backward(np.ones((2, 3, 4, 4)), x4(), 2, indices=np.full((2, 3, 4, 4), 64)), ValueError, r"indices must lie in \[0, H\*W\) = \[0, 64\)"),
    ("avg_pool2d_backward mixed dtypes", lambda: F.avg_pool2d_backward(np.ones((2, 3, 4, 4), f32), x4(), 2), TypeError, "same dtype"),
    ("lp_pool2d norm_type 0", lambda: F.lp_pool2d(x4(), 0, 2), ValueError, r"norm_type must be > 0"),
    ("lp_pool2d norm_type negative", lambda: F.lp_pool2d(x4(), -2, 2), ValueError, "norm_type must be > 0"),
    ("lp_pool2d norm_type inf", lambda: F.lp_pool2d(x4(), np.inf, 2), ValueError, "norm_type must be a finite number"),
    ("lp_pool2d norm_type string", lambda: F.lp_pool2d(x4(), "2", 2), TypeError, "norm_type must be a real number"),
    ("adaptive_avg_pool2d output 0", lambda: F.adaptive_avg_pool2d(x4(), 0), ValueError, "output_size must be >= 1"),
    ("adaptive_avg_pool2d empty maps", lambda: F.adaptive_avg_pool2d(x4((1, 1, 0, 2)), 1), ValueError, "empty feature maps"),
    ("global_avg_pool2d empty maps", lambda: F.global_avg_pool2d(x4((1, 1, 2, 0))), ValueError, "empty feature maps"),
    ("global_avg_pool2d 2-D x", lambda: F.global_avg_pool2d(np.ones((2, 3))), ValueError, "x with 4 dimensions"),
    # ---- normalization
    ("batch_norm eps -1", lambda: F.batch_norm(x4(), None, None, training=True, eps=-1), ValueError, r"eps must be >= 0, got -1"),
    ("batch_norm eps nan", lambda: F.batch_norm(x4(), None, None, training=True, eps=float("nan")), ValueError, "eps must be a finite number"),
    ("batch_norm momentum 2", lambda: F.batch_norm(x4(), np.zeros(3), np.ones(3), training=True, momentum=2), ValueError, r"momentum must be in \[0, 1\]"),
    ("batch_norm eval without statistics", lambda: F.batch_norm(x4(), None, None), ValueError, "needs running_mean and running_var"),
    ("batch_norm running_mean shape", lambda: F.batch_norm(x4(), np.zeros(4), np.ones(3)), ValueError, r"running_mean must have shape \(3,\)"),
    ("batch_norm 1-D x", lambda: F.batch_norm(np.ones(3), None, None, training=True), ValueError, r"expected x of shape \(N, C\)"),
    ("batch_norm one value per channel", lambda: F.batch_norm(np.ones((1, 3)), None, None, training=True), ValueError, "more than 1 value per channel"),
    ("batch_norm training a string", lambda: F.batch_norm(x4(), None, None, training="yes"), TypeError, "training must be True or False"),
    ("batch_norm mixed dtypes", lambda: F.batch_norm(x4(), np.zeros(3, f32), np.ones(3, f32)), TypeError, "same dtype"),
    ("batch_norm_backward grad_out shape", lambda: F.batch_norm_backward(np.ones((2, 3)), x4(), training=True), ValueError, "grad_out .* must have the shape of x"),
    ("batch_norm_backward eval without statistics", lambda: F.batch_norm_backward(x4(), x4()), ValueError, "needs running_mean and running_var"),
    ("local_response_norm size 0", lambda: F.local_response_norm(x4(), 0), ValueError, "size must be >= 1"),
    ("local_response_norm 2-D x", lambda: F.local_response_norm(np.ones((2, 3)), 3), ValueError, r"expected x of shape \(N, C, L\)"),
    ("local_response_norm negative k", lambda: F.local_response_norm(x4(), 3, k=-1), ValueError, r"k must be >= 0"),
    ("local_response_norm_backward mixed dtypes", lambda: F.local_response_norm_backward(x4(dtype=f32), x4(), 3), TypeError, "same dtype"),
    # ---- activations, dropout, linear, losses
    ("relu int input", lambda: F.relu(np.arange(3)), TypeError, "x must be float32 or float64"),
    ("relu_backward shape", lambda: F.relu_backward(np.ones(3), np.ones(4)), ValueError, "grad_out and x must have the same shape"),
    ("relu_backward mixed dtypes", lambda: F.relu_backward(np.ones(3, f32), np.ones(3)), TypeError, "same dtype"),
    ("relu6 int input", lambda: F.relu6(np.arange(3)), TypeError, "relu6: x must be float32 or float64"),
    ("relu6_backward shape", lambda: F.relu6_backward(np.ones(3), np.ones(4)), ValueError, "grad_out and x must have the same shape"),
    ("relu6_backward mixed dtypes", lambda: F.relu6_backward(np.ones(3, f32), np.ones(3)), TypeError, "same dtype"),
    # ---- padding
    ("pad an int", lambda: F.pad(x4(), 1), TypeError, r"pad must be a tuple of 4 ints .* write \(1, 1, 1, 1\)"),
    ("pad 2 numbers", lambda: F.pad(x4(), (1, 1)), TypeError, r"pad must be a tuple of 4 ints \(left, right, top, bottom\)"),
    ("pad negative", lambda: F.pad(x4(), (0, 0, -1, 0)), ValueError, r"pad\[2\] \(top\) must be >= 0, got -1"),
    ("pad float amount", lambda: F.pad(x4(), (0, 0, 1.5, 0)), TypeError, r"pad\[2\] \(top\) must be an int"),
    ("pad 3-D x", lambda: F.pad(np.ones((3, 8, 8)), (1, 1, 1, 1)), ValueError, r"x with 4 dimensions \(N, C, H, W\)"),
    ("pad int x", lambda: F.pad(np.ones((1, 1, 2, 2), int), (1, 1, 1, 1)), TypeError, "x must be float32 or float64"),
    ("pad_backward smaller than the padding", lambda: F.pad_backward(np.ones((1, 1, 2, 2)), (1, 2, 0, 0)), ValueError, r"grad_out \(1, 1, 2, 2\) is smaller than the padding"),
    ("sigmoid_backward mixed dtypes", lambda: F.sigmoid_backward(np.ones(3), np.ones(3, f32)), TypeError, "same dtype"),
    ("tanh_backward broadcasting", lambda: F.tanh_backward(np.ones((1, 3)), np.ones((2, 3))), ValueError, "must have the same shape"),
    ("leaky_relu slope a string", lambda: F.leaky_relu(np.ones(3), "0.1"), TypeError, "negative_slope must be a real number"),
    ("dropout p 1", lambda: F.dropout(np.ones(3), 1.0), ValueError, r"p must be in \[0, 1\)"),
    ("dropout p a string", lambda: F.dropout(np.ones(3), "0.5"), TypeError, "p must be a real number"),
    ("dropout rng 0", lambda: F.dropout(np.ones(3), 0.5, rng=0), TypeError, "rng must be a numpy.random.Generator"),
    ("dropout_backward mask shape", lambda: F.dropout_backward(np.ones((2, 3)), np.ones((3, 2))), ValueError, "must have the same shape"),
    ("dropout_backward mask dtype", lambda: F.dropout_backward(np.ones((2, 3), f32), MASK), TypeError, "same dtype"),
    ("linear features mismatch", lambda: F.linear(np.ones((2, 5)), np.ones((3, 4))), ValueError, "did you forget to flatten"),
    ("linear 4-D x", lambda: F.linear(x4(), np.ones((3, 4))), ValueError, r"x with 2 dimensions \(N, in_features\)"),
    ("linear bias shape", lambda: F.linear(np.ones((2, 4)), np.ones((3, 4)), np.ones(4)), ValueError, r"bias must have shape \(3,\)"),
    ("linear_backward grad_out shape", lambda: F.linear_backward(np.ones((2, 4)), np.ones((2, 4)), np.ones((3, 4))), ValueError, r"grad_out must have shape \(2, 3\)"),
    ("cross_entropy float labels", lambda: F.cross_entropy(np.zeros((2, 10)), np.array([1.0, 2.0])), TypeError, "target must hold integer class labels"),
    ("cross_entropy label out of range", lambda: F.cross_entropy(np.zeros((2, 10)), np.array([1, 10])), ValueError, r"labels must be in \[0, 9\]"),
    ("cross_entropy one-hot target", lambda: F.cross_entropy(np.zeros((2, 3)), np.eye(3, dtype=int)[:2]), ValueError, "one label per row"),
    ("cross_entropy 1-D scores", lambda: F.cross_entropy(np.zeros(10), np.array([1])), ValueError, r"scores with 2 dimensions \(N, n_classes\)"),
    ("mse_loss shape mismatch", lambda: F.mse_loss(np.zeros((2, 3)), np.zeros((3, 2))), ValueError, "must have the same shape"),
    ("mse_loss mixed dtypes", lambda: F.mse_loss(np.zeros(3, f32), np.zeros(3)), TypeError, "same dtype"),
    ("softmax dim out of range", lambda: F.softmax(np.ones((2, 3)), dim=5), ValueError, r"dim=5 is not an axis of x with shape \(2, 3\)"),
    ("log_softmax no classes", lambda: F.log_softmax(np.ones((2, 0))), ValueError, "no classes along dim=-1"),
    ("cross_entropy empty batch", lambda: F.cross_entropy(np.ones((0, 3)), np.array([], int)), ValueError, r"scores \(0, 3\) is empty"),
    ("mse_loss empty", lambda: F.mse_loss(np.ones(0), np.ones(0)), ValueError, "is empty"),
    ("softmax int input", lambda: F.softmax(np.arange(3)), TypeError, "x must be float32 or float64"),
    # ---- pooling with ceil_mode
    ("max_pool2d ceil_mode a string", lambda: F.max_pool2d(x4(), 2, ceil_mode="yes"), TypeError, "max_pool2d: ceil_mode must be True or False"),
    ("max_pool2d ceil_mode given by position", lambda: F.max_pool2d(x4(), 2, 2, 0, False, True), TypeError, "positional"),
    ("avg_pool2d ceil_mode kernel beyond the overhang", lambda: F.avg_pool2d(x4((1, 1, 2, 2)), 4, 2, ceil_mode=True), ValueError, r"larger than the padded input \(2, 2\) .* plus stride - 1 = \(1, 1\) cells that ceil_mode lets a window overhang"),
    ("max_pool2d_backward without the forward's ceil_mode", lambda: F.max_pool2d_backward(np.ones((2, 3, 4, 4)), x4((2, 3, 7, 7)), 2), ValueError, r"grad_out must have the forward output's shape \(2, 3, 3, 3\)"),
    ("avg_pool2d_backward ceil_mode a number", lambda: F.avg_pool2d_backward(np.ones((2, 3, 4, 4)), x4(), 2, ceil_mode=1), TypeError, "avg_pool2d_backward: ceil_mode must be True or False"),
    ("pool_output_size ceil kernel too large", lambda: F.pool_output_size(2, 4, 2, ceil_mode=True), ValueError, r"kernel_size 4 is larger than the padded input \(2 \+ 2\*0\) plus the stride - 1 = 1 cells"),
    ("pool_output_size ceil_mode 1", lambda: F.pool_output_size(8, 2, 2, ceil_mode=1), TypeError, "ceil_mode must be True or False"),
    ("pool_output_size ceil stride 0", lambda: F.pool_output_size(8, 2, 0, ceil_mode=True), ValueError, "stride must be >= 1"),
    # ---- joining branches: add and cat
    ("add shape mismatch", lambda: F.add(x4(), x4((2, 3, 4, 4))), ValueError, r"add: a and b must have the same shape .* got a \(2, 3, 8, 8\), b \(2, 3, 4, 4\)"),
    ("add broadcasting", lambda: F.add(x4(), np.ones((1, 3, 1, 1))), ValueError, "no broadcasting"),
    ("add mixed dtypes", lambda: F.add(x4(dtype=f32), x4()), TypeError, "add: all inputs must have the same dtype, but a is float32, b is float64"),
    ("add int input", lambda: F.add(np.ones(3, int), np.ones(3)), TypeError, "add: a must be float32 or float64"),
    ("add_backward int gradient", lambda: F.add_backward(np.ones(3, int)), TypeError, "add_backward: grad_out must be float32 or float64"),
    ("cat of one ndarray", lambda: F.cat(x4()), TypeError, "cat: xs must be a list or tuple of arrays, got ndarray"),
    ("cat empty list", lambda: F.cat([]), ValueError, "cat: xs is empty"),
    ("cat mixed dtypes", lambda: F.cat([x4(dtype=f32), x4()]), TypeError, r"same dtype, but xs\[0\] is float32, xs\[1\] is float64"),
    ("cat spatial sizes differ", lambda: F.cat([x4(), x4((2, 5, 7, 8))]), ValueError, r"every input must match xs\[0\] \(2, 3, 8, 8\) in every dimension except dim=1, got xs\[1\] \(2, 5, 7, 8\)"),
    ("cat different ndim", lambda: F.cat([x4(), np.ones((2, 3, 8))]), ValueError, "every input must match xs"),
    ("cat dim out of range", lambda: F.cat([x4(), x4()], dim=4), ValueError, r"cat: dim=4 is not an axis of xs\[0\] with shape \(2, 3, 8, 8\)"),
    ("cat float dim", lambda: F.cat([x4()], dim=1.0), TypeError, "cat: dim must be an int"),
    ("cat int input", lambda: F.cat([x4(), np.ones((2, 3, 8, 8), int)]), TypeError, r"cat: xs\[1\] must be float32 or float64"),
    ("cat scalars", lambda: F.cat([np.float64(1.0), np.float64(2.0)]), ValueError, r"xs\[0\] is a scalar"),
    ("cat_backward sizes do not add up", lambda: F.cat_backward(x4(), [1, 1]), ValueError, r"the sizes \[1, 1\] add up to 2, but grad_out \(2, 3, 8, 8\) has 3 along dim=1"),
    ("cat_backward shape differs", lambda: F.cat_backward(x4(), [(2, 1, 8, 8), (2, 2, 7, 8)]), ValueError, r"sizes_or_shapes\[1\] \(2, 2, 7, 8\) must match grad_out \(2, 3, 8, 8\) in every dimension except dim=1"),
    ("cat_backward negative size", lambda: F.cat_backward(x4(), [-1, 4]), ValueError, r"sizes_or_shapes\[0\] must be >= 0"),
    ("cat_backward a word", lambda: F.cat_backward(x4(), ["a", 3]), TypeError, r"sizes_or_shapes\[0\] must be an int \(the input's size along dim\) or a shape"),
    ("cat_backward one int", lambda: F.cat_backward(x4(), 3), TypeError, "sizes_or_shapes must be a list or tuple"),
    ("cat_backward dim out of range", lambda: F.cat_backward(x4(), [3], dim=-5), ValueError, "dim=-5 is not an axis of grad_out"),
]


@pytest.mark.parametrize("case_id, call, error, match", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_gets_a_clear_error(case_id, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_tables_cover_at_least_80_kinds_of_mistake():
    import importlib.util
    import pathlib

    total = 0
    for path in sorted(pathlib.Path(__file__).parent.glob("test_bad_input_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem + "_counted", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ids = [row[0] for row in module.ROWS]
        assert len(ids) == len(set(ids)), f"{path.name} repeats a row id"
        total += len(ids)
    assert total >= 80, total
