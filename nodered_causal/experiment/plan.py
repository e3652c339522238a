"""Campaign plans: which faults go where, per scenario class (pure, reproducible from a seed).

A single fault is always the most upstream node that changed, so a campaign of single faults
cannot tell an attribution from that one-line heuristic. The classes (``--scenarios``) test what
attribution promises beyond it:

- ``single``: one fault, every kind of the fault list (latency included);
- ``double``: two simultaneous faults at two different ancestors; right = both in the top 3;
- ``irrelevant``: a real fault, plus a change at another ancestor that does not reach the target
  (a payload leaf the target does not depend on, :mod:`.survey`), placed upstream of the real
  fault where the flow allows; right = the real fault first and the irrelevant node not blamed —
  where "the most upstream node that changed" is wrong by construction;
- ``harmless``: that irrelevant change alone; right = nothing blamed;
- ``shift``: data shifts at sources (mean, scale, noise);
- no-fault cases (two baseline recordings): right = nothing blamed.

Faults are drawn only at ancestors that carried traffic toward the target (the survey's
``active`` nodes; idle ones are listed in the report instead of counted as misses).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from nodered_causal.errors import ExperimentError
from nodered_causal.faults.spec import Fault, parse_fault

__all__ = [
    "DEFAULT_SCENARIOS",
    "IRRELEVANT_FAULT",
    "METRIC_FOR_KIND",
    "NEEDS_INPUT_KINDS",
    "PASS_THROUGH_TYPES",
    "SCENARIOS",
    "SHIFT_FAULTS",
    "TRIGGER_ONLY_KINDS",
    "CaseSpec",
    "metric_for",
    "plan_cases",
]

logger = logging.getLogger(__name__)

#: Node types that only forward messages: faulting them is faulting their upstream node.
PASS_THROUGH_TYPES = frozenset({"junction", "link out", "link in", "link call"})
#: Fault kinds an ``inject`` node can show (its payload is usually a timestamp nobody reads).
TRIGGER_ONLY_KINDS = frozenset({"drop", "error"})
#: Fault kinds only a node that receives messages can show (a delay at an ``mqtt in``).
NEEDS_INPUT_KINDS = frozenset({"delay"})
#: The scenario classes, in report order; ``no_fault`` is the class of the no-fault cases.
SCENARIOS: tuple[str, ...] = ("single", "double", "irrelevant", "harmless", "shift")
DEFAULT_SCENARIOS: tuple[str, ...] = ("single",)
#: Data shifts at sources for the ``shift`` class.
SHIFT_FAULTS: tuple[str, ...] = ("shift:mean:3sd", "shift:scale:2", "shift:noise:2sd")
#: Metric a one-signal analysis (``--metric per-fault``) looks at for each fault kind. Noise
#: widens a node's distribution but leaves its window means alone: the 95th percentile shows it.
#: The default analysis looks at every signal at once (``all``) and needs no such hint.
METRIC_FOR_KIND = {
    "bias": "value", "scale": "value", "noise": "value_p95", "constant": "value",
    "drop": "throughput", "error": "throughput", "delay": "latency",
}  # fmt: skip


def metric_for(fault: Fault) -> str:
    return METRIC_FOR_KIND[fault.kind]


#: The change of an irrelevant leaf: large, so that any path to the target would show it.
IRRELEVANT_FAULT = "bias:3sd"


@dataclass(frozen=True)
class CaseSpec:
    """One case of a plan. ``node``/``fault``: the (first) culprit, ``None`` for no-fault and
    harmless cases; ``injections``: every ``(node, fault, field)`` injected (``field`` ``None``:
    the leaf the target reads most); ``culprits``: the nodes a right answer names;
    ``irrelevant``: the node changed in a way that cannot reach the target."""

    key: str  # stable id used to resume, e.g. "f03-calibrate-bias:2"
    node: str | None
    fault: str | None
    seed: int
    metric: str = "all"
    scenario: str = "single"
    injections: tuple[tuple[str, str, str | None], ...] = ()
    culprits: tuple[str, ...] = ()
    irrelevant: str | None = None

    def all_injections(self) -> tuple[tuple[str, str, str | None], ...]:
        if self.injections:
            return self.injections
        return ((self.node, self.fault, None),) if self.node and self.fault else ()


@dataclass(frozen=True)
class _Pool:
    nodes: list[tuple[str, bool]]  # (node, is_source), sorted
    triggers: set[str]
    roots: set[str]
    ancestors: Mapping[str, set[str]] = field(default_factory=dict)

    def eligible(self, fault: Fault, exclude: Iterable[str] = ()) -> list[str]:
        out = set(exclude)
        return [
            n
            for n, is_source in self.nodes
            if n not in out
            and (is_source or not fault.source_only)
            and (fault.kind in TRIGGER_ONLY_KINDS or n not in self.triggers)
            and (fault.kind not in NEEDS_INPUT_KINDS or n not in self.roots)
        ]


def _parse_usable(pool: _Pool, faults: Sequence[str], field: str) -> list[tuple[str, Fault]]:
    parsed: list[tuple[str, Fault]] = []
    skipped: list[tuple[str, Fault]] = []
    for text in faults:
        fault = parse_fault(text, field=field)
        (parsed if pool.eligible(fault) else skipped).append((text, fault))
    for text, fault in skipped:
        need = (
            "a source node" if fault.source_only
            else "a node that receives messages" if fault.kind in NEEDS_INPUT_KINDS
            else "a node that is not an inject"
        )  # fmt: skip
        logger.warning("fault %r needs %s among the target's ancestors: left out", text, need)
    return parsed


class _Bags:
    """Draw nodes without replacement until each eligible one was used once."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.bags = rng, {}  # type: ignore[var-annotated]

    def draw(self, eligible: list[str]) -> str:
        bag = self.bags.setdefault(tuple(eligible), [])
        if not bag:
            bag.extend(self.rng.sample(eligible, len(eligible)))
        return str(bag.pop())


