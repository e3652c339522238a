"""Contrib node modules: specs, the node types a module registers, the one missing-types error,
and the quake feed fixture (pure code and a local socket; no Node-RED)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import requests

from nodered_causal.errors import MissingNodeTypesError
from nodered_causal.experiment.fixtures import (
    QUAKE_FEED_ENV,
    QuakeFeed,
    flow_fixtures,
    quake_features,
)
from nodered_causal.nodered.modules import (
    ModuleSpec,
    check_flow_types,
    module_hint,
    module_node_types,
    parse_module_spec,
    userdir_node_types,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("node-red-dashboard", ModuleSpec("node-red-dashboard")),
        ("node-red-dashboard@3.6.6", ModuleSpec("node-red-dashboard", "3.6.6")),
        ("@flowfuse/node-red-dashboard@^1", ModuleSpec("@flowfuse/node-red-dashboard", "^1")),
        (" node-red-node-ping ", ModuleSpec("node-red-node-ping")),
    ],
)
def test_module_specs(text: str, spec: ModuleSpec) -> None:
    assert parse_module_spec(text) == spec
    assert str(parse_module_spec(str(spec))) == str(spec)


@pytest.mark.parametrize(
    "text", ["", "@", "Node-Red-Dashboard", "./plugin", "a b", "x@", "git+https://h/x", "@s/"]
)
def test_bad_module_specs(text: str) -> None:
    with pytest.raises(ValueError):
        parse_module_spec(text)


def _module(root: Path, name: str, nodes: dict[str, str], sources: dict[str, str]) -> Path:
    pkg = root / "node_modules" / name
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": name, "node-red": {"nodes": nodes}}))
    for rel, text in sources.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return pkg


def test_module_types_come_from_registerType_in_js_and_html(tmp_path: Path) -> None:
    _module(
        tmp_path,
        "node-red-contrib-x",
        {"a": "nodes/a.js", "b": "b.js"},
        {
            "nodes/a.js": "module.exports = RED => { RED.nodes.registerType('x-a', A) }",
            "nodes/a.html": '<script>RED.nodes.registerType("x-a", {}); '
            'RED.nodes.registerType("x-a-config", {category: "config"})</script>',
            "b.js": "RED.nodes.registerType(`x-b`, B)",
        },
    )
    _module(tmp_path, "@scope/node-red-y", {"y": "y.js"}, {"y.js": "registerType('y', Y)"})
    plain = tmp_path / "node_modules" / "left-pad"
    plain.mkdir()
    (plain / "package.json").write_text('{"name": "left-pad"}')
    assert module_node_types(tmp_path / "node_modules" / "node-red-contrib-x") == {
        "x-a",
        "x-a-config",
        "x-b",
    }
    assert userdir_node_types(tmp_path) == {
        "@scope/node-red-y": {"y"},
        "node-red-contrib-x": {"x-a", "x-a-config", "x-b"},
    }


def test_one_error_lists_missing_types_and_modules() -> None:
    flows = [
        {"id": "t", "type": "tab"},
        {"id": "g", "type": "ui_group"},
        {"id": "a", "type": "inject", "z": "t", "x": 1, "y": 1, "wires": [["b"]]},
        {"id": "b", "type": "ui_chart", "z": "t", "x": 1, "y": 2, "wires": []},
        {"id": "c", "type": "my-private-node", "z": "t", "x": 1, "y": 3, "wires": []},
        {"id": "d", "type": "ping", "z": "t", "x": 1, "y": 4, "wires": []},
    ]
    with pytest.raises(MissingNodeTypesError) as info:
        check_flow_types(flows, {"inject"}, where="f.json", runtime="Node-RED 4")
    assert str(info.value) == (
        "f.json uses node types that neither Node-RED 4 nor the installed modules provide: "
        "my-private-node (module unknown); ping (node-red-node-ping); ui_chart, ui_group "
        "(node-red-dashboard). Nothing was started; add --install node-red-dashboard "
        "--install node-red-node-ping"
    )
    assert info.value.missing == ["my-private-node", "ping", "ui_chart", "ui_group"]
    assert info.value.exit_code == 2
    check_flow_types(flows, {"inject", "ui_chart", "ui_group", "my-private-node", "ping"},
                     where="f.json", runtime="Node-RED 4")  # fmt: skip


def test_installed_module_without_the_type_is_named() -> None:
    flows = [{"id": "b", "type": "ui_chart", "z": "t", "x": 1, "y": 2, "wires": []}]
    with pytest.raises(MissingNodeTypesError, match=r"\(installed: node-red-dashboard\) provide: "
                       r"ui_chart \(node-red-dashboard\)\. Nothing was started; add --install "
                       r"MODULE with the module that provides them"):  # fmt: skip
        check_flow_types(
            flows, set(), where="f", runtime="Node-RED 5", installed=["node-red-dashboard"]
        )


def test_hints() -> None:
    assert module_hint("ui_gauge") == "node-red-dashboard"
    assert module_hint("ui-chart") == "@flowfuse/node-red-dashboard"
    assert module_hint("function") is None


def test_quake_features_look_like_usgs_geojson() -> None:
    features = quake_features(random.Random(3), 1_700_000_000_000, 200)
    assert len(features) == 200
    mags = [f["properties"]["mag"] for f in features]
    assert all(1.0 <= m <= 8.5 for m in mags)
    # Gutenberg-Richter with b = 1: about a tenth of the quakes are a magnitude larger
    assert 0.05 < sum(m >= 2.0 for m in mags) / len(mags) < 0.16
    first = features[0]
    assert first["type"] == "Feature" and first["geometry"]["type"] == "Point"
    lon, lat, depth = first["geometry"]["coordinates"]
    assert -180 <= lon <= 180 and -90 <= lat <= 90 and depth > 0
    assert quake_features(random.Random(3), 1_700_000_000_000, 200) == features


def test_quake_feed_serves_seeded_documents() -> None:
    with QuakeFeed(seed=7) as feed, QuakeFeed(seed=7) as twin:
        docs = [requests.get(feed.url, timeout=5).json() for _ in range(3)]
        again = [requests.get(twin.url, timeout=5).json() for _ in range(3)]
        assert requests.get(feed.url.rsplit("/", 1)[0] + "/nope", timeout=5).status_code == 404
        assert feed.requests == 4 - 1  # the 404 is not an answer
    for doc, other in zip(docs, again, strict=True):
        assert doc["type"] == "FeatureCollection"
        assert 2 <= doc["metadata"]["count"] == len(doc["features"]) <= 8
        assert [f["id"] for f in doc["features"]] == [f["id"] for f in other["features"]]


def test_flow_fixtures_start_the_feed_for_the_quake_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    with flow_fixtures(REPO / "flows" / "sensor-pipeline.json") as env:
        assert env == {}
    with flow_fixtures(REPO / "flows" / "quake-dashboard.json") as env:
        doc = requests.get(env[QUAKE_FEED_ENV], timeout=5).json()
        assert doc["features"]
    monkeypatch.setenv(QUAKE_FEED_ENV, "http://127.0.0.1:9/feed")
    with flow_fixtures(REPO / "flows" / "quake-dashboard.json") as env:
        assert env == {}  # the user's feed is used


def test_install_option_is_checked_before_anything_starts(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("nodered", "start", "--install", "node-red-dashboard,./plugin")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "nodered-causal nodered start: error: argument --install: must be an npm module name "
        "like node-red-dashboard or @scope/name, optionally @VERSION, got "
        "'node-red-dashboard,./plugin'"
    )
    proc = run_cli("experiment", "--url", "http://127.0.0.1:9", "--target", "x",
                   "--install", "node-red-dashboard@3")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "--install installs into the local throw-away Node-RED; with --url install the module "
        "into that Node-RED (its editor's palette, or npm in its userDir)"
    )
