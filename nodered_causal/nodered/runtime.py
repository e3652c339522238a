"""A throwaway local Node-RED: installed from npm into the cache, started, stopped, cleaned up.

::

    with LocalNodeRed("5", flows="flows/sensor-pipeline.json", plugins=["plugin"]) as nr:
        nr.client.inject("a1b2c3")            # flows are running here
        print(nr.url, nr.version, nr.log_text())

``plugins`` are npm package directories (like this repo's ``plugin/``): each is ``npm pack``-ed and
installed with its dependencies once per content hash into the cache, then hard-linked into the
userDir of every instance, so starting many instances stays cheap. ``modules`` are npm registry
specs of contrib nodes (``node-red-dashboard@3``), installed the same way in the same npm install.
Before Node-RED starts, the flow's node types are checked against the core nodes and the
installed modules (:mod:`nodered_causal.nodered.modules`): a flow nobody can run is refused with
one :class:`~nodered_causal.errors.MissingNodeTypesError` instead of a Node-RED that starts none
of its flows.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from nodered_causal.errors import (
    MissingNodeTypesError,
    NodeRedError,
    RuntimeStartError,
    TapError,
)
from nodered_causal.nodered.client import NodeRedClient
from nodered_causal.nodered.install import (
    _locked,
    _npm_install,
    cache_dir,
    ensure_node_red,
    node_binary,
)
from nodered_causal.nodered.modules import (
    check_flow_types,
    core_node_types,
    parse_module_spec,
    userdir_node_types,
)
from nodered_causal.resources import flows_dir, plugin_dir

__all__ = [
    "CREDENTIAL_SECRET",
    "PLUGIN_DIR",
    "LocalNodeRed",
    "install_plugins",
    "pack_plugin",
    "read_flows_file",
    "tap_settings",
]

logger = logging.getLogger(__name__)

#: ``credentialSecret`` of every managed instance (fixed, so credentials survive restarts).
CREDENTIAL_SECRET = "nodered-causal-local"
#: The wire-tap plugin (an npm package dir) shipped in the package (``nodered_causal.resources``).
PLUGIN_DIR = plugin_dir()
_START_ATTEMPTS = 3
_LOG_TAIL_LINES = 40
#: Instances with a live process: stopped at interpreter exit if their owner forgot.
_LIVE: weakref.WeakSet[LocalNodeRed] = weakref.WeakSet()
_HASH_SKIP = {"node_modules", ".git", "__pycache__"}


class LocalNodeRed:
    """A Node-RED ``version`` ("4" runs on the system Node 20, "5" on Node 22) in its own userDir.

    ``flows``: a flow file or a list of nodes, running when ``__enter__`` returns.
    ``plugins``: npm package dirs installed (with dependencies) into the userDir.
    ``settings``: merged (deeply) into the generated settings.js, e.g. ``{"causalTap": {...}}``.
    ``port``: 0 picks a free one. ``admin_auth``: ``(username, password)`` turns adminAuth on
    (``.client`` logs in, permissions ``*``); ``admin_users``: more ``(username, password,
    permissions)`` users, e.g. ``("viewer", "pw", "read")``. ``user_dir``: kept on exit; by
    default a temp dir that is removed.
    ``env``: extra environment variables for the Node-RED process.
    ``modules``: npm specs of contrib node modules to install (``node-red-dashboard@3``).
    ``check_types``: refuse flows with node types neither Node-RED nor the modules provide,
    before starting (:class:`~nodered_causal.errors.MissingNodeTypesError`).
    """

    def __init__(
        self,
        version: str = "4",
        flows: str | Path | Sequence[Mapping[str, Any]] | None = None,
        plugins: Sequence[str | Path] = (),
        settings: Mapping[str, Any] | None = None,
        port: int = 0,
        admin_auth: tuple[str, str] | None = None,
        user_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        start_timeout: float = 60,
        admin_users: Sequence[tuple[str, str, str]] = (),
        modules: Sequence[str] = (),
        check_types: bool = True,
    ) -> None:
        self.major = str(version)
        if self.major not in ("4", "5"):
            raise ValueError(f"version must be '4' or '5', got {version!r}")
        if not 0 <= port < 65536:
            raise ValueError(f"port must be 0 (pick a free one) or 1..65535, got {port!r}")
        if admin_auth is not None and (len(admin_auth) != 2 or not all(admin_auth)):
            raise ValueError("admin_auth must be a (username, password) pair")
        if admin_users and admin_auth is None:
            raise ValueError("admin_users need admin_auth (the user the client logs in as)")
        if any(len(u) != 3 or not all(u) for u in admin_users):
            raise ValueError("admin_users must be (username, password, permissions) triples")
        self._admin_users = [tuple(u) for u in admin_users]
        self._flows = read_flows_file(flows) if isinstance(flows, str | Path) else flows
        self._flow_source = str(flows) if isinstance(flows, str | Path) else "the flows"
        self._modules = [str(parse_module_spec(m)) for m in modules]
        self._check_types = check_types
        self._plugins = [Path(p) for p in plugins]
        self._settings = dict(settings or {})
        self._requested_port = port
        self._admin_auth = admin_auth
        self._given_user_dir = Path(user_dir) if user_dir is not None else None
        self._env = dict(env or {})
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._created_dir: Path | None = None
        self.user_dir: Path | None = None
        self.port = port
        self.url = ""
        self.version = self.major
        self._client: NodeRedClient | None = None

    def __repr__(self) -> str:
        return f"LocalNodeRed(version={self.version!r}, url={self.url!r})"

    @property
    def client(self) -> NodeRedClient:
        if self._client is None:
            raise RuntimeStartError("LocalNodeRed is not running: use it as a context manager")
        return self._client

    @property
    def running(self) -> bool:
        """Whether the Node-RED process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        if self.user_dir is None:
            raise RuntimeStartError("LocalNodeRed has no userDir yet")
        return self.user_dir / "node-red.log"

    def log_text(self) -> str:
        """Everything the Node-RED process printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, RuntimeStartError):
            return ""

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalNodeRed:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Install (cached), prepare the userDir, start, and wait for running flows."""
        t0 = time.monotonic()
        home = ensure_node_red(self.major)
        node = node_binary(self.major)
        if self._given_user_dir is not None:
            self._given_user_dir.mkdir(parents=True, exist_ok=True)
            self.user_dir = self._given_user_dir.resolve()
        else:
            self._created_dir = Path(tempfile.mkdtemp(prefix=f"nodered-causal-{self.major}-"))
            self.user_dir = self._created_dir
        if self._plugins or self._modules:
            install_plugins(self._plugins, self.user_dir, version=self.major, modules=self._modules)
        if self._flows is not None:
            if self._check_types:
                self._check_flow_types(home)
            (self.user_dir / "flows.json").write_text(json.dumps(list(self._flows), indent=2))
        red_js = home / "node_modules" / "node-red" / "red.js"
        for attempt in range(_START_ATTEMPTS):
            self.port = self._requested_port or _free_port()
            self._write_settings(home, node)
            self._launch(node, red_js)
            if self._wait_for_api():
                break
            if self._requested_port or "port in use" not in self.log_text().lower():
                raise self._start_error(f"Node-RED {self.major} did not start")
            logger.info("port %d was taken meanwhile, retrying (%d)", self.port, attempt + 1)
            self._kill()
        else:
            raise self._start_error(f"no free port after {_START_ATTEMPTS} attempts")
        user, password = self._admin_auth or (None, None)
        self._client = NodeRedClient(self.url, username=user, password=password, timeout=30)
        try:
            self._client.wait_until_started(timeout=self._start_timeout)
            self.version = str(self._client.settings().get("version", self.major))
        except MissingNodeTypesError:
            raise
        except NodeRedError as exc:
            raise self._start_error(str(exc)) from exc
        logger.info(
            "Node-RED %s running at %s (%s) after %.2f s",
            self.version,
            self.url,
            self.user_dir,
            time.monotonic() - t0,
        )

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL to its process group); remove the temp dir."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._kill()
        if self._created_dir is not None:
            shutil.rmtree(self._created_dir, ignore_errors=True)
            self._created_dir = None

    # -- plumbing -------------------------------------------------------------------------------

    def _check_flow_types(self, home: Path) -> None:
        assert self.user_dir is not None and self._flows is not None
        provided = core_node_types(home)
        for types in userdir_node_types(self.user_dir).values():
            provided |= types
        check_flow_types(
            self._flows,
            provided,
            where=self._flow_source,
            runtime=f"Node-RED {self.major}",
            installed=[parse_module_spec(m).name for m in self._modules],
        )

    def _write_settings(self, home: Path, node: Path) -> None:
        assert self.user_dir is not None
        base: dict[str, Any] = {
            "uiHost": "127.0.0.1",
            "uiPort": self.port,
            "flowFile": "flows.json",
            "credentialSecret": CREDENTIAL_SECRET,
            "logging": {"console": {"level": "info", "metrics": False, "audit": False}},
            "telemetry": {"enabled": False},
            "editorTheme": {"tours": False},
        }
        if self._admin_auth is not None:
            user, password = self._admin_auth
            hashed = _bcrypt(password, home, node)
            users = [{"username": user, "password": hashed, "permissions": "*"}]
            users += [
                {"username": name, "password": _bcrypt(pw, home, node), "permissions": perms}
                for name, pw, perms in self._admin_users
            ]
            base["adminAuth"] = {"type": "credentials", "users": users}
        merged = _deep_merge(base, self._settings)
        merged["uiPort"] = self.port  # the port is ours to choose
        text = (
            "// Written by nodered-causal (LocalNodeRed); regenerated on every start.\n"
            f"module.exports = {json.dumps(merged, indent=2)};\n"
        )
        (self.user_dir / "settings.js").write_text(text)

    def _launch(self, node: Path, red_js: Path) -> None:
        assert self.user_dir is not None
        self.url = f"http://127.0.0.1:{self.port}"
        env = _node_env(node)  # npm/node children (palette installs) use the runtime's Node
        env.pop("NODE_OPTIONS", None)
        env.setdefault("NODE_COMPILE_CACHE", str(cache_dir() / "node-compile-cache"))  # Node 22+
        env.update(self._env)
        cmd = [
            str(node),
            str(red_js),
            "--userDir",
            str(self.user_dir),
            "--settings",
            str(self.user_dir / "settings.js"),
        ]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.user_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        _LIVE.add(self)
        logger.debug("started %s (pid %d)", " ".join(cmd), self._proc.pid)

    def _wait_for_api(self) -> bool:
        """Poll ``GET /auth/login`` (open even with adminAuth) until it answers or the process
        exits; False when it exited."""
        assert self._proc is not None
        deadline = time.monotonic() + self._start_timeout
        probe = f"{self.url}/auth/login"
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    return False
                with contextlib.suppress(requests.RequestException):
                    if session.get(probe, timeout=2).status_code == 200:
                        return True
                time.sleep(0.03)
        raise self._start_error(
            f"the Admin API at {self.url} did not answer within {self._start_timeout:g} s"
        )

    def _kill(self) -> None:
        _LIVE.discard(self)
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                logger.warning("Node-RED (pid %d) ignored %s", proc.pid, sig.name)

    def _start_error(self, what: str) -> RuntimeStartError:
        code = self._proc.poll() if self._proc is not None else None
        lines = self.log_text().splitlines()[-_LOG_TAIL_LINES:]
        exited = f" (exit code {code})" if code is not None else ""
        return RuntimeStartError(
            f"{what}{exited}; log {self.log_path if self.user_dir else '-'}:\n" + "\n".join(lines),
            url=self.url or None,
            action=f"start Node-RED {self.major}",
        )


