"""Pause the cyclic garbage collector while building large acyclic structures.

Parsing a 10,000-node flow allocates ~10^5 small dicts, tuples and dataclasses that never form
reference cycles; the collector's generation scans then cost as much as the work itself (about
half the time of ``load_flow`` + ``to_causal_dag``, measured in benchmarks/bench_parse.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable automatic collection inside the block; restore the previous state after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
