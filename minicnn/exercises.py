"""Automatic feedback for the notebooks' exercises, in one printed line.

Two kinds of exercise:

- **Answer exercises.** A cell leaves ``answer = None`` for the learner to fill in; `check` compares it
  with the expected value (computed by the notebook with minicnn, never typed in), so a fresh run shows
  "Not answered yet." and the worked solution further down shows "Correct!".
- **Implement-it exercises** (as in CS231n's assignments). The learner writes a function in a stub cell
  whose body is ``raise NotImplementedError`` and passes it to a checker, e.g.
  ``check_conv2d_forward(my_conv2d)``. The checker runs it on hidden, seeded random cases (batches and
  channels > 1, non-square images, stride and padding) against `minicnn.reference`, backward passes also
  against a numerical gradient (`minicnn.gradcheck`), and prints "Correct! (...)", "Not answered yet. Hint:
  ..." while the stub is untouched, or "Not quite: ..." with a hint. When the learner's result equals one of
  the typical wrong versions the checker also computes (a flipped kernel, a forgotten 1/M, ...), the hint
  names that mistake. An error inside the learner's function is reported in the line, never as a traceback.

The checkers know the right results and the typical wrong ones, not the solutions: those stay in the notebooks.
"""
import inspect
import warnings

import numpy as np

from minicnn import reference
from minicnn.gradcheck import gradcheck

__all__ = ["check", "feedback", "check_conv2d_forward", "check_conv2d_backward", "check_max_pool2d_backward",
           "check_batch_norm_backward", "check_dropout"]


def check(answer, expected, hint="", rtol=1e-6, atol=1e-9):
    """Print one line of feedback on `answer` against `expected`.

    It returns nothing, so the feedback line is all an exercise cell shows.

    Parameters
    ----------
    answer : scalar, tuple or array-like, or None
        The learner's answer; None means "not attempted yet".
    expected : scalar, tuple or array-like
        The right answer.
    hint : str
        Shown when the answer is missing or wrong.
    rtol, atol : float
        Tolerances for numbers (``numpy.allclose``).

    Examples
    --------
    >>> check(None, 28, hint="use (N - F + 2P)/S + 1")
    Not answered yet. Hint: use (N - F + 2P)/S + 1
    >>> check(28, 28)
    Correct!
    >>> check((1, 2), (1, 3), hint="look again")
    Not quite: your answer is [1 2]. Hint: look again
    """
    print(feedback(answer, expected, hint, rtol, atol))


def feedback(answer, expected, hint="", rtol=1e-6, atol=1e-9):
    """The line `check` prints: starts with "Correct!", "Not answered yet." or "Not quite:"."""
    suffix = f" Hint: {hint}" if hint else ""
    if answer is None:
        return f"Not answered yet.{suffix}"
    got, want = np.asarray(answer), np.asarray(expected)
    if got.shape != want.shape:
        return f"Not quite: expected shape {want.shape}, got shape {got.shape}.{suffix}"
    if want.dtype.kind in "biuf" and got.dtype.kind in "biuf":
        ok = bool(np.allclose(got, want, rtol=rtol, atol=atol))
    else:
        ok = bool(np.array_equal(got, want))
    return "Correct!" if ok else f"Not quite: your answer is {_short(answer)}.{suffix}"


def _short(value):
    text = np.array2string(np.asarray(value), precision=4, threshold=8) if np.ndim(value) else f"{value}"
    return text if len(text) < 80 else text[:77] + "..."


# ================================================================ implement-it checkers: the machinery


class _Stop(Exception):
    """Ends a check early; its message is the feedback line."""


class _NotAnswered(Exception):
    """The learner's function is still the stub: it raised NotImplementedError."""


def _run(check_cases, fn, todo):
    """Print the one line of an implement-it check: ``check_cases(fn)`` returns the "Correct!" line or raises."""
    if fn is None:
        line = f"Not answered yet. Hint: {todo}"
    elif not callable(fn):
        line = (f"Not quite: pass your function itself (its name, without parentheses), "
                f"got {type(fn).__name__}.")
    else:
        try:
            line = check_cases(fn)
        except _NotAnswered:
            line = f"Not answered yet. Hint: {todo}"
        except _Stop as stop:
            line = str(stop)
    print(line)


def _hint(text):
    return f" Hint: {text}" if text else ""


def _where(label, **settings):
    """'(case 2 of 4: x (3, 2, 6, 5), stride 2)': which case failed, with the shapes to reproduce it."""
    parts = [f"{name} {value.shape}" if isinstance(value, np.ndarray) else f"{name} {value}"
             for name, value in settings.items()]
    return f"({label}: {', '.join(parts)})"


NUMERICAL = "the numerical gradient check"
RAISED = "call your function on random arrays of these shapes to see which line fails"


def _error_text(error):
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _call(fn, arrays, options=(), keywords=None, where="", hint="", first=False):
    """``fn(*arrays, *options, **keywords)`` with copies of the named `arrays`; returns its result.

    A stub (NotImplementedError on the `first` call) ends the check as not answered; any other exception, a
    None result or a changed input ends it as not quite, so the learner sees one line, never a traceback.
    """
    copies = [np.array(value, copy=True) for _, value in arrays]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")   # one line of feedback, not a page of RuntimeWarnings
            result = fn(*copies, *options, **(keywords or {}))
    except NotImplementedError as error:
        if first:
            raise _NotAnswered from None
        raise _Stop(f"Not quite: your function raised {_error_text(error)} {where}; the cases before passed. "
                    f"Hint: finish it for this case too.") from None
    except Exception as error:   # the learner's bug, shown as one line
        raise _Stop(f"Not quite: your function raised {_error_text(error)} {where}.{_hint(hint or RAISED)}") from None
    for (name, value), copy in zip(arrays, copies):
        if copy.shape != value.shape or not np.array_equal(copy, value, equal_nan=True):
            raise _Stop(f"Not quite: your function changed its argument {name} in place {where}. Hint: work on "
                        f"new arrays (x = x - mean, not x -= mean) so that the caller's data stays as it was.")
    if result is None:
        raise _Stop(f"Not quite: your function returned None {where}. Hint: end it with a return statement.")
    return result


