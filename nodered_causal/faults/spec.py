"""Fault specifications: parse ``bias:2.0``-style strings into a typed, validated :class:`Fault`.

Pure. The kinds (DESIGN.md §5):

==============  ==============================================================================
``bias:V``      add V to the faulted field of every message the node sends
``scale:K``     multiply the field by K
``noise:SD``    add Gaussian noise with standard deviation SD
``constant:V``  replace the field by V (a stuck sensor)
``drop:P``      drop a fraction P of the node's messages
``delay:MS``    delay each of the node's messages by MS milliseconds
``error:P``     the node fails (``node.error``, catch nodes see it) for a fraction P of messages
``shift:M:V``   a data shift at a source node: ``shift:mean:V`` (bias), ``shift:scale:K``,
                ``shift:noise:SD`` (a wider distribution)
==============  ==============================================================================

``bias``, ``noise`` and their shifts also take a value in standard deviations of the
faulted field (``bias:2sd``): campaigns resolve it against their baseline recording
(:meth:`Fault.resolved`), so one fault mix means the same on a field that varies by 0.01 and on
one that varies by 100.

>>> parse_fault("bias:2.5")
Fault(kind='bias', value=2.5, field='payload', source_only=False, unit='')
>>> parse_fault("shift:scale:2", field="payload.temperature").plugin_body("n1", seed=3)
{'node': 'n1', 'kind': 'scale', 'value': 2.0, 'field': 'payload.temperature', 'seed': 3}
>>> parse_fault("bias:2sd").resolved(sd=0.5)
Fault(kind='bias', value=1.0, field='payload', source_only=False, unit='')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from nodered_causal.errors import FaultSpecError, InjectionError

__all__ = ["DEFAULT_FAULTS", "FAULT_KINDS", "Fault", "parse_fault"]

#: kind -> (what the value means, whether it is a probability in [0, 1])
FAULT_KINDS: dict[str, tuple[str, bool]] = {
    "bias": ("bias", False),
    "scale": ("scale factor", False),
    "noise": ("noise standard deviation", False),
    "constant": ("constant value", False),
    "drop": ("drop fraction", True),
    "delay": ("delay in ms", False),
    "error": ("error fraction", True),
}
#: A campaign's default fault mix. Value faults are in standard deviations of the faulted leaf
#: (resolved on each case's baseline), so the mix means the same on every flow; scale, drop and
#: delay are relative by nature.
DEFAULT_FAULTS = (
    "bias:2sd", "scale:2", "noise:2sd", "drop:0.5", "delay:30", "shift:mean:3sd",
)  # fmt: skip
#: The longest delay the tap can apply (Node.js timers; ms).
MAX_DELAY_MS = 2_147_483_647
SHIFT_MODES: dict[str, str] = {"mean": "bias", "scale": "scale", "noise": "noise"}
#: kinds whose value may be given in standard deviations of the field (``bias:2sd``)
SD_KINDS = ("bias", "noise")
DEFAULT_VALUES: dict[str, float] = {
    "bias": 2.0, "scale": 2.0, "noise": 1.0, "constant": 0.0,
    "drop": 0.5, "delay": 50.0, "error": 0.5,
}  # fmt: skip


@dataclass(frozen=True)
class Fault:
    """One fault: a plugin-level ``kind`` with its ``value`` on message field ``field``.

    ``source_only`` is set for data shifts (``shift:...``), which only make sense at source nodes.
    """

    kind: str
    value: float
    field: str = "payload"
    source_only: bool = False
    unit: str = ""  # "sd": ``value`` standard deviations of the field, see resolved()

    def __str__(self) -> str:
        return f"{self.kind}:{self.value:g}{self.unit}"

    @property
    def changes_field(self) -> bool:
        """A value fault (bias, scale, noise, constant) changes ``field``; the others do not."""
        return self.kind in ("bias", "scale", "noise", "constant")

    def resolved(self, sd: float) -> Fault:
        """The same fault in the field's own units, given the field's standard deviation."""
        if self.unit != "sd":
            return self
        return replace(self, value=self.value * sd, unit="")

    def plugin_body(self, node_id: str, *, seed: int | None = None) -> dict[str, Any]:
        """The JSON body for the tap plugin's ``POST /causal-tap/faults``."""
        if self.unit:
            raise InjectionError(
                f"fault {self}: a value in standard deviations needs a recording to resolve it; "
                "sd units are for experiment campaigns, give inject a value in the field's units"
            )
        body: dict[str, Any] = {"node": node_id, "kind": self.kind, "value": self.value}
        if self.changes_field:
            body["field"] = self.field
        if seed is not None:
            body["seed"] = seed
        return body


def parse_fault(text: str, *, field: str = "payload") -> Fault:
    """Parse ``kind:value`` (or ``shift:mode:value``) strictly; a bare kind (``error``) takes its
    default value. :class:`~nodered_causal.errors.FaultSpecError` (exit 2) names the spec when
    the kind is unknown, the value empty, not a finite number, or out of range: ``drop``/
    ``error`` in (0, 1], ``delay`` in (0, 2147483647] ms, ``noise`` > 0."""
    if len(text) > 200:
        raise FaultSpecError(f"fault {text[:40]!r}...: longer than 200 characters", spec=text)
    parts = [p.strip() for p in text.strip().split(":")]
    kind, source_only = parts[0].lower(), False
    if kind == "shift":
        mode = parts[1].lower() if len(parts) > 1 else "mean"
        if mode not in SHIFT_MODES:
            raise FaultSpecError(
                f"fault {text!r}: shift mode must be one of {', '.join(SHIFT_MODES)}", spec=text
            )
        kind, source_only, parts = SHIFT_MODES[mode], True, [mode, *parts[2:]]
    if kind not in FAULT_KINDS or len(parts) > 2:
        known = ", ".join([*FAULT_KINDS, "shift"])
        raise FaultSpecError(
            f"fault {text!r}: expected KIND:VALUE with KIND one of {known}", spec=text
        )
    if len(parts) == 2 and not parts[1]:
        raise FaultSpecError(f"fault {text!r}: the value after ':' is empty", spec=text)
    raw = parts[1] if len(parts) == 2 else None
    unit = ""
    if raw is not None and raw.lower().endswith("sd"):
        if kind not in SD_KINDS:
            raise FaultSpecError(
                f"fault {text!r}: only {', '.join(SD_KINDS)} take a value in sd units", spec=text
            )
        raw, unit = raw[:-2].strip(), "sd"
    try:
        value = DEFAULT_VALUES[kind] if raw is None else float(raw)
    except ValueError:
        raise FaultSpecError(f"fault {text!r}: value {raw!r} is not a number", spec=text) from None
    meaning, is_probability = FAULT_KINDS[kind]
    problem = None
    if not math.isfinite(value):
        problem = "finite"
    elif is_probability and not 0.0 < value <= 1.0:
        problem = "in (0, 1]"
    elif kind == "noise" and not value > 0:
        problem = "> 0"
    elif kind == "delay" and not 0 < value <= MAX_DELAY_MS:
        problem = f"in (0, {MAX_DELAY_MS}]"
    if problem:
        raise FaultSpecError(
            f"fault {text!r}: the {meaning} must be {problem}, got {value:g}", spec=text
        )
    return Fault(kind=kind, value=value, field=field, source_only=source_only, unit=unit)
