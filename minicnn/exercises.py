"""Automatic feedback for the notebooks' exercises.

An exercise cell leaves ``answer = None`` for the learner to fill in; `check`
compares it with the expected value (computed by the notebook with minicnn, never
typed in) and prints one line of feedback, so a fresh run shows "not answered
yet" and the worked solution further down shows "correct".
"""
import numpy as np


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
