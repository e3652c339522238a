"""Keep secrets out of everything a user or a log sees: one helper used at every boundary.

What counts as a secret:

- the password of a URL's user-info (``http://user:pw@host``, ``mqtt://user:pw@broker``): the
  URL is kept, the password becomes ``***``;
- the value of a header or parameter that carries credentials (``Authorization: Bearer ...``,
  ``access_token=...``, ``password=...``);
- in JSON-like data, the value of any key that looks like a credential (``password``, ``token``,
  ``secret``, ``credentials``, ``api_key``, ``authorization``, ``cookie``);
- any value passed as ``secrets`` (the CLI passes every ``--token``/``--password`` given and the
  ``NODERED_CAUSAL_NODERED_TOKEN``/``..._PASSWORD`` values), wherever it appears.

Where it is applied: :class:`~nodered_causal.nodered.client.NodeRedClient` keeps a URL's
user-info out of ``client.url`` (and so out of every message), the CLI redacts each error line,
its JSON output and every log record (:class:`RedactingFilter`), and reports redact what they
write.

>>> redact_url("http://admin:hunter2@127.0.0.1:1880/")
'http://admin:***@127.0.0.1:1880/'
>>> redact_text("GET http://u:pw@h/flows failed; Authorization: Bearer abc.def", secrets=["pw"])
'GET http://u:***@h/flows failed; Authorization: Bearer ***'
>>> redact_data({"url": "mqtt://u:p@b", "password": "p", "nested": [{"token": 1}]})
{'url': 'mqtt://u:***@b', 'password': '***', 'nested': [{'token': '***'}]}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "RedactingFilter", "is_secret_key", "redact_data", "redact_text", "redact_url"]

#: What a secret is replaced by.
MASK = "***"

_SECRET_KEY = re.compile(
    r"pass(word|wd)?$|passwd|secret|token|credential|api[-_]?key|authorization|cookie|^auth$", re.I
)
#: ``scheme://user:password@`` (the password may hold anything but ``@``, ``/`` and blanks).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?=@)")
#: ``Bearer xyz`` / ``Basic xyz`` (an Authorization header's value).
_SCHEME_VALUE = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<pw>[A-Za-z0-9._~+/=-]+)", re.I)
#: ``password=xyz`` in a query string or a form, ``"access_token": "xyz"`` in JSON text.
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:access_token|refresh_token|token|password|passwd|secret|api[-_]?key)=)"
    r"(?P<pw>[^\s&\"',;}]+)"
    r"|(?P<jhead>\"(?:access_token|refresh_token|token|password|passwd|secret|api[-_]?key)"
    r"\"\s*:\s*\")(?P<jpw>[^\"]*)",
    re.I,
)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (``password``, ``token``, ``apiKey``, ...)."""
    return bool(_SECRET_KEY.search(key))


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info replaced by ``***``."""
    return _USERINFO.sub(lambda m: m.group("head") + MASK, url)


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URL passwords, bearer tokens, ``password=...`` values and every one of
    ``secrets`` (values of at least 3 characters) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: m.group("head") + MASK, text)
    text = _SCHEME_VALUE.sub(lambda m: m.group("head") + MASK, text)
    return _KEY_VALUE.sub(lambda m: (m.group("head") or m.group("jhead")) + MASK, text)


def redact_data(data: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A copy of JSON-like ``data`` with credential-named keys masked and every string
    redacted as by :func:`redact_text`. Iterative: any nesting depth is fine."""
    known = tuple(secrets)
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(data, root, 0)]
    while stack:
        value, parent, key = stack.pop()
        if isinstance(value, dict):
            copy: dict[Any, Any] = {}
            parent[key] = copy
            for k, v in value.items():
                if isinstance(k, str) and is_secret_key(k) and v is not None:
                    copy[k] = MASK
                else:
                    copy[k] = None
                    stack.append((v, copy, k))
        elif isinstance(value, list | tuple):
            items: list[Any] = [None] * len(value)
            parent[key] = items
            stack.extend((v, items, i) for i, v in enumerate(value))
        elif isinstance(value, str):
            parent[key] = redact_text(value, known)
        else:
            parent[key] = value
    return root[0]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's formatted message (attach it to handlers)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not hide the record
            return True
        clean = redact_text(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        return True
