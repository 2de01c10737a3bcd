"""Project-wide pytest set-up: wire the notebooks' sanitize file in, whatever folder pytest runs from."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent


def pytest_configure(config):
    if hasattr(config.option, "nbval_sanitize_with") and not config.option.nbval_sanitize_with:
        config.option.nbval_sanitize_with = str(ROOT / "notebooks" / "nbval_sanitize.cfg")
