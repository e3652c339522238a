"""Message-level mechanism tests: each message a node sent, paired with the message(s) it came from.

Window means mix what a window holds: at a merge, two branches' messages; a noise fault averages
away. The tap's lineage says, for every message a node sends, which delivery it was handling
(``parent``) and, for a join or batch, every part it combined (``parents``). So a node's
mechanism can be tested on pairs ``(input message -> output message)``, hundreds per recording
instead of a few dozen windows:

- per node and payload leaf ``y`` it sends, the regressors are the leaves of its input messages,
  named ``<input node>|<leaf>`` (a join's parts side by side), chosen on the baseline by forward
  selection (at most 6; the leaves ``y`` depends on); where a spline or boosting model of them
  has a clearly lower held-out error on the baseline, that model and a residual test replace
  the linear fit (:mod:`.nonlinear`: curves, steps and clamps that move along their inputs are
  no change);
- messages are grouped by where their inputs came from (the branch of a merge), each group tested
  on its own (:func:`~.linear.mechanism_test`: Chow on the fit, Brown-Forsythe on the spread),
  Bonferroni over the groups;
- nodes without inputs (sources) keep their window test: message-level tests of a source compare
  two stretches of a random process, which drift without any fault.

:func:`message_tests` returns ``{"<node>::<leaf>": MessageTest}``; the analysis uses them in
place of the window tests of those value variables (``AttributionConfig.view``), and their
in-range part as a node's own evidence when an upstream change moved its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from nodered_causal.analysis import datasets, linear, nonlinear

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MessageTest", "has_lineage", "latency_tests", "message_tests", "paired"]

#: Input columns are named ``<input node>|<leaf>``.
IN_SEP = "|"
_MAX_PARENTS = 6
_MIN_GAIN = 0.2


def has_lineage(records: Any) -> bool:
    """Do the records carry the tap's ``parent`` links?"""
    if isinstance(records, Mapping):
        values = records.get("parent")
        return values is not None and any(v is not None for v in values)
    return False