def _parts(result, names, where):
    """The learner's tuple of results, e.g. (dx, dw, db), each checked to be there."""
    wanted = f"({', '.join(names)})"
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = (f"{len(result)} values" if isinstance(result, (tuple, list))
               else f"one {type(result).__name__}")
        raise _Stop(f"Not quite: your function returned {got} {where}. Hint: return the tuple {wanted}.")
    for name, value in zip(names, result):
        if value is None:
            raise _Stop(f"Not quite: {name} is None {where}. Hint: return the tuple {wanted}, each an array.")
    return result


def _array(value, what, where):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Stop(f"Not quite: {what} must be an array of numbers, got {type(value).__name__} {where}.") from None


def _close(got, want):
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-5, atol=1e-8 * scale))


def _match(got, want, what, where, hint="", shape_hint=None, mistakes=()):
    """Compare the learner's `got` (named `what`) with `want`, or stop with the best hint there is.

    `mistakes` holds (make, hint) pairs: ``make()`` computes a typical wrong result, and if the learner's
    equals it (and it differs from the right one) that hint is given. `shape_hint(shape)` explains a wrong shape.
    """
    got = _array(got, what, where)
    if got.shape != want.shape:
        why = shape_hint(got.shape) if shape_hint else hint
        raise _Stop(f"Not quite: {what} has shape {got.shape}, expected {want.shape} {where}.{_hint(why)}")
    if _close(got, want):
        return
    for make, mistake in mistakes:
        try:
            wrong = np.asarray(make(), dtype=np.float64)
        except (ValueError, IndexError):   # this mistake cannot happen for this case
            continue
        if _close(got, wrong) and not _close(wrong, want):
            raise _Stop(f"Not quite: {what} is wrong {where}.{_hint(mistake)}")
    if not np.all(np.isfinite(got)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise _Stop(f"Not quite: {what}{list(index)} is {got[index]} {where}.{_hint(hint)}")
    index = np.unravel_index(int(np.argmax(np.abs(got - want))), got.shape)
    raise _Stop(f"Not quite: {what}{[int(i) for i in index]} is {got[index]:.4g}, expected {want[index]:.4g} "
                f"{where}.{_hint(hint)}")


def _numerical_check(forward, backward, inputs, names, where):
    """Stop unless `backward` agrees with the central differences of `forward` (`minicnn.gradcheck`)."""
    try:
        errors = gradcheck(forward, backward, inputs, tol=np.inf)
    except (_Stop, _NotAnswered):
        raise
    except Exception as error:   # a result gradcheck refuses, e.g. a wrong shape
        raise _Stop(f"Not quite: the numerical gradient check failed: {_error_text(error)} {where}.") from None
    worst = int(np.argmax(errors))
    if not errors[worst] <= 1e-6:
        raise _Stop(f"Not quite: {names[worst]} disagrees with the numerical gradient (relative error "
                    f"{errors[worst]:.1e}) {where}. Hint: compare it entry by entry with "
                    f"minicnn.gradcheck.numerical_gradient on a tiny input.")


def _settings_style(fn, names, n_arrays):
    """How fn takes the settings `names` (e.g. stride, padding): 'keyword', 'position' or None (it has none)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):   # some builtins have no signature: try keywords
        return "keyword"
    if set(names) <= {p.name for p in params} or any(p.kind == p.VAR_KEYWORD for p in params):
        return "keyword"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= n_arrays + len(names) or any(p.kind == p.VAR_POSITIONAL for p in params):
        return "position"
    return None


def _settings(style, **values):
    """(options, keywords) that pass `values` in the given style."""
    if style == "keyword":
        return (), values
    return (tuple(values.values()), {}) if style == "position" else ((), {})


def _flip(weight):
    return weight[:, :, ::-1, ::-1]


# ================================================================ convolution


CONV_TODO = ("pad x with P zeros on each side of H and W, then out[n, k, i, j] = bias[k] + the sum over c, u, v "
             "of weight[k, c, u, v] * x_padded[n, c, i*S + u, j*S + v], for i < H_out = (H + 2P - kH)//S + 1")
CONV_FLIPPED = ("you turned the kernel by 180 degrees, which is true convolution; a CNN layer computes "
                "cross-correlation: weight[k, c, u, v] multiplies x_padded[n, c, i*S + u, j*S + v], no flipping")
CONV_NO_BIAS = "add bias[k] to every cell of output map k"
CONV_STRIDE = ("the window of output cell (i, j) starts at row i*S, column j*S of the padded input "
               "(the stride moves the window), not at row i, column j")
CONV_ONE_SIDE = "pad P zeros on every side (top and bottom, left and right), not 2P on one side"
CONV_BATCH = "compute every image of the batch: out[n] comes from x[n]"
CONV_CHANNELS = "sum over all input channels c: each filter weight[k] spans every channel of x"
CONV_PAD_AXES = "pad only the H and W axes: np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))"


def check_conv2d_forward(fn):
    """Check a learner's ``fn(x, weight, bias, stride=1, padding=0) -> out``: a convolution layer's forward pass.

    x is (N, C, H, W), weight (K, C, kH, kW), bias (K,), out (N, K, H_out, W_out) with
    H_out = (H + 2P - kH)//S + 1: a cross-correlation, as in PyTorch. The hidden cases have batches and
    channels > 1, non-square images and kernels, and strides 1 to 3 with padding 0 to 2 if fn's signature
    has stride and padding (by those names, or as 4th and 5th arguments); otherwise stride 1 and padding 0.
    Detected mistakes: a flipped kernel (true convolution), a missing bias, a wrong output size (the
    expected shape and the formula are shown), missing or one-sided padding, padding of the batch or channel
    axes, an ignored stride, a batch or channel sum left out.

    Prints one line, like `check`.

    Examples
    --------
    >>> def my_conv2d(x, weight, bias, stride=1, padding=0):
    ...     raise NotImplementedError   # the learner's stub
    >>> check_conv2d_forward(my_conv2d)
    Not answered yet. Hint: pad x with P zeros on each side of H and W, then out[n, k, i, j] = ...
    >>> check_conv2d_forward(reference.conv2d)
    Correct! (4 cases: batches and channels > 1, non-square images and kernels, stride 1 to 3, padding 0 to 2)
    """
    _run(_conv2d_forward, fn, CONV_TODO)


def _conv_cases(strided):
    """The hidden cases (x, weight, bias, grad_out, stride, padding); stride 1 and padding 0 if not `strided`."""
    rng = np.random.default_rng(2024)
    layouts = [((2, 3, 5, 7), (4, 3, 3, 2), 1, 0),
               ((2, 2, 4, 5), (3, 2, 3, 3), 1, 1),
               ((3, 2, 6, 5), (2, 2, 3, 3), 2, 1),    # (6 + 2 - 3)/2 is not whole: the size rounds down
               ((2, 1, 7, 8), (3, 1, 2, 3), 3, 2)]
    cases = []
    for x_shape, w_shape, stride, padding in layouts:
        stride, padding = (stride, padding) if strided else (1, 0)
        x, weight, bias = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
                           rng.standard_normal(w_shape[0]))
        grad_out = rng.standard_normal(reference.conv2d(x, weight, bias, stride, padding).shape)
        cases.append((x, weight, bias, grad_out, stride, padding))
    return cases


def _conv_passed(style, n_cases):
    if style is None:
        return (f"Correct! ({n_cases} cases: batches and channels > 1, non-square images and kernels; "
                f"stride 1 and padding 0 only, as your function takes no stride and padding)")
    return (f"Correct! ({n_cases} cases: batches and channels > 1, non-square images and kernels, "
            f"stride 1 to 3, padding 0 to 2)")


def _conv_where(label, style, arrays, stride, padding):
    if style is None:
        return _where(label, **arrays)
    return _where(label, **arrays, stride=stride, padding=padding)


def _conv_size_hint(x, weight, stride, padding):
    """The explanation of a wrong output shape: the likely cause, then the formula with this case's numbers."""
    n, c, h, w = x.shape
    k, _, kh, kw = weight.shape

    def shape(pad_h, pad_w, step):
        return n, k, (h + 2 * pad_h - kh) // step + 1, (w + 2 * pad_w - kw) // step + 1

    want = shape(padding, padding, stride)
    formula = (f"H_out = (H + 2P - kH)//S + 1 = ({h} + 2*{padding} - {kh})//{stride} + 1 = {want[2]} and "
               f"W_out = ({w} + 2*{padding} - {kw})//{stride} + 1 = {want[3]}")

    def explain(got):
        if padding and got == shape(0, 0, stride):
            why = "you did not pad x (or padded other axes than H and W): "
        elif padding and got in (shape(padding, 0, stride), shape(0, padding, stride)):
            why = "you padded only one of H and W: "
        elif stride > 1 and got == shape(padding, padding, 1):
            why = "you did not use the stride: "
        elif len(got) == 4 and got[2:] == want[:1:-1] and got[2:] != want[2:]:
            why = "H and W are swapped: "
        elif len(got) == 4 and padding and (got[0] == n + 2 * padding or got[1] == c + 2 * padding):
            return CONV_PAD_AXES
        elif len(got) != 4 or got[:2] != (n, k):
            why = "out has one map per filter for every image, shape (N, K, H_out, W_out): "
        elif abs(got[2] - want[2]) <= 1 and abs(got[3] - want[3]) <= 1:
            why = "the output size is off by one: "
        else:
            why = ""
        return why + formula

    return explain


def _conv2d_forward(fn):
    style = _settings_style(fn, ("stride", "padding"), 3)
    cases = _conv_cases(strided=style is not None)
    for number, (x, weight, bias, _, stride, padding) in enumerate(cases, 1):
        where = _conv_where(f"case {number} of {len(cases)}", style, dict(x=x, weight=weight), stride, padding)
        options, keywords = _settings(style, stride=stride, padding=padding)
        out = _call(fn, [("x", x), ("weight", weight), ("bias", bias)], options, keywords, where,
                    hint=CONV_PAD_AXES if padding else "", first=number == 1)
        want = reference.conv2d(x, weight, bias, stride, padding)
        h_out, w_out = want.shape[2:]

        def conv(x=x, weight=weight, bias=bias, stride=stride, padding=padding):
            return reference.conv2d(x, weight, bias, stride, padding)

        mistakes = [
            (lambda: conv(weight=_flip(weight)), CONV_FLIPPED),
            (lambda: conv(bias=None), CONV_NO_BIAS),
            (lambda: conv(weight=_flip(weight), bias=None), f"{CONV_FLIPPED}; and {CONV_NO_BIAS}"),
            (lambda: conv(stride=1)[:, :, :h_out, :w_out], CONV_STRIDE),
            (lambda: conv(x=np.pad(x, ((0, 0), (0, 0), (0, 2 * padding), (0, 2 * padding))), padding=0),
             CONV_ONE_SIDE),
            (lambda: np.broadcast_to(want[:1], want.shape), CONV_BATCH),
            (lambda: conv(x=x[:, :1], weight=weight[:, :1]), CONV_CHANNELS),
        ]
        _match(out, want, "your output", where, hint=CONV_TODO,
               shape_hint=_conv_size_hint(x, weight, stride, padding), mistakes=mistakes)
    return _conv_passed(style, len(cases))


CONV_BACKWARD_TODO = ("every output cell passes grad_out[n, k, i, j] back: times its input window into dw[k], "
                      "times weight[k] into that window of dx_padded (then cut the padding off); "
                      "db = grad_out.sum(axis=(0, 2, 3))")
DX_FLIPPED = ("dx is the full cross-correlation of grad_out with the kernel turned by 180 degrees (a transposed "
              "convolution); you used the kernel unturned. Loop form: each window adds "
              "grad_out[n, k, i, j] * weight[k] onto the cells of x_padded it covered")
DX_SHAPE = "dx has the shape of x"
DX_PADDED = "dx has the shape of x: cut the padding off, dx_padded[:, :, P:P + H, P:P + W]"
DW_FORMULA = "dw[k, c, u, v] = the sum over n, i, j of grad_out[n, k, i, j] * x_padded[n, c, i*S + u, j*S + v]"
DW_BATCH = f"dw sums over every image of the batch: {DW_FORMULA}"
DW_MEAN = f"sum over the batch, do not divide by N (any 1/N of the loss is already in grad_out): {DW_FORMULA}"
DW_FLIPPED = f"dw is the valid cross-correlation of x with grad_out, with no 180-degree turn: {DW_FORMULA}"
DW_CHANNELS = f"dw[k, c] pairs output map k with input channel c; do not sum over c: {DW_FORMULA}"
DW_SWAPPED = "dw has weight's shape (K, C, kH, kW): dw[k, c] pairs output map k with input channel c"
DB_SUM = ("db[k] sums grad_out[:, k] over the batch N and the positions H_out, W_out: "
          "db = grad_out.sum(axis=(0, 2, 3))")
DB_MEAN = "sum grad_out, do not average it: db = grad_out.sum(axis=(0, 2, 3))"


def check_conv2d_backward(fn):
    """Check a learner's ``fn(grad_out, x, weight, stride=1, padding=0) -> (dx, dw, db)``: a convolution's gradients.

    Shapes as in `check_conv2d_forward`; grad_out is (N, K, H_out, W_out), and dx, dw, db have the shapes of
    x, weight and bias. The hidden cases are those of `check_conv2d_forward` (with stride and padding if fn
    takes them), then a numerical gradient check on a tiny case. Detected mistakes: dx computed with the
    unturned kernel (it is a full correlation with the 180-degree-turned kernel), dx with the padding left on,
    dw without the batch sum, averaged over the batch, turned, summed over the channels or with K and C swapped,
    db not summed over N, H and W (or averaged).

    Prints one line, like `check`.

    Examples
    --------
    >>> def my_conv2d_backward(grad_out, x, weight, stride=1, padding=0):
    ...     raise NotImplementedError
    >>> check_conv2d_backward(my_conv2d_backward)
    Not answered yet. Hint: every output cell passes grad_out[n, k, i, j] back: ...
    >>> check_conv2d_backward(reference.conv2d_backward)
    Correct! (4 cases: ...; and the numerical gradient check)
    """
    _run(_conv2d_backward, fn, CONV_BACKWARD_TODO)


def _dw_shape_hint(x, weight, grad_out):
    n, c = x.shape[:2]
    k, _, kh, kw = weight.shape
    known = {(n, k, c, kh, kw): DW_BATCH, (c, k, kh, kw): DW_SWAPPED, (k, kh, kw): DW_CHANNELS,
             (c, kh, kw): f"dw keeps one kernel per output map k; do not sum over k: {DW_FORMULA}"}
    return lambda got: known.get(got, f"dw has weight's shape (K, C, kH, kW): {DW_FORMULA}")


def _conv2d_backward(fn):
    style = _settings_style(fn, ("stride", "padding"), 3)
    cases = _conv_cases(strided=style is not None)
    for number, (x, weight, _, grad_out, stride, padding) in enumerate(cases, 1):
        where = _conv_where(f"case {number} of {len(cases)}", style, dict(grad_out=grad_out, x=x, weight=weight),
                            stride, padding)
        options, keywords = _settings(style, stride=stride, padding=padding)
        result = _call(fn, [("grad_out", grad_out), ("x", x), ("weight", weight)], options, keywords, where,
                       hint=CONV_PAD_AXES if padding else "", first=number == 1)
        dx, dw, db = _parts(result, ("dx", "dw", "db"), where)
        want_dx, want_dw, want_db = reference.conv2d_backward(grad_out, x, weight, stride, padding)

        def grads(grad_out=grad_out, x=x, weight=weight):
            return reference.conv2d_backward(grad_out, x, weight, stride, padding)

        padded = (x.shape[0], x.shape[1], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding)
        _match(dx, want_dx, "dx", where, hint=CONV_BACKWARD_TODO,
               shape_hint=lambda got: DX_PADDED if padding and got == padded else DX_SHAPE,
               mistakes=[(lambda: grads(weight=_flip(weight))[0], DX_FLIPPED)])
        _match(dw, want_dw, "dw", where, hint=DW_FORMULA, shape_hint=_dw_shape_hint(x, weight, grad_out),
               mistakes=[(lambda: want_dw / len(x), DW_MEAN),
                         (lambda: grads(grad_out=grad_out[:1], x=x[:1])[1], DW_BATCH),
                         (lambda: grads(grad_out=grad_out[-1:], x=x[-1:])[1], DW_BATCH),
                         (lambda: _flip(want_dw), DW_FLIPPED),
                         (lambda: np.broadcast_to(want_dw.sum(axis=1, keepdims=True), want_dw.shape), DW_CHANNELS)])
        _match(db, want_db, "db", where, hint=DB_SUM, shape_hint=lambda got: DB_SUM,
               mistakes=[(lambda: grad_out.mean(axis=(0, 2, 3)), DB_MEAN),
                         (lambda: grad_out[0].sum(axis=(1, 2)), DB_SUM)])

    # the numerical gradient check, on a tiny case: dL/dx, dL/dw, dL/db of L = sum(conv2d(x, w, b) * g)
    stride, padding = (2, 1) if style is not None else (1, 0)
    rng = np.random.default_rng(7)
    tiny = [rng.standard_normal((2, 2, 4, 3)), rng.standard_normal((3, 2, 2, 2)), rng.standard_normal(3)]
    where = _conv_where(NUMERICAL, style, dict(x=tiny[0], weight=tiny[1]), stride, padding)
    options, keywords = _settings(style, stride=stride, padding=padding)

    def learners(grad_out, x, weight, bias):
        return _call(fn, [("grad_out", grad_out), ("x", x), ("weight", weight)], options, keywords, where)

    _numerical_check(lambda x, w, b: reference.conv2d(x, w, b, stride, padding), learners, tiny,
                     ("dx", "dw", "db"), where)
    return _conv_passed(style, len(cases))[:-1] + f"; and {NUMERICAL})"


# ================================================================ max pooling


POOL_TODO = ("for every cell (n, c, i, j) of grad_out, add grad_out[n, c, i, j] to dx at the position of the "
             "maximum of its window x[n, c, i*S:i*S + k, j*S:j*S + k] (np.argmax: the first maximum); "
             "every other cell of dx stays 0")
POOL_SPREAD = ("max pooling sends each window's gradient to its maximum only (the other cells did not change "
               "the output); spreading it over the window is average pooling's gradient")
POOL_TIES = ("when several cells of a window tie for the maximum, the whole gradient goes to one of them: "
             "the first in row-major order, as np.argmax and PyTorch choose")
POOL_LAST = ("ties go to the first maximum in row-major order (np.argmax's choice, as in PyTorch), "
             "not to the last")
POOL_OVERLAP = ("windows overlap when stride < kernel_size: a cell that is the maximum of several windows "
                "collects the sum of their gradients (+=, not =)")
POOL_STRIDE = "window (i, j) starts at row i*stride, column j*stride of x"


def check_max_pool2d_backward(fn):
    """Check a learner's ``fn(grad_out, x, kernel_size, stride) -> dx``: max pooling's gradient.

    x is (N, C, H, W), grad_out (N, C, H_out, W_out) with H_out = (H - kernel_size)//stride + 1, and dx has
    x's shape; kernel_size and stride are ints, no padding. Each window's gradient goes to its maximum; of tied
    maxima, to the first in row-major order (np.argmax's and PyTorch's rule). The hidden cases have batches
    and channels > 1, non-square maps with leftover rows and columns, overlapping windows (stride <
    kernel_size) and tied maxima, then a numerical gradient check on a tiny case without ties. Detected
    mistakes: the gradient spread over the window (average-pool style), sent to every tied maximum (or split
    between them, or to the last one), overlapping windows overwriting instead of adding up, stride ignored.

    Prints one line, like `check`.

    Examples
    --------
    >>> check_max_pool2d_backward(None)
    Not answered yet. Hint: for every cell (n, c, i, j) of grad_out, add grad_out[n, c, i, j] to dx ...
    >>> check_max_pool2d_backward(reference.max_pool2d_backward)
    Correct! (4 cases: ...; and the numerical gradient check)
    """
    _run(_max_pool2d_backward, fn, POOL_TODO)


def _pool_routed(grad_out, x, kernel_size, stride, rule="first", step=None):
    """Max pooling's gradient sent by `rule`: 'first' (right), or the typical mistakes 'last', 'all' (every tied
    maximum), 'split' (shared by the tied maxima), 'spread' (average pooling), 'spread_all' (the full gradient to
    every cell), 'assign' (= instead of +=), 'assign_window' (the whole window overwritten with the routed gradient,
    zeros included); windows `step` apart (the stride; the kernel size if it was ignored)."""
    step = stride if step is None else step
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*grad_out.shape):
        rows, cols = slice(i * step, i * step + kernel_size), slice(j * step, j * step + kernel_size)
        window, delta = x[n, c, rows, cols], grad_out[n, c, i, j]
        target = dx[n, c, rows, cols]   # a view: writing to it writes to dx
        winners = window == window.max()
        if rule == "spread":
            target += delta / window.size
        elif rule == "spread_all":
            target += delta
        elif rule == "all":
            target += delta * winners
        elif rule == "split":
            target += delta * winners / winners.sum()
        else:
            flat = np.flatnonzero(winners)
            u, v = divmod(int(flat[-1] if rule == "last" else flat[0]), window.shape[1])
            if rule == "assign_window":
                target[...] = 0.0
            if rule in ("assign", "assign_window"):
                target[u, v] = delta
            else:
                target[u, v] += delta
    return dx


