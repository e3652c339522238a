"""The I/O edge of reporting: write HTML atomically and render PNGs with graphviz.

PNG rendering uses Graphviz's ``neato -n2`` (positions fixed at the editor's x/y). Graphviz comes
from the OS (``apt-get install graphviz``); a missing binary is a clear :class:`ReportError`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nodered_causal.errors import ReportError
from nodered_causal.report.draw import Blame, GraphLike, to_dot, to_svg

if TYPE_CHECKING:
    from nodered_causal.report.answer import Answer

__all__ = ["render_image", "render_png", "write_answer_report", "write_atomic"]

logger = logging.getLogger(__name__)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` via a temp file and a rename, so it is never half-written.

    The file gets ``mode`` (default 0644: reports are for others to read; ``mkstemp`` alone
    would leave 0600), whatever the umask.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
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


def write_answer_report(
    path: str | os.PathLike[str],
    graph: GraphLike,
    answer: Answer,
    *,
    highlight: Iterable[str] = (),
) -> list[Path]:
    """Write the report of ``answer``, by the suffix of ``path``: ``.html`` the page (plus its
    flow drawing as ``.svg`` beside it, and ``.png`` when graphviz is installed), ``.svg`` the
    drawing alone (no graphviz needed), ``.png`` the drawing by graphviz. Returns what it wrote,
    every file 0644 and written atomically."""
    from nodered_causal.report.build import answer_blame
    from nodered_causal.report.page import render_answer

    target = Path(path)
    suffix = target.suffix.lower()
    blame = answer_blame(answer)
    if suffix == ".svg":
        return [write_atomic(target, to_svg(graph, blame, highlight=highlight))]
    if suffix == ".png":
        return [render_png(graph, target, blame, highlight=highlight)]
    if suffix not in (".html", ".htm"):
        raise ReportError(f"cannot write {target}: the report file must end in .html, .svg or .png")
    written = [write_atomic(target, render_answer(graph, answer, highlight=highlight))]
    written.append(
        write_atomic(target.with_suffix(".svg"), to_svg(graph, blame, highlight=highlight))
    )
    try:
        written.append(render_png(graph, target.with_suffix(".png"), blame, highlight=highlight))
    except ReportError as exc:
        logger.info("no PNG next to %s: %s", target, exc)
    return written
