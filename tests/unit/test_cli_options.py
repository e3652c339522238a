"""One spelling per option, deprecated aliases, progress output, completion, redaction, and the
issue-12 defects that are about one option each (each failed before the fix)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from pathlib import Path

import pytest

from nodered_causal.cli import _types as t
from nodered_causal.cli import build_parser, main
from nodered_causal.cli.progress import Progress
from nodered_causal.redact import RedactingFilter, redact_data, redact_text, redact_url


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return main(list(argv)), out.getvalue(), err.getvalue()


def test_window_has_one_default_everywhere() -> None:
    parser = build_parser()
    windows = {
        " ".join(cmd): parser.parse_args([*cmd, *required]).window
        for cmd, required in (
            (["attribute"], ["--baseline", "a", "--incident", "b", "--target", "t"]),
            (["whatif"], ["--run", "a", "--node", "n", "--change", "bias:1", "--target", "t"]),
            (["experiment"], ["--target", "t"]),
        )
    }
    assert set(windows.values()) == {t.DEFAULT_WINDOW_S}, windows


def test_old_spellings_still_work_and_warn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    flow = tmp_path / "f.json"
    flow.write_text("[]")
    parser = build_parser()
    args = parser.parse_args(["tap", "install", "--userdir", str(tmp_path)])
    assert args.user_dir == str(tmp_path)
    args = parser.parse_args(["nodered", "start", "--version", "5", "--flows", str(flow)])
    assert (args.nodered_version, args.flow) == ("5", str(flow))
    assert err.getvalue().splitlines() == [
        "nodered-causal: warning: --userdir is deprecated: use --user-dir",
        "nodered-causal: warning: --version is deprecated: use --nodered-version",
        "nodered-causal: warning: --flows is deprecated: use --flow",
    ]
    # the hidden aliases stay out of --help
    help_text = parser._subparsers._group_actions[0].choices["tap"].format_help()  # type: ignore[union-attr]
    assert "--user-dir" in help_text and "--userdir" not in help_text


def test_experiment_json_is_a_switch_and_the_old_json_out_still_writes_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nodered_causal.cli.experiment import _check

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.chdir(tmp_path)
    flow = tmp_path / "flow.json"
    flow.write_text("[]")
    parser = build_parser()
    new = parser.parse_args(["experiment", str(flow), "--target", "t", "--json", "-o", "r.json"])
    _check(new)
    assert (new.json, new.output) == (True, "r.json") and err.getvalue() == ""
    old = parser.parse_args(["experiment", str(flow), "--target", "t", "--json", "r.json"])
    _check(old)
    assert (old.json, old.output) == (False, "r.json")
    assert "'experiment --json OUT' is deprecated: use -o OUT" in err.getvalue()
    first = parser.parse_args(["experiment", "--json", str(flow), "--target", "t"])
    _check(first)  # '--json FLOW.json' with no other flow: the switch, then the flow
    assert (first.json, first.flow, first.output) == (True, str(flow), None)


def test_progress_is_plain_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    with Progress(60, unit="s", what="recording r", every=0.0, stream=stream) as bar:
        for i in (10, 20, 30):
            bar.update(i, f"{i * 10} records, 0 rejected")
        bar.write("a line")
    text = stream.getvalue()
    assert "\r" not in text  # before: a \r-redrawn line even into a log file
    assert text.splitlines() == [
        "recording r: 10/60 s (100 records, 0 rejected)",
        "recording r: 20/60 s (200 records, 0 rejected)",
        "recording r: 30/60 s (300 records, 0 rejected)",
        "a line",
    ]


def test_progress_is_a_bar_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    with Progress(4, unit="cases", what="experiment", stream=stream) as bar:
        bar.write("[1/4] bias:2 at a: rank 1 (9 s)")
        bar.update(1)
    assert "[1/4] bias:2 at a: rank 1" in stream.getvalue()
    assert "experiment:  25%|" in stream.getvalue() and "1/4 cases" in stream.getvalue()


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(monkeypatch: pytest.MonkeyPatch, shell: str) -> None:
    code, out, err = _run(monkeypatch, "completion", shell)
    assert code == 0, err
    for word in ("nodered-causal", "attribute", "experiment", "--window", "--nodered-version"):
        assert word in out, word
    assert "--userdir" not in out  # deprecated spellings are not offered


def test_redaction_helpers() -> None:
    assert redact_url("mqtt://u:p%40ss@broker:1883") == "mqtt://u:***@broker:1883"
    assert redact_url("http://host:1880/x") == "http://host:1880/x"
    text = "POST http://a:b3c@h/auth/token password=hunter2&x=1 Bearer abc.def tok1234"
    assert redact_text(text, secrets=["tok1234", None, "ab"]) == (
        "POST http://a:***@h/auth/token password=***&x=1 Bearer *** ***"
    )
    assert redact_data({"a": ["http://u:p@h"], "apiKey": 3, "credentials": {"x": 1}}) == {
        "a": ["http://u:***@h"], "apiKey": "***", "credentials": "***",
    }  # fmt: skip
    deep: object = "http://u:pw@h"
    for _ in range(5000):
        deep = [deep]
    leaf = redact_data(deep)  # iterative: no RecursionError
    while isinstance(leaf, list):
        leaf = leaf[0]
    assert leaf == "http://u:***@h"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingFilter(["s3cr3t-token"]))
    logging.getLogger("nodered_causal.test").warning(
        "GET %s with %s", "http://u:pw9@h/flows", "s3cr3t-token"
    )
    assert caplog.text.strip().endswith("GET http://u:***@h/flows with ***")


def test_username_without_password_is_exit_2_naming_the_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _run(monkeypatch, "tap", "status", "--url", "http://127.0.0.1:9",
                        "--username", "bob")  # fmt: skip
    assert code == 2  # before: 1
    assert err.strip() == (
        "UsageError: --username needs a password: set NODERED_CAUSAL_NODERED_PASSWORD "
        "(or --password)"
    )


def test_url_password_never_printed_when_the_connection_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.hostile_cli import closed_port

    port = closed_port()
    code, out, err = _run(monkeypatch, "graph", "--url", f"http://user:pw-x1@127.0.0.1:{port}")
    assert code == 1 and "pw-x1" not in out + err  # before: printed in the error line
    assert f"cannot connect to http://127.0.0.1:{port}/flows" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["attribute", "--window", "1e-9"], "argument --window: must be seconds in [0.001, 3600]"),
        (["experiment", "--target", "t", "--window", "0"], "argument --window"),
        (["whatif", "--window", "inf"], "argument --window: must be a finite number"),
        (["experiment", "--target", "t", "--cases", "-1"], "argument --cases: must be in [0, "),
        (["attribute", "--bootstrap", "-3"], "argument --bootstrap: must be in [0, 100000]"),
        (["attribute", "--alpha", "5"], "argument --alpha: must be in (0, 1), got '5'"),
        (["nodered", "start", "--port", "99999"], "argument --port: must be 0 or a TCP port"),
        (["tap", "status", "--timeout", "0"], "argument --timeout: must be seconds in (0, 3600]"),
        (["tap", "status", "--timeout", "nan"], "argument --timeout: must be a finite number"),
        (["collect", "--status-every", "-1"], "argument --status-every: must be 0 or seconds"),
        (["record", "--seconds", "nan"], "argument --seconds: must be a finite number"),
        (["collect", "--topic", "a/#/b"], "argument --topic: is not an MQTT topic filter"),
        (["graph", "--url", "notaurl"], "argument --url: must be a URL like http://"),
        (["graph", "--url", "ftp://host"], "argument --url: must be a URL like http://"),
        (["inject", "--node", "n", "--fault", "scale:"], "the value after ':' is empty"),
    ],
)
def test_issue_12_option_defects_exit_2_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(monkeypatch, *argv)
    assert code == 2 and message in err, err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []  # nothing started


def test_option_type_errors_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODERED_CAUSAL_STORE", "/no/such/dir/runs.db")
    code, _, err = _run(monkeypatch, "runs", "list")
    assert code == 2
    assert (
        "argument --store: directory '/no/such/dir' does not exist, got '/no/such/dir/runs.db' "
        "(from NODERED_CAUSAL_STORE)"
    ) in err


def test_number_bounds_are_visible_to_the_hostile_suite() -> None:
    assert t.WINDOW.bounds == (0.001, 3600, False, False, False, False)  # type: ignore[attr-defined]
    with pytest.raises(argparse.ArgumentTypeError, match="must be seconds in"):
        t.WINDOW("0")


def _visible_options() -> dict[str, list[tuple[str, argparse.Action]]]:
    """``--option -> [(command, action)]`` over every (sub-)command, hidden aliases left out."""
    found: dict[str, list[tuple[str, argparse.Action]]] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in {id(s): (n, s) for n, s in action.choices.items()}.values():
                    walk(sub, f"{path} {name}".strip())
            elif action.help != argparse.SUPPRESS:
                for opt in action.option_strings:
                    if opt.startswith("--"):
                        found.setdefault(opt, []).append((path, action))

    walk(build_parser(), "")
    return found


def test_every_option_has_one_spelling_and_one_kind_across_commands() -> None:
    options = _visible_options()
    spellings: dict[str, set[str]] = {}
    for opt in options:
        spellings.setdefault(opt.replace("-", "").replace("_", ""), set()).add(opt)
    assert [s for s in spellings.values() if len(s) > 1] == []  # --userdir vs --user-dir
    # only the program has --version; a Node-RED major is --nodered-version everywhere
    assert [cmd for cmd, _ in options["--version"]] == [""]
    assert len(options["--nodered-version"]) >= 3
    for opt, uses in options.items():
        kinds = {
            (cmd, "switch" if action.nargs == 0 else "value")
            for cmd, action in uses
            if not (opt == "--json" and cmd == "experiment")  # --json [OLD_OUT]: a switch, and
        }  # the deprecated 'experiment --json OUT' (test above)
        assert len({kind for _, kind in kinds}) <= 1, (opt, sorted(kinds))


def test_a_bundled_flow_is_named_without_its_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # not the checkout: the flow comes from the package's data
    code, out, err = _run(monkeypatch, "graph", "sensor-pipeline", "--format", "json")
    assert code == 0, err
    assert "comfort" in {n["id"] for n in json.loads(out)["nodes"]}
    code, _, err = _run(monkeypatch, "experiment", "no-such-flow", "--target", "x")
    assert code == 2
    assert "argument flow: is neither a file nor a bundled flow (bottling-line, " in err
