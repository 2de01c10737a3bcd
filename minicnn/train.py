"""The training loop of the course: forward pass, loss, backward pass, update, over shuffled mini-batches.

    x_train, x_val = x[:-500], x[-500:]              # a validation split carved from the training data
    y_train, y_val = y[:-500], y[-500:]
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                  x_train, y_train, epochs=10, batch_size=100, validation=(x_val, y_val))
    plotting.plot_history(history)
    test_loss, test_acc = evaluate(model, nn.CrossEntropyLoss(), x_test, y_test)   # once, at the end

The progress bar is tqdm's text bar, one line rewritten in place: on stdout in a notebook, where the saved file
keeps its final state (100%, the last loss) for any static view, and on stderr in a terminal.
"""
import collections.abc
import os
import pathlib
import struct
import sys
import tempfile
import zipfile
import zlib

import numpy as np

from minicnn.data.loader import _check_pair, batches
from minicnn.functional._checks import check_bool, check_int
from minicnn.nn.module import Module
from minicnn.optim import Optimizer, ReduceLROnPlateau

__all__ = ["fit", "evaluate", "accuracy", "save_checkpoint", "load_checkpoint", "CheckpointError"]


def _labels(y):
    y = np.asarray(y)
    return y if y.ndim == 1 else y.argmax(axis=1)  # one-hot targets (for MSE) -> labels


def accuracy(scores, y):
    """Fraction of rows whose highest score is the true class (y: labels, or one-hot rows).

    >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    0.5
    """
    scores, y = np.asarray(scores), np.asarray(y)
    if scores.ndim != 2:
        raise ValueError(f"accuracy: scores must have 2 dimensions (samples, classes), got shape {scores.shape}")
    if y.ndim not in (1, 2):
        raise ValueError(f"accuracy: y must be labels (N,) or one-hot rows (N, classes), got shape {y.shape}")
    if len(y) != len(scores):
        raise ValueError(f"accuracy: scores has {len(scores)} rows but y has {len(y)} "
                         f"(shapes {scores.shape} and {y.shape}); they must have the same first dimension")
    if len(y) == 0:
        raise ValueError("accuracy: no samples (scores and y are empty); the accuracy of nothing is undefined")
    return float(np.mean(scores.argmax(axis=1) == _labels(y)))


_ORDER = {"fit": "fit(model, loss_fn, optimizer, x, y, ...)", "evaluate": "evaluate(model, loss_fn, x, y)"}


def _check_model(func, model):
    from minicnn.nn.loss import CrossEntropyLoss, MSELoss

    if not isinstance(model, Module):
        raise TypeError(f"{func}: model must be a minicnn.nn.Module, got {type(model).__name__}")
    if isinstance(model, (CrossEntropyLoss, MSELoss)):
        raise TypeError(f"{func}: model is a loss ({type(model).__name__}), not a network; the order is "
                        f"{_ORDER[func]}")


def _check_loss_fn(func, loss_fn):
    if not callable(loss_fn) or not callable(getattr(loss_fn, "backward", None)):
        raise TypeError(f"{func}: loss_fn must be a loss module with forward and backward, e.g. nn.CrossEntropyLoss(), "
                        f"got {type(loss_fn).__name__}")
    if isinstance(loss_fn, Module) and any(True for _ in loss_fn.parameters()):
        raise TypeError(f"{func}: loss_fn ({type(loss_fn).__name__}) has trainable parameters, so it looks like a "
                        f"network, not a loss; the order is {_ORDER[func]}")


def _check_data(func, x, y, what, x_name="x", y_name="y"):
    x, y = _check_pair(func, x, y, x_name, y_name)
    if len(x) == 0:
        raise ValueError(f"{func}: the {what} is empty ({x_name} has shape {x.shape}); it needs at least one sample")
    return x, y