def _max_pool2d_backward(fn):
    rng = np.random.default_rng(8)
    cases = [(rng.standard_normal((2, 3, 4, 6)), 2, 2, ""),
             (rng.standard_normal((2, 2, 6, 7)), 3, 2, ""),        # overlapping windows, a leftover row
             (rng.integers(0, 3, (2, 3, 4, 6)).astype(np.float64), 2, 2, " with tied maxima"),
             (rng.integers(0, 4, (3, 2, 5, 5)).astype(np.float64), 2, 1, " with tied maxima")]
    for number, (x, kernel_size, stride, ties) in enumerate(cases, 1):
        grad_out = rng.standard_normal(reference.max_pool2d(x, kernel_size, stride).shape)
        where = _where(f"case {number} of {len(cases)}{ties}", grad_out=grad_out, x=x, kernel_size=kernel_size,
                       stride=stride)
        dx = _call(fn, [("grad_out", grad_out), ("x", x)], (kernel_size, stride), where=where, first=number == 1)
        want = reference.max_pool2d_backward(grad_out, x, kernel_size, stride)

        def routed(rule, step=None, grad_out=grad_out, x=x, kernel_size=kernel_size, stride=stride):
            return _pool_routed(grad_out, x, kernel_size, stride, rule, step)

        mistakes = [(lambda: routed("spread"), POOL_SPREAD), (lambda: routed("spread_all"), POOL_SPREAD),
                    (lambda: routed("assign"), POOL_OVERLAP), (lambda: routed("assign_window"), POOL_OVERLAP),
                    (lambda: routed("all"), POOL_TIES),
                    (lambda: routed("split"), POOL_TIES), (lambda: routed("last"), POOL_LAST),
                    (lambda: routed("first", step=kernel_size), POOL_STRIDE)]
        shape_hint = (lambda got: "dx has the shape of the input x, not of grad_out" if got == grad_out.shape
                      else "dx has the shape of x")
        _match(dx, want, "dx", where, hint=POOL_TODO, shape_hint=shape_hint, mistakes=mistakes)

    # numerical gradient check on distinct, well-separated values (a tie has no derivative)
    x = rng.permutation(40).reshape(2, 2, 2, 5) / 4.0
    where = _where(NUMERICAL, x=x, kernel_size=2, stride=1)
    _numerical_check(lambda x: reference.max_pool2d(x, 2, 1),
                     lambda g, x: _call(fn, [("grad_out", g), ("x", x)], (2, 1), where=where), [x], ("dx",), where)
    return (f"Correct! ({len(cases)} cases: batches and channels > 1, non-square maps, overlapping windows, "
            f"tied maxima; and {NUMERICAL})")


