"""The training loop of the course: forward pass, loss, backward pass, update, over shuffled mini-batches.

    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                  x_train, y_train, epochs=10, batch_size=100, validation=(x_test, y_test))
    plotting.plot_history(history)

Progress bars come from tqdm.auto: widgets in JupyterLab, text in a terminal.
"""
import os
import pathlib
import tempfile

import numpy as np

from minicnn.data.loader import batches
from minicnn.nn.module import _offers_input_grad
from minicnn.optim import ReduceLROnPlateau

__all__ = ["fit", "evaluate", "accuracy", "save_checkpoint", "load_checkpoint"]


def _labels(y):
    y = np.asarray(y)
    return y if y.ndim == 1 else y.argmax(axis=1)  # one-hot targets (for MSE) -> labels


def accuracy(scores, y):
    """Fraction of rows whose highest score is the true class (y: labels, or one-hot rows)."""
    return float(np.mean(np.asarray(scores).argmax(axis=1) == _labels(y)))


def evaluate(model, loss_fn, x, y, batch_size=256):
    """Mean loss and accuracy of `model` on (x, y) in evaluation mode (no dropout, running BN statistics).

    Returns
    -------
    (loss, accuracy) : (float, float)
    """
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


def fit(model, loss_fn, optimizer, x, y, epochs=1, batch_size=64, validation=None, scheduler=None, seed=0,
        progress=True):
    """Train `model` with mini-batch gradient descent and return the per-epoch history.

    Parameters
    ----------
    model : minicnn.nn.Module
    loss_fn : minicnn.nn.CrossEntropyLoss or MSELoss
    optimizer : minicnn.optim.Optimizer
    x, y : ndarray
        Training inputs (N, ...) and targets (labels (N,) or one-hot (N, classes)).
    epochs, batch_size : int
    validation : (x_val, y_val), optional
        Evaluated after every epoch (the held-out set).
    scheduler : StepLR or ReduceLROnPlateau, optional
        Stepped once per epoch; ReduceLROnPlateau watches the validation loss (else the training loss).
    seed : int
        Seeds the shuffling, so a run is repeatable.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict of lists
        ``loss``, ``acc``, ``lr`` per epoch, and ``val_loss``, ``val_acc`` with a validation set.

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or infinite, naming the step and learning rate.
    """
    from tqdm.auto import tqdm

    if len(x) != len(y):
        raise ValueError(f"fit: x has {len(x)} samples but y has {len(y)}")
    rng = np.random.default_rng(seed)
    history = {"loss": [], "acc": [], "lr": []}
    if validation is not None:
        history.update(val_loss=[], val_acc=[])
    steps_per_epoch = -(-len(x) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, desc="training", disable=not progress, leave=True)
    step = 0
    # nobody uses the gradient with respect to the images: let the first layer skip it
    backward_options = {"input_grad": False} if _offers_input_grad(model) else {}
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
                model.backward(loss_fn.backward(), **backward_options)
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


def save_checkpoint(path, model):
    """Write ``model.state_dict()`` to an .npz file atomically: a temporary file in the same folder, then a rename,
    so an interrupted save never leaves a half-written checkpoint."""
    path = pathlib.Path(path)
    state = model.state_dict() if hasattr(model, "state_dict") else dict(model)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, model=None):
    """Read a checkpoint written by `save_checkpoint` (no pickles are ever loaded).

    With `model`, load it into the model (missing, unexpected or mis-shaped keys raise an error
    listing them); always returns the state dict.
    """
    with np.load(path, allow_pickle=False) as f:
        state = {name: f[name] for name in f.files}
    if model is not None:
        model.load_state_dict(state)
    return state
