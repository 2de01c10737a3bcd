"""Interactive explorers for the course notebooks, built with ipywidgets.

Each explorer is a function that builds the sliders, wires them to a drawing
function from `minicnn.plotting` and *returns* the widget; leave the call as
the last expression of a notebook cell to display it. Importing this module
needs neither a display nor a running Jupyter kernel, and the text the
explorers show comes from plain functions (such as `describe_output_size`)
that can be called and tested on their own.

    from minicnn.widgets import conv_explorer
    conv_explorer(input_size=7)          # last line of a cell: sliders and a live figure

A saved notebook keeps no widget state, so a static view of it (GitHub, an
HTML book, nbval's comparison) cannot draw the sliders. An explorer's display
therefore carries two more forms besides the live widget: a PNG of the figure
as it was first drawn and one line of text naming the explorer and its
settings. JupyterLab ranks the widget form first and shows the live widget;
static renderers fall back on the picture, and plain-text ones on the line.

Functions
---------
describe_output_size
    One line explaining a convolution's output size, or why it is refused.
conv_explorer
    Sliders for kernel size, stride, padding and dilation, with a figure of
    the cells one output cell sees (chapter 4).
explore
    `ipywidgets.interact` for a function that returns a figure, with the same
    static picture and line of text (chapter 18's flashlight).
ExplorerBox
    The box an explorer returns: a VBox whose display also holds the static
    picture and line of text.
"""
import base64
import functools
import io
import textwrap

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import clear_output, display

from minicnn.functional import conv_output_size
from minicnn.plotting import plot_receptive_window

__all__ = ["describe_output_size", "conv_explorer", "explore", "ExplorerBox"]

DESCRIPTION_WIDTH = "7em"   # the label box left of each slider; fits the longest label, "output row"
CONTROL_WIDTH = "25em"      # one slider (label, track and value) or the check box with its text
STATIC_HINT = "run this notebook in JupyterLab to move the sliders"
SNAPSHOT_DPI = 80           # enough to read the grids; keeps the stored PNG small (the notebook limit is 3 MB)


class ExplorerBox(widgets.VBox):
    """A VBox whose display also carries a PNG of the current figure and one line of text, for static views.

    Parameters
    ----------
    children : list of widgets
        As for `ipywidgets.VBox`.
    draw : callable
        ``draw()`` returns a new matplotlib Figure of the current state; the box saves it as PNG and closes it.
    caption : callable
        ``caption()`` returns the one line of text (plain ASCII, no numbers that vary between machines:
        nbval compares it exactly).

    Examples
    --------
    >>> box = ExplorerBox([widgets.IntSlider(value=2)], draw=lambda: plt.figure(figsize=(1, 1)),
    ...                   caption=lambda: "a test explorer")
    >>> bundle = box._repr_mimebundle_()
    >>> sorted(bundle)
    ['application/vnd.jupyter.widget-view+json', 'image/png', 'text/plain']
    >>> bundle["text/plain"], base64.b64decode(bundle["image/png"])[:4]
    ('a test explorer', b'\x89PNG')
    """

    def __init__(self, children, draw, caption, **kwargs):
        super().__init__(children, **kwargs)
        self._draw = draw
        self._caption = caption

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self._caption()
        figure = self._draw()
        try:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=SNAPSHOT_DPI, bbox_inches="tight")
        finally:
            # closed before the inline backend's end-of-cell flush, so the figure is not shown a second time
            plt.close(figure)
        bundle["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        return bundle


def describe_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1, exact=False):
    """Explain in one line the output size of a convolution along one dimension.

    The size comes from `minicnn.functional.conv_output_size`; the line also
    shows the course's formula (N - F + 2P)/S + 1, with F replaced by the
    effective size D(F - 1) + 1 when the kernel is dilated.

    Parameters
    ----------
    input_size, kernel_size : int
        N and F.
    stride, padding, dilation : int
        S (>= 1), P (>= 0, zeros on each side) and D (>= 1).
    exact : bool
        If False, a stride that does not fit is rounded down as `conv2d` does
        (and the line says so); if True, it is refused and the line gives
        the reason from `conv_output_size`.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_output_size(32, 5, stride=3)
    'output 10x10: (32 - 5 + 2*0)/3 + 1 = 10'
    >>> print(describe_output_size(32, 5, stride=2))
    output 14x14: (32 - 5 + 2*0)/2 + 1 = 14.5, rounded down (the last window stops 1 cell short of the far edge
    of the padded input)

    With padding, the cells left over at the far edge can be padding zeros only:

    >>> print(describe_output_size(56, 3, stride=2, padding=1))
    output 28x28: (56 - 3 + 2*1)/2 + 1 = 28.5, rounded down (the last window stops 1 cell short of the far edge
    of the padded input)
    >>> describe_output_size(32, 5, stride=2, exact=True)[:48]
    'refused: stride 2 does not fit: (32 - 5 + 2*0)/2'
    >>> describe_output_size(7, 3, padding=2, dilation=2)
    'output 7x7: (7 - 5 + 2*2)/1 + 1 = 7 (effective kernel size 2*(3 - 1) + 1 = 5)'
    """
    try:
        size = conv_output_size(input_size, kernel_size, stride, padding, dilation, exact=exact)
    except ValueError as err:
        return f"refused: {err}"
    span = dilation * (kernel_size - 1) + 1
    value = (input_size - span + 2 * padding) / stride + 1
    text = f"output {size}x{size}: ({input_size} - {span} + 2*{padding})/{stride} + 1 = {value:g}"
    short = (input_size + 2 * padding - span) % stride
    if short:
        text += (f", rounded down (the last window stops {short} cell{'s' if short > 1 else ''} short of the far edge"
                 " of the padded input)")
    if dilation > 1:
        text += f" (effective kernel size {dilation}*({kernel_size} - 1) + 1 = {span})"
    return text


