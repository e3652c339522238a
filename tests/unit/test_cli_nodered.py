"""``nodered-causal nodered`` argument handling (no Node-RED started)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from nodered_causal.errors import TapError
from nodered_causal.nodered.runtime import tap_settings


def test_tap_settings() -> None:
    assert tap_settings("mqtt://127.0.0.1:1883", topic="t") == {
        "causalTap": {"transport": "mqtt", "url": "mqtt://127.0.0.1:1883", "topic": "t"}
    }
    assert tap_settings("HTTP://c:8765")["causalTap"]["transport"] == "http"
    with pytest.raises(TapError, match="must start with"):
        tap_settings("127.0.0.1:1883")


def test_bad_tap_url_is_refused(run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    res = run_cli("nodered", "start", "--tap", "ftp://127.0.0.1:21", timeout=60)
    assert res.returncode == 2  # refused where it is parsed, before Node-RED starts
    assert res.stderr.strip().endswith(
        "error: argument --tap: must be a URL like mqtt://127.0.0.1:1883 or "
        "http://127.0.0.1:8765, got 'ftp://127.0.0.1:21'"
    )


def test_help_has_examples(run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    res = run_cli("nodered", "start", "--help", timeout=60)
    assert res.returncode == 0
    assert "nodered-causal nodered start --tap mqtt://127.0.0.1:1883" in res.stdout


def test_tap_instance_needs_tap(run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    res = run_cli("nodered", "start", "--tap-instance", "x", timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == "nodered start: error: --tap-instance needs --tap URL"
