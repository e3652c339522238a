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
from typing import Any

__all__ = ["CLASS_SCORE", "ac_at_k", "class_metrics", "rank_of_true", "specificity"]

#: The one number that says whether a class went right, per class (ours and baselines alike):
#: the culprit named first; both culprits in the top 3; the culprit first and the irrelevant
#: node not blamed; nothing blamed.
CLASS_SCORE = {
    "single": "ac1", "shift": "ac1", "double": "both_top3",
    "irrelevant": "right", "harmless": "specificity", "no_fault": "specificity",
}  # fmt: skip


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


def _mean(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _scores(
    scenario: str,
    rankings: Sequence[Sequence[str]],
    blamed: Sequence[Sequence[str]],
    culprits: Sequence[Sequence[Sequence[str]]],
    irrelevant: Sequence[Sequence[str] | None],
) -> dict[str, Any]:
    """One method's scores on one class. ``rankings``: what it ranks (for AC@k: the blamed
    nodes for ours, the full ranking for a baseline); ``culprits``: per case, per culprit,
    the ids standing for it; ``irrelevant``: ids of the irrelevant node."""
    n = len(rankings)
    if scenario in ("harmless", "no_fault"):
        return {"n": n, "specificity": _mean([not b for b in blamed])}

    def rank(ranking: Sequence[str], ids: Sequence[str]) -> int | None:
        return rank_of_true(ranking, ids) if ids else None

    best = [
        min((r for c in cs if (r := rank(ranking, c)) is not None), default=None)
        for ranking, cs in zip(rankings, culprits, strict=True)
    ]
    out: dict[str, Any] = {"n": n, "ac1": ac_at_k(best, 1), "ac3": ac_at_k(best, 3)}
    if scenario == "double":
        out["both_top3"] = _mean(
            [
                all((r := rank(ranking, c)) is not None and r <= 3 for c in cs)
                for ranking, cs in zip(rankings, culprits, strict=True)
            ]
        )
    if scenario == "irrelevant":
        spared = [not (set(i or ()) & set(b)) for b, i in zip(blamed, irrelevant, strict=True)]
        out["irrelevant_not_blamed"] = _mean(spared)
        out["right"] = _mean([r == 1 and ok for r, ok in zip(best, spared, strict=True)])
    return out


def class_metrics(
    cases: Sequence[Any], baselines: Sequence[str], keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per scenario class (``case.scenario``): our scores and each baseline's (``baselines``:
    display names, ``keys``: the names in the cases' ``baseline_rankings``/``baseline_blamed``).
    ``score`` is the class's headline number (:data:`CLASS_SCORE`) for every method."""
    out: dict[str, dict[str, Any]] = {}
    for scenario in dict.fromkeys(c.scenario for c in cases):
        group = [c for c in cases if c.scenario == scenario]
        culprits = [[_ids(c, x) for x in c.culprits] for c in group]
        irrelevant = [_ids(c, c.irrelevant) if c.irrelevant else None for c in group]
        ours = _scores(scenario, [c.blamed for c in group], [c.blamed for c in group],
                       culprits, irrelevant)  # fmt: skip
        headline = CLASS_SCORE.get(scenario, "ac1")
        ours["score"] = ours.get(headline)
        if scenario not in ("harmless", "no_fault"):
            ours["ac1_ranked"] = ac_at_k(
                [
                    min((r for x in cs if (r := rank_of_true([str(row[0]) for row in c.ranking],
                                                             x)) is not None), default=None)
                    for c, cs in zip(group, culprits, strict=True)
                ],
                1,
            )  # fmt: skip
        out[scenario] = {**ours, "baselines": {}}
        for name, key in zip(baselines, keys, strict=True):
            mine = [i for i, c in enumerate(group) if key in c.baseline_rankings]
            if not mine:
                continue  # a baseline run on a subsample only (dowhy's): scored where it ran
            theirs = _scores(
                scenario,
                [group[i].baseline_rankings[key] for i in mine],
                [group[i].baseline_blamed.get(key, []) for i in mine],
                [culprits[i] for i in mine],
                [irrelevant[i] for i in mine],
            )
            theirs["score"] = theirs.get(headline)
            out[scenario]["baselines"][name] = theirs
    return out


def _ids(case: Any, node: str) -> list[str]:
    """The ids standing for ``node`` in the case's rankings: itself and, for a node condensed
    into a cycle, the cycle's id (recorded by the lab in ``aliases``)."""
    return [node, *getattr(case, "aliases", {}).get(node, [])]