def evaluate(model, loss_fn, x, y, batch_size=256):
    """Mean loss and accuracy of `model` on (x, y) in evaluation mode (no dropout, running BN statistics).

    Returns
    -------
    (loss, accuracy) : (float, float)
    """
    _check_model("evaluate", model)
    _check_loss_fn("evaluate", loss_fn)
    x, y = _check_data("evaluate", x, y, "evaluation set")
    batch_size = check_int("evaluate", "batch_size", batch_size, 1)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for xb, yb in batches(x, y, batch_size, shuffle=False):
            scores = model(xb)
            total_loss += loss_fn(scores, yb) * len(xb)
            correct += int(np.sum(scores.argmax(axis=1) == _labels(yb)))
    finally:
        model.train(was_training)
    return total_loss / len(x), correct / len(x)


def _check_validation(validation):
    if validation is None:
        return None
    if isinstance(validation, np.ndarray) or not isinstance(validation, (tuple, list)) or len(validation) != 2:
        described = (f"an ndarray of shape {validation.shape}" if isinstance(validation, np.ndarray)
                     else f"{type(validation).__name__}"
                     + (f" of length {len(validation)}" if isinstance(validation, (tuple, list)) else ""))
        raise TypeError(f"fit: validation must be a pair (x_val, y_val) of arrays, got {described}")
    return _check_data("fit", validation[0], validation[1], "validation set", "validation x", "validation y")


def _in_notebook():
    """True inside a Jupyter kernel (not in a terminal IPython, nor in a process that merely imported ipykernel)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _progress_bar(total, name, enabled):
    """A text bar (not a widget: a saved widget shows its first state, 0%, in every static view of a notebook)."""
    from tqdm import tqdm

    in_notebook = _in_notebook()
    return tqdm(total=total, desc=name, disable=not enabled, leave=True, ncols=100 if in_notebook else None,
                file=sys.stdout if in_notebook else sys.stderr, mininterval=0.25)


def fit(model, loss_fn, optimizer, x, y, epochs=1, batch_size=64, validation=None, scheduler=None, seed=0,
        progress=True, name="training"):
    """Train `model` with mini-batch gradient descent and return the per-epoch history.

    Hold out a validation split of the *training* data for `validation` (model selection and
    the learning-rate schedule look at it), and touch the test set once, at the very end, with
    `evaluate`: a test set consulted during training is no longer an unbiased estimate.

    Parameters
    ----------
    model : minicnn.nn.Module
    loss_fn : minicnn.nn.CrossEntropyLoss or MSELoss
    optimizer : minicnn.optim.Optimizer
        Built on this model's parameters.
    x, y : ndarray
        Training inputs (N, ...) and targets (labels (N,) or one-hot (N, classes)); N >= 1.
    epochs : int >= 0
    batch_size : int >= 1
    validation : (x_val, y_val), optional
        A held-out split of the training data, evaluated after every epoch (not the test set).
    scheduler : StepLR or ReduceLROnPlateau, optional
        Stepped once per epoch; ReduceLROnPlateau is driven by the validation loss (by the training loss when
        there is no validation set).
    seed : int
        Seeds the shuffling, so a run is repeatable.
    progress : bool
        Show a text progress bar (tqdm) with the last epoch's loss and accuracy.
    name : str
        The bar's label, e.g. the run's name when a cell trains several models.

    Returns
    -------
    dict of lists
        ``loss``, ``acc``, ``lr`` per epoch, and ``val_loss``, ``val_acc`` with a validation set.

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or infinite, naming the step and learning rate.

    Examples
    --------
    ::

        x_train, x_val, y_train, y_val = x[:-500], x[-500:], y[:-500], y[-500:]
        history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                      x_train, y_train, epochs=10, batch_size=100, validation=(x_val, y_val))
        test_loss, test_acc = evaluate(model, nn.CrossEntropyLoss(), x_test, y_test)
    """
    _check_model("fit", model)
    _check_loss_fn("fit", loss_fn)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be a minicnn.optim optimizer, e.g. optim.SGD(model.parameters(), "
                        f"lr=0.1), got {type(optimizer).__name__}")
    own = {id(p) for p in model.parameters()}
    if own and not any(id(p) in own for p in optimizer.params):
        raise ValueError(f"fit: the optimizer holds none of the model's parameters, so training would change "
                         f"nothing (was it built for another model?); create it with "
                         f"{type(optimizer).__name__}(model.parameters(), ...)")
    x, y = _check_data("fit", x, y, "training set")
    epochs = check_int("fit", "epochs", epochs, 0)
    batch_size = check_int("fit", "batch_size", batch_size, 1)
    validation = _check_validation(validation)
    if scheduler is not None:
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"fit: scheduler must be a StepLR or ReduceLROnPlateau (or None), "
                            f"got {type(scheduler).__name__}")
        if getattr(scheduler, "optimizer", optimizer) is not optimizer:
            raise ValueError("fit: the scheduler adjusts a different optimizer than the one given to fit, so the "
                             "learning rate would never change; build it on the same optimizer")
    progress = check_bool("fit", "progress", progress)
    if not isinstance(name, str):
        raise TypeError(f"fit: name must be a str (the progress bar's label), got {type(name).__name__}")
    rng = np.random.default_rng(seed)
    history = {"loss": [], "acc": [], "lr": []}
    if validation is not None:
        history.update(val_loss=[], val_acc=[])
    steps_per_epoch = -(-len(x) // batch_size)
    bar = _progress_bar(epochs * steps_per_epoch, name, progress)
    step = 0
    try:
        for epoch in range(epochs):
            model.train()
            total_loss, correct = 0.0, 0
            for xb, yb in batches(x, y, batch_size, shuffle=True, rng=rng):
                step += 1
                scores = model(xb)
                loss = loss_fn(scores, yb)
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"fit: the loss became {loss} at step {step} (epoch {epoch + 1}) with learning rate "
                        f"{optimizer.lr:g}; try a smaller learning rate or check the inputs for NaN")
                optimizer.zero_grad()
                # nobody uses the gradient with respect to the images: let the first layer skip it
                model.backward(loss_fn.backward(), input_grad=False)
                optimizer.step()
                total_loss += loss * len(xb)
                correct += int(np.sum(scores.argmax(axis=1) == _labels(yb)))
                bar.update(1)
            history["loss"].append(total_loss / len(x))
            history["acc"].append(correct / len(x))
            history["lr"].append(optimizer.lr)
            postfix = {"loss": f"{history['loss'][-1]:.3f}", "acc": f"{history['acc'][-1]:.3f}"}
            if validation is not None:
                val_loss, val_acc = evaluate(model, loss_fn, *validation)
                history["val_loss"].append(val_loss)
                history["val_acc"].append(val_acc)
                postfix.update(val_acc=f"{val_acc:.3f}")
            bar.set_postfix(postfix)
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(history["val_loss"][-1] if validation is not None else history["loss"][-1])
            elif scheduler is not None:
                scheduler.step()
    finally:
        bar.close()
    return history


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint: truncated, corrupted, or not an .npz archive of arrays."""


