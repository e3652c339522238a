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
    """Write ``data`` to ``path`` via a temp file in the same directory and a rename, so it is
    never half-written. The directory must exist (it is not created: a typo in a path should not
    grow a tree); any failure is a :class:`ReportError` saying why, and leaves nothing behind."""
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a directory"
        raise ReportError(f"cannot write {target}: directory {str(parent)!r} {why}")
    if target.is_dir():
        raise ReportError(f"cannot write {target}: it is a directory")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, target)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
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