def paired(records: Any, nodes: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per message a node sent (fan-out copies once), its own leaves and its inputs'
    leaves (``<input node>|<leaf>``) side by side; ``node`` and ``inputs`` (the input nodes,
    sorted, joined by ``+``) say whose and from where."""
    import numpy as np
    import pandas as pd

    frame = datasets.records_frame(records)
    deliver = frame[(frame["kind"] == "deliver").to_numpy()].reset_index(drop=True)
    leaves = [c for c in deliver.columns if datasets.is_leaf(str(c))]
    keys = [k for k in ("tap", "boot") if k in deliver]
    sent = deliver[deliver["parent"].notna().to_numpy()]
    if nodes is not None:
        sent = sent[sent["src"].astype(str).isin(set(nodes)).to_numpy()]
    # a fan-out's copies once; of a batch's burst (sends listing several parts) every message,
    # once (the first destination's)
    multi = pd.Series([len(ps or ()) > 1 for ps in _parents_of(sent)], index=sent.index)
    burst = sent[multi]
    if "dst" in burst:
        burst = burst[burst["dst"].astype(str) == _first_dst(burst, [*keys, "src", "parent"])]
    sent = pd.concat([sent[~multi].drop_duplicates([*keys, "src", "parent"]), burst]).sort_index()
    if not len(sent):
        return pd.DataFrame()
    links = pd.DataFrame(_links(sent, keys), columns=["row", "seq"])
    for k in keys:
        links[k] = sent.loc[links["row"], k].astype(str).to_numpy()
    source = deliver[[*keys, "seq", "src", *leaves]].copy()
    for k in keys:
        source[k] = source[k].astype(str)
    source = source.rename(columns={"src": "in_node"})
    source["in_node"] = source["in_node"].astype(str)
    joined = links.merge(source, on=[*keys, "seq"], how="inner")
    if not len(joined):
        return pd.DataFrame()
    # several parts from one input node (a join of a window) side by side, by position
    joined["k"] = joined.groupby(["row", "in_node"]).cumcount()
    many = joined.groupby(["row", "in_node"])["k"].transform("size") > 1
    name = joined["in_node"].where(~many, joined["in_node"] + "[" + joined["k"].astype(str) + "]")
    joined["name"] = name
    long = joined.melt(id_vars=["row", "in_node", "name"], value_vars=leaves, var_name="leaf")
    long = long[np.isfinite(long["value"].to_numpy(dtype=float))]
    long["column"] = long["name"] + IN_SEP + long["leaf"]
    wide = long.pivot_table(index="row", columns="column", values="value", aggfunc="mean")
    where = joined.groupby("row")["in_node"].agg(lambda s: "+".join(sorted(set(s))))
    own = sent[leaves].copy()
    own.insert(0, "node", sent["src"].astype(str).to_numpy())
    own.insert(1, "inputs", where.reindex(own.index).to_numpy())
    out = own.join(wide, how="left")
    return out[out["inputs"].notna()]


def _first_dst(sent: pd.DataFrame, keys: list[str]) -> Any:
    """Per row, the destination of the first delivery of the same message (same keys)."""
    return sent.groupby(keys, observed=True, sort=False)["dst"].transform("first").astype(str)


def _links(sent: pd.DataFrame, keys: list[str]) -> list[tuple[Any, int]]:
    """(row, input delivery seq) per input of each sent message: its ``parents`` (a join's or
    batch's parts, in order) or its ``parent``. A batch sends as many messages as it has parts,
    all listing every part: the j-th message of such a burst (in send order) is the j-th part."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    parts = _parents_of(sent)
    rows = list(sent.index)
    for i, (row, ps) in enumerate(zip(rows, parts, strict=True)):
        if ps and len(ps) > 1:
            key = (*(sent.at[row, k] for k in keys), sent.at[row, "src"], tuple(ps))
            groups.setdefault(key, []).append(i)
    own: dict[int, int] = {}  # message -> the position of its own part in a burst
    for key, members in groups.items():
        if len(members) == len(key[-1]):
            members.sort(key=lambda i: int(sent.at[rows[i], "seq"]))
            own.update({i: j for j, i in enumerate(members)})
    out: list[tuple[Any, int]] = []
    for i, (row, parent, ps) in enumerate(zip(rows, sent["parent"].to_numpy(), parts, strict=True)):
        if i in own:
            out.append((row, int(ps[own[i]])))  # type: ignore[index]
        else:
            out.extend((row, int(p)) for p in ps or [parent])
    return out


def _parents_of(sent: pd.DataFrame) -> list[list[int] | None]:
    if "parents" not in sent:
        return [None] * len(sent)
    out: list[list[int] | None] = []
    for v in sent["parents"].to_numpy():
        if isinstance(v, list | tuple) and v:
            out.append([int(x) for x in v])
        elif isinstance(v, str) and v.startswith("["):
            import json

            out.append([int(x) for x in json.loads(v)] or None)
        else:
            out.append(None)
    return out


def message_tests(
    baseline: Any,
    incident: Any,
    variables: Iterable[str],
    *,
    min_rows: int = 8,
    roots: Iterable[str] = (),
    mechanism: str = "auto",
    seed: int = 0,
) -> dict[str, MessageTest]:
    """Per value variable ``<node>::<leaf>`` (nodes in ``roots`` left out): the message-level
    mechanism test's ``(p_value, effect, rows)``; variables without enough pairs are absent.
    ``mechanism``: ``auto`` chooses a linear, spline or boosting model per mechanism by held-out
    error on the baseline (:mod:`.nonlinear`, ``seed`` its folds); ``linear`` only the first."""
    wanted: dict[str, list[str]] = {}
    skip = set(roots)
    for v in variables:
        node, _, leaf = v.rpartition("::")
        if node and node not in skip and not leaf.startswith("#"):
            wanted.setdefault(node, []).append(leaf)
    if not wanted:
        return {}
    p0, p1 = paired(baseline, wanted), paired(incident, wanted)
    if not len(p0) or not len(p1):
        return {}
    out: dict[str, MessageTest] = {}
    for node, leaves in wanted.items():
        a, b = p0[p0["node"] == node], p1[p1["node"] == node]
        for leaf in leaves:
            if leaf not in a or leaf not in b:
                continue
            result = _test_leaf(a, b, leaf, min_rows, mechanism, seed)
            if result is not None:
                out[f"{node}::{leaf}"] = result
    return out


def _latencies(records: Any, nodes: set[str]) -> dict[str, Any]:
    """Per node, the receive-to-send latency (s) of the messages it sent (fan-out once)."""
    import numpy as np

    frame = datasets.records_frame(records)
    if "latency_ns" not in frame:
        return {}
    sent = frame[(frame["kind"] == "deliver").to_numpy() & frame["latency_ns"].notna().to_numpy()]
    keys = [k for k in ("tap", "boot") if k in sent] + ["src", "parent"]
    sent = sent.drop_duplicates(keys)
    src = sent["src"].astype(str).to_numpy()
    lat = sent["latency_ns"].to_numpy(dtype=float, na_value=np.nan) / 1e9
    return {n: lat[src == n] for n in nodes if (src == n).any()}


def latency_tests(
    baseline: Any,
    incident: Any,
    nodes: Iterable[str],
    *,
    min_shift_s: float = 0.005,
    min_rows: int = 8,
) -> dict[str, MessageTest]:
    """Did a node's own processing time change? Its latency per message (receive to send, the
    tap's ``latency_ns``) in both recordings: Mann-Whitney, effect in baseline sds of the shift of
    the mean — 0 when the mean moved less than ``min_shift_s`` (a loaded machine's jitter is no
    fault). A node's *age* (time since the root message) also grows when anything upstream is
    slow, and a join's when any of its parts is late; its own latency does neither."""
    import numpy as np
    from scipy import stats

    wanted = set(nodes)
    l0, l1 = _latencies(baseline, wanted), _latencies(incident, wanted)
    out: dict[str, MessageTest] = {}
    for node in wanted & set(l0) & set(l1):
        a, b = l0[node], l1[node]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if min(len(a), len(b)) < min_rows:
            continue
        shift = float(np.mean(b) - np.mean(a))
        p = float(stats.mannwhitneyu(a, b).pvalue) if np.ptp(np.r_[a, b]) > 0 else 1.0
        effect = abs(shift) / max(float(np.std(a)), 1e-6) if abs(shift) >= min_shift_s else 0.0
        out[node] = MessageTest(p, effect, len(a) + len(b))
    return out


class MessageTest(NamedTuple):
    """A message-level test: p-value, effect (baseline residual sds), message pairs; and the same
    test on the incident's messages whose inputs stayed in the baseline's range (``None``: too
    few of them) — evidence of a node's own change when an upstream one moved its inputs."""

    p_value: float
    effect: float
    rows: int
    p_in_range: float | None = None
    effect_in_range: float | None = None
    model: str = "linear"  # the model of each input group, joined by "+" (.nonlinear)
    #: the input leaves the fits read (``<input node>|<leaf>``): an input node's leaf the fits
    #: left out does not drive this variable (:func:`~.prepare.prune_by_messages`)
    inputs: tuple[str, ...] = ()


def _in_range(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Incident rows whose inputs all lie in the baseline's range (widened by 10 %)."""
    import numpy as np

    if not x0.shape[1]:
        return np.ones(len(x1), dtype=bool)
    lo, hi = np.nanmin(x0, axis=0), np.nanmax(x0, axis=0)
    pad = 0.1 * (hi - lo)
    return np.asarray(((x1 >= lo - pad) & (x1 <= hi + pad)).all(axis=1))


def _test_leaf(
    a: pd.DataFrame,
    b: pd.DataFrame,
    leaf: str,
    min_rows: int,
    mechanism: str = "auto",
    seed: int = 0,
) -> MessageTest | None:
    """The leaf's mechanism tested per input group; Bonferroni over groups, largest effect.
    ``mechanism``: ``auto`` (the model with the lowest held-out error, :mod:`.nonlinear`) or
    ``linear``."""
    tests = []
    inside = []
    kinds: set[str] = set()
    used: set[str] = set()
    for group, rows0 in a.groupby("inputs"):
        rows1 = b[b["inputs"] == group]
        y0 = rows0[leaf].to_numpy(dtype=float)
        y1 = rows1[leaf].to_numpy(dtype=float)
        if min(int((y0 == y0).sum()), int((y1 == y1).sum())) < min_rows:
            continue
        candidates = [
            c for c in rows0.columns if IN_SEP in str(c) and rows0[c].notna().mean() > 0.9
        ]
        if not set(candidates) <= set(rows1.columns):
            continue
        n_pairs = len(candidates) * (len(candidates) + 1) // 2
        quad = len(rows0) >= _ROWS_PER_FEATURE * (len(candidates) + n_pairs)
        f0, f1 = _features(rows0, candidates, quad), _features(rows1, candidates, quad)
        chosen = _select(f0.assign(**{leaf: y0}), leaf, list(f0.columns))
        x0, x1 = f0[chosen].to_numpy(dtype=float), f1[chosen].to_numpy(dtype=float)
        raw = sorted({part for c in chosen for part in c.split(_TIMES)})
        if mechanism == "auto":
            fitted = _nonlinear(y0, x0, y1, x1, rows0, rows1, (candidates, raw), min_rows, seed)
            if fitted is not None:
                tests.append((fitted[0], len(y0) + len(y1)))
                inside += fitted[1]
                kinds.add(fitted[2])
                used.update(_leaf_of(c) for c in (candidates if fitted[2] == "boosting" else raw))
                continue
        kinds.add("linear")
        tests.append((linear.mechanism_test(y0, x0, y1, x1, min_rows=min_rows), len(y0) + len(y1)))
        used.update(_leaf_of(c) for c in raw)
        keep = _in_range(rows0[raw].to_numpy(dtype=float), rows1[raw].to_numpy(dtype=float))
        if int(keep.sum()) >= min_rows:
            inside.append(linear.mechanism_test(y0, x0, y1[keep], x1[keep], min_rows=min_rows))
    if not tests:
        return None
    p = min(1.0, min(t.p_value for t, _ in tests) * len(tests))
    p_in = min(1.0, min(t.p_value for t in inside) * len(inside)) if inside else None
    return MessageTest(
        p, max(t.effect for t, _ in tests), sum(n for _, n in tests),
        p_in, max(t.effect for t in inside) if inside else None, "+".join(sorted(kinds)),
        tuple(sorted(used)),
    )  # fmt: skip


def _input_node(column: str) -> str:
    """The input node of a column ``<node>|<leaf>`` or ``<node>[k]|<leaf>`` (k-th part)."""
    node = column.split(IN_SEP)[0]
    return node.split("[")[0] if node.endswith("]") else node


def _leaf_of(column: str) -> str:
    """``<node>|<leaf>`` of any column, the part's position dropped."""
    return f"{_input_node(column)}{IN_SEP}{column.split(IN_SEP, 1)[1]}"


def _nonlinear(
    y0: np.ndarray, x0: np.ndarray, y1: np.ndarray, x1: np.ndarray,
    rows0: pd.DataFrame, rows1: pd.DataFrame, columns: tuple[list[str], list[str]],
    min_rows: int, seed: int,
) -> tuple[Any, list[Any], str] | None:  # fmt: skip
    """The non-linear test of one group (:mod:`.nonlinear`), or None where the linear model
    wins on held-out baseline error: (test, [in-range test], model kind). ``columns``: every
    input leaf, and the ones forward selection chose."""
    import numpy as np

    inputs, raw = columns
    if len(y0) < nonlinear.MIN_ROWS or not inputs:
        return None
    in0, in1 = rows0[inputs].to_numpy(dtype=float), rows1[inputs].to_numpy(dtype=float)
    at = [inputs.index(c) for c in raw]
    ok0 = np.isfinite(y0) & np.isfinite(x0).all(axis=1) & np.isfinite(in0).all(axis=1)
    ok1 = np.isfinite(y1) & np.isfinite(x1).all(axis=1) & np.isfinite(in1).all(axis=1)
    if min(int(ok0.sum()), int(ok1.sum())) < min_rows:
        return None
    choice = nonlinear.choose(y0[ok0], x0[ok0], in0[ok0], curves=in0[ok0][:, at], seed=seed)
    if choice.kind == "linear":
        return None
    d1 = nonlinear.design(choice, x1[ok1], in1[ok1], in1[ok1][:, at])
    test = nonlinear.residual_test(choice, y0[ok0], y1[ok1], d1)
    read = list(range(len(inputs))) if choice.kind == "boosting" else at
    keep = _in_range(in0[ok0][:, read], in1[ok1][:, read])
    inside = []
    if int(keep.sum()) >= min_rows:
        inside.append(nonlinear.residual_test(choice, y0[ok0], y1[ok1][keep], d1[keep]))
    return test, inside, choice.kind


#: Joins the two input leaves of a product feature (``a*b``); ``a*a`` is a square.
_TIMES = "*"
#: Quadratic features only while there are this many rows per feature: a few dozen messages
#: cannot tell a curve from noise.
_ROWS_PER_FEATURE = 10


def _features(rows: pd.DataFrame, inputs: list[str], quadratic: bool) -> pd.DataFrame:
    """The input leaves, and (``quadratic``) their squares and pairwise products: a node's
    output is often a product (``amount * fee_rate``) or a curve of its inputs, and a linear fit
    of it "changes" whenever the mix of inputs moves along the curve. Forward selection
    (:func:`_select`) keeps the few that explain the output on the baseline."""
    import pandas as pd

    columns = {c: rows[c].to_numpy(dtype=float) for c in inputs}
    if quadratic:
        for i, a in enumerate(inputs):
            for b in inputs[i:]:
                columns[f"{a}{_TIMES}{b}"] = columns[a] * columns[b]
    return pd.DataFrame(columns, index=rows.index)


def _select(frame: pd.DataFrame, y_name: str, candidates: list[str]) -> list[str]:
    """The input leaves ``y_name`` depends on (at most 6, chosen on the baseline)."""
    return linear.forward_select(frame, y_name, candidates, _MAX_PARENTS, _MIN_GAIN)
