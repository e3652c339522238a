from __future__ import annotations

import doctest

import pytest

import nodered_causal.experiment.scoring as scoring
import nodered_causal.faults.spec as spec
from nodered_causal.errors import FaultSpecError, InjectionError
from nodered_causal.experiment.scoring import ac_at_k, rank_of_true, specificity
from nodered_causal.faults.spec import Fault, parse_fault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bias:2", Fault("bias", 2.0)),
        ("scale:0.5", Fault("scale", 0.5)),
        ("noise:1.5", Fault("noise", 1.5)),
        ("constant:-3", Fault("constant", -3.0)),
        ("drop:0.25", Fault("drop", 0.25)),
        ("delay:40", Fault("delay", 40.0)),
        ("error", Fault("error", 0.5)),
        ("shift:mean:4", Fault("bias", 4.0, source_only=True)),
        ("shift:scale:3", Fault("scale", 3.0, source_only=True)),
        ("shift", Fault("bias", 2.0, source_only=True)),
        (" BIAS : 1 ", Fault("bias", 1.0)),
        ("bias:2sd", Fault("bias", 2.0, unit="sd")),
        ("shift:mean:3SD", Fault("bias", 3.0, source_only=True, unit="sd")),
        ("noise:0.5sd", Fault("noise", 0.5, unit="sd")),
    ],
)
def test_parse_fault(text: str, expected: Fault) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "wobble:1",
            "fault 'wobble:1': expected KIND:VALUE with KIND one of bias, scale, noise, "
            "constant, drop, delay, error, shift",
        ),
        ("bias:x", "fault 'bias:x': value 'x' is not a number"),
        ("drop:1.5", "fault 'drop:1.5': the drop fraction must be in (0, 1], got 1.5"),
        ("bias:nan", "fault 'bias:nan': the bias must be finite, got nan"),
        ("delay:-5", "fault 'delay:-5': the delay in ms must be in (0, 2147483647], got -5"),
        ("delay:0", "fault 'delay:0': the delay in ms must be in (0, 2147483647], got 0"),
        ("delay:1e12", "fault 'delay:1e12': the delay in ms must be in (0, 2147483647], got 1e+12"),
        ("noise:0", "fault 'noise:0': the noise standard deviation must be > 0, got 0"),
        ("noise:-1sd", "fault 'noise:-1sd': the noise standard deviation must be > 0, got -1"),
        ("scale:", "fault 'scale:': the value after ':' is empty"),
        ("shift:mean:", "fault 'shift:mean:': the value after ':' is empty"),
        ("scale:inf", "fault 'scale:inf': the scale factor must be finite, got inf"),
        ("constant:-nan", "fault 'constant:-nan': the constant value must be finite, got nan"),
        ("error:0", "fault 'error:0': the error fraction must be in (0, 1], got 0"),
        ("bias:infsd", "fault 'bias:infsd': the bias must be finite, got inf"),
        ("shift:tilt:2", "fault 'shift:tilt:2': shift mode must be one of mean, scale, noise"),
        (
            "bias:1:2",
            "fault 'bias:1:2': expected KIND:VALUE with KIND one of bias, scale, noise, "
            "constant, drop, delay, error, shift",
        ),
        ("scale:2sd", "fault 'scale:2sd': only bias, noise take a value in sd units"),
        ("bias:sd", "fault 'bias:sd': value '' is not a number"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_fault(text)
    assert str(info.value) == message
    assert info.value.exit_code == 2 and info.value.spec == text
    assert isinstance(info.value, InjectionError)


def test_sd_units_resolve_against_the_field_and_never_reach_the_plugin() -> None:
    fault = parse_fault("bias:2sd", field="payload.t")
    assert str(fault) == "bias:2sd"
    assert fault.resolved(sd=0.25) == Fault("bias", 0.5, field="payload.t")
    assert parse_fault("scale:2").resolved(sd=10.0) == Fault("scale", 2.0)  # not in sd: as is
    with pytest.raises(InjectionError, match="bias:2sd: a value in standard deviations"):
        fault.plugin_body("n1")


def test_field_sd_is_over_the_messages_the_node_sent() -> None:
    from nodered_causal.experiment.live import field_sd

    columns = {
        "src": ["a", "b", "a", "a", "b"],
        "payload.t": [1.0, 100.0, 3.0, None, -50.0],
    }
    assert field_sd(columns, "a", "payload.t") == pytest.approx(1.0)  # of 1 and 3
    assert field_sd(columns, "c", "payload.t") == 1.0  # never sent: 1 sd = 1 unit
    assert field_sd(columns, "a", "payload.missing") == 1.0


def test_plugin_body_only_carries_field_for_value_faults() -> None:
    assert parse_fault("drop:0.5").plugin_body("a") == {"node": "a", "kind": "drop", "value": 0.5}
    assert parse_fault("bias:1", field="payload.t").plugin_body("a", seed=1) == {
        "node": "a", "kind": "bias", "value": 1.0, "field": "payload.t", "seed": 1,
    }  # fmt: skip


def test_scoring() -> None:
    assert rank_of_true(["a", "b"], "c") is None
    assert rank_of_true(["a", "b", "c"], ["x", "c"]) == 3
    assert ac_at_k([], 1) is None
    assert ac_at_k([1, 3, 4, None], 3) == 0.5
    assert specificity([]) is None
    assert specificity([[], []]) == 1.0


@pytest.mark.parametrize("module", [scoring, spec])
def test_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0