def conv_explorer(input_size=7, kernel_size=3, stride=1, padding=0, dilation=1):
    """Explore stride, zero padding and dilation on a small square input with sliders.

    Sliders set the kernel size F, stride S, padding P and dilation D, and pick
    one output cell (row, column); a check box asks for ``exact=True``, that
    is, to refuse strides that do not fit instead of rounding down. Each
    change prints the output size (see `describe_output_size`) and redraws
    `minicnn.plotting.plot_receptive_window`: the padded input, the output
    grid and the input cells the chosen output cell sees.

    Parameters
    ----------
    input_size : int
        N, the height and width of the input grid (keep it small, 4 to 12).
    kernel_size, stride, padding, dilation : int
        Initial slider values.

    Returns
    -------
    ExplorerBox
        The controls above the figure; display it (last expression of a cell). Its display also holds
        a PNG of the figure at the current settings and the line given by its caption, for static views.

    Examples
    --------
    Built outside a notebook, the first drawing's text goes to standard output:

    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()) as text:
    ...     explorer = conv_explorer(7)
    >>> "output 5x5: (7 - 3 + 2*0)/1 + 1 = 5" in text.getvalue()
    True
    >>> [child.description for child in explorer.children[0].children[0].children]
    ['kernel F', 'stride S', 'padding P', 'dilation D']

    Every label has the same box, wide enough for the longest one (in JupyterLab a description that
    does not fit is cut off):

    >>> sliders = [*explorer.children[0].children[0].children, *explorer.children[0].children[1].children[:2]]
    >>> sorted({slider.style.description_width for slider in sliders})
    ['7em']

    A change that shrinks the output clamps the cell sliders and draws once:

    >>> kernel, stride, padding, dilation = explorer.children[0].children[0].children
    >>> out_row, out_col, exact = explorer.children[0].children[1].children
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     out_row.value = 4
    >>> with contextlib.redirect_stdout(io.StringIO()) as text:
    ...     kernel.value = 7
    >>> out_row.value, text.getvalue().count("output 1x1")
    (0, 1)

    What a static view of the saved notebook shows instead of the sliders (with a picture of the figure):

    >>> print(explorer._repr_mimebundle_()["text/plain"])
    Interactive explorer of a 7x7 input: kernel F=7, stride S=1, padding P=0, dilation D=1, output cell (0, 0);
    output 1x1 (run this notebook in JupyterLab to move the sliders)
    >>> plt.close("all")
    """
    # JupyterLab draws a description at 13px and cuts it off ("outp...") when it is wider than its
    # box: "output row" needs about 70px in DejaVu Sans, so a 70px box is too narrow. Widths in em
    # grow with the font size (and zoom), and 7em leaves room for wide fonts such as Verdana.
    style = {"description_width": DESCRIPTION_WIDTH}
    layout = widgets.Layout(width=CONTROL_WIDTH)

    def slider(value, low, high, description):
        return widgets.IntSlider(value=value, min=low, max=high, description=description,
                                 continuous_update=False, style=style, layout=layout)

    kernel = slider(kernel_size, 1, input_size, "kernel F")
    step = slider(stride, 1, 4, "stride S")
    pad = slider(padding, 0, 3, "padding P")
    dil = slider(dilation, 1, 3, "dilation D")
    row = slider(0, 0, input_size - 1, "output row")
    col = slider(0, 0, input_size - 1, "output col")
    exact = widgets.Checkbox(value=False, description="refuse sizes that do not fit (exact=True)",
                             indent=False, layout=widgets.Layout(width=CONTROL_WIDTH))

    def out_size():
        """The rounded-down output size for the current sliders, or 0 if the kernel does not fit."""
        try:
            return conv_output_size(input_size, kernel.value, step.value, pad.value, dil.value)
        except ValueError:
            return 0

    def show(kernel_size, stride, padding, dilation, out_row, out_col, exact):
        print(describe_output_size(input_size, kernel_size, stride, padding, dilation, exact=exact))
        size = out_size()
        if size == 0:
            return
        if exact and (input_size + 2 * padding - dilation * (kernel_size - 1) - 1) % stride:
            print(f"(the figure shows what conv2d does instead: it rounds down to {size}x{size})")
        cell = (min(out_row, size - 1), min(out_col, size - 1))
        ax = plot_receptive_window(input_size, kernel_size, stride, padding, dilation, out_index=cell)
        plt.show()
        plt.close(ax.figure)

    def snapshot():
        """A new figure of the current settings: the output-size line above the receptive-window drawing."""
        line = describe_output_size(input_size, kernel.value, step.value, pad.value, dil.value, exact=exact.value)
        if out_size() == 0:
            figure = plt.figure(figsize=(6, 0.8))
        else:
            cell = (min(row.value, out_size() - 1), min(col.value, out_size() - 1))
            figure = plot_receptive_window(input_size, kernel.value, step.value, pad.value, dil.value,
                                           out_index=cell).figure
        figure.suptitle("\n".join(textwrap.wrap(line, 100)), fontsize=9, y=1.0, va="bottom")
        return figure

    def caption():
        # "output 5x5" or "refused", the head of the line the live view prints
        result = describe_output_size(input_size, kernel.value, step.value, pad.value, dil.value,
                                      exact=exact.value).split(":")[0]
        return (f"Interactive explorer of a {input_size}x{input_size} input: kernel F={kernel.value}, "
                f"stride S={step.value}, padding P={pad.value}, dilation D={dil.value}, output cell "
                f"({row.value}, {col.value}){', exact=True' if exact.value else ''}; {result} ({STATIC_HINT})")

    output = widgets.Output()
    paused = False

    def redraw(change=None):
        if paused:  # the cell sliders are being clamped: the geometry change redraws once afterwards
            return
        with output:
            clear_output(wait=True)
            show(kernel.value, step.value, pad.value, dil.value, row.value, col.value, exact.value)

    def fit_cell_sliders(change=None):
        # a new kernel, stride, padding or dilation can shrink the output: clamp the cell sliders
        # without letting each clamped slider redraw, then draw once
        nonlocal paused
        paused = True
        try:
            last = max(out_size() - 1, 0)
            for cell_slider in (row, col):
                cell_slider.max = last  # also clamps the value
        finally:
            paused = False
        if change is not None:
            redraw()

    fit_cell_sliders()
    for control in (kernel, step, pad, dil):
        control.observe(fit_cell_sliders, names="value")
    for control in (row, col, exact):
        control.observe(redraw, names="value")
    redraw()
    panel = widgets.HBox([widgets.VBox([kernel, step, pad, dil]), widgets.VBox([row, col, exact])])
    return ExplorerBox([panel, output], draw=snapshot, caption=caption)


