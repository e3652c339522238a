"""The one typed result of every attribution: :class:`Attribution`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Attribution"]


@dataclass(frozen=True)
class Attribution:
    """Which upstream nodes explain a change (or one anomaly) at ``target``, with confidence.

    - ``ranking``: every node that took part, most responsible first; ``scores`` its score
      (``method == "distribution_change"``: Shapley share of the target's divergence, in nats by
      default; ``"anomaly"``: contribution to the target's deviation, in target units).
    - ``intervals``: bootstrap percentile interval per node (empty without bootstrap).
    - ``blamed``: the nodes we name as the cause (test significant, interval excludes zero, material
      share of the total). Empty means "no significant change" (see :attr:`verdict`).
    - ``changed_mechanisms``: nodes whose mechanism changed per the test (``p_values`` beside).
    - ``baselines``: simple methods run beside GCM, each a ranked list of nodes:
      ``marginal_shift`` (largest standardised shift of the node's own column) and
      ``most_upstream`` (changed nodes with no changed ancestor first), ``baro`` (robust
      z-scores); ``baseline_blamed`` what each would blame (:mod:`.baselines`).
    - ``labels``: a readable name per node, incl. the subflow instance for subflow-internal nodes.
    - ``target_p_value`` (distribution change): did the target's own distribution change at all,
      whatever the cause (a marginal test, independent of the graph); ``None`` for anomalies.
    """

    target: str
    metric: str
    method: str
    engine: str
    ranking: tuple[str, ...]
    scores: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]]
    blamed: tuple[str, ...]
    changed_mechanisms: tuple[str, ...]
    p_values: Mapping[str, float]
    total: float
    dataset_sizes: Mapping[str, int]
    runtime_s: float
    seed: int
    notes: tuple[str, ...] = ()
    baselines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    baseline_blamed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target_p_value: float | None = None

    @property
    def verdict(self) -> str:
        """``"no significant change"`` or ``"blamed: <labels>"``."""
        if not self.blamed:
            return "no significant change"
        return "blamed: " + ", ".join(self.labels.get(n, n) for n in self.blamed)

    @property
    def top(self) -> str | None:
        """The first blamed node, or ``None``."""
        return self.blamed[0] if self.blamed else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        data["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        return _finite(data)  # type: ignore[no-any-return]

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON (NaN/inf become ``null``), keys as the dataclass fields plus ``verdict``."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self, *, top: int = 10) -> str:
        """A plain aligned report: header, verdict, the ``top`` ranked nodes, baselines, notes."""
        unit = "nats" if self.method == "distribution_change" else "target units"
        sizes = ", ".join(f"{v} {k}" for k, v in self.dataset_sizes.items())
        lines = [
            f"target {self.target} ({self.labels.get(self.target, self.target)}), "
            f"metric {self.metric}, {self.method} [{self.engine}], rows: {sizes}, "
            f"{self.runtime_s:.2f} s",
            f"total {self.total:.4g} {unit}; {self.verdict}",
            "",
        ]
        header = ("rank", "node", "score", "interval", "p-value", "changed", "blamed", "label")
        rows = [header]
        for rank, node in enumerate(self.ranking[:top], start=1):
            low, high = self.intervals.get(node, (math.nan, math.nan))
            interval = "" if math.isnan(low) else f"[{low:.4g}, {high:.4g}]"
            rows.append(
                (
                    str(rank),
                    node,
                    f"{self.scores.get(node, math.nan):.4g}",
                    interval,
                    f"{self.p_values.get(node, math.nan):.2g}",
                    "yes" if node in self.changed_mechanisms else "",
                    "***" if node in self.blamed else "",
                    self.labels.get(node, node),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        if len(self.ranking) > top:
            lines.append(f"... {len(self.ranking) - top} more nodes")
        for name, ranking in self.baselines.items():
            lines.append(f"baseline {name}: {', '.join(ranking[:3]) or '(none)'}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per node in ranking order (rank, score, interval, p_value, changed, blamed)."""
        import pandas as pd

        rows = []
        for rank, node in enumerate(self.ranking, start=1):
            lower, upper = self.intervals.get(node, (math.nan, math.nan))
            rows.append(
                {
                    "node": node,
                    "rank": rank,
                    "score": self.scores.get(node, math.nan),
                    "lower": lower,
                    "upper": upper,
                    "p_value": self.p_values.get(node, math.nan),
                    "changed": node in self.changed_mechanisms,
                    "blamed": node in self.blamed,
                    "label": self.labels.get(node, node),
                }
            )
        columns = [
            "node",
            "rank",
            "score",
            "lower",
            "upper",
            "p_value",
            "changed",
            "blamed",
            "label",
        ]
        return pd.DataFrame(rows, columns=columns).set_index("node")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
