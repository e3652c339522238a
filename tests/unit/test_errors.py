from __future__ import annotations

import nodered_causal
from nodered_causal import errors


def test_every_error_derives_from_the_base() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.NoderedCausalError), name


def test_tree_in_docstring_names_every_error() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the drawn exception tree"


def test_flow_error_carries_location() -> None:
    exc = errors.FlowParseError(
        "bad", path="f.json", node_id="a1", node_type="function", tab="Main"
    )
    assert (exc.path, exc.node_id, exc.node_type, exc.tab) == ("f.json", "a1", "function", "Main")
    assert exc.exit_code == 2


def test_package_exports_errors() -> None:
    assert "NoderedCausalError" in nodered_causal.__all__
    assert nodered_causal.__all__ == sorted(nodered_causal.__all__)
