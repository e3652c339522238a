"""The hostile command-line suite as a table: cases per class, tracebacks, wrong exit codes,
options not named, secrets printed, files touched (issue 12). Appends to RESULTS.md.

    .venv/bin/python benchmarks/bench_hostile.py [--no-write]

The cases are ``tests/hostile_cli.py``'s (the same ones ``tests/unit/test_cli_hostile.py``
asserts), run in-process through ``nodered_causal.cli.main``, plus the random option values and
random flow JSON the suite's hypothesis tests draw (derandomized, so the same examples).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from _machine import append_results, machine  # noqa: E402

from nodered_causal.cli import main  # noqa: E402
from tests.hostile_cli import Case, cases  # noqa: E402


def _run(case: Case, tmp: Path) -> tuple[int, str, str]:
    saved = {k: os.environ.get(k) for k in case.env}
    os.environ.update(case.env)
    cwd = os.getcwd()
    stdin = sys.stdin
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(tmp)
        sys.stdin = io.TextIOWrapper(io.BytesIO(case.stdin or b""), encoding="utf-8")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(case.argv)
            except BaseException as exc:  # noqa: BLE001 - a crash is what we count
                import traceback

                err.write("Traceback (crash in main)\n" + "".join(traceback.format_exception(exc)))
                code = -1
    finally:
        sys.stdin = stdin
        os.chdir(cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, out.getvalue(), err.getvalue()


def _digest(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path and path.exists() else None


def run_cases() -> dict[str, Counter[str]]:
    tmp = Path(tempfile.mkdtemp(prefix="nrc-bench-hostile-"))
    table: dict[str, Counter[str]] = defaultdict(Counter)
    try:
        for case in cases(tmp):
            before = _digest(case.untouched)
            code, out, err = _run(case, tmp)
            row = table[case.klass]
            row["cases"] += 1
            row["tracebacks"] += "Traceback" in err
            row["wrong exit"] += code != case.code
            row["not named"] += case.names not in err
            row["secrets printed"] += any(s in out + err for s in case.secrets)
            touched = case.untouched is not None and _digest(case.untouched) != before
            row["files touched"] += touched or bool(case.absent and case.absent.exists())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return table


def run_hypothesis() -> dict[str, Counter[str]]:
    """The suite's two hypothesis tests (a failure counts as a traceback: one example broke)."""
    import subprocess

    table: dict[str, Counter[str]] = defaultdict(Counter)
    for name, klass, examples in (
        ("test_option_types_accept_or_say_why", "random option values (hypothesis)", 300),
        ("test_any_json_is_a_graph_or_a_clear_error", "random flow JSON (hypothesis)", 150),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"tests/unit/test_cli_hostile.py::{name}"],
            cwd=REPO, capture_output=True, text=True, check=False,
        )  # fmt: skip
        table[klass]["cases"] += examples
        table[klass]["tracebacks"] += int(proc.returncode != 0)
    return table


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    started = dt.datetime.now()
    where = machine()
    t0 = time.monotonic()
    table = run_cases()
    took = time.monotonic() - t0
    table.update(run_hypothesis())
    cols = ["cases", "tracebacks", "wrong exit", "not named", "secrets printed", "files touched"]
    lines = ["| class | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    total: Counter[str] = Counter()
    for klass in sorted(table):
        row = table[klass]
        total.update(row)
        lines.append(f"| {klass} | " + " | ".join(str(row[c]) for c in cols) + " |")
    lines.append("| **all** | " + " | ".join(f"**{total[c]}**" for c in cols) + " |")
    text = "\n".join(lines)
    print(text)
    print(f"\n{sum(t['cases'] for k, t in table.items() if 'hypothesis' not in k)} fixed cases "
          f"in {took:.1f} s; {json.dumps(dict(total))}")  # fmt: skip
    if args.no_write:
        return
    append_results(
        f"\n## Hostile command-line input (issue 12), {started:%Y-%m-%d %H:%M}\n\n"
        + textwrap.fill(
            f"Machine: {where}. `benchmarks/bench_hostile.py`: the cases of `tests/hostile_cli.py` "
            f"run in-process through `nodered_causal.cli.main` ({took:.1f} s), and the examples of "
            "the suite's two hypothesis tests (random values at every option type, random JSON "
            "as a flow file). A case passes when it exits with its code (2 for bad input, before "
            "anything starts; 1 where a connection is refused), names the option, variable or file "
            "in stderr, prints no traceback and no secret, and leaves files it must not touch as "
            "they were. Numeric options are found by walking the parser, so every command's "
            "numbers are in the first row.",
            100,
            break_on_hyphens=False,
        )
        + "\n\n"
        + text
        + "\n"
    )


if __name__ == "__main__":
    main_()
