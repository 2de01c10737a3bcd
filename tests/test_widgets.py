"""The chapter-4 explorer (`minicnn.widgets.conv_explorer`): its labels fit, it still works, and a saved notebook
keeps a static picture and a stable line of text for it.

JupyterLab draws a widget's description at 13px and cuts it off with an ellipsis when the text is wider
than the description box. The text widths are measured here with DejaVu Sans, the font matplotlib ships;
it is as wide as Verdana, wider than Arial or Helvetica, so a label that fits in DejaVu Sans fits in the
usual fonts too.
"""
import base64
import contextlib
import io

import matplotlib.pyplot as plt
import nbformat
import pytest
from matplotlib.font_manager import FontProperties, findfont, get_font

from minicnn.widgets import STATIC_HINT, conv_explorer, explore

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SNAPSHOT_BYTES = 60_000  # ~26 kB today; every saved notebook carries one per explorer

FONT_PX = 13          # JupyterLab's --jp-widgets-font-size (--jp-ui-font-size1)
CHECKBOX_PX = 13 + 8  # the box itself and its right margin, left of the check box's text


def text_width(text, size=FONT_PX):
    """Width in pixels of `text` in DejaVu Sans at `size` pixels."""
    font = get_font(findfont(FontProperties(family="DejaVu Sans")))
    font.set_size(size, 72)   # 72 dpi: one point is one pixel
    font.set_text(text, 0.0)
    return font.get_width_height()[0] / 64


def css_px(width, size=FONT_PX):
    """A CSS width such as '70px' or '7em' in pixels, for a font of `size` pixels."""
    if width.endswith("px"):
        return float(width[:-2])
    if width.endswith("em"):
        return float(width[:-2]) * size
    raise ValueError(f"cannot size {width!r}")


@pytest.fixture
def explorer():
    with contextlib.redirect_stdout(io.StringIO()):
        widget = conv_explorer(7)
    yield widget
    plt.close("all")


def controls(explorer):
    left, right = explorer.children[0].children
    return [*left.children, *right.children[:2]], right.children[2]


def test_text_width_is_measured():
    # DejaVu Sans at 13px: "output row" is just under 70px wide (the old box), and longer text is wider
    assert 65 < text_width("output row") < 75
    assert text_width("output row") < text_width("output row, column")


def test_every_slider_label_fits_with_room_to_spare(explorer):
    sliders, _ = controls(explorer)
    assert [s.description for s in sliders] == ["kernel F", "stride S", "padding P", "dilation D",
                                                "output row", "output col"]
    for slider in sliders:
        box = css_px(slider.style.description_width)
        assert text_width(slider.description) * 1.15 <= box, (slider.description, box)


def test_labels_share_one_width_so_the_sliders_line_up(explorer):
    sliders, _ = controls(explorer)
    assert len({s.style.description_width for s in sliders}) == 1
    assert len({s.layout.width for s in sliders}) == 1


def test_sliders_keep_their_track(explorer):
    # the wider label must not squeeze the track: at least 150px are left for track and value
    sliders, _ = controls(explorer)
    for slider in sliders:
        assert css_px(slider.layout.width) - css_px(slider.style.description_width) >= 150


def test_check_box_text_fits(explorer):
    _, exact = controls(explorer)
    assert exact.description == "refuse sizes that do not fit (exact=True)" and not exact.indent
    assert CHECKBOX_PX + text_width(exact.description) * 1.1 <= css_px(exact.layout.width)


def test_widths_scale_with_the_font(explorer):
    # em units: at a larger font (or zoom) the boxes grow with the text
    sliders, exact = controls(explorer)
    for size in (13, 16, 20):
        for slider in sliders:
            assert text_width(slider.description, size) * 1.15 <= css_px(slider.style.description_width, size)
        assert size + 8 + text_width(exact.description, size) * 1.1 <= css_px(exact.layout.width, size)


def test_behaviour_is_unchanged(explorer):
    (kernel, stride, padding, dilation, out_row, out_col), exact = controls(explorer)
    assert (kernel.value, stride.value, padding.value, dilation.value) == (3, 1, 0, 1)
    assert (out_row.max, out_col.max) == (4, 4)
    with contextlib.redirect_stdout(io.StringIO()) as text:
        stride.value = 2
    assert text.getvalue().count("output 3x3: (7 - 3 + 2*0)/2 + 1 = 3") == 1
    assert (out_row.max, out_col.max) == (2, 2)
    with contextlib.redirect_stdout(io.StringIO()) as text:
        exact.value = True
        kernel.value = 4
    assert "refused: stride 2 does not fit" in text.getvalue()
    assert "rounds down to 2x2" in text.getvalue()


