"""Re-execute course notebooks from a fresh kernel, top to bottom, and store their outputs.

    python tools/regenerate_notebooks.py                 # every notebook in notebooks/
    python tools/regenerate_notebooks.py notebooks/04_stride_padding.ipynb

Each notebook runs in its own folder with the current Python (the kernel nbval
uses with --nbval-current-env). Timing metadata and widget state are not stored,
and consecutive pieces of a stream are joined with their carriage returns
applied, as JupyterLab does (a text progress bar keeps its final line), so the
committed file is what a fresh run produces and what JupyterLab would save.
A cell that raises without the `raises-exception` tag stops the run with the error.
"""
import argparse
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent


def apply_carriage_returns(text):
    """Keep what a terminal shows: in each line, the text after its last carriage return."""
    return "\n".join(next((part for part in reversed(line.split("\r")) if part), "")
                     for line in text.split("\n"))


def merge_streams(outputs):
    """Join consecutive pieces of one stream and apply their carriage returns, as JupyterLab does when it saves.

    A text progress bar flushes hundreds of pieces; what a learner sees, and what is stored, is its last state.
    (nbclient's coalesce_streams would also move text printed after a figure to before it.)
    """
    merged = []
    for output in outputs:
        if (output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1]["name"] == output["name"]):
            merged[-1]["text"] += output["text"]
        else:
            merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream" and "\r" in output["text"]:
            output["text"] = apply_carriage_returns(output["text"])
    return merged


def regenerate(path, timeout=600):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()  # jupyter_client starts the python3 kernel with this interpreter (sys.executable)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    total = time.perf_counter()
    for path in paths:
        start = time.perf_counter()
        regenerate(path.resolve())
        size = path.stat().st_size / 1e3
        print(f"{path.name}: {time.perf_counter() - start:.1f} s, {size:.0f} kB", flush=True)
    print(f"{len(paths)} notebooks in {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
