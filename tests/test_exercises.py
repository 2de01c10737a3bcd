import contextlib
import io

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from minicnn import functional as F
from minicnn.exercises import (
    check,
    check_batch_norm_backward,
    check_conv2d_backward,
    check_conv2d_forward,
    check_dropout,
    check_max_pool2d_backward,
    feedback,
)


def test_feedback_lines():
    assert feedback(None, 3, hint="h") == "Not answered yet. Hint: h"
    assert feedback(3, 3) == "Correct!"
    assert feedback(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9]) == "Correct!"
    assert feedback([1.0, 2.5], [1.0, 2.0], hint="again") == "Not quite: your answer is [1.  2.5]. Hint: again"
    assert feedback((3, 4), (3, 4, 1)) == "Not quite: expected shape (3,), got shape (2,)."
    assert feedback("same", "same") == "Correct!"
    assert feedback("full", "same").startswith("Not quite")
    assert feedback(["a", "b"], ["a", "b"]) == "Correct!"


def test_check_prints_and_returns_nothing(capsys):
    assert check(28, 28) is None
    assert capsys.readouterr().out == "Correct!\n"


# ================================================================ implement-it checkers
#
# The readable correct solutions below are the kind a notebook shows in its collapsed solution cell; they live
# here, not in the package, so that minicnn does not hand out the answers. Each wrong solution makes one typical
# mistake on purpose (most as a small change of the correct one, which computes the same as writing the mistake
# into the loops), and must be rejected with the hint that names that mistake.


def conv2d_solution(x, weight, bias, stride=1, padding=0):
    """Cross-correlation of a batch, one output cell at a time (no kernel flip: that would be convolution)."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))   # pad H and W only
    n_out, _, kh, kw = weight.shape
    h_out, w_out = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], n_out, h_out, w_out))
    for n, k, i, j in np.ndindex(*out.shape):
        window = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]   # all channels
        out[n, k, i, j] = np.sum(weight[k] * window) + bias[k]
    return out


def conv2d_backward_solution(grad_out, x, weight, stride=1, padding=0):
    """Each output cell sends grad_out back: times its window into dw[k], times weight[k] into that window of dx."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(weight)
    kh, kw = weight.shape[2:]
    for n, k, i, j in np.ndindex(*grad_out.shape):
        rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
        dw[k] += grad_out[n, k, i, j] * xp[n, :, rows, cols]
        dxp[n, :, rows, cols] += grad_out[n, k, i, j] * weight[k]
    dx = dxp[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]]   # cut the padding off
    return dx, dw, grad_out.sum(axis=(0, 2, 3))


def max_pool2d_backward_solution(grad_out, x, kernel_size, stride):
    """Each window's gradient goes to its first maximum (np.argmax); overlapping windows add up."""
    dx = np.zeros_like(x)
    k, s = kernel_size, stride
    for n, c, i, j in np.ndindex(*grad_out.shape):
        window = x[n, c, i * s:i * s + k, j * s:j * s + k]
        u, v = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * s + u, j * s + v] += grad_out[n, c, i, j]
    return dx


def batch_norm_backward_solution(grad_out, x, gamma, eps=1e-5):
    """Chapter 10's training-mode gradients, for (N, C) and (N, C, H, W) input."""
    axes = (0,) + tuple(range(2, x.ndim))          # every axis except the channel axis 1
    shape = (1, -1) + (1,) * (x.ndim - 2)          # (C,) -> broadcastable against x
    m = x.size // x.shape[1]
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    g = grad_out * gamma.reshape(shape)
    dx = (m * g - g.sum(axis=axes, keepdims=True) - x_hat * (g * x_hat).sum(axis=axes, keepdims=True)) / (m * std)
    return dx, (grad_out * x_hat).sum(axis=axes), grad_out.sum(axis=axes)


def dropout_solution(x, p, rng):
    """Chapter 11's inverted dropout: drop with probability p, scale the survivors by 1/(1 - p)."""
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p)


