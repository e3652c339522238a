"""The docstring example of every pass (and of the package) runs and holds."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "nodered_causal.flows",
    "nodered_causal.flows.parse",
    "nodered_causal.flows.passes.implicit_tab",
    "nodered_causal.flows.passes.disabled",
    "nodered_causal.flows.passes.check_targets",
    "nodered_causal.flows.passes.link_wires",
    "nodered_causal.flows.passes.expand_subflows",
    "nodered_causal.flows.passes.wire_edges",
    "nodered_causal.flows.passes.link_calls",
    "nodered_causal.flows.passes.event_scopes",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0


def test_every_rule_is_covered() -> None:
    from nodered_causal.flows.passes import RULES

    assert {rule.__module__ for rule in RULES} <= set(MODULES)