def explore(draw, **controls):
    """Sliders for the keyword arguments of `draw`, a function that returns a new matplotlib Figure.

    Like ``ipywidgets.interact(draw, **controls)`` (the same abbreviations: ``row=(0, 95)`` makes an integer
    slider), except that `draw` returns its figure instead of showing it, so the explorer can also keep a
    picture of the first state for static views of the saved notebook.

    Parameters
    ----------
    draw : callable
        ``draw(**values)`` draws a new figure and returns it; the explorer shows it, then closes it.
    **controls
        One entry per argument of `draw`, as for ``ipywidgets.interact``.

    Returns
    -------
    ExplorerBox
        Display it (last expression of a cell, without a trailing semicolon).

    Examples
    --------
    >>> import contextlib
    >>> def square(side=2):
    ...     figure, ax = plt.subplots(figsize=(2, 2))
    ...     ax.add_patch(plt.Rectangle((0, 0), side, side))
    ...     return figure
    >>> with contextlib.redirect_stdout(io.StringIO()):  # outside a notebook the figure's repr is printed
    ...     explorer = explore(square, side=(1, 5))
    >>> print(explorer._repr_mimebundle_()["text/plain"])
    Interactive explorer of square: side=2 (run this notebook in JupyterLab to move the sliders)
    >>> plt.get_fignums()   # every figure drawn is closed again
    []
    """
    @functools.wraps(draw)  # the same signature, so interactive finds the defaults and the controls
    def show(**values):
        figure = draw(**values)
        display(figure)
        plt.close(figure)

    interactive = widgets.interactive(show, **controls)

    def caption():
        settings = ", ".join(f"{name}={value!r}" for name, value in interactive.kwargs.items())
        return f"Interactive explorer of {draw.__name__}: {settings} ({STATIC_HINT})"

    return ExplorerBox([interactive], draw=lambda: draw(**interactive.kwargs), caption=caption)