def png_size(bundle):
    """(width, height) in pixels of the bundle's PNG, read from its header."""
    data = base64.b64decode(bundle["image/png"])
    assert data.startswith(PNG_SIGNATURE), "image/png does not hold a PNG file"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_display_holds_the_live_widget_a_picture_and_a_line_of_text(explorer):
    bundle = explorer._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == explorer.model_id  # the live view JupyterLab ranks first
    assert bundle["text/plain"] == ("Interactive explorer of a 7x7 input: kernel F=3, stride S=1, padding P=0, "
                                    "dilation D=1, output cell (0, 0); output 5x5 (" + STATIC_HINT + ")")
    assert "VBox" not in bundle["text/plain"] and "0x" not in bundle["text/plain"]
    width, height = png_size(bundle)
    assert 200 < width < 1200 and 150 < height < 1000
    assert len(base64.b64decode(bundle["image/png"])) < MAX_SNAPSHOT_BYTES


def test_the_snapshot_closes_its_figure(explorer):
    before = plt.get_fignums()
    explorer._repr_mimebundle_()
    assert plt.get_fignums() == before  # else the inline backend would show it again under the widget


def test_the_static_forms_follow_the_sliders(explorer):
    (kernel, stride, padding, dilation, out_row, out_col), exact = controls(explorer)
    first = explorer._repr_mimebundle_()
    with contextlib.redirect_stdout(io.StringIO()):
        stride.value, padding.value, out_row.value = 2, 1, 3
    moved = explorer._repr_mimebundle_()
    assert "stride S=2, padding P=1" in moved["text/plain"] and "output cell (3, 0); output 4x4" in moved["text/plain"]
    assert moved["image/png"] != first["image/png"]
    with contextlib.redirect_stdout(io.StringIO()):
        kernel.value, dilation.value, padding.value = 7, 3, 0  # spans 19 cells of 7: no output at all
    refused = explorer._repr_mimebundle_()
    assert refused["text/plain"].endswith("; refused (" + STATIC_HINT + ")")
    png_size(refused)  # still a picture: the line saying why


def test_the_text_is_the_same_every_time():
    # nbval compares text/plain exactly: nothing in it may depend on the machine, the model id or the run
    texts = set()
    for _ in range(2):
        with contextlib.redirect_stdout(io.StringIO()):
            texts.add(conv_explorer(7)._repr_mimebundle_()["text/plain"])
    plt.close("all")
    assert len(texts) == 1


def test_a_kernel_stores_all_three_forms_and_no_second_figure(tmp_path):
    """Run a two-cell notebook in a real kernel (nbclient), as regenerate_notebooks.py does."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient runs notebooks in a kernel")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from minicnn.widgets import conv_explorer, explore\n"
                                          "import matplotlib.pyplot as plt"),
                nbformat.v4.new_code_cell("conv_explorer(input_size=7, stride=2)"),
                nbformat.v4.new_code_cell(DRAW_BAR + "\nexplore(bar, height=(1, 9))")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["execute_result"], outputs  # the picture is not shown twice
    data = outputs[0].data
    assert set(data) == {WIDGET_VIEW, "image/png", "text/plain"}
    assert data["text/plain"].startswith("Interactive explorer of a 7x7 input: kernel F=3, stride S=2")
    png_size(data)
    outputs = nb.cells[2].outputs
    assert [o.output_type for o in outputs] == ["execute_result"], outputs
    assert set(outputs[0].data) == {WIDGET_VIEW, "image/png", "text/plain"}
    assert outputs[0].data["text/plain"] == f"Interactive explorer of bar: height=5 ({STATIC_HINT})"


DRAW_BAR = """
def bar(height=5):
    figure, ax = plt.subplots(figsize=(2, 2))
    ax.bar([0], [height])
    ax.set_ylim(0, 10)
    return figure
"""


def test_explore_shows_a_function_s_figure_and_keeps_a_snapshot():
    namespace = {"plt": plt}
    exec(DRAW_BAR, namespace)  # the same function the kernel test runs
    open_figures = plt.get_fignums()
    with contextlib.redirect_stdout(io.StringIO()):
        explorer = explore(namespace["bar"], height=(1, 9))
    (interactive,) = explorer.children
    slider = interactive.children[0]
    assert (slider.description, slider.value, slider.min, slider.max) == ("height", 5, 1, 9)
    first = explorer._repr_mimebundle_()
    assert first["text/plain"] == f"Interactive explorer of bar: height=5 ({STATIC_HINT})"
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        slider.value = 8
    assert "Figure" in shown.getvalue()  # outside a kernel, display() prints the figure's repr: it was drawn
    moved = explorer._repr_mimebundle_()
    assert moved["text/plain"] == f"Interactive explorer of bar: height=8 ({STATIC_HINT})"
    assert moved["image/png"] != first["image/png"]
    assert plt.get_fignums() == open_figures  # the live view and the snapshots close what they draw
