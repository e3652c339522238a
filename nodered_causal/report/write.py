"""The I/O edge of reporting: write HTML atomically and render PNGs with graphviz.

PNG rendering uses Graphviz's ``neato -n2`` (positions fixed at the editor's x/y). Graphviz comes
from the OS (``apt-get install graphviz``); a missing binary is a clear :class:`ReportError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from nodered_causal.errors import ReportError
from nodered_causal.report.draw import Blame, GraphLike, to_dot

__all__ = ["render_image", "render_png", "write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file and a rename, so it is never half-written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def render_png(
    graph: GraphLike,
    path: str | os.PathLike[str],
    blame: Mapping[str, Blame] | None = None,
    *,
    highlight: Iterable[str] = (),
    fmt: str = "png",
) -> Path:
    """Render the blame-coloured flow drawing to ``path`` (``fmt`` png or svg) with graphviz."""
    return write_atomic(path, render_image(graph, blame, highlight=highlight, fmt=fmt, what=path))


def render_image(
    graph: GraphLike,
    blame: Mapping[str, Blame] | None = None,
    *,
    highlight: Iterable[str] = (),
    fmt: str = "png",
    what: str | os.PathLike[str] = "the drawing",
) -> bytes:
    """The flow drawing as ``fmt`` (png or svg) bytes, rendered by graphviz ``neato -n2``."""
    neato = shutil.which("neato")
    if neato is None:
        raise ReportError(
            f"cannot write {what}: graphviz is not installed (apt-get install graphviz)"
        )
    dot = to_dot(graph, blame, highlight=highlight)
    proc = subprocess.run(
        [neato, "-n2", f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise ReportError(f"graphviz failed writing {what}: {proc.stderr.decode()[-500:]}")
    return proc.stdout
