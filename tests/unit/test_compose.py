"""The demo stack's files are valid and agree with the code.

- docker-compose.yml validates with ``docker-compose config`` (Debian's docker-compose, installed by
  ``scripts/setup.sh --system``), has the three services with healthchecks, named volumes, ports
  bound to 127.0.0.1 and healthy-ordered start;
- every ``NODERED_CAUSAL_*`` name used by compose, docker/, the bundled flows or the package is
  documented in :mod:`nodered_causal.config`, and settings.js defaults equal config's defaults;
- the Dockerfiles pin their base images (no ``latest``) and copy only files that exist.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodered_causal import config

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*/Dockerfile"))
NAME_RE = re.compile(r"\bNODERED_CAUSAL_[A-Z0-9_]*[A-Z0-9]\b")
SERVICES = {"mosquitto", "nodered", "analyzer"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """``docker-compose config`` output: validated, interpolated, normalised."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (scripts/setup.sh --system installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "NODERED_CAUSAL_"))}
    proc = subprocess.run(
        [exe, "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)
    assert isinstance(data, dict)
    return data


def _raw_compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


# --------------------------------------------------------------------------- compose


def test_compose_has_the_three_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck", {})
        assert check.get("test", [None])[0] == "CMD", name
        assert check.get("interval") and check.get("retries"), name


def test_ports_are_published_on_localhost_only(compose: dict[str, Any]) -> None:
    published = {
        name: [str(p) for p in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert published == {
        "mosquitto": ["127.0.0.1:1883:1883/tcp"],
        "nodered": ["127.0.0.1:1880:1880/tcp"],
        "analyzer": ["127.0.0.1:8080:8080/tcp"],
    }


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    named = set(compose["volumes"])
    mounts = {
        name: {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}
        for name, service in compose["services"].items()
    }
    assert mounts["nodered"]["/data"] in named  # Node-RED userDir
    assert mounts["analyzer"]["/data"] in named  # the store and reports
    assert mounts["mosquitto"]["/mosquitto/data"] in named
    conf = Path(mounts["mosquitto"]["/mosquitto/config/mosquitto.conf"])
    assert conf == DOCKER / "mosquitto" / "mosquitto.conf"
    assert conf.is_file()


def test_services_start_in_healthy_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "depends_on" not in services["mosquitto"]
    assert services["nodered"]["depends_on"] == {"mosquitto": {"condition": "service_healthy"}}
    assert services["analyzer"]["depends_on"] == {
        "mosquitto": {"condition": "service_healthy"},
        "nodered": {"condition": "service_healthy"},
    }


def test_services_talk_to_each_other_by_service_name(compose: dict[str, Any]) -> None:
    nodered = _env(compose["services"]["nodered"])
    analyzer = _env(compose["services"]["analyzer"])
    assert nodered[config.TAP_URL.name] == "mqtt://mosquitto:1883"
    assert nodered[config.FLOW_MQTT_BROKER.name] == "mosquitto"
    assert analyzer[config.MQTT_URL.name] == "mqtt://mosquitto:1883"
    assert analyzer[config.NODERED_URL.name] == "http://nodered:1880"
    assert analyzer[config.STORE.name].startswith("/data/")
    assert nodered[config.DEMO_FLOW.name] == analyzer[config.DEMO_FLOW.name]
    assert (REPO / "flows" / f"{nodered[config.DEMO_FLOW.name]}.json").is_file()


def test_images_and_builds_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in _raw_compose()["services"].items():
        image = service["image"]
        assert re.search(r":\d+\.\d+\.\d+", image), f"{name}: image {image!r} is not pinned"
        if name != "mosquitto":
            dockerfile = REPO / service["build"]["dockerfile"]
            assert dockerfile.is_file(), name
            assert service["build"]["context"] == "."


# --------------------------------------------------------------------------- env names


def test_config_documents_every_name() -> None:
    doc = config.__doc__ or ""
    for name, var in config.ENV_VARS.items():
        assert var.name == name
        assert f".. envvar:: {name}\n" in doc, name
    assert config.env_var(config.STORE.name) is config.STORE
    with pytest.raises(KeyError, match="undocumented env var 'NODERED_CAUSAL_NOPE'"):
        config.env_var("NODERED_CAUSAL_NOPE")


def test_env_var_precedence_explicit_then_env_then_default() -> None:
    env = {config.STORE.name: "/env/runs.db"}
    assert config.STORE.get("/arg/runs.db", environ=env) == "/arg/runs.db"
    assert config.STORE.get(environ=env) == "/env/runs.db"
    assert config.STORE.get(environ={config.STORE.name: ""}) == "runs.db"
    assert config.STORE.get(environ={}) == "runs.db"
    with pytest.raises(ValueError, match="must start with 'NODERED_CAUSAL_'"):
        config.EnvVar("STORE", None, "cli", "x")


def test_compose_env_names_are_documented(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        undocumented = set(_env(service)) - set(config.ENV_VARS)
        assert not undocumented, f"{name} sets undocumented {sorted(undocumented)}"


def _names_in(paths: list[Path]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in paths:
        for name in NAME_RE.findall(path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def test_names_used_anywhere_are_documented() -> None:
    paths = [p for p in DOCKER.rglob("*") if p.is_file()]
    paths += sorted((REPO / "flows").glob("*.json"))
    paths += [p for p in (REPO / "nodered_causal").rglob("*.py") if p.name != "config.py"]
    paths += [p for p in (REPO / "plugin").rglob("*.js") if "node_modules" not in p.parts]
    undocumented = {k: v for k, v in _names_in(paths).items() if k not in config.ENV_VARS}
    assert not undocumented, f"add these to nodered_causal/config.py: {undocumented}"


def test_flows_read_only_flow_variables() -> None:
    names = set(_names_in(sorted((REPO / "flows").glob("*.json"))))
    assert names, "the bundled flows read no NODERED_CAUSAL_* variable"
    assert {config.ENV_VARS[n].reader for n in names} == {"flows"}


def _node(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``node -e script args`` and parse its JSON stdout."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    full_env = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    proc = subprocess.run(
        [node, "-e", script, *args], capture_output=True, text=True, env=full_env, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _plugin_config() -> Path:
    path = REPO / "plugin" / "lib" / "config.js"
    if not path.exists():
        pytest.skip("plugin/ is not on this branch yet")
    return path


def test_settings_js_leaves_the_tap_to_its_environment(compose: dict[str, Any]) -> None:
    script = "process.stdout.write(JSON.stringify(require(process.argv[1])))"
    settings = _node(script, str(DOCKER / "nodered" / "settings.js"))
    assert "causalTap" not in settings  # its keys would override NODERED_CAUSAL_TAP_*
    assert settings["uiPort"] == 1880
    assert settings["flowFile"] == "flows.json"


def test_plugin_reads_exactly_the_documented_tap_variables() -> None:
    script = "const c = require(process.argv[1]); process.stdout.write(JSON.stringify(c.ENV))"
    names = set(_node(script, str(_plugin_config())).values())
    assert names == {n for n, v in config.ENV_VARS.items() if v.reader == "plugin"}


def test_plugin_resolves_the_compose_environment(compose: dict[str, Any]) -> None:
    script = (
        "const c = require(process.argv[1]);"
        "const s = require(process.argv[2]);"
        "process.stdout.write(JSON.stringify(c.resolveConfig(s.causalTap, process.env, {})))"
    )
    env = _env(compose["services"]["nodered"])
    cfg = _node(script, str(_plugin_config()), str(DOCKER / "nodered" / "settings.js"), env=env)
    assert (cfg["enabled"], cfg["transport"], cfg["url"]) == (True, "mqtt", "mqtt://mosquitto:1883")
    assert cfg["topic"] == "nodered-causal/demo/records"


def test_plugin_defaults_equal_config_defaults() -> None:
    script = (
        "const c = require(process.argv[1]);"
        "const out = {};"
        "for (const [k, name] of Object.entries(c.ENV)) out[name] = c.DEFAULTS[k];"
        "process.stdout.write(JSON.stringify(out))"
    )
    defaults = _node(script, str(_plugin_config()))
    for name, value in defaults.items():
        expected = None if value is None else str(value).lower()
        assert config.ENV_VARS[name].default == expected, name


# --------------------------------------------------------------------------- Dockerfiles


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _base_images(dockerfile: Path) -> list[str]:
    args: dict[str, str] = {}
    images = []
    for word, rest in _instructions(dockerfile):
        if word == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args[key] = value
        elif word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def test_there_are_two_dockerfiles() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["analyzer", "nodered"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_pins_its_base_image(dockerfile: Path) -> None:
    images = _base_images(dockerfile)
    assert images
    for image in images:
        name, _, tag = image.partition(":")
        assert tag and "latest" not in tag, f"{image} is not pinned"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: pin a full version"
    expected = {"nodered": "nodered/node-red:4.", "analyzer": "python:3.11."}
    assert images[-1].startswith(expected[dockerfile.parent.name])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_copies_existing_files(dockerfile: Path) -> None:
    copies = [rest for word, rest in _instructions(dockerfile) if word in ("COPY", "ADD")]
    assert copies
    words = [word for word, _ in _instructions(dockerfile)]
    assert "ENTRYPOINT" in words
    assert "ADD" not in words
    sources = [s for rest in copies for s in [p for p in rest.split() if p[:2] != "--"][:-1]]
    missing = [s for s in sources if not any(REPO.glob(s.rstrip("/")))]
    if missing == ["plugin/"]:
        pytest.skip("plugin/ is not on this branch yet")
    assert not missing, f"{dockerfile.parent.name}: COPY sources missing: {missing}"


def test_plugin_package_is_the_one_the_dockerfile_installs() -> None:
    package = REPO / "plugin" / "package.json"
    if not package.exists():
        pytest.skip("plugin/ is not on this branch yet")
    meta = json.loads(package.read_text())
    assert meta["name"] == "@nodered-causal/node-red-causal-tap"
    tgz = meta["name"].lstrip("@").replace("/", "-")  # npm pack's file name for a scoped package
    assert f"/tmp/{tgz}-*.tgz" in (DOCKER / "nodered" / "Dockerfile").read_text()
    assert "plugins" in meta["node-red"]


@pytest.mark.parametrize(
    "script", [DOCKER / "nodered" / "start.sh", DOCKER / "analyzer" / "entrypoint.sh"],
    ids=lambda p: p.parent.name,
)  # fmt: skip
def test_entrypoint_scripts_are_executable_and_parse(script: Path) -> None:
    assert os.access(script, os.X_OK)
    shell = "bash" if script.read_text().startswith("#!/usr/bin/env bash") else "sh"
    subprocess.run([shell, "-n", str(script)], check=True, timeout=10)


def test_analyzer_entrypoint_uses_the_cli_as_documented(run_cli: Any) -> None:
    """The flags the entry point passes exist (checked once the commands are built)."""
    text = (DOCKER / "analyzer" / "entrypoint.sh").read_text()
    wanted = {
        "watch": ("--url", "--mqtt", "--store", "--report-dir"),
        "demo": ("--url", "--store", "--report"),
    }
    for command, flags in wanted.items():
        assert all(f"nodered-causal {command}" in text and f in text for f in flags)
        proc = run_cli(command, "--help")
        if proc.returncode != 0:
            continue  # sub-command not on this branch yet
        for flag in flags:
            assert flag in proc.stdout, f"`nodered-causal {command}` has no {flag}"


def test_mosquitto_conf_keeps_qos1_backlog() -> None:
    conf = {}
    for line in (DOCKER / "mosquitto" / "mosquitto.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key, value)
    assert conf["listener"] == "1883 0.0.0.0"
    assert conf["allow_anonymous"] == "true"
    assert conf["persistence"] == "true"
    assert int(conf["max_queued_messages"]) >= 100_000
