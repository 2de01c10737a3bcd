"""The chapter-4 explorer (`minicnn.widgets.conv_explorer`): its labels fit, and it still works.

JupyterLab draws a widget's description at 13px and cuts it off with an ellipsis when the text is wider
than the description box. The text widths are measured here with DejaVu Sans, the font matplotlib ships;
it is as wide as Verdana, wider than Arial or Helvetica, so a label that fits in DejaVu Sans fits in the
usual fonts too.
"""
import contextlib
import io

import matplotlib.pyplot as plt
import pytest
from matplotlib.font_manager import FontProperties, findfont, get_font

from minicnn.widgets import conv_explorer

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
