"""Sphinx configuration of the course's HTML book (read by tools/book.py, which stages the notebooks).

    .venv/bin/python tools/book.py html              # build/book/index.html
    .venv/bin/python tools/book.py html --out /tmp/b

Not meant to be run by hand: tools/book.py passes the staged source folder, the start page (root_doc) and the
folder of locally installed JavaScript (MathJax) in the environment variable MINICNN_BOOK_VENDOR_STATIC.
"""
import os

project = "minicnn: convolutional neural networks, one notebook at a time"
author = "the minicnn authors"
language = "en"

extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]

# The book shows what the committed notebooks stored; executing them here would take an hour and could differ.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# A saved notebook has no widget state, so a live widget cannot render: an explorer's image/png snapshot wins over
# the widget view and over its text/plain repr (lower number = preferred).
nb_mime_priority_overrides = [
    ("html", "image/png", 0),
    ("html", "application/vnd.jupyter.widget-view+json", None),
]
# myst-nb would otherwise link require.js and the widget manager from a CDN; the book must work offline.
nb_ipywidgets_js = {}

html_theme = "sphinx_book_theme"
html_title = "minicnn"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
}
html_static_path = ["static", os.environ["MINICNN_BOOK_VENDOR_STATIC"]]
html_css_files = ["minicnn.css"]
# MathJax 3 from the npm package tools/book.py installs at build time, never from a CDN.
mathjax_path = "mathjax/tex-chtml.js"
html_show_sourcelink = False
html_copy_source = False
# pydata-sphinx-theme logs a console error on a first visit when no default colour mode is set; the figures are
# drawn for a light background.
html_context = {"default_mode": "light"}
