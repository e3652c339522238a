"""Progress of long commands: a bar on a terminal (tqdm), plain lines otherwise.

A log file, a pipe or CI gets whole lines, never ``\\r`` redraws: one line at most every
``every`` seconds (and one at the end), e.g. ``recording base: 20/60 s (1532 records, 0 rejected)``.
``write(line)`` prints a line without breaking the bar (per-case lines of an experiment).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["Progress"]


class Progress:
    """Use as a context manager: ``update(done, note)``, ``write(line)``."""

    def __init__(
        self,
        total: float,
        *,
        unit: str = "",
        what: str = "",
        every: float | None = 10.0,
        stream: IO[str] | None = None,
    ) -> None:
        self.total, self.unit, self.what, self.every = total, unit, what, every
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._last_line = 0.0
        self._done = 0.0
        self._note = ""
        self._printed_done: float | None = None

    @property
    def on_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def __enter__(self) -> Progress:
        self._last_line = time.monotonic()
        if self.on_terminal:
            from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

            self._bar = tqdm(
                total=self.total,
                desc=self.what or None,
                unit=self.unit or "it",
                file=self.stream,
                leave=True,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit} "
                "[{elapsed}<{remaining}{postfix}]",
            )
        return self

    def update(self, done: float, note: str = "") -> None:
        """Progress is now ``done`` of ``total``; ``note`` says more (counts)."""
        self._done, self._note = done, note
        if self._bar is not None:
            self._bar.n = done
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if self.every is not None and now - self._last_line >= self.every:
            self._line()
            self._last_line = now

    def write(self, line: str) -> None:
        """A whole line (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def _line(self) -> None:
        note = f" ({self._note})" if self._note else ""
        unit = f" {self.unit}" if self.unit else ""
        what = f"{self.what}: " if self.what else ""
        print(f"{what}{self._done:.0f}/{self.total:g}{unit}{note}", file=self.stream, flush=True)
        self._printed_done = self._done

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.every is not None and self._printed_done != self._done and exc[0] is None:
            self._line()