# ================================================================ batch normalization


BN_FORMULA = ("with M values per channel, x_hat = (x - mean) / sqrt(var + eps) and g = grad_out * gamma: "
              "dx = (M*g - sum(g) - x_hat * sum(g * x_hat)) / (M * sqrt(var + eps)), the sums over the channel's "
              "M values")
BN_TODO = (f"reduce over axis 0 and axes 2, ... (every axis but the channel axis 1); {BN_FORMULA}; "
           f"dgamma = sum(grad_out * x_hat), dbeta = sum(grad_out)")
BN_CONSTANT = ("the batch mean and variance depend on x too, so the gradient also flows through them: "
               f"grad_out * gamma / sqrt(var + eps) is only the first of three terms; {BN_FORMULA}")
BN_ONE_OVER_M = ("the mean and variance average over the M values of a channel (M = N*H*W, or N for (N, C) "
                 f"input), so their terms carry a factor 1/M: {BN_FORMULA}")
BN_UNBIASED = ("training-mode batch norm uses the biased variance, divided by M (np.var's default), "
               "not by M - 1")
BN_AXIS = ("batch norm normalizes each channel on its own, over the batch and the positions: reduce over "
           "axes (0, 2, 3) for (N, C, H, W) input and axis 0 for (N, C), never over the channel axis 1")
