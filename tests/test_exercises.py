import numpy as np

from minicnn.exercises import check


def test_check_feedback(capsys):
    assert check(None, 3, hint="h") is False
    assert check(3, 3) is True
    assert check(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9]) is True
    assert check([1.0, 2.5], [1.0, 2.0], hint="again") is False
    assert check((3, 4), (3, 4, 1)) is False
    assert check("same", "same") is True and check("full", "same") is False
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Not answered yet. Hint: h"
    assert lines[1] == "Correct!"
    assert lines[3].startswith("Not quite: your answer is [1.  2.5]. Hint: again")
    assert lines[4] == "Not quite: expected shape (3,), got shape (2,)."