def tap_settings(url: str, **options: Any) -> dict[str, Any]:
    """The ``causalTap`` settings block sending records to ``url``: ``mqtt://host:port`` (a
    broker) or ``http(s)://host:port`` (a collector). ``options`` (``topic``, ``batchSize``,
    ``flushMs``, ``queueMax``) are passed through."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    transport = {"mqtt": "mqtt", "mqtts": "mqtt", "http": "http", "https": "http"}.get(scheme)
    if transport is None:
        raise TapError(f"tap URL {url!r} must start with mqtt://, mqtts://, http:// or https://")
    return {"causalTap": {"transport": transport, "url": url, **options}}


@atexit.register
def _stop_all() -> None:
    for instance in list(_LIVE):
        instance.stop()


def read_flows_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a flow export: a list of nodes, or ``{"flows": [...], "rev": ...}``
    (:class:`~nodered_causal.errors.FlowParseError` when it cannot be read or decoded)."""
    from nodered_causal.flows.load import read_flow_json

    data, _ = read_flow_json(path)
    if isinstance(data, dict) and isinstance(data.get("flows"), list):
        data = data["flows"]
    if not isinstance(data, list):
        raise RuntimeStartError(f"{path} is not a Node-RED flow export (a JSON list of nodes)")
    return data


def install_plugins(
    plugins: Sequence[str | Path],
    user_dir: Path,
    *,
    version: str = "4",
    modules: Sequence[str] = (),
) -> None:
    """Install npm package dirs and registry ``modules`` (``node-red-dashboard@3``) with their
    dependencies into ``user_dir/node_modules``.

    The first call for a given content and module list (and Node-RED major, since native modules
    follow the Node version) runs ``npm pack`` + ``npm install <tgz...> <module...>`` into the
    cache; every call hard-links that ``node_modules`` into the userDir and writes a
    ``package.json`` naming the tarballs and modules, so a second run downloads nothing.
    """
    dirs = [Path(p).resolve() for p in plugins]
    specs = [parse_module_spec(m) for m in modules]
    names = []
    for pkg in dirs:
        try:
            names.append(json.loads((pkg / "package.json").read_text())["name"])
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeStartError(f"{pkg} is not an npm package (package.json): {exc}") from exc
    if not dirs and not specs:
        return
    key = _content_hash(dirs, version, extra=[str(s) for s in specs])
    tarballs = _pack(dirs, cache_dir() / "plugin-packs" / key) if dirs else []
    env = _node_env(node_binary(version))
    last = specs[-1].name if specs else names[-1]
    try:
        prepared = _npm_install(
            cache_dir() / f"plugins-{key}",
            [*(str(t) for t in tarballs), *(str(s) for s in specs)],
            f"node_modules/{last}/package.json",
            env=env,
        )
    except RuntimeStartError as exc:
        if not specs:
            raise
        raise RuntimeStartError(
            f"installing {', '.join(map(str, specs))} failed (check the module names and "
            f"versions on npmjs.com): {exc}",
            action="install modules",
        ) from exc
    os.utime(prepared)  # recently used: kept by _prune_plugin_cache
    _link_tree(prepared / "node_modules", user_dir / "node_modules")
    _prune_plugin_cache(keep=key)
    pkg_json = user_dir / "package.json"
    manifest: dict[str, Any] = (
        json.loads(pkg_json.read_text())
        if pkg_json.exists()
        else {"name": "node-red-project", "version": "0.0.1", "private": True}
    )
    deps: dict[str, str] = manifest.setdefault("dependencies", {})
    for name, tgz in zip(names, tarballs, strict=True):
        deps[name] = f"file:{tgz}"
    for spec in specs:
        installed = prepared / "node_modules" / spec.name / "package.json"
        deps[spec.name] = "~" + str(json.loads(installed.read_text()).get("version", "0.0.0"))
    pkg_json.write_text(json.dumps(manifest, indent=2))


