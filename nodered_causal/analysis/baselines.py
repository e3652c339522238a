"""The simple methods every attribution is measured against, on the same data (pure).

Each baseline ranks the analysed variables and names the ones it would blame:

- ``most_upstream``: the variables whose own distribution changed (the marginal test of a root's
  mechanism, Bonferroni), those with no changed ancestor first — "the most upstream node that
  changed", what an operator does by hand;
- ``marginal_shift``: every variable by the size of its own standardised mean shift; it blames the
  changed ones, largest first;
- ``baro``: BARO (Pham et al., FSE 2024; RCAEval's baseline): each variable scaled robustly on the
  baseline (median, inter-quartile range), scored by its largest absolute value in the incident;
  it blames those scoring at least ``baro_z``.

A baseline blames nothing when the target itself did not change: it is only ever asked about a
target that moved, which is the strongest way to run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nodered_causal.analysis import linear

if TYPE_CHECKING:
    import numpy as np

    from nodered_causal.analysis.config import AttributionConfig

__all__ = [
    "NAMES", "Baseline", "ancestor_sets", "marginal_tests", "run_baselines", "target_p_value",
]  # fmt: skip

#: Baselines by name, in the order reports show them.
NAMES: tuple[str, ...] = ("most_upstream", "marginal_shift", "baro")


@dataclass(frozen=True)
class Baseline:
    """One baseline's answer: every variable ranked (indices), and the ones it blames."""

    ranking: tuple[int, ...]
    blamed: tuple[int, ...]


def marginal_tests(x0: np.ndarray, x1: np.ndarray, cfg: AttributionConfig) -> list[linear.NodeTest]:
    """Per column, the same test as a root's mechanism: did the column itself move?"""
    import numpy as np

    none = np.zeros((0, 0))
    return [
        linear.mechanism_test(
            x0[:, i], none.reshape(len(x0), 0), x1[:, i], none.reshape(len(x1), 0),
            min_rows=cfg.min_rows,
        )
        for i in range(x0.shape[1])
    ]  # fmt: skip


def target_p_value(s: linear.Structure, marginal: Sequence[linear.NodeTest]) -> float:
    """Did the target's own distribution change at all, whatever the cause: the smallest marginal
    p-value of its variables, Bonferroni over them (independent of the graph)."""
    return min(1.0, min(marginal[i].p_value for i in s.outputs) * len(s.outputs))


def ancestor_sets(s: linear.Structure) -> list[set[int]]:
    """Every variable's ancestors (indices), in the structure's topological order."""
    anc: list[set[int]] = []
    for i in range(len(s.nodes)):
        acc: set[int] = set()
        for p in s.parents[i]:
            acc |= {p} | anc[p]
        anc.append(acc)
    return anc


def run_baselines(
    s: linear.Structure,
    x0: np.ndarray,
    x1: np.ndarray,
    cfg: AttributionConfig,
    marginal: list[linear.NodeTest],
    *,
    target_moved: bool,
    upstream_of: Sequence[set[int]] | None = None,
) -> dict[str, Baseline]:
    """Every baseline of the module docstring over the variables of ``s``. ``upstream_of``:
    per variable, the variables of the nodes upstream of its node in the flow (default: its
    ancestors in ``s``, which leaves out wires the analysis pruned)."""
    import numpy as np

    m = len(s.nodes)
    mu0, mu1 = np.nanmean(x0, axis=0), np.nanmean(x1, axis=0)
    sd0 = np.nanstd(x0, axis=0)
    sd0 = np.where(sd0 > 0, sd0, np.nanstd(np.vstack([x0, x1]), axis=0) + 1e-12)
    z = np.nan_to_num(np.abs(mu1 - mu0) / sd0)
    shifted = {
        i
        for i, test in enumerate(marginal)
        if test.p_value <= cfg.alpha / m and test.effect >= cfg.min_effect
    }
    by_z = tuple(sorted(range(m), key=lambda i: (-z[i], s.nodes[i])))
    ancestors = list(upstream_of) if upstream_of is not None else ancestor_sets(s)
    upstream = tuple(sorted(shifted, key=lambda i: (bool(ancestors[i] & shifted), -z[i], i)))
    baro = _baro_scores(x0, x1)
    by_baro = tuple(sorted(range(m), key=lambda i: (-baro[i], s.nodes[i])))

    def blame(ranked: tuple[int, ...], keep: set[int]) -> tuple[int, ...]:
        return tuple(i for i in ranked if i in keep) if target_moved else ()

    return {
        "most_upstream": Baseline(upstream, blame(upstream, shifted)),
        "marginal_shift": Baseline(by_z, blame(by_z, shifted)),
        "baro": Baseline(by_baro, blame(by_baro, {i for i in range(m) if baro[i] >= cfg.baro_z})),
    }


def _baro_scores(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """BARO: max |x1 - median(x0)| / IQR(x0) per column (IQR 0: the column's sd, else 1)."""
    import numpy as np

    with np.errstate(all="ignore"):
        med = np.nanmedian(x0, axis=0)
        q1, q3 = np.nanpercentile(x0, [25, 75], axis=0)
        iqr = q3 - q1
        sd = np.nanstd(x0, axis=0)
        scale = np.where(iqr > 0, iqr, np.where(sd > 0, sd, 1.0))
        scores = np.nanmax(np.abs(x1 - med) / scale, axis=0)
    return np.asarray(np.nan_to_num(scores, nan=0.0, posinf=1e12), dtype=float)