BN_GAMMA = "the gradient flows through gamma first: dL/dx_hat = grad_out * gamma"
BN_EPS = "use the eps you are given, in sqrt(var + eps)"
BN_DGAMMA = "dgamma = sum(grad_out * x_hat), with the normalized input x_hat, not x"
BN_SUM = "sum over the batch (and the positions); do not average"
BN_PARAM_SHAPE = "one value per channel: shape (C,), summed over every axis but 1 (without keepdims)"
BN_2D = ("chapter 10's batch norm takes (N, C) input as well as (N, C, H, W): reduce over "
         "axes = (0,) + tuple(range(2, x.ndim))")


def check_batch_norm_backward(fn):
    """Check a learner's ``fn(grad_out, x, gamma, eps) -> (dx, dgamma, dbeta)``: batch norm's training gradients.

    The forward pass is chapter 10's training-mode batch norm: every channel c of x, (N, C, H, W) or (N, C), is
    normalized with the mean and the biased variance of its M = N*H*W (or N) values, then scaled by gamma[c]
    and shifted by beta[c]. dx has x's shape, dgamma and dbeta shape (C,). The hidden cases have 4-D and 2-D
    input, channels with different means and spreads, and an eps other than 1e-5, then a numerical gradient check
    on a tiny case. Detected mistakes: mean and variance treated as constants (dx = grad_out * gamma /
    sqrt(var + eps) only), a forgotten 1/M, the variance divided by M - 1, normalizing over the wrong axes
    (across channels, per sample), gamma or the given eps left out, dgamma from x instead of x_hat, dgamma
    or dbeta averaged or of the wrong shape.

    Prints one line, like `check`.

    Examples
    --------
    >>> def my_batch_norm_backward(grad_out, x, gamma, eps=1e-5):
    ...     raise NotImplementedError
    >>> check_batch_norm_backward(my_batch_norm_backward)
    Not answered yet. Hint: reduce over axis 0 and axes 2, ... (every axis but the channel axis 1); ...
    >>> check_batch_norm_backward(lambda g, x, gamma, eps: reference.batch_norm_backward(
    ...     g, x, gamma, training=True, eps=eps))
    Correct! (3 cases: ...; and the numerical gradient check)
    """
    _run(_batch_norm_backward, fn, BN_TODO)