def pack_plugin(plugin: str | Path = PLUGIN_DIR, *, version: str = "4") -> Path:
    """``npm pack`` a plugin package dir (cached by content) and return the ``.tgz``."""
    pkg = Path(plugin).resolve()
    if not (pkg / "package.json").exists():
        raise RuntimeStartError(f"{pkg} is not an npm package (no package.json)")
    return _pack([pkg], cache_dir() / "plugin-packs" / _content_hash([pkg], version))[0]


def _pack(dirs: Sequence[Path], target: Path) -> list[Path]:
    """``npm pack`` each dir into ``target`` once (cached by content hash)."""
    done = target / ".done"
    if not done.exists():
        with _locked(target.name):
            if not done.exists():
                target.mkdir(parents=True, exist_ok=True)
                for i, pkg in enumerate(dirs):
                    src = _with_examples(pkg, target / f".stage-{i}")
                    cmd = ["npm", "pack", "--silent", "--pack-destination", str(target), str(src)]
                    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                    if proc.returncode != 0:
                        raise RuntimeStartError(
                            f"'npm pack {pkg}' failed:\n{(proc.stderr or proc.stdout)[-2000:]}"
                        )
                    (target / f"{i}.pack").write_text(proc.stdout.strip().splitlines()[-1])
                    if src != pkg:
                        shutil.rmtree(src, ignore_errors=True)
                done.write_text("")
    return [target / (target / f"{i}.pack").read_text().strip() for i in range(len(dirs))]


