"""The files shipped inside the package: the wire-tap plugin and the bundled example flows.

Both live in ``nodered_causal/package-data/`` and are found with :mod:`importlib.resources`, so
they are there whether nodered-causal runs from a checkout (``package-data/plugin`` and
``package-data/flows`` are symlinks to the top-level ``plugin/`` and ``flows/``, the sources) or
from an installed wheel (which carries copies). The directory's name is not an identifier on
purpose: it is data, never a package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["data_dir", "flows_dir", "plugin_dir"]


def data_dir() -> Path:
    """``nodered_causal/package-data`` as a directory on disk (the package is never zipped)."""
    root = resources.files("nodered_causal") / "package-data"
    if not isinstance(root, Path):  # a zip import: the plugin must be a directory for npm
        raise RuntimeError(f"nodered_causal's data is not a directory on disk ({root!r})")
    return root


def plugin_dir() -> Path:
    """The wire-tap plugin, an npm package directory (``package.json``, ``tap.js``, ``lib/``)."""
    return data_dir() / "plugin"


def flows_dir() -> Path:
    """The bundled example flows (``<name>.json`` and their ``README.md``)."""
    return data_dir() / "flows"