def printed(checker, fn, capsys):
    checker(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out      # exactly one line, never a traceback
    return out.rstrip("\n")


def flip(weight):
    return weight[:, :, ::-1, ::-1]


CHECKERS = [check_conv2d_forward, check_conv2d_backward, check_max_pool2d_backward, check_batch_norm_backward,
            check_dropout]


def stub(*args, **kwargs):
    raise NotImplementedError


def raises(*args, **kwargs):
    raise ValueError("operands could not be broadcast\nsecond line")


@pytest.mark.parametrize("checker", CHECKERS)
def test_unanswered_raising_and_misused(checker, capsys):
    assert printed(checker, None, capsys).startswith("Not answered yet. Hint: ")
    assert printed(checker, stub, capsys).startswith("Not answered yet. Hint: ")
    line = printed(checker, raises, capsys)
    assert line.startswith("Not quite: your function raised ValueError: operands could not be broadcast (case 1 of")
    assert line.endswith("Hint: call your function on random arrays of these shapes to see which line fails")
    assert "second line" not in line
    assert printed(checker, lambda *args, **kwargs: None, capsys).startswith("Not quite: your function returned None")
    assert printed(checker, np.zeros(3), capsys).startswith("Not quite: pass your function itself")


@pytest.mark.parametrize("checker, solution", [
    (check_conv2d_forward, conv2d_solution), (check_conv2d_forward, F.conv2d),
    (check_conv2d_backward, conv2d_backward_solution), (check_conv2d_backward, F.conv2d_backward),
    (check_max_pool2d_backward, max_pool2d_backward_solution), (check_max_pool2d_backward, F.max_pool2d_backward),
    (check_batch_norm_backward, batch_norm_backward_solution),
    (check_batch_norm_backward, lambda g, x, gamma, eps: F.batch_norm_backward(g, x, gamma, training=True, eps=eps)),
    (check_dropout, dropout_solution), (check_dropout, F.dropout),
    (check_dropout, lambda x, p, rng: (dropout_solution(x, p, rng), None)[0]),
])
def test_correct_solutions_pass(checker, solution, capsys):
    assert printed(checker, solution, capsys).startswith("Correct! (")


def test_a_stub_finished_for_some_cases_only(capsys):
    def no_stride_yet(x, weight, bias, stride=1, padding=0):
        if stride > 1:
            raise NotImplementedError("stride")
        return conv2d_solution(x, weight, bias, stride, padding)

    line = printed(check_conv2d_forward, no_stride_yet, capsys)
    assert line.startswith("Not quite: your function raised NotImplementedError: stride (case 3 of 4")
    assert line.endswith("the cases before passed. Hint: finish it for this case too.")


def test_conv2d_forward_one_channel_only_and_one_axis_padded(capsys):
    line = printed(check_conv2d_forward, lambda x, w, b, stride=1, padding=0: conv2d_solution(
        x[:, :1], w[:, :1], b, stride, padding), capsys)
    assert line.startswith("Not quite: your output is wrong (case 1 of 4") and "sum over all input channels c" in line
    line = printed(check_conv2d_forward, lambda x, w, b, stride=1, padding=0: conv2d_solution(
        np.pad(x, ((0, 0), (0, 0), (padding, padding), (0, 0))), w, b, stride, 0), capsys)
    assert line.startswith("Not quite: your output has shape (2, 3, 4, 3), expected (2, 3, 4, 5) (case 2 of 4")
    assert "Hint: you padded only one of H and W" in line


def test_conv2d_forward_without_stride_and_padding_arguments(capsys):
    line = printed(check_conv2d_forward, lambda x, weight, bias: conv2d_solution(x, weight, bias), capsys)
    assert line.startswith("Correct! (4 cases") and "stride 1 and padding 0 only" in line


def conv2d_size(x, weight, stride, padding):
    return ((x.shape[2] + 2 * padding - weight.shape[2]) // stride + 1,
            (x.shape[3] + 2 * padding - weight.shape[3]) // stride + 1)


def conv2d_stride_in_shape_only(x, weight, bias, stride=1, padding=0):
    h_out, w_out = conv2d_size(x, weight, stride, padding)
    return conv2d_solution(x, weight, bias, 1, padding)[:, :, :h_out, :w_out]   # windows 1 apart, not `stride`


CONV_FORWARD_MISTAKES = [
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, flip(w), b, stride, padding),
     "Not quite: your output is wrong (case 1 of 4", "you turned the kernel by 180 degrees, which is true convolution"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, w, 0 * b, stride, padding),
     "Not quite: your output is wrong (case 1 of 4", "Hint: add bias[k] to every cell of output map k"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, flip(w), 0 * b, stride, padding),
     "Not quite: your output is wrong", "no flipping; and add bias[k]"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, w, b, stride, 0),
     "Not quite: your output has shape (2, 3, 2, 3), expected (2, 3, 4, 5) (case 2 of 4",
     "Hint: you did not pad x (or padded other axes than H and W): "
     "H_out = (H + 2P - kH)//S + 1 = (4 + 2*1 - 3)//1 + 1 = 4 and W_out = (5 + 2*1 - 3)//1 + 1 = 5"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, w, b, stride, padding)[:, :, :-1, :-1],
     "Not quite: your output has shape (2, 4, 2, 5), expected (2, 4, 3, 6) (case 1 of 4",
     "Hint: the output size is off by one: H_out = (H + 2P - kH)//S + 1"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(np.pad(x, padding), w, b, stride, 0),
     "Not quite: your function raised ValueError: operands could not be broadcast together",
     "Hint: pad only the H and W axes: np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(
        np.pad(x, ((0, 0), (0, 0), (0, 2 * padding), (0, 2 * padding))), w, b, stride, 0),
     "Not quite: your output is wrong (case 2 of 4", "not 2P on one side"),
    (conv2d_stride_in_shape_only, "Not quite: your output is wrong (case 3 of 4",
     "starts at row i*S, column j*S of the padded input"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, w, b, 1, padding),
     "Not quite: your output has shape (3, 2, 6, 5), expected (3, 2, 3, 3)", "Hint: you did not use the stride"),
    (lambda x, w, b, stride=1, padding=0: conv2d_solution(x, w, b, stride, padding).swapaxes(2, 3),
     "Not quite: your output has shape (2, 4, 6, 3)", "Hint: H and W are swapped"),
    (lambda x, w, b, stride=1, padding=0: np.repeat(conv2d_solution(x[:1], w, b, stride, padding), len(x), axis=0),
     "Not quite: your output is wrong", "Hint: compute every image of the batch"),
]