def _examples_source(pkg: Path) -> Path | None:
    """Where a package's ``examples/`` come from when it has none of its own: the tap plugin's
    are the bundled flows (one source, ``flows/``), shown under Import -> Examples."""
    if pkg.resolve() == PLUGIN_DIR.resolve() and not (pkg / "examples").exists():
        return flows_dir().resolve()
    return None


def _with_examples(pkg: Path, stage: Path) -> Path:
    """``pkg`` itself, or a copy of it in ``stage`` with ``examples/`` filled (see above)."""
    examples = _examples_source(pkg)
    if examples is None:
        return pkg
    shutil.rmtree(stage, ignore_errors=True)
    skip = shutil.ignore_patterns(*_HASH_SKIP, "*.tgz")
    shutil.copytree(pkg, stage, ignore=skip)
    (stage / "examples").mkdir()
    for flow in sorted(examples.glob("*.json")):
        shutil.copy2(flow, stage / "examples" / flow.name)
    return stage


def _prune_plugin_cache(*, keep: str, newest: int = 8, min_age_s: float = 3600) -> None:
    """Remove prepared plugin installs beyond the ``newest`` few that were not used for an hour
    (every edit of a plugin makes a new one). Instances keep their hard-linked copies."""
    root = cache_dir()
    entries = sorted(root.glob("plugins-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    for old in entries[newest:]:
        key = old.name.removeprefix("plugins-")
        if key == keep or now - old.stat().st_mtime < min_age_s:
            continue
        logger.info("removing the unused plugin install %s", old)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(root / "plugin-packs" / key, ignore_errors=True)


def _content_hash(dirs: Sequence[Path], version: str, *, extra: Sequence[str] = ()) -> str:
    digest = hashlib.sha256(f"node-red-{version}".encode())
    for spec in extra:  # registry module specs installed beside the packages
        digest.update(b"\2" + spec.encode())
    examples = [e for e in map(_examples_source, dirs) if e is not None]
    for root in [*dirs, *examples]:
        digest.update(b"\1")  # content only: the same package from another path shares it
        for here, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if d not in _HASH_SKIP)
            for name in sorted(files):
                if name.endswith(".tgz"):
                    continue
                path = Path(here) / name
                rel = path.relative_to(root)
                digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a directory tree as hard links (falls back to copies across file systems)."""

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, symlinks=True, copy_function=link, dirs_exist_ok=True)


def _bcrypt(password: str, home: Path, node: Path) -> str:
    """A bcrypt hash for adminAuth, made with the bcryptjs Node-RED ships (password on stdin)."""
    script = (
        "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>"
        "process.stdout.write(require('bcryptjs').hashSync(s,8)))"
    )
    proc = subprocess.run(
        [str(node), "-e", script],
        input=password,
        capture_output=True,
        text=True,
        cwd=home,
        env={**os.environ, "NODE_PATH": str(home / "node_modules")},
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.startswith("$2"):
        raise RuntimeStartError(f"hashing the admin password with bcryptjs failed: {proc.stderr}")
    return proc.stdout


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _node_env(node: Path) -> dict[str, str]:
    """The environment with ``node``'s directory first on PATH (npm runs the right Node)."""
    return {**os.environ, "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