def _bn_dx(grad_out, x, gamma, eps, axes=None, ddof=0, m_delta=0, constant=False, over_m=True):
    """dx of training-mode batch norm reduced over `axes` (default: all but 1), and typical wrong versions:
    variance with `ddof`, M changed by `m_delta`, mean and variance `constant`, without the 1/M (`over_m`)."""
    axes = (0,) + tuple(range(2, x.ndim)) if axes is None else axes
    m = int(np.prod([x.shape[a] for a in axes])) + m_delta
    std = np.sqrt(x.var(axis=axes, ddof=ddof, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    g = grad_out * gamma.reshape((1, -1) + (1,) * (x.ndim - 2))
    if constant:
        return g / std
    if not over_m:
        return (g - g.sum(axis=axes, keepdims=True) - x_hat * (g * x_hat).sum(axis=axes, keepdims=True)) / std
    return (m * g - g.sum(axis=axes, keepdims=True) - x_hat * (g * x_hat).sum(axis=axes, keepdims=True)) / (m * std)


def _bn_cases():
    rng = np.random.default_rng(10)
    cases = []
    for shape, eps in (((4, 3, 3, 2), 1e-5), ((8, 5), 1e-5), ((3, 2, 4, 5), 1e-2)):
        c = shape[1]
        spread = rng.uniform(0.5, 3.0, c).reshape((1, c) + (1,) * (len(shape) - 2))
        offset = rng.uniform(-2.0, 2.0, c).reshape(spread.shape)
        x = rng.standard_normal(shape) * spread + offset   # channels with different means and spreads
        cases.append((rng.standard_normal(shape), x, rng.uniform(0.5, 2.0, c), eps))
    return cases


def _batch_norm_backward(fn):
    cases = _bn_cases()
    for number, (grad_out, x, gamma, eps) in enumerate(cases, 1):
        where = _where(f"case {number} of {len(cases)}", grad_out=grad_out, x=x, gamma=gamma, eps=eps)
        result = _call(fn, [("grad_out", grad_out), ("x", x), ("gamma", gamma)], (eps,), where=where,
                       hint=BN_2D if x.ndim == 2 else "", first=number == 1)
        dx, dgamma, dbeta = _parts(result, ("dx", "dgamma", "dbeta"), where)
        want_dx, want_dgamma, want_dbeta = reference.batch_norm_backward(grad_out, x, gamma, training=True, eps=eps)

        def dx_by(grad_out=grad_out, x=x, gamma=gamma, eps=eps, **mistake):
            return _bn_dx(grad_out, x, gamma, eps, **mistake)

        wrong_axes = [(1,)] if x.ndim == 2 else [(1, 2, 3), (2, 3), (0, 1, 2, 3), (0,)]
        mistakes = ([(lambda: dx_by(constant=True), BN_CONSTANT), (lambda: dx_by(over_m=False), BN_ONE_OVER_M),
                     (lambda: dx_by() * x[:, 0].size, BN_ONE_OVER_M),
                     (lambda: dx_by(ddof=1), BN_UNBIASED), (lambda: dx_by(m_delta=-1), BN_UNBIASED),
                     (lambda: dx_by(ddof=1, m_delta=-1), BN_UNBIASED)]
                    + [(lambda axes=axes: dx_by(axes=axes), BN_AXIS) for axes in wrong_axes]
                    + [(lambda: dx_by(gamma=np.ones_like(gamma)), BN_GAMMA),
                       (lambda: dx_by(eps=1e-5), BN_EPS), (lambda: dx_by(eps=0.0), BN_EPS)])
        _match(dx, want_dx, "dx", where, hint=BN_FORMULA, shape_hint=lambda got: "dx has the shape of x",
               mistakes=mistakes)

        axes, m = (0,) + tuple(range(2, x.ndim)), x[:, 0].size
        x_hat_unbiased = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, ddof=1, keepdims=True)
                                                                           + eps)
        _match(dgamma, want_dgamma, "dgamma", where, hint=BN_DGAMMA, shape_hint=lambda got: BN_PARAM_SHAPE,
               mistakes=[(lambda: (grad_out * x).sum(axis=axes), BN_DGAMMA), (lambda: want_dgamma / m, BN_SUM),
                         (lambda: (grad_out * x_hat_unbiased).sum(axis=axes), BN_UNBIASED)])
        _match(dbeta, want_dbeta, "dbeta", where, hint="dbeta = sum(grad_out) over every axis but 1",
               shape_hint=lambda got: BN_PARAM_SHAPE, mistakes=[(lambda: want_dbeta / m, BN_SUM)])

    # numerical gradient check of dx, dgamma, dbeta on a tiny case
    rng = np.random.default_rng(11)
    tiny = [rng.standard_normal((3, 2, 2, 2)) * 2 + 1, rng.uniform(0.5, 2.0, 2), rng.standard_normal(2)]
    eps = 1e-3
    where = _where(NUMERICAL, x=tiny[0], eps=eps)
    _numerical_check(lambda x, gamma, beta: reference.batch_norm(x, None, None, gamma, beta, training=True, eps=eps),
                     lambda g, x, gamma, beta: _call(fn, [("grad_out", g), ("x", x), ("gamma", gamma)], (eps,),
                                                     where=where),
                     tiny, ("dx", "dgamma", "dbeta"), where)
    return (f"Correct! ({len(cases)} cases: (N, C, H, W) and (N, C) input, channels with different means and "
            f"spreads, two values of eps; and {NUMERICAL})")