@pytest.mark.parametrize("wrong, start, hint", CONV_FORWARD_MISTAKES)
def test_conv2d_forward_mistakes(wrong, start, hint, capsys):
    line = printed(check_conv2d_forward, wrong, capsys)
    assert line.startswith(start)
    assert hint in line


def conv2d_backward_with(change):
    """The correct gradients with one of them replaced: change(grad_out, x, weight, stride, padding, grads)."""
    def backward(grad_out, x, weight, stride=1, padding=0):
        grads = list(conv2d_backward_solution(grad_out, x, weight, stride, padding))
        return change(grad_out, x, weight, stride, padding, grads)
    return backward


def replaced(index, value):
    def change(g, x, w, s, p, grads):
        grads[index] = value(g, x, w, s, p, grads)
        return tuple(grads)
    return change


CONV_BACKWARD_MISTAKES = [
    (replaced(0, lambda g, x, w, s, p, grads: conv2d_backward_solution(g, x, flip(w), s, p)[0]),
     "Not quite: dx is wrong (case 1 of 4", "full cross-correlation of grad_out with the kernel turned by 180 degrees"),
    (replaced(0, lambda g, x, w, s, p, grads: np.pad(grads[0], ((0, 0), (0, 0), (p, p), (p, p)))),
     "Not quite: dx has shape (2, 2, 6, 7), expected (2, 2, 4, 5) (case 2 of 4", "cut the padding off"),
    (replaced(1, lambda g, x, w, s, p, grads: conv2d_backward_solution(g[:1], x[:1], w, s, p)[1]),
     "Not quite: dw is wrong (case 1 of 4", "Hint: dw sums over every image of the batch"),
    (replaced(1, lambda g, x, w, s, p, grads: conv2d_backward_solution(g[-1:], x[-1:], w, s, p)[1]),
     "Not quite: dw is wrong (case 1 of 4", "Hint: dw sums over every image of the batch"),
    (replaced(1, lambda g, x, w, s, p, grads: grads[1] + 1.0),
     "Not quite: dw[", "Hint: dw[k, c, u, v] = the sum over n, i, j of grad_out[n, k, i, j]"),
    (replaced(1, lambda g, x, w, s, p, grads: grads[1] / len(x)),
     "Not quite: dw is wrong", "do not divide by N"),
    (replaced(1, lambda g, x, w, s, p, grads: np.stack([conv2d_backward_solution(g[n:n + 1], x[n:n + 1], w, s, p)[1]
                                                          for n in range(len(x))])),
     "Not quite: dw has shape (2, 4, 3, 3, 2), expected (4, 3, 3, 2)", "Hint: dw sums over every image of the batch"),
    (replaced(1, lambda g, x, w, s, p, grads: grads[1].swapaxes(0, 1)),
     "Not quite: dw has shape (3, 4, 3, 2)", "dw has weight's shape (K, C, kH, kW)"),
    (replaced(1, lambda g, x, w, s, p, grads: flip(grads[1])),
     "Not quite: dw is wrong", "no 180-degree turn"),
    (replaced(2, lambda g, x, w, s, p, grads: g.sum(axis=(2, 3))),
     "Not quite: db has shape (2, 4), expected (4,)", "db = grad_out.sum(axis=(0, 2, 3))"),
    (replaced(2, lambda g, x, w, s, p, grads: g.sum(axis=0)),
     "Not quite: db has shape (4, 3, 6), expected (4,)", "over the batch N and the positions H_out, W_out"),
    (replaced(2, lambda g, x, w, s, p, grads: g.mean(axis=(0, 2, 3))),
     "Not quite: db is wrong", "do not average it"),
    (replaced(2, lambda g, x, w, s, p, grads: g[0].sum(axis=(1, 2))),
     "Not quite: db is wrong", "db[k] sums grad_out[:, k] over the batch N"),
    (lambda g, x, w, s, p, grads: tuple(grads[:2]),
     "Not quite: your function returned 2 values (case 1 of 4", "Hint: return the tuple (dx, dw, db)."),
]


