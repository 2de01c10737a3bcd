"""Figures the chapters share. Each function draws on the axes it is given (or a new figure) and returns them.

Chapter-specific one-off figures stay in their notebook; a figure used by two
chapters, or too long to read in a cell, lives here.
"""
import matplotlib.pyplot as plt
import numpy as np


def show_images(images, titles=None, cmap="gray", ncols=None, size=2.2, vmin=None, vmax=None):
    """Show 2-D arrays (or (H, W, 3) RGB images) side by side, without axis ticks; returns the figure.

    Parameters
    ----------
    images : sequence of array-like
        At least one image; each is 2-D (drawn with `cmap`) or (H, W, 3) RGB
        (drawn in its own colours: floats in [0, 1] or integers in [0, 255]).
    titles : sequence of str, optional
        One title per image.
    cmap : str
        Colour map of the 2-D images.
    ncols : int, optional
        Images per row (all in one row if None); extra rows are added as needed.
    size : float
        Width and height of one panel in inches.
    vmin, vmax : float, optional
        Value range the colour map of the 2-D images spans (each image's own
        minimum and maximum if None). Not used for RGB images, whose values
        are colours already (matplotlib would ignore them).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `images` is empty, the number of titles differs from the number
        of images, or `ncols` is smaller than 1.

    Examples
    --------
    >>> fig = show_images([np.eye(3), np.ones((3, 3))], titles=["eye", "ones"])
    >>> [ax.get_title() for ax in fig.axes]
    ['eye', 'ones']
    >>> plt.close(fig)
    >>> show_images([np.eye(3), np.ones((3, 3))], titles=["eye"])
    Traceback (most recent call last):
        ...
    ValueError: show_images: got 2 images but 1 titles
    >>> show_images([])
    Traceback (most recent call last):
        ...
    ValueError: show_images: no images to show (got an empty sequence)
    """
    images = list(images)
    if not images:
        raise ValueError("show_images: no images to show (got an empty sequence)")
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(images):
            raise ValueError(f"show_images: got {len(images)} images but {len(titles)} titles")
    ncols = len(images) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"show_images: ncols must be at least 1, got {ncols}")
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat[len(images):]:
        ax.axis("off")
    for index, (ax, image) in enumerate(zip(axes.flat, images)):
        rgb = np.ndim(image) == 3
        ax.imshow(image, cmap=None if rgb else cmap, vmin=None if rgb else vmin, vmax=None if rgb else vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    fig.tight_layout()
    return fig


def plot_receptive_window(input_size, kernel_size, stride=1, padding=0, dilation=1, out_index=(0, 0),
                          ax=None, show_unvisited=True, legend=True, cell=0.42):
    """Draw which cells of a zero-padded square input one output cell of a 2-D convolution sees.

    The padded input grid is drawn on the left (input cells white, padding
    zeros grey and hatched, the original input framed in black), the output
    grid on the right. The chosen output cell and the input cells its kernel
    window multiplies are filled orange; a dashed frame marks the window's
    span D(F - 1) + 1. With ``show_unvisited``, input cells that no window
    ever reaches (the stride does not fit and the size is floored, or the
    dilation skips them) get a red cross.

    Parameters
    ----------
    input_size : int
        N, the height and width of the (square) input.
    kernel_size : int
        F, the height and width of the kernel.
    stride, padding, dilation : int
        S (>= 1), P (>= 0, zeros on each side) and D (>= 1).
    out_index : (int, int)
        Row and column of the output cell to inspect, counted from 0.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made if None.
    show_unvisited : bool
        Mark input cells that no output cell sees.
    legend : bool
        Explain the colours in a legend under the grids.
    cell : float
        Size of one grid cell in inches when a new figure is made.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If the dilated kernel is larger than the padded input, or `out_index`
        is outside the output grid.

    Examples
    --------
    >>> ax = plot_receptive_window(5, 3, stride=2, padding=1, out_index=(1, 2))
    >>> ax.get_title()
    'N=5, F=3, S=2, P=1, D=1: output 3x3, cell (1, 2)'
    >>> plt.close(ax.figure)
    """
    n, f, s, p, d = (int(v) for v in (input_size, kernel_size, stride, padding, dilation))
    padded, span = n + 2 * p, d * (f - 1) + 1
    if min(n, f, s, d) < 1 or p < 0:
        raise ValueError("plot_receptive_window: sizes, stride and dilation must be >= 1 and padding >= 0")
    if span > padded:
        raise ValueError(f"plot_receptive_window: the kernel spans {span} cells but the padded input has {padded}")
    out = (padded - span) // s + 1
    row, col = (int(v) for v in out_index)
    if not (0 <= row < out and 0 <= col < out):
        raise ValueError(f"plot_receptive_window: out_index {out_index} is outside the {out}x{out} output")
    gap = 1.5
    if ax is None:
        width = (padded + gap + out) * cell + 0.4
        _, ax = plt.subplots(figsize=(min(width, 10.0), min(padded * cell + 0.8, 5.0)))
    orange, grey = "#E69F00", "#D9D9D9"
    offsets = np.arange(f) * d
    seen_rows, seen_cols = row * s + offsets, col * s + offsets
    reached = np.unique((np.arange(out)[:, None] * s + offsets[None, :]).ravel())
    for i in range(padded):
        for j in range(padded):
            is_pad = not (p <= i < p + n and p <= j < p + n)
            seen = i in seen_rows and j in seen_cols
            face = orange if seen else (grey if is_pad else "white")
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=face, edgecolor="#555555", linewidth=0.6,
                                       hatch="///" if is_pad else None))
            if show_unvisited and not is_pad and not (i in reached and j in reached):
                ax.plot(j + 0.5, i + 0.5, marker="x", color="#D55E00", markersize=5, markeredgewidth=1.2)
    ax.add_patch(plt.Rectangle((p, p), n, n, fill=False, edgecolor="black", linewidth=2.0))
    ax.add_patch(plt.Rectangle((col * s, row * s), span, span, fill=False, edgecolor="#0072B2",
                               linewidth=1.8, linestyle="--"))
    left = padded + gap
    top = (padded - out) / 2
    for i in range(out):
        for j in range(out):
            face = orange if (i, j) == (row, col) else "#BFE3F5"
            ax.add_patch(plt.Rectangle((left + j, top + i), 1, 1, facecolor=face, edgecolor="#555555",
                                       linewidth=0.6))
    ax.annotate("", xy=(left - 0.15, padded / 2), xytext=(padded + 0.15, padded / 2),
                arrowprops={"arrowstyle": "->", "color": "black"})
    ax.text(padded / 2, -0.3, "input + zero padding" if p else "input", ha="center", va="bottom", fontsize=8)
    ax.text(left + out / 2, top - 0.3, "output", ha="center", va="bottom", fontsize=8)
    if legend:
        handles = [plt.Rectangle((0, 0), 1, 1, facecolor=orange, edgecolor="#555555", label="seen")]
        if p:
            handles.append(plt.Rectangle((0, 0), 1, 1, facecolor=grey, edgecolor="#555555", hatch="///",
                                         label="zero padding"))
        if show_unvisited and not np.isin(np.arange(p, p + n), reached).all():
            handles.append(plt.Line2D([], [], marker="x", color="#D55E00", linestyle="none", label="never seen"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles),
                  fontsize=7, frameon=False, handlelength=1.2)
    ax.set_xlim(-0.2, left + out + 0.2)
    ax.set_ylim(padded + 0.2, -1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"N={n}, F={f}, S={s}, P={p}, D={d}: output {out}x{out}, cell ({row}, {col})", fontsize=9)
    return ax


