"""Figures the chapters share. Each function draws on the axes it is given (or a new figure) and returns them.

Chapter-specific one-off figures stay in their notebook; a figure used by two
chapters, or too long to read in a cell, lives here.
"""
import matplotlib.pyplot as plt
import numpy as np


def show_images(images, titles=None, cmap="gray", ncols=None, size=2.2, vmin=None, vmax=None):
    """Show 2-D arrays (or (H, W, 3) RGB images) side by side, without axis ticks; returns the figure.

    >>> fig = show_images([np.eye(3), np.ones((3, 3))], titles=["eye", "ones"])
    >>> len(fig.axes)
    2
    """
    images = list(images)
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat[len(images):]:
        ax.axis("off")
    for index, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(image, cmap=None if np.ndim(image) == 3 else cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    fig.tight_layout()
    return fig
