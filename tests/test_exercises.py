import numpy as np

from minicnn.exercises import check, feedback


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