def show_matrix(values, ax=None, title=None, window=None, highlight_color="black", fmt="{:g}",
                cmap="coolwarm", fontsize=9, cell=0.45):
    """Draw a small 2-D array as a grid of coloured cells with each number written in its cell.

    Colours run over a range symmetric around zero (with the default
    ``'coolwarm'``, zero is pale, positive values red, negative values blue).
    A `window` is outlined with a thick frame: the patch of an input that one
    output cell of a convolution sees (the "flashlight"), or one output cell.

    Parameters
    ----------
    values : array-like, 2-D
        The numbers to show (a small input, kernel or output).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made if None.
    title : str, optional
        Axes title.
    window : (int, int, int, int), optional
        ``(row, col, height, width)`` of a rectangle of cells to outline, counted from 0.
    highlight_color : str
        Colour of the window's frame.
    fmt : str
        Format of the numbers written in the cells.
    cmap : str
        Colour map of the cells.
    fontsize : float
        Size of the numbers.
    cell : float
        Size of one cell in inches when a new figure is made.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = show_matrix(np.arange(9).reshape(3, 3) - 4, title="kernel", window=(0, 0, 2, 2))
    >>> ax.get_title()
    'kernel'
    >>> plt.close(ax.figure)
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"show_matrix: expected a 2-D array, got shape {values.shape}")
    rows, cols = values.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(cols * cell + 0.4, rows * cell + 0.5))
    limit = float(np.max(np.abs(values))) or 1.0
    ax.imshow(values, cmap=cmap, vmin=-1.6 * limit, vmax=1.6 * limit)
    for i in range(rows):
        for j in range(cols):
            ax.text(j, i, fmt.format(values[i, j] + 0.0), ha="center", va="center", fontsize=fontsize)
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for side in ax.spines.values():
        side.set_visible(False)
    if window is not None:
        r, c, h, w = window
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor=highlight_color,
                                   linewidth=3.0, clip_on=False, zorder=3))
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def plot_history(history, title=None):
    """Plot a training history from `minicnn.train.fit`: loss (left) and accuracy (right) per epoch.

    Validation curves are drawn dashed when the history has them. Returns the figure.

    >>> fig = plot_history({"loss": [1.0, 0.5], "acc": [0.5, 0.8], "val_loss": [1.1, 0.7], "val_acc": [0.4, 0.7]})
    >>> [a.get_title() for a in fig.axes]
    ['loss', 'accuracy']
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax_, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        ax_.plot(epochs, history[key], label="training")
        if f"val_{key}" in history:
            ax_.plot(epochs, history[f"val_{key}"], "--", label="validation")
        ax_.set_xlabel("epoch")
        ax_.set_title(label)
        ax_.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