def plan_cases(
    candidates: Iterable[tuple[str, str, bool]],
    *,
    n_cases: int,
    faults: Sequence[str],
    n_no_fault: int,
    seed: int,
    field: str = "payload",
    roots: Iterable[str] = (),
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    irrelevant: Sequence[tuple[str, str]] = (),
    ancestors: Mapping[str, set[str]] | None = None,
    shift_faults: Sequence[str] = SHIFT_FAULTS,
    metric: str = "all",
) -> list[CaseSpec]:
    """``n_cases`` cases of each scenario class and ``n_no_fault`` no-fault cases, reproducibly.

    ``candidates``: ``(node_id, type, is_source)`` of the ancestors to fault (the active ones);
    pass-through nodes are skipped, ``inject`` triggers only get ``drop``/``error``, ``shift:``
    faults only go to sources, ``delay`` never to ``roots``. ``irrelevant``: ``(node, leaf)``
    changes that cannot reach the target (needed by ``irrelevant``/``harmless``);
    ``ancestors``: node -> its ancestors, to place the irrelevant change upstream of the fault.
    Fault kinds are cycled so every kind gets its share. ``metric``: what the analysis of each
    case looks at (``all`` signals, one of them, or ``per-fault``: the one its first fault shows
    in, :data:`METRIC_FOR_KIND`).
    """
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise ExperimentError(
            f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}"
        )
    candidates = list(candidates)
    pool = _Pool(
        sorted((n, s) for n, t, s in candidates if t not in PASS_THROUGH_TYPES),
        {n for n, t, _ in candidates if t == "inject"},
        set(roots),
        ancestors or {},
    )
    if not pool.nodes:
        raise ExperimentError("no node to fault: the target has no ancestors that transform data")
    parsed = _parse_usable(pool, faults, field) if n_cases else []
    if n_cases and not parsed and set(scenarios) & {"single", "double", "irrelevant"}:
        raise ExperimentError(
            f"no fault of {', '.join(faults)} fits a node among the target's ancestors"
        )
    rng = random.Random(seed)
    bags = _Bags(rng)
    specs: list[CaseSpec] = []

    def make(scenario: str, i: int) -> CaseSpec | None:
        return _MAKERS[scenario](i, pool, parsed, bags, rng, seed, field, irrelevant, shift_faults)

    short: dict[str, int] = {}
    for scenario in scenarios:
        for i in range(n_cases):
            spec = make(scenario, i)
            if spec is None:
                short[scenario] = i
                break
            specs.append(spec)
    # a combination no node fits (a shift fault whose only source is where the irrelevant change
    # goes) is skipped, not the end of its class: top the class up with the next ones (after
    # every class, so the cases planned before stay the same)
    for scenario, first in short.items():
        have = sum(c.scenario == scenario for c in specs)
        i = first + 1
        while 0 < have < n_cases and i <= first + 10 * n_cases:
            spec = make(scenario, i)
            if spec is not None:
                specs.append(spec)
                have += 1
            i += 1
    specs += [
        CaseSpec(f"n{i:03d}", None, None, seed + 10_000 + i, scenario="no_fault")
        for i in range(n_no_fault)
    ]
    if metric == "per-fault":
        return [
            replace(c, metric=metric_for(parse_fault(c.fault)) if c.fault else "value")
            for c in specs
        ]
    return [replace(c, metric=metric) for c in specs]


