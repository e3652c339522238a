"""Scoring an experiment campaign the way RCA benchmarks do: AC@k and specificity (pure).

AC@k is the fraction of fault cases whose true node is among the first k of the ranking of
*blamed* nodes; a case where nothing was blamed counts as a miss. Campaigns also report the
"ranked" AC@k over the analysis' full ranking (blamed or not), which shows how well it orders
nodes even where it was too unsure to blame. Specificity is the fraction of
no-fault cases in which nothing was blamed.

>>> rank_of_true(["a", "b", "c"], "b")
2
>>> ac_at_k([1, 2, None, 1], 1)
0.5
>>> specificity([[], ["x"], [], []])
0.75
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ac_at_k", "rank_of_true", "specificity"]


def rank_of_true(ranking: Sequence[str], true_node: str | Sequence[str]) -> int | None:
    """1-based position of the true node in ``ranking``; ``None`` when it is absent.

    ``true_node`` may be several ids (a condensed cycle or contracted node standing for it):
    the first one found counts.
    """
    wanted = {true_node} if isinstance(true_node, str) else set(true_node)
    for i, node in enumerate(ranking, start=1):
        if node in wanted:
            return i
    return None


def ac_at_k(ranks: Sequence[int | None], k: int) -> float | None:
    """Fraction of cases with ``rank <= k``; ``None`` for no cases."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def specificity(blamed_per_case: Sequence[Sequence[str]]) -> float | None:
    """Fraction of no-fault cases where nothing was blamed; ``None`` for no cases."""
    if not blamed_per_case:
        return None
    return sum(1 for b in blamed_per_case if not b) / len(blamed_per_case)
