"""Option types shared by every command: validate each value where argparse parses it.

A bad value exits 2 before anything starts, with argparse's usual line naming the option::

    nodered-causal attribute: error: argument --window: must be seconds in [0.001, 3600], got 'nan'

Use them as ``type=`` (``parser.add_argument("--window", type=WINDOW, default=...)``); a string
default goes through the same check. ``tests/unit/test_cli_hostile.py`` fails for an option that
takes a value without a type (or ``choices``), and throws out-of-range values at every option
whose type has ``bounds`` (all :func:`number` types), so a new option is covered by using these.
For a default taken from an environment variable use :func:`env_default`: a bad value then names
the variable too (``argument --store: ... (from NODERED_CAUSAL_STORE)``).

Numbers (all reject ``nan``/``inf``, give ``int`` or ``float``):

- :data:`SECONDS` a recording length, (0, 7 days]; :data:`GRACE` [0, 1 h];
  :data:`TIMEOUT` a network timeout, (0, 1 h]; :data:`INTERVAL` a status period, 0 (never) or
  [0.1 s, 1 day]; :data:`WINDOW` an analysis window, [1 ms, 1 h] (the analysis also bounds the
  number of windows, ``MAX_WINDOWS`` in ``analysis/datasets.py``); :data:`DEFAULT_WINDOW_S` is
  every command's ``--window`` default.
- :data:`ALPHA` a significance level in (0, 1); :data:`SEED` 0 .. 2**32-1; :data:`TRACE` a
  message trace id 0 .. 2**63-1; :func:`count` ``count(low, high)`` for ``--cases``,
  ``--bootstrap``, ``--top``, ...; :func:`number` for anything else.
- :data:`PORT` 1..65535, :data:`PORT_OR_ZERO` (0 = pick a free one).

Places:

- :data:`HTTP_URL` an ``http(s)://host[:port]`` Admin API URL (user-info allowed, never printed);
  :data:`MQTT_URL` ``mqtt(s)://[user:pass@]host[:port]``; :data:`TAP_URL` either;
  :data:`HOST_PORT` ``HOST:PORT`` to listen on (gives ``(host, port)``).
- :data:`TOPIC_FILTER` an MQTT subscription filter (``+``/``#`` placed as MQTT 3.1.1 says);
  :data:`CLIENT_ID` an MQTT client id.
- :data:`OUTPUT_FILE` a file to write: its directory exists and is writable, it is not a
  directory (commands write it atomically); :data:`INPUT_FILE` an existing readable file or
  ``-``; :data:`PATH` any path or ``-`` (the command reports what is wrong when it opens it);
  :data:`EXISTING_DIR`; :data:`NEW_OR_EXISTING_DIR` (its parent exists).
- :data:`STORE` a record store location (a file whose directory exists, or a database URL).

Names and specs:

- :data:`NODE_ID`, :data:`RUN_NAME`: non-empty, no control characters (whether the node exists
  is checked against the flow later: ``UnknownNodeError``, exit 2).
- :data:`FIELD` a message property path (``payload.a.b[0]``), as the tap plugin accepts it.
- :data:`FAULT` one fault spec (``bias:2``, strict: :func:`nodered_causal.faults.spec.parse_fault`,
  values in the field's units); :data:`FAULT_OR_SD` also ``bias:2sd``; :data:`FAULT_LIST` a
  comma-separated list of those, as ``experiment --faults`` takes (gives the list of strings).
- :func:`choice_list` a comma-separated subset of known words (``--kinds wire,link``).
- :data:`NPM_MODULES` npm registry modules, optionally pinned, comma-separated:
  ``node-red-dashboard@3,node-red-node-ui-table`` (``--install``; gives the list of specs).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from nodered_causal.config import EnvVar
from nodered_causal.redact import redact_text

__all__ = [
    "ALPHA",
    "CLIENT_ID",
    "DEFAULT_WINDOW_S",
    "DURATION",
    "EXISTING_DIR",
    "FAULT",
    "FAULT_LIST",
    "FAULT_OR_SD",
    "FIELD",
    "FLOW_FILE",
    "FLOW_PATH",
    "GRACE",
    "HOST_PORT",
    "HTTP_URL",
    "INCIDENT_ID",
    "INPUT_FILE",
    "INTERVAL",
    "MQTT_URL",
    "NEW_OR_EXISTING_DIR",
    "NODE_ID",
    "NPM_MODULES",
    "OUTPUT_FILE",
    "PATH",
    "PORT",
    "PORT_OR_ZERO",
    "RUN_NAME",
    "SECONDS",
    "SEED",
    "STORE",
    "TAP_URL",
    "TIME",
    "TIMEOUT",
    "TOPIC_FILTER",
    "TRACE",
    "WINDOW",
    "FromEnv",
    "check_topic_filter",
    "choice_list",
    "bundled_or",
    "count",
    "env_default",
    "number",
    "option_type",
]

T = TypeVar("T")

#: The ``--window`` default of every command (seconds): the windows the live campaigns were
#: measured with (benchmarks/RESULTS.md).
DEFAULT_WINDOW_S = 0.5


class FromEnv(str):
    """A default that came from an environment variable (so errors can name the variable)."""

    var: str

    def __new__(cls, value: str, var: str) -> FromEnv:
        obj = super().__new__(cls, value)
        obj.var = var
        return obj


def env_default(var: EnvVar) -> str | None:
    """``var``'s value as an argparse default: the environment's (marked, see :class:`FromEnv`)
    when set, else the documented default. Read when the parser is built (each ``main`` call)."""
    value = os.environ.get(var.name)
    if value:
        return FromEnv(value, var.name)
    return var.default


def option_type(name: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """Decorate a checker ``f(text) -> value`` that raises ``ValueError(reason)``: argparse
    then prints ``argument --opt: <reason>, got '<text>'`` (``(from VAR)`` for env defaults)."""

    def wrap(check: Callable[[str], T]) -> Callable[[str], T]:
        def parse(text: str) -> T:
            try:
                if "\x00" in text:
                    raise ValueError("must not contain a NUL character")
                return check(text)
            except (ValueError, TypeError, OverflowError) as exc:
                origin = f" (from {text.var})" if isinstance(text, FromEnv) else ""
                shown = redact_text(text if len(text) <= 80 else text[:77] + "...")
                raise argparse.ArgumentTypeError(f"{exc}, got {shown!r}{origin}") from None

        parse.__name__ = name
        return parse

    return wrap


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _int(text: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _bound(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "a number"


def number(
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    what: str = "",
    zero_ok: bool = False,
) -> Callable[[str], Any]:
    """A finite number in a range; ``zero_ok`` also lets 0 through (``--status-every 0``)."""
    bound = _bound(low, high, low_open, high_open)
    label = f"{what} {bound}" if what else bound
    if zero_ok:
        label = f"0 or {label}"

    @option_type("int" if integer else "float")
    def parse(text: str) -> int | float:
        value: int | float = _int(text) if integer else _float(text)
        if zero_ok and value == 0:
            return value
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise ValueError(f"must be {label}")
        return value

    parse.bounds = (low, high, low_open, high_open, integer, zero_ok)  # type: ignore[attr-defined]
    return parse


def count(low: int = 0, high: int = 1_000_000) -> Callable[[str], int]:
    """A whole number in [low, high] (``--cases``, ``--bootstrap``, ``--top``)."""
    check: Callable[[str], int] = number(integer=True, low=low, high=high)
    return check


SECONDS = number(low=0, high=7 * 86400, low_open=True, what="seconds")
GRACE = number(low=0, high=3600, what="seconds")
TIMEOUT = number(low=0, high=3600, low_open=True, what="seconds")
INTERVAL = number(low=0.1, high=86400, what="seconds", zero_ok=True)
WINDOW = number(low=0.001, high=3600, what="seconds")
ALPHA = number(low=0, high=1, low_open=True, high_open=True)
SEED = number(integer=True, low=0, high=2**32 - 1)
TRACE = number(integer=True, low=0, high=2**63 - 1)
PORT = number(integer=True, low=1, high=65535, what="a TCP port")
PORT_OR_ZERO = number(integer=True, low=1, high=65535, what="a TCP port", zero_ok=True)


def _url(text: str, schemes: Sequence[str], example: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError(f"must be a URL like {example}")
    try:
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError:
        raise ValueError("has a bad port (1..65535)") from None
    if parts.port == 0:
        raise ValueError("has a bad port (1..65535)")
    if any(ch.isspace() or ord(ch) < 32 for ch in text.strip()):
        raise ValueError("must not contain blanks or control characters")
    return text.strip()


@option_type("URL")
def HTTP_URL(text: str) -> str:  # noqa: N802 - a constant-like type
    return _url(text, ("http", "https"), "http://127.0.0.1:1880")


@option_type("URL")
def MQTT_URL(text: str) -> str:  # noqa: N802
    return _url(text, ("mqtt", "mqtts", "tcp", "ssl"), "mqtt://127.0.0.1:1883")


@option_type("URL")
def TAP_URL(text: str) -> str:  # noqa: N802
    return _url(
        text, ("mqtt", "mqtts", "http", "https"), "mqtt://127.0.0.1:1883 or http://127.0.0.1:8765"
    )


@option_type("address")
def HOST_PORT(text: str) -> tuple[str, int]:  # noqa: N802
    from nodered_causal.collector.http import parse_address
    from nodered_causal.errors import TransportError

    if any(ch.isspace() for ch in text) or not text:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8765")
    try:
        return parse_address(text)
    except TransportError:
        raise ValueError("must be HOST:PORT with a port in 0..65535, e.g. 127.0.0.1:8765") from None


def check_topic_filter(topic: str) -> str | None:
    """Why ``topic`` is not a valid MQTT subscription filter, or ``None`` (MQTT 3.1.1 §4.7)."""
    if not topic:
        return "must not be empty"
    if len(topic.encode("utf-8", "surrogatepass")) > 65535:
        return "is longer than 65535 bytes"
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "may use '#' only as the whole last level"
        if "+" in level and level != "+":
            return "may use '+' only as a whole level"
    return None


@option_type("topic")
def TOPIC_FILTER(text: str) -> str:  # noqa: N802
    reason = check_topic_filter(text)
    if reason:
        raise ValueError(f"is not an MQTT topic filter: it {reason}")
    return text


@option_type("client id")
def CLIENT_ID(text: str) -> str:  # noqa: N802
    if not text or len(text.encode()) > 256 or any(ord(c) < 32 for c in text):
        raise ValueError("must be 1-256 bytes without control characters")
    return text


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _name(text: str, what: str) -> str:
    if not text.strip():
        raise ValueError(f"{what} must not be empty")
    if _CONTROL.search(text):
        raise ValueError(f"{what} must not contain control characters")
    if len(text) > 1000:
        raise ValueError(f"{what} is longer than 1000 characters")
    return text


@option_type("node id")
def NODE_ID(text: str) -> str:  # noqa: N802
    return _name(text, "a node id")


@option_type("incident id")
def INCIDENT_ID(text: str) -> str:  # noqa: N802
    return _name(text, "an incident id").strip()


@option_type("duration")
def DURATION(text: str) -> float:  # noqa: N802 - seconds of 90s, 15m, 24h, 7d
    from nodered_causal.watch.timeparse import parse_duration

    return parse_duration(text)


@option_type("time")
def TIME(text: str) -> str:  # noqa: N802 - checked here, resolved (against now) by the command
    from nodered_causal.watch.timeparse import parse_time

    parse_time(text)
    return text.strip()


@option_type("run name")
def RUN_NAME(text: str) -> str:  # noqa: N802
    return _name(text, "a run name").strip()


@option_type("npm modules")
def NPM_MODULES(text: str) -> list[str]:  # noqa: N802
    from nodered_causal.nodered.modules import parse_module_spec

    return [str(parse_module_spec(part)) for part in text.split(",")]


_FIELD = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*|\[\d+\])*$")


@option_type("field")
def FIELD(text: str) -> str:  # noqa: N802
    if not _FIELD.match(text):
        raise ValueError("must be a message property path like payload or payload.a.b[0]")
    return text


def _fault(text: str, *, sd: bool) -> str:
    from nodered_causal.errors import FaultSpecError
    from nodered_causal.faults.spec import parse_fault

    try:
        fault = parse_fault(text)
    except FaultSpecError as exc:
        raise ValueError(str(exc).removeprefix(f"fault {text!r}: ")) from None
    if fault.unit and not sd:
        raise ValueError("give the value in the field's units (sd units are for experiments)")
    return text.strip()


@option_type("fault")
def FAULT(text: str) -> str:  # noqa: N802
    return _fault(text, sd=False)


@option_type("fault")
def FAULT_OR_SD(text: str) -> str:  # noqa: N802
    return _fault(text, sd=True)


@option_type("faults")
def FAULT_LIST(text: str) -> list[str]:  # noqa: N802
    specs = [s.strip() for s in text.split(",")]
    if not any(specs):
        raise ValueError("must list at least one fault, e.g. bias:2,drop:0.5")
    if not all(specs):
        raise ValueError("has an empty item")
    for spec in specs:
        try:
            _fault(spec, sd=True)
        except ValueError as exc:
            raise ValueError(f"fault {spec!r}: {exc}") from None
    return specs


def choice_list(known: Sequence[str]) -> Callable[[str], list[str]]:
    """A comma-separated, non-empty subset of ``known`` (``--kinds wire,link``)."""

    @option_type("list")
    def parse(text: str) -> list[str]:
        items = [k.strip() for k in text.split(",") if k.strip()]
        unknown = sorted(set(items) - set(known))
        if not items or unknown:
            what = f"unknown {', '.join(unknown)}" if unknown else "empty"
            raise ValueError(f"is {what}: pick from {','.join(known)}")
        return items

    return parse


def _path(text: str) -> Path:
    if not text.strip():
        raise ValueError("must be a path")
    return Path(text).expanduser()


@option_type("file")
def OUTPUT_FILE(text: str) -> str:  # noqa: N802
    path = _path(text)
    if path.is_dir():
        raise ValueError("is a directory: give a file name")
    parent = path.parent
    if not parent.exists():
        raise ValueError(f"directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise ValueError(f"{str(parent)!r} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write in {str(parent)!r}: {exc.strerror}") from None
    return str(path)


@option_type("path")
def PATH(text: str) -> str:  # noqa: N802
    """Any path (or ``-``); the command says what is wrong with the file when it opens it."""
    return str(_path(text)) if text != "-" else text


@option_type("file")
def INPUT_FILE(text: str) -> str:  # noqa: N802
    if text == "-":
        return text
    path = _path(text)
    if not path.exists():
        raise ValueError("does not exist")
    if path.is_dir():
        raise ValueError("is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise ValueError("is not readable")
    return str(path)


def bundled_or(kind: Callable[[str], str]) -> Callable[[str], str]:
    """``kind`` (a file type), also accepting the name of a bundled flow (``bottling-line``): its
    file inside the installed package, so a wheel's user can name them from any directory."""

    def check(text: str) -> str:
        if (
            text != "-"
            and "/" not in text
            and not text.endswith(".json")
            and not Path(text).exists()
        ):
            from nodered_causal.resources import flows_dir

            bundled = flows_dir() / f"{text}.json"
            if bundled.is_file():
                return str(bundled)
            names = ", ".join(sorted(p.stem for p in flows_dir().glob("*.json")))
            raise ValueError(f"is neither a file nor a bundled flow ({names})")
        return kind(text)

    return check


#: a flow file, or a bundled flow's name
FLOW_FILE = option_type("file")(bundled_or(INPUT_FILE))
#: a flow file (checked when opened, ``-`` = stdin), or a bundled flow's name
FLOW_PATH = option_type("file")(bundled_or(PATH))


@option_type("directory")
def EXISTING_DIR(text: str) -> str:  # noqa: N802
    path = _path(text)
    if not path.is_dir():
        raise ValueError("is not an existing directory")
    return str(path)


@option_type("directory")
def NEW_OR_EXISTING_DIR(text: str) -> str:  # noqa: N802
    path = _path(text)
    if path.exists() and not path.is_dir():
        raise ValueError("exists and is not a directory")
    if not path.exists() and not path.parent.is_dir():
        raise ValueError(f"its parent {str(path.parent)!r} is not an existing directory")
    return str(path)


@option_type("store")
def STORE(text: str) -> str:  # noqa: N802
    if "://" in text:  # a database URL: the store opens it (and says what it supports)
        return text
    path = _path(text)
    if path.is_dir():
        raise ValueError("is a directory: give the store's file name")
    if not path.parent.is_dir():
        raise ValueError(f"directory {str(path.parent)!r} does not exist")
    return str(path)
