"""The hostile command-line cases: what a careless or hostile user types, and what must happen.

One :class:`Case` = argv (+ environment, stdin, files it needs), the exit code it must give, a text
stderr must name (the option or variable), and secrets that must appear nowhere in the output.
Used by ``tests/unit/test_cli_hostile.py`` (in-process through ``nodered_causal.cli.main`` and a
sample through the real console script) and ``benchmarks/bench_hostile.py`` (counts per class).

Numeric options are found by walking the parser: every option whose type carries ``bounds``
(``cli/_types.number``) gets values below, above, ``nan``, ``inf`` and not-a-number, so an option
added later with a shared type is covered without touching this file.
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SECRET", "Case", "cases", "closed_port", "option_table"]

#: A password/token value no output may ever contain.
SECRET = "Hunter2-s3cret-XYZ"


@dataclass
class Case:
    klass: str
    argv: list[str]
    code: int = 2
    names: str = ""  # stderr must contain this (the option, the variable, the file)
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    secrets: tuple[str, ...] = (SECRET,)
    untouched: Path | None = None  # this file must be byte-identical afterwards
    absent: Path | None = None  # this path must not exist afterwards

    @property
    def id(self) -> str:
        text = " ".join(self.argv)
        return f"{self.klass}: {text[:90]}"


def closed_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def option_table() -> list[tuple[list[str], argparse.Action]]:
    """(command path, action) for every option of every command."""
    from nodered_causal.cli import build_parser

    found: list[tuple[list[str], argparse.Action]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                found.append((path, action))

    walk(build_parser(), [])
    return found


def _bad_numbers(bounds: tuple[Any, ...]) -> list[str]:
    low, high, low_open, high_open, integer, zero_ok = bounds
    bad = ["nan", "-inf", "x"] + (["1.5"] if integer else ["1e400"])
    if low is not None:
        below = low if low_open else (low - 1 if integer else low - abs(low) * 0.5 - 1e-3)
        if not (zero_ok and below == 0):
            bad.append(f"{below:g}" if not integer else str(int(below)))
    if high is not None:
        above = high if high_open else (high + 1 if integer else high * 1.5 + 1)
        bad.append(str(int(above)) if integer else f"{above:g}")
    return [b for b in dict.fromkeys(bad) if not (zero_ok and b in ("0", "-0"))]


def _number_cases() -> Iterator[Case]:
    for path, action in option_table():
        bounds = getattr(action.type, "bounds", None)
        if bounds is None or not action.option_strings:
            continue
        option = max(action.option_strings, key=len)
        for value in _bad_numbers(bounds):
            yield Case("number out of range", [*path, f"{option}={value}"], 2, f"argument {option}")


def _nodered_commands() -> list[list[str]]:
    """A command line per command that has --url (with whatever else it requires)."""
    return [
        ["graph"],
        ["tap", "status"],
        ["inject", "--node", "n1", "--fault", "bias:1"],
        ["restore"],
        ["record", "--run", "r1", "--seconds", "1"],
        ["whatif", "--run", "b", "--node", "a", "--change", "bias:1", "--target", "b"],
        ["experiment", "--target", "t"],
        ["demo", "--seconds", "1"],
    ]


def _url_cases(tmp: Path) -> Iterator[Case]:
    for cmd in _nodered_commands():
        for url in ("notaurl", "ftp://host/x", "http://", "http://h:99999", "http://h:0",
                    "http://a b", "mqtt://127.0.0.1"):  # fmt: skip
            yield Case("bad URL", [*cmd, "--url", url], 2, "argument --url")
        if cmd[0] not in ("demo", "whatif"):  # these two never use it implicitly
            yield Case(
                "bad URL from env", cmd, 2, "NODERED_CAUSAL_NODERED_URL",
                env={"NODERED_CAUSAL_NODERED_URL": "gopher://x"},
            )  # fmt: skip
    for cmd in (["collect"], ["record", "--run", "r", "--url", "http://127.0.0.1:1"]):
        for url in ("http://x:1883", "mqtt://", "mqtt://h:99999", "notaurl", "mqtt://a b"):
            yield Case("bad MQTT URL", [*cmd, "--mqtt", url], 2, "argument --mqtt")
        for topic in ("a/#/b", "a+/b", "#/x", "", "a/b#", "x/+y"):
            yield Case("bad topic filter", [*cmd, "--topic", topic], 2, "argument --topic")
        for addr in ("127.0.0.1:99999", "abc", "1.2.3.4:-1", "::x", "127.0.0.1:", "a b:1"):
            yield Case("bad HOST:PORT", [*cmd, "--http", addr], 2, "argument --http")
        yield Case("bad client id", [*cmd, "--client-id", ""], 2, "argument --client-id")
        yield Case(
            "bad MQTT URL from env", cmd, 2, "NODERED_CAUSAL_MQTT_URL",
            env={"NODERED_CAUSAL_MQTT_URL": "mqtt://h:70000"},
        )  # fmt: skip
        yield Case(
            "bad HOST:PORT from env", [*cmd, "--http"], 2, "NODERED_CAUSAL_HTTP_ADDR",
            env={"NODERED_CAUSAL_HTTP_ADDR": "nowhere"},
        )  # fmt: skip
    for url in ("ftp://x", "mqtt://", "http://h:99999", "tcp:/x"):
        yield Case("bad tap URL", ["nodered", "start", "--tap", url], 2, "argument --tap")
    yield Case(
        "option without what it needs", ["nodered", "start", "--tap-instance", "x"], 2,
        "--tap-instance needs --tap",
    )  # fmt: skip


def _fault_cases() -> Iterator[Case]:
    bad = ["scale:", "bias:nan", "bias:inf", "drop:2", "drop:0", "error:-0.5", "delay:0",
           "delay:-5", "delay:1e12", "noise:-1", "noise:0", "bogus:1", "bias:1:2", "", ":",
           "shift:tilt:1", "shift:mean:", "constant:x", "bias:sd", "BIAS::1"]  # fmt: skip
    for spec in bad:
        yield Case("bad fault spec", ["inject", "--node", "n", "--fault", spec], 2, "--fault")
        yield Case("bad fault spec", ["demo", "--fault", spec], 2, "argument --fault")
        yield Case(
            "bad fault spec", ["experiment", "--target", "t", "--faults", f"bias:1,{spec}"], 2,
            "argument --faults",
        )  # fmt: skip
    for spec in ("bias:2sd", "noise:1sd"):  # sd units need a recording: experiments only
        yield Case("bad fault spec", ["inject", "--node", "n", "--fault", spec], 2, "--fault")
    for spec in ("drop:0.5", "delay:10", "error:1", "scale:"):
        yield Case(
            "bad fault spec", ["whatif", "--run", "b", "--node", "a", "--change", spec,
                               "--target", "b"], 2, "argument --change",
        )  # fmt: skip


def _name_cases() -> Iterator[Case]:
    for value in ("", " ", "a\nb", "a\x1bb", "x" * 1001):
        yield Case("bad node id", ["inject", "--node", value, "--fault", "bias:1"], 2, "--node")
        yield Case("bad node id", ["attribute", "--baseline", "a", "--incident", "b",
                                   "--target", value], 2, "argument --target")  # fmt: skip
        yield Case("bad run name", ["record", "--run", value], 2, "argument --run")
        yield Case("bad run name", ["runs", "show", value], 2, "argument RUN")
    for path in ("payload..x", "1abc", "payload[x]", "", "payload.", "a b", "payload['k']"):
        yield Case("bad field path", ["inject", "--node", "n", "--fault", "bias:1",
                                      "--field", path], 2, "argument --field")  # fmt: skip
        yield Case("bad field path", ["attribute", "--baseline", "a", "--incident", "b",
                                      "--target", "t", "--field", path], 2, "--field")  # fmt: skip
    for kinds in ("wire,bogus", ",", "WIRE"):
        yield Case("bad list", ["graph", "flow.json", "--kinds", kinds], 2, "argument --kinds")
    yield Case("bad list", ["runs", "export", "r", "-o", "x.csv", "--kinds", "nope"], 2,
               "argument --kinds")  # fmt: skip


def _file_cases(tmp: Path) -> Iterator[Case]:
    flow = tmp / "flow.json"
    a_file = tmp / "plain.txt"
    missing = tmp / "missing-dir" / "out.txt"
    outs: list[tuple[str, Path | None]] = [
        (str(missing), tmp / "missing-dir"),
        (str(tmp), None),
        ("/proc/nodered-causal-out.txt", None),
        (str(a_file / "below-a-file.txt"), None),
    ]
    for out, absent in outs:
        yield Case("bad output path", ["graph", str(flow), "-o", out], 2, "argument -o",
                   absent=absent)  # fmt: skip
        yield Case("bad output path", ["runs", "export", "r", "-o", out], 2, "argument -o",
                   absent=absent)  # fmt: skip
        yield Case("bad output path", ["experiment", str(flow), "--target", "t", "-o", out], 2,
                   "argument -o", absent=absent)  # fmt: skip
        yield Case("bad output path", ["experiment", str(flow), "--target", "t", "--report", out],
                   2, "argument --report", absent=absent)  # fmt: skip
        yield Case("bad output path", ["demo", "--report", out], 2, "argument --report",
                   absent=absent)  # fmt: skip
        yield Case("bad output path", ["attribute", "--baseline", "a", "--incident", "b",
                                       "--target", "t", "--report", out], 2, "argument --report",
                   absent=absent)  # fmt: skip
    for path in (str(tmp / "nope.json"), str(tmp), "/dev/null/x"):
        yield Case("bad input file", ["nodered", "start", "--flow", path], 2, "argument --flow")
        yield Case("bad input file", ["experiment", path, "--target", "t"], 2, "argument flow")
    for path in (str(tmp / "nope.json"), str(tmp)):
        yield Case("bad flow file", ["graph", path], 2, "FlowParseError")
    yield Case("flow input too large", ["graph", "/dev/zero"], 2, "larger than")
    yield Case("flow input too large", ["graph", "-"], 2, "larger than",
               stdin=b"[" + b" " * (70 * 2**20))  # fmt: skip
    yield Case("flow nested too deeply", ["graph", "-"], 2, "nested too deeply",
               stdin=b"[" * 100_000)  # fmt: skip
    yield Case("flow nested too deeply", ["graph", str(tmp / "nest.json")], 2, "levels deep")
    for name in ("binary.json", "text.json", "object.json", "numbers.json", "empty.json"):
        yield Case("bad flow file", ["graph", str(tmp / name)], 2, "FlowParseError")
    yield Case("bad store", ["runs", "list", "--store", str(tmp / "foreign.sqlite")], 2,
               "not a nodered-causal record store", untouched=tmp / "foreign.sqlite")  # fmt: skip
    yield Case("bad store", ["runs", "list", "--store", str(tmp / "plain.txt")], 2,
               "StoreError: cannot open record store", untouched=tmp / "plain.txt")  # fmt: skip
    yield Case("bad store", ["attribute", "--store", str(tmp / "foreign.sqlite"), "--baseline",
                             "a", "--incident", "b", "--target", "t"], 2,
               "not a nodered-causal record store", untouched=tmp / "foreign.sqlite")  # fmt: skip
    for cmd in (["collect", "--http", "127.0.0.1:0"], ["whatif", "--run", "b", "--node", "a",
                "--change", "bias:1", "--target", "b"], ["runs", "show", "r"]):  # fmt: skip
        yield Case(
            "bad store",
            [*cmd, "--store", str(tmp / "foreign.sqlite")],
            2,
            "not a nodered-causal record store",
            untouched=tmp / "foreign.sqlite",
        )
    yield Case("bad store", ["runs", "list", "--store", str(tmp / "none.db")], 2, "no record store",
               absent=tmp / "none.db")  # fmt: skip
    yield Case("bad store", ["runs", "list", "--store", str(tmp)], 2, "argument --store")
    yield Case("bad store", ["runs", "list", "--store", str(tmp / "no-dir" / "x.db")], 2,
               "argument --store")  # fmt: skip
    yield Case("bad store from env", ["runs", "list"], 2, "NODERED_CAUSAL_STORE",
               env={"NODERED_CAUSAL_STORE": str(tmp / "no-dir" / "x.db")})  # fmt: skip
    for cmd in (["tap", "install", "--user-dir"], ["tap", "install", "--userdir"]):
        yield Case("bad directory", [*cmd, str(tmp / "nope")], 2, "--user")
    yield Case("bad directory", ["nodered", "start", "--user-dir", str(a_file)], 2,
               "argument --user-dir")  # fmt: skip


def _auth_cases() -> Iterator[Case]:
    url = f"http://127.0.0.1:{closed_port()}"
    for cmd in _nodered_commands()[:4]:
        yield Case("username without password", [*cmd, "--url", url, "--username", "bob"], 2,
                   "--username needs a password")  # fmt: skip
        yield Case("password without username", [*cmd, "--url", url, "--password", SECRET], 2,
                   "--password was given without --username")  # fmt: skip


def _secret_cases() -> Iterator[Case]:
    port = closed_port()
    for cmd in _nodered_commands()[:5]:
        yield Case("secret in URL", [*cmd, "--url", f"http://admin:{SECRET}@127.0.0.1:{port}"], 1,
                   "cannot connect")  # fmt: skip
        yield Case("secret in URL", ["-vv", *cmd, "--url", f"http://u:{SECRET}@127.0.0.1:{port}"],
                   1, "cannot connect")  # fmt: skip
        yield Case("secret token", [*cmd, "--url", f"http://127.0.0.1:{port}", "--token", SECRET],
                   1, "cannot connect")  # fmt: skip
        yield Case("secret password", [*cmd, "--url", f"http://127.0.0.1:{port}", "--username",
                                       "u"], 1, "cannot connect",
                   env={"NODERED_CAUSAL_NODERED_PASSWORD": SECRET})  # fmt: skip
    yield Case("secret in URL", ["collect", "--mqtt", f"mqtt://u:{SECRET}@127.0.0.1:{port}",
                                 "--store", "/proc/x/none.db"], 2, "argument --store")  # fmt: skip
    yield Case("secret in URL", ["graph", "--url", f"http://u:{SECRET}@127.0.0.1:99999"], 2,
               "argument --url")  # fmt: skip


def _misc_cases() -> Iterator[Case]:
    yield Case("usage", [], 2)
    yield Case("usage", ["no-such-command"], 2, "invalid choice")
    yield Case("usage", ["graph"], 2, "give FLOW.json")
    yield Case("usage", ["graph", "flow.json", "--url", "http://127.0.0.1:1"], 2, "exactly one")
    yield Case("usage", ["graph", "flow.json", "--json", "--format", "dot"], 2, "exclusive")
    yield Case("usage", ["experiment", "--target", "t"], 2, "give a flow file or --url")
    yield Case("usage", ["experiment", "--target", "t", "--cases", "0", "--no-fault-cases", "0",
                         "--url", "http://127.0.0.1:1"], 2, "nothing to run")  # fmt: skip
    yield Case("usage", ["collect", "--mqtt", "mqtt://h", "--http", "h:1"], 2, "not allowed")
    yield Case("usage", ["completion", "fish"], 2, "invalid choice")
    yield Case("bad seed from env", ["demo"], 2, "NODERED_CAUSAL_SEED",
               env={"NODERED_CAUSAL_SEED": "-1"})  # fmt: skip
    yield Case("bad seed from env", ["experiment", "--target", "t"], 2, "NODERED_CAUSAL_SEED",
               env={"NODERED_CAUSAL_SEED": "nan"})  # fmt: skip
    yield Case("bad flow from env", ["demo"], 2, "NODERED_CAUSAL_DEMO_FLOW",
               env={"NODERED_CAUSAL_DEMO_FLOW": "x\x01"})  # fmt: skip


def _unknown_node_cases(tmp: Path) -> Iterator[Case]:
    flow = str(tmp / "flow.json")
    yield Case("unknown node", ["experiment", flow, "--target", "nope"], 2, "UnknownNodeError")
    yield Case("unknown node", ["demo", "--flow", flow, "--target", "nope"], 2, "UnknownNodeError")
    yield Case("unknown node", ["demo", "--node", "nope"], 2, "has no node 'nope'")


def make_files(tmp: Path) -> None:
    """The files the cases refer to."""
    (tmp / "flow.json").write_text(json.dumps([{"id": "t", "type": "tab"}]))
    (tmp / "plain.txt").write_text("not a store\n")
    foreign = sqlite3.connect(tmp / "foreign.sqlite")
    foreign.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    foreign.commit()
    foreign.close()
    (tmp / "binary.json").write_bytes(b"\x00\xff\xfe garbage")
    (tmp / "text.json").write_bytes(b"hello")
    (tmp / "object.json").write_bytes(b'{"a": 1}')
    (tmp / "numbers.json").write_bytes(b"[1, 2, 3]")
    (tmp / "empty.json").write_bytes(b"")
    nodes: list[dict[str, Any]] = [{"id": "t", "type": "tab"}]
    depth = 1200
    for i in range(depth):
        inner = f"subflow:sf{i + 1}" if i + 1 < depth else "function"
        nodes += [
            {"id": f"sf{i}", "type": "subflow", "name": f"s{i}",
             "in": [{"wires": [{"id": f"in{i}"}]}], "out": []},
            {"id": f"in{i}", "type": inner, "z": f"sf{i}", "x": 1, "y": 1, "wires": []},
        ]  # fmt: skip
    nodes.append({"id": "top", "type": "subflow:sf0", "z": "t", "x": 1, "y": 1, "wires": []})
    (tmp / "nest.json").write_text(json.dumps(nodes))


def cases(tmp: Path) -> list[Case]:
    """Every case, with the files they need made in ``tmp``."""
    make_files(tmp)
    makers: list[Callable[[], Iterator[Case]]] = [
        _number_cases,
        lambda: _url_cases(tmp),
        _fault_cases,
        _name_cases,
        lambda: _file_cases(tmp),
        _auth_cases,
        _secret_cases,
        _misc_cases,
        lambda: _unknown_node_cases(tmp),
    ]
    return [case for make in makers for case in make()]
