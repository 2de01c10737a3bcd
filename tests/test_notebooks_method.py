"""The course notebooks keep the test set out of training: no early stopping, scheduling or fitting on it.

A notebook may tune, schedule and early-stop only on a validation split carved out of the training data, and
touch the test set once, at the end. This test reads every notebook's code cells (with `ast`) and fails when a
name that holds test data (`x_test...`, `y_test...`, `data["x_test"]`, or a name assigned from one of these)
appears

- in a `fit(...)` call's `validation=` argument, or among its training arguments (positional, or `x=`/`y=`);
- in the arguments of a `.step(...)` call (a learning-rate scheduler driven by a test loss);
- in an `evaluate(...)` call inside a loop that also trains (calls `fit` or an optimizer's `.step()`): a test
  curve recorded during training invites picking the epoch or the settings on the test set.
"""
import ast
import json
import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
TEST_PREFIXES = ("x_test", "y_test")


def _is_test_word(word):
    return isinstance(word, str) and word.startswith(TEST_PREFIXES)


def _cell_trees(path):
    """(cell index, ast.Module) for every code cell that parses once IPython magics and shell lines are dropped."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        tree = _parse("".join(cell["source"]))
        if tree is not None:
            yield index, tree


def _parse(source):
    """The cell as an ast.Module without its IPython magic and shell lines; None if the rest is not Python."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None  # e.g. the body of a %%bash cell: nothing to check


def _mentions(node, tainted):
    """True if `node` refers to test data: a test-named variable or attribute, a "x_test" key, or a tainted name."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and (_is_test_word(sub.id) or sub.id in tainted):
            return True
        if isinstance(sub, ast.Attribute) and _is_test_word(sub.attr):
            return True
        if isinstance(sub, ast.Constant) and _is_test_word(sub.value):
            return True
    return False


def _pairs(target, value):
    """(name target, value) pairs of an assignment; tuples are matched element by element where both sides are
    tuples (also both branches of `a if c else b`), so `x_train, x_test = x[:n], data["x_test"]` taints only
    `x_test`. Any other unpacking taints nothing: better a missed alias than a false alarm."""
    if isinstance(target, ast.Name):
        return [(target, value)]
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            return [pair for t, v in zip(target.elts, value.elts) for pair in _pairs(t, v)]
        if isinstance(value, ast.IfExp):
            return _pairs(target, value.body) + _pairs(target, value.orelse)
    return []


def _update_taint(statement, tainted):
    """Follow the assignments of one top-level statement in order: a name assigned from test data becomes tainted,
    a name assigned from anything else is clean again (notebooks reuse names such as `rows` or `sample`)."""
    for node in ast.walk(statement):
        if isinstance(node, ast.Assign):
            pairs = [pair for target in node.targets for pair in _pairs(target, node.value)]
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            pairs = _pairs(node.target, node.value)
        else:
            continue
        for target, value in pairs:
            if _is_test_word(target.id):
                continue
            if _mentions(value, tainted):
                tainted.add(target.id)
            else:
                tainted.discard(target.id)


def _call_name(call):
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _trains(loop):
    for node in ast.walk(loop):
        if isinstance(node, ast.Call) and (_call_name(node) == "fit" or
                                           (_call_name(node) == "step" and not node.args and not node.keywords)):
            return True
    return False


def leaks(trees):
    """Human-readable descriptions of every use of test data for training, tuning or scheduling."""
    tainted, found = set(), []
    for index, tree in trees:                  # cells and their statements in the order a fresh run executes them
        for statement in tree.body:
            found += _leaks_in(statement, index, tainted)
            _update_taint(statement, tainted)
    return sorted(set(found))


def _leaks_in(statement, index, tainted):
    found = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Call) and _call_name(node) == "fit":
            for keyword in node.keywords:
                if keyword.arg in ("validation", "x", "y") and _mentions(keyword.value, tainted):
                    found.append(f"cell {index}, line {node.lineno}: fit({keyword.arg}=...) uses the test set")
            for position, arg in enumerate(node.args):
                if _mentions(arg, tainted):
                    found.append(f"cell {index}, line {node.lineno}: fit's argument {position + 1} "
                                 f"trains on the test set")
        elif isinstance(node, ast.Call) and _call_name(node) == "step":
            if any(_mentions(arg, tainted) for arg in [*node.args, *(k.value for k in node.keywords)]):
                found.append(f"cell {index}, line {node.lineno}: a scheduler's .step() is driven by the test set")
        elif isinstance(node, (ast.For, ast.While)) and _trains(node):
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Call) and _call_name(sub) == "evaluate"
                        and any(_mentions(arg, tainted) for arg in sub.args)):
                    found.append(f"cell {index}, line {sub.lineno}: the test set is evaluated inside a training "
                                 f"loop (use a validation split; test once at the end)")
    return found


def _trees_of(source):
    return [(0, _parse(source))]


@pytest.mark.parametrize("source", [
    "h = fit(m, l, o, x_train, y_train, validation=(x_test, y_test))",
    "y_te = y_test\nh = fit(m, l, o, x_train, y_tr, validation=(x_test[:, None], y_te), scheduler=plateau)",
    "y_val = y_test\nfit(m, l, o, x_train, y_train, validation=(x_val, y_val))",
    "x_val, y_val = data['x_test'], data['y_test']\nfit(m, l, o, x, y, validation=(x_val, y_val))",
    "fit(model, loss, opt, x_test, y_test)",
    "fit(model, loss, opt, x=x_test_std, y=y_test)",
    "plateau.step(evaluate(model, loss, x_test, y_test)[0])",
    "for e in range(3):\n    fit(m, l, o, x, y, epochs=1)\n    curve.append(evaluate(m, l, x_test, y_test))",
    "loss_fn, y_tr, y_te = ((a, b, one_hot_test) if c else (a, y_train, y_test))\nfit(m, l, o, x, y_tr, validation=(x, y_te))",
])
def test_detector_flags_leaks(source):
    assert leaks(_trees_of(source))


@pytest.mark.parametrize("source", [
    "x_train, y_train, x_test, y_test = d['x'], d['y'], d['x_test'], d['y_test']\n"
    "x_train, x_val, y_train, y_val = x_train[:-800], x_train[-800:], y_train[:-800], y_train[-800:]\n"
    "h = fit(m, l, o, x_train, y_train, validation=(x_val, y_val), scheduler=plateau)\n"
    "test_loss, test_acc = evaluate(m, l, x_test, y_test)",
    "x_train, x_val, x_test = (s.transform(x) for x in (a, b, x_test_raw))\nfit(m, l, o, x_train, y, validation=(x_val, y_val))",
    "for name, model in runs.items():\n    print(evaluate(model, loss, x_test, y_test))",
    "plateau.step(0.7)\nsgd.step()",
    "rows = y_test[:3]\nrows = rng.integers(0, 9, 5)\nfit(m, l, o, x[rows], y[rows])",
    "%timeit fit(m, l, o, x, y)\n!ls",
])
def test_detector_accepts_sound_use(source):
    assert leaks(_trees_of(source)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_keeps_the_test_set_out_of_training(path):
    found = leaks(_cell_trees(path))
    assert not found, f"{path.name} uses the test set for training or tuning:\n" + "\n".join(found)
