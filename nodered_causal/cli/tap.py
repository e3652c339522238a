"""``nodered-causal tap``: install the wire-tap plugin into a Node-RED, and show its counters."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from nodered_causal.cli import _types as t
from nodered_causal.cli._common import (
    add_command,
    add_deprecated,
    add_nodered_args,
    client_from_args,
    print_json,
)

__all__ = ["register", "run"]

EPILOG = """\
install into a userDir (then restart Node-RED), the way the palette manager would:
  nodered-causal tap install --user-dir ~/.node-red
install into a running instance through its Admin API (palette upload, needs
externalModules.palette.allowUpload, the default):
  nodered-causal tap install --url http://127.0.0.1:1880
the npm package as a .tgz (with the bundled flows as its examples), to upload in the editor's
palette manager or to publish:
  nodered-causal tap pack -o causal-tap.tgz
show what the tap recorded, dropped and failed:
  nodered-causal tap status --url http://127.0.0.1:1880

Configure it in settings.js (see plugin/README.md), e.g.
  causalTap: { transport: "mqtt", url: "mqtt://127.0.0.1:1883" }
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "tap",
        help="install or pack the wire-tap plugin, show its counters",
        description="Install or pack the causal-tap Node-RED plugin, or show its status.",
        epilog=EPILOG,
    )
    parser.add_argument("action", choices=("install", "pack", "status"))
    parser.add_argument(
        "--user-dir", metavar="DIR", type=t.EXISTING_DIR, help="Node-RED userDir to install into"
    )
    add_deprecated(parser, "--userdir", "--user-dir", "user_dir", type=t.EXISTING_DIR)
    parser.add_argument(
        "-o", "--output", metavar="FILE", type=t.OUTPUT_FILE,
        help="pack: write the .tgz here (default: npm's file name in the current directory)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.errors import TapError
    from nodered_causal.nodered.runtime import pack_plugin

    if args.action == "status":
        with client_from_args(args) as client:
            status, stats = client.request_json(
                "GET", "/causal-tap/stats", action="read tap stats", ok=(404,)
            )
        if status == 404:
            raise TapError(f"{client.url} has no causal-tap plugin: nodered-causal tap install")
        print_json(stats)
        return 0
    tgz = pack_plugin()
    if args.action == "pack":
        out = Path(args.output or Path.cwd() / tgz.name)
        shutil.copyfile(tgz, out)
        if args.json:
            print_json({"packed": str(out)})
        else:
            print(out)
        return 0
    if args.user_dir:
        user_dir = Path(args.user_dir).expanduser()
        npm = shutil.which("npm")
        if not user_dir.is_dir() or npm is None:
            raise TapError(f"cannot install into {user_dir}: not a directory, or no npm on PATH")
        # the tarball is kept in the userDir: package.json names it there, so a later
        # `npm install` in the userDir still finds it when the cache has been pruned
        kept = user_dir / tgz.name
        shutil.copyfile(tgz, kept)
        cmd = [npm, "install", "--no-audit", "--no-fund", "--save", f"./{kept.name}"]
        proc = subprocess.run(cmd, cwd=user_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TapError(f"npm install in {user_dir} failed:\n{proc.stderr[-1500:]}")
        result = {"installed": str(kept), "user_dir": str(user_dir), "restart_needed": True}
    else:
        with client_from_args(args) as client:
            info = client.install_module(tgz)
        result = {"installed": str(tgz), "url": client.url, "module": info}
    if args.json:
        print_json(result)
    else:
        where = result.get("user_dir") or result.get("url")
        print(f"installed {Path(tgz).name} into {where}")
        if args.user_dir:
            print("restart Node-RED to load it; configure it with causalTap in settings.js")
    return 0