@pytest.mark.parametrize("change, start, hint", CONV_BACKWARD_MISTAKES)
def test_conv2d_backward_mistakes(change, start, hint, capsys):
    line = printed(check_conv2d_backward, conv2d_backward_with(change), capsys)
    assert line.startswith(start)
    assert hint in line


def test_conv2d_backward_numerical_check_catches_what_the_cases_do_not(capsys):
    # right on the hidden cases, wrong on the tiny case of the numerical gradient check
    def sneaky(grad_out, x, weight, stride=1, padding=0):
        dx, dw, db = conv2d_backward_solution(grad_out, x, weight, stride, padding)
        return (dx, 2 * dw, db) if x.shape == (2, 2, 4, 3) else (dx, dw, db)

    line = printed(check_conv2d_backward, sneaky, capsys)
    assert line.startswith("Not quite: dw disagrees with the numerical gradient (relative error")
    assert "(the numerical gradient check: x (2, 2, 4, 3), weight (3, 2, 2, 2), stride 2, padding 1)" in line


def max_pool2d_backward_routing(to_window):
    """Max pooling's backward where to_window(dx_window, window, delta) routes one window's gradient."""
    def backward(grad_out, x, kernel_size, stride):
        dx = np.zeros_like(x)
        k, s = kernel_size, stride
        for n, c, i, j in np.ndindex(*grad_out.shape):
            rows, cols = slice(i * s, i * s + k), slice(j * s, j * s + k)
            to_window(dx[n, c, rows, cols], x[n, c, rows, cols], grad_out[n, c, i, j])
        return dx
    return backward


def first_max(window):
    return np.unravel_index(np.argmax(window), window.shape)


def last_max(window):
    flat = np.flatnonzero(window == window.max())[-1]
    return np.unravel_index(flat, window.shape)


def assign_at(index):
    def route(target, window, delta):
        target[index(window)] = delta               # = instead of +=
    return route


def add_where(weights):
    def route(target, window, delta):
        target += delta * weights(window)
    return route


def overwrite_window(target, window, delta):
    mask = np.zeros_like(window)
    mask[first_max(window)] = 1
    target[...] = delta * mask                       # the whole window overwritten, zeros included


POOL_MISTAKES = [
    (add_where(lambda w: np.full_like(w, 1 / w.size)), "Not quite: dx is wrong (case 1 of 4",
     "spreading it over the window is average pooling's gradient"),
    (add_where(lambda w: np.ones_like(w)), "Not quite: dx is wrong (case 1 of 4", "to its maximum only"),
    (add_where(lambda w: (w == w.max()).astype(float)), "Not quite: dx is wrong (case 3 of 4 with tied maxima",
     "the first in row-major order, as np.argmax and PyTorch choose"),
    (add_where(lambda w: (w == w.max()) / np.sum(w == w.max())), "Not quite: dx is wrong (case 3 of 4 with tied maxima",
     "the whole gradient goes to one of them"),
    (assign_at(last_max), "Not quite: dx is wrong (case 2 of 4", "(+=, not =)"),
    (overwrite_window, "Not quite: dx is wrong (case 2 of 4", "windows overlap when stride < kernel_size"),
    (lambda target, window, delta: target.__setitem__(last_max(window), target[last_max(window)] + delta),
     "Not quite: dx is wrong (case 3 of 4 with tied maxima", "not to the last"),
]