def _single(i, pool, parsed, bags, rng, seed, field, irrelevant, shifts):  # type: ignore[no-untyped-def]
    text, fault = parsed[i % len(parsed)]
    node = bags.draw(pool.eligible(fault))
    return CaseSpec(
        f"f{i:03d}-{node}-{text}", node, text, seed + i,
        scenario="single", injections=((node, text, None),), culprits=(node,),
    )  # fmt: skip


def _double(i, pool, parsed, bags, rng, seed, field, irrelevant, shifts):  # type: ignore[no-untyped-def]
    (t1, f1), (t2, f2) = parsed[i % len(parsed)], parsed[(i + 1 + i // len(parsed)) % len(parsed)]
    first = bags.draw(pool.eligible(f1))
    others = pool.eligible(f2, exclude=[first])
    if not others:
        logger.warning("double faults need two eligible nodes for %s and %s: left out", t1, t2)
        return None
    second = rng.choice(others)
    return CaseSpec(
        f"d{i:03d}-{first}-{t1}+{second}-{t2}", first, t1, seed + 1_000 + i,
        scenario="double", injections=((first, t1, None), (second, t2, None)),
        culprits=(first, second),
    )  # fmt: skip


def _irrelevant_pair(
    i: int, pool: _Pool, fault: Fault, irrelevant: Sequence[tuple[str, str]], rng: random.Random
) -> tuple[str, str, str] | None:
    """(irrelevant node, its leaf, real culprit): the culprit downstream of the irrelevant node
    where the flow has one (so "most upstream changed" names the irrelevant one)."""
    if not irrelevant:
        return None
    node, leaf = irrelevant[i % len(irrelevant)]
    eligible = pool.eligible(fault, exclude=[node])
    below = [n for n in eligible if node in pool.ancestors.get(n, set())]
    if not (below or eligible):
        return None
    return node, leaf, rng.choice(below or eligible)


def _irrelevant(i, pool, parsed, bags, rng, seed, field, irrelevant, shifts):  # type: ignore[no-untyped-def]
    text, fault = parsed[i % len(parsed)]
    pair = _irrelevant_pair(i, pool, fault, irrelevant, rng)
    if pair is None:
        logger.warning("no irrelevant change found in the survey: irrelevant cases left out")
        return None
    node, leaf, culprit = pair
    return CaseSpec(
        f"i{i:03d}-{culprit}-{text}+{node}", culprit, text, seed + 2_000 + i,
        scenario="irrelevant",
        injections=((culprit, text, None), (node, IRRELEVANT_FAULT, leaf)),
        culprits=(culprit,), irrelevant=node,
    )  # fmt: skip


def _harmless(i, pool, parsed, bags, rng, seed, field, irrelevant, shifts):  # type: ignore[no-untyped-def]
    if not irrelevant:
        logger.warning("no irrelevant change found in the survey: harmless cases left out")
        return None
    node, leaf = irrelevant[i % len(irrelevant)]
    return CaseSpec(
        f"h{i:03d}-{node}-{leaf}", None, None, seed + 3_000 + i,
        scenario="harmless", injections=((node, IRRELEVANT_FAULT, leaf),), irrelevant=node,
    )  # fmt: skip


def _shift(i, pool, parsed, bags, rng, seed, field, irrelevant, shifts):  # type: ignore[no-untyped-def]
    usable = [(t, parse_fault(t, field=field)) for t in shifts]
    usable = [(t, f) for t, f in usable if pool.eligible(f)]
    if not usable:
        logger.warning("no source node among the active ancestors: shift cases left out")
        return None
    text, fault = usable[i % len(usable)]
    node = bags.draw(pool.eligible(fault))
    return CaseSpec(
        f"s{i:03d}-{node}-{text}", node, text, seed + 4_000 + i,
        scenario="shift", injections=((node, text, None),), culprits=(node,),
    )  # fmt: skip


_MAKERS: dict[str, Callable[..., CaseSpec | None]] = {
    "single": _single,
    "double": _double,
    "irrelevant": _irrelevant,
    "harmless": _harmless,
    "shift": _shift,
}