# ================================================================ dropout


DROP_TODO = "keep = rng.random(x.shape) >= p keeps a unit with probability 1 - p; out = x * keep / (1 - p)"
DROP_NO_SCALE = ("scale the kept units by 1/(1 - p) (inverted dropout), so that the expected output equals x and "
                 "nothing changes at test time; without it this is the original dropout")
DROP_ONE_OVER_P = "scale the kept units by 1/(1 - p), one over the probability of keeping them, not by 1/p"
DROP_KEEP_P = "p is the probability of dropping a unit: keep it with probability 1 - p (rng.random(x.shape) >= p)"
DROP_CS231N = ("here p is the probability of dropping a unit (PyTorch's convention; CS231n's p is the keep "
               "probability): keep with probability 1 - p and scale by 1/(1 - p)")
DROP_SCALE = "a kept unit is x / (1 - p), a dropped one 0"
DROP_PER_UNIT = "draw one random number for every unit, rng.random(x.shape), so that units are dropped independently"
DROP_RNG = ("draw the random numbers from the rng you are given (rng.random(x.shape)), so that the same seed "
            "gives the same mask")
DROP_MASK = ("return the mask that x was multiplied by (0 for dropped units, 1/(1 - p) for kept ones), so that the "
             "backward pass drops the same units")