@pytest.mark.parametrize("route, start, hint", POOL_MISTAKES)
def test_max_pool2d_backward_mistakes(route, start, hint, capsys):
    line = printed(check_max_pool2d_backward, max_pool2d_backward_routing(route), capsys)
    assert line.startswith(start)
    assert hint in line


def test_max_pool2d_backward_shape_and_stride(capsys):
    line = printed(check_max_pool2d_backward, lambda g, x, k, s: g.copy(), capsys)
    assert line.startswith("Not quite: dx has shape (2, 3, 2, 3), expected (2, 3, 4, 6)")
    assert "dx has the shape of the input x, not of grad_out" in line
    line = printed(check_max_pool2d_backward, lambda g, x, k, s: max_pool2d_backward_solution(g, x, k, k), capsys)
    assert line.startswith("Not quite: dx is wrong (case 2 of 4") and "starts at row i*stride" in line


def batch_norm_backward_with(axes=None, ddof=0, constant=False, over_m=True, eps=None, use_gamma=True,
                             dgamma_of_x=False, mean_params=False):
    """Chapter 10's gradients with one typical mistake switched on."""
    def backward(grad_out, x, gamma, eps_given=1e-5):
        e = eps_given if eps is None else eps
        ax = (0,) + tuple(range(2, x.ndim)) if axes is None else axes
        m = int(np.prod([x.shape[a] for a in ax]))
        std = np.sqrt(x.var(axis=ax, ddof=ddof, keepdims=True) + e)
        x_hat = (x - x.mean(axis=ax, keepdims=True)) / std
        g = grad_out * (gamma.reshape((1, -1) + (1,) * (x.ndim - 2)) if use_gamma else 1.0)
        if constant:
            dx = g / std
        else:
            dx = (m * g - g.sum(axis=ax, keepdims=True) - x_hat * (g * x_hat).sum(axis=ax, keepdims=True)) / std
            dx = dx / m if over_m else dx
        per_channel = (0,) + tuple(range(2, x.ndim))
        dgamma = (grad_out * (x if dgamma_of_x else x_hat)).sum(axis=per_channel)
        dbeta = grad_out.sum(axis=per_channel)
        if mean_params:
            dgamma, dbeta = dgamma / m, dbeta / m
        return dx, dgamma, dbeta
    return backward


BN_MISTAKES = [
    (dict(constant=True), "Not quite: dx is wrong (case 1 of 3", "the batch mean and variance depend on x too"),
    (dict(over_m=False), "Not quite: dx is wrong (case 1 of 3", "so their terms carry a factor 1/M"),
    (dict(ddof=1), "Not quite: dx is wrong (case 1 of 3", "uses the biased variance, divided by M"),
    (dict(axes=(1, 2, 3)), "Not quite: dx is wrong (case 1 of 3", "never over the channel axis 1"),
    (dict(axes=(0, 1, 2, 3)), "Not quite: dx is wrong (case 1 of 3", "each channel on its own"),
    (dict(use_gamma=False), "Not quite: dx is wrong (case 1 of 3", "dL/dx_hat = grad_out * gamma"),
    (dict(eps=1e-5), "Not quite: dx is wrong (case 3 of 3", "use the eps you are given"),
    (dict(dgamma_of_x=True), "Not quite: dgamma is wrong (case 1 of 3", "not x"),
    (dict(mean_params=True), "Not quite: dgamma is wrong (case 1 of 3", "do not average"),
]


@pytest.mark.parametrize("mistake, start, hint", BN_MISTAKES)
def test_batch_norm_backward_mistakes(mistake, start, hint, capsys):
    line = printed(check_batch_norm_backward, batch_norm_backward_with(**mistake), capsys)
    assert line.startswith(start)
    assert hint in line