def _check_path(func, path, order):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{func}: path must be a file path (str or pathlib.Path), got {type(path).__name__}; "
                        f"the order is {order}")
    return pathlib.Path(path)


def save_checkpoint(path, model):
    """Write ``model.state_dict()`` to an .npz file atomically: a temporary file in the same folder, then a rename,
    so an interrupted save never leaves a half-written checkpoint.

    `model` is a Module or a state dict (a mapping of names to numeric arrays). Everything is checked before
    anything is written: a non-numeric value (e.g. an object or complex array) raises TypeError naming its key.
    """
    path = _check_path("save_checkpoint", path, "save_checkpoint(path, model)")
    if isinstance(model, Module):
        state = model.state_dict()
    elif isinstance(model, collections.abc.Mapping):
        state = dict(model)
    else:
        raise TypeError(f"save_checkpoint: model must be a minicnn.nn.Module or a state dict (a mapping of names "
                        f"to arrays), got {type(model).__name__}")
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"save_checkpoint: every key must be a str (a parameter name such as '0.weight'), "
                            f"got {key!r} ({type(key).__name__})")
        try:
            array = np.asarray(value)
        except ValueError as err:  # ragged nested lists
            raise TypeError(f"save_checkpoint: {key} is not an array of numbers ({err})") from None
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save_checkpoint: {key} must hold real numbers (bool, int or float), got dtype "
                            f"{array.dtype}; a checkpoint stores arrays without pickles; nothing was written")
        arrays[key] = array
    if path.is_dir():
        raise IsADirectoryError(f"save_checkpoint: {path} is a folder; give a file name such as {path / 'model.npz'}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"save_checkpoint: the folder {path.parent} does not exist; create it first "
                                f"(e.g. pathlib.Path({str(path.parent)!r}).mkdir(parents=True))")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_npz(f, arrays):
    """What np.savez writes (one ``name.npy`` member per array, uncompressed), without passing the names as keyword
    arguments: np.savez(f, **state) would take a key named 'allow_pickle' as its option and fail on 'file'."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _members_tile_the_file(path, archive):
    """True if the members have distinct names and, sorted by position, follow each other without gaps from the
    start of the file to the central directory. The CRC-32s protect each member's bytes but not the directory that
    lists them: a damaged directory can silently drop or rename members, which leaves a gap or a duplicate."""
    names = [info.filename for info in archive.infolist()]
    if len(set(names)) != len(names):
        return False
    position = 0
    with open(path, "rb") as f:
        for info in sorted(archive.infolist(), key=lambda info: info.header_offset):
            if info.header_offset != position:
                return False
            f.seek(position)
            header = f.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                return False
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            position += 30 + name_length + extra_length + info.compress_size
            if info.flag_bits & 0x08:  # a data descriptor follows the data (streamed archives)
                f.seek(position)
                position += 16 if f.read(4) == b"PK\x07\x08" else 12
    return position == archive.start_dir


def _read_npz(path):
    """Every array of the .npz at `path`, with each member's CRC-32 checked; CheckpointError if anything is off."""
    def refuse(reason):
        return CheckpointError(f"load_checkpoint: {path} is not a readable checkpoint: {reason}")

    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x93NUMPY"):
        raise refuse("it is a single-array .npy file (np.save), while a checkpoint is an .npz archive of named "
                     "arrays written by save_checkpoint")
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise refuse("it is not an .npz (zip) archive" + (" (the file is empty)" if not head else ""))
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member, so every CRC-32 is checked
            if bad is not None:
                key = bad[:-len(".npy")] if bad.endswith(".npy") else bad
                raise refuse(f"the array {key!r} is corrupted (CRC-32 mismatch)")
            if not _members_tile_the_file(path, archive):
                raise refuse("its directory of members is damaged (members missing, renamed or misplaced)")
        state = {}
        with np.load(path, allow_pickle=False) as f:
            for name in f.files:
                value = f[name]
                if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                    raise refuse(f"the member {name!r} is not an array of numbers")
                state[name] = value
    except (CheckpointError, PermissionError):
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, KeyError, struct.error,
            RuntimeError, NotImplementedError, OverflowError) as err:
        # a damaged header can also claim encryption (RuntimeError) or an unknown compression (NotImplementedError)
        raise refuse(f"truncated or corrupted archive ({type(err).__name__})") from None
    return state


def load_checkpoint(path, model=None):
    """Read a checkpoint written by `save_checkpoint` (no pickles are ever loaded).

    With `model`, load it into the model (missing, unexpected or mis-shaped keys raise an error
    listing them, and nothing is changed); always returns the state dict.

    Raises
    ------
    FileNotFoundError
        No file at `path`.
    CheckpointError (a ValueError)
        The file is truncated, corrupted (every member's CRC-32 is checked) or not an .npz archive.
    """
    path = _check_path("load_checkpoint", path, "load_checkpoint(path, model)")
    if model is not None and not isinstance(model, Module):
        raise TypeError(f"load_checkpoint: model must be a minicnn.nn.Module (or None), got {type(model).__name__}")
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no file at {path}")
    if path.is_dir():
        raise IsADirectoryError(f"load_checkpoint: {path} is a folder, not a checkpoint file")
    state = _read_npz(path)
    if model is not None:
        model.load_state_dict(state)
    return state