def check_dropout(fn):
    """Check a learner's ``fn(x, p, rng) -> out`` (or ``-> (out, mask)``): inverted dropout in training.

    Each unit is dropped (set to 0) with probability p, independently, and the kept ones are divided by
    1 - p, so the expected output equals x; the random numbers come from the numpy Generator rng (chapter 11's
    ``dropout_train(a, p, rng)``; `minicnn.functional.dropout` also passes: rng is given by keyword if fn names
    it). A returned mask may be the scaled one (out = x * mask) or 0/1 (out = x * mask / (1 - p)). The checker
    draws 100,000 units for p = 0.2 and p = 0.7 and checks that every output is 0 or x / (1 - p), the fraction
    dropped (within 0.01 of p), the mean of out / x (within 0.02 of 1), independent units, the mask, and that
    two generators with the same seed give the same output. Detected mistakes: no scaling (classic dropout),
    scaling by 1/p, keeping with probability p (and CS231n's keep-probability convention), one random number
    shared by many units, numbers not drawn from rng.

    Prints one line, like `check`.

    Examples
    --------
    >>> def my_dropout(x, p, rng):
    ...     raise NotImplementedError
    >>> check_dropout(my_dropout)
    Not answered yet. Hint: keep = rng.random(x.shape) >= p keeps a unit with probability 1 - p; ...
    >>> from minicnn import functional as F
    >>> check_dropout(F.dropout)
    Correct! (2 cases of 100,000 units, p = 0.2 and 0.7: ...)
    """
    _run(_dropout, fn, DROP_TODO)


def _dropout(fn):
    try:
        names = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        names = {}
    if "mask" in names and "rng" not in names:
        raise _Stop("Not quite: check_dropout calls your function as fn(x, p, rng) and compares statistics. "
                    f"Hint: draw the mask inside it from rng; {DROP_TODO}")
    by_keyword = "rng" in names
    rng = np.random.default_rng(12)
    shapes = [((40, 5, 20, 25), 0.2), ((500, 200), 0.7)]
    for number, (shape, p) in enumerate(shapes, 1):
        x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)   # never 0: a 0 in out means dropped
        where = _where(f"case {number} of {len(shapes)}", x=x, p=p)

        def run(seed, first=False):
            generator = np.random.default_rng(seed)
            options, keywords = ((), {"rng": generator}) if by_keyword else ((generator,), {})
            return _call(fn, [("x", x)], (p,) + options, keywords, where, first=first)

        result = run(number, first=number == 1)
        out, mask = (result if isinstance(result, (tuple, list)) and len(result) == 2 else (result, None))
        out = _array(out, "out", where)
        if out.shape != x.shape:
            raise _Stop(f"Not quite: out has shape {out.shape}, expected x's shape {x.shape} {where}.")
        _check_dropout_values(out, x, p, where)
        if mask is not None:
            mask = _array(mask, "mask", where)
            if mask.shape != x.shape or not (_close(out, x * mask) or _close(out, x * mask / (1 - p))):
                raise _Stop(f"Not quite: out is not x times the mask you returned {where}.{_hint(DROP_MASK)}")
        again = run(number)
        again = _array(again[0] if isinstance(again, (tuple, list)) and len(again) == 2 else again, "out", where)
        if again.shape != out.shape or not np.array_equal(again, out):
            raise _Stop(f"Not quite: two generators with the same seed gave different outputs {where}."
                        f"{_hint(DROP_RNG)}")
    return ("Correct! (2 cases of 100,000 units, p = 0.2 and 0.7: outputs 0 or x / (1 - p), the fraction dropped, "
            "the mean, independent units and reproducible with a seed)")


def _check_dropout_values(out, x, p, where):
    """Stop unless out is 0 or x / (1 - p) everywhere, with about a fraction p of independent zeros."""
    dropped = out == 0
    fraction = float(dropped.mean())
    ratio = out[~dropped] / x[~dropped]
    mean = float(np.mean(out / x))
    stats = f"(dropped {fraction:.1%}, expected about {p:.0%}; mean of out / x {mean:.3f}, expected about 1)"

    def scaled_by(factor):
        return ratio.size > 0 and bool(np.allclose(ratio, factor, rtol=1e-5))

    def near(value):
        return abs(fraction - value) <= 0.01

    if not scaled_by(1 / (1 - p)):
        if scaled_by(1 / p) and near(1 - p):
            why = DROP_CS231N
        elif scaled_by(1 / p):
            why = DROP_ONE_OVER_P
        elif scaled_by(1.0):
            why = DROP_NO_SCALE
        else:
            why = DROP_SCALE
        raise _Stop(f"Not quite: the kept units are not x / (1 - p) {stats} {where}.{_hint(why)}")
    if not near(p):
        why = DROP_PER_UNIT if fraction in (0.0, 1.0) else DROP_KEEP_P if near(1 - p) else DROP_TODO
        raise _Stop(f"Not quite: you dropped {fraction:.1%} of the units, expected about {p:.0%} {where}."
                    f"{_hint(why)}")
    if abs(mean - 1) > 0.02:
        raise _Stop(f"Not quite: the mean of out / x is {mean:.3f}, expected about 1 {where}.{_hint(DROP_TODO)}")
    for axis in range(x.ndim):   # the same zeros along an axis: one random number shared by many units
        if np.array_equal(dropped, np.broadcast_to(dropped.take([0], axis=axis), dropped.shape)):
            raise _Stop(f"Not quite: every slice along axis {axis} drops the same units {where}."
                        f"{_hint(DROP_PER_UNIT)}")