def test_batch_norm_backward_2d_input_and_in_place_changes(capsys):
    def only_4d(grad_out, x, gamma, eps=1e-5):
        x.mean(axis=(0, 2, 3))                      # written for (N, C, H, W) only
        return batch_norm_backward_solution(grad_out, x, gamma, eps)

    line = printed(check_batch_norm_backward, only_4d, capsys)
    assert line.startswith("Not quite: your function raised AxisError") and "(case 2 of 3: grad_out (8, 5)" in line
    assert "axes = (0,) + tuple(range(2, x.ndim))" in line

    def in_place(grad_out, x, gamma, eps=1e-5):
        result = batch_norm_backward_solution(grad_out, x, gamma, eps)
        x -= x.mean(axis=0)
        return result

    line = printed(check_batch_norm_backward, in_place, capsys)
    assert line.startswith("Not quite: your function changed its argument x in place (case 1 of 3")

    def keepdims(grad_out, x, gamma, eps=1e-5):
        dx, dgamma, dbeta = batch_norm_backward_solution(grad_out, x, gamma, eps)
        return dx, dgamma.reshape((1, -1) + (1,) * (x.ndim - 2)), dbeta
    line = printed(check_batch_norm_backward, keepdims, capsys)
    assert line.startswith("Not quite: dgamma has shape (1, 3, 1, 1), expected (3,)")
    assert "one value per channel: shape (C,)" in line


def dropout_with(keep_probability=None, scale=None, rng_of=None, shape_of=None, mask=False):
    """Inverted dropout with one typical mistake: keep_probability(p), scale(p), the generator used, the
    shape of the random draw, or a returned mask that does not match."""
    def dropout(x, p, rng):
        gen = rng if rng_of is None else rng_of(rng)
        draw_shape = x.shape if shape_of is None else shape_of(x)
        keep = gen.random(draw_shape) < (1 - p if keep_probability is None else keep_probability(p))
        out = x * keep * (1 / (1 - p) if scale is None else scale(p))
        return (out, np.ones_like(x)) if mask else out
    return dropout


DROPOUT_MISTAKES = [
    (dict(scale=lambda p: 1.0), "Not quite: the kept units are not x / (1 - p) (dropped 20.",
     "without it this is the original dropout"),
    (dict(scale=lambda p: 1 / p), "Not quite: the kept units are not x / (1 - p)", "not by 1/p"),
    (dict(keep_probability=lambda p: p), "Not quite: you dropped 80.", "p is the probability of dropping a unit"),
    (dict(keep_probability=lambda p: p, scale=lambda p: 1 / p), "Not quite: the kept units are not x / (1 - p)",
     "CS231n's p is the keep probability"),
    (dict(scale=lambda p: 2.0), "Not quite: the kept units are not x / (1 - p)",
     "a kept unit is x / (1 - p), a dropped one 0"),
    (dict(rng_of=lambda rng: np.random.default_rng()),
     "Not quite: two generators with the same seed gave different outputs (case 1 of 2",
     "draw the random numbers from the rng you are given"),
    (dict(shape_of=lambda x: x.shape[1:]), "Not quite: every slice along axis 0 drops the same units",
     "draw one random number for every unit"),
    (dict(shape_of=lambda x: ()), "Not quite: you dropped", "draw one random number for every unit"),
    (dict(mask=True), "Not quite: out is not x times the mask you returned",
     "return the mask that x was multiplied by"),
]


@pytest.mark.parametrize("mistake, start, hint", DROPOUT_MISTAKES)
def test_dropout_mistakes(mistake, start, hint, capsys):
    line = printed(check_dropout, dropout_with(**mistake), capsys)
    assert line.startswith(start)
    assert hint in line


def test_dropout_given_a_mask_instead_of_rng(capsys):
    line = printed(check_dropout, lambda x, p, mask: x * mask, capsys)
    assert line.startswith("Not quite: check_dropout calls your function as fn(x, p, rng)")


def test_dropout_accepts_a_0_1_mask_and_a_keyword_rng(capsys):
    def with_keep_mask(x, p, *, rng):
        keep = rng.random(x.shape) >= p
        return x * keep / (1 - p), keep
    assert printed(check_dropout, with_keep_mask, capsys).startswith("Correct!")


@settings(max_examples=30, deadline=None)
@given(checker=st.sampled_from(CHECKERS),
       shape=st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple),
       parts=st.integers(1, 3), value=st.sampled_from([0.0, 1.0, np.nan]))
def test_any_result_gives_one_line(checker, shape, parts, value):
    # whatever a learner's function returns, the checker answers with one line, never an exception
    result = np.full(shape, value)

    def fn(*args, **kwargs):
        return result if parts == 1 else (result,) * parts

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        checker(fn)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.startswith(("Correct!", "Not quite: ")), text
