"""A small client for the Node-RED Admin API (Node-RED 4.x and 5.x).

::

    client = NodeRedClient("http://127.0.0.1:1880", username="admin", password="...")
    flows, rev = client.get_flows()
    new_rev = client.deploy(flows, rev=rev)      # FlowsChangedError if someone deployed meanwhile
    client.wait_until_started()                  # POST /flows answers before the nodes run
    client.inject("inject-node-id")

Every failure is translated at this boundary into the exception tree of
:mod:`nodered_causal.errors`, with the URL and the action that failed; passwords never appear in
messages or logs (a URL's user-info becomes HTTP basic auth and is kept out of ``client.url``).

How "started" is detected: ``POST /flows`` returns as soon as the new flows are saved, while the
nodes are created asynchronously (``@node-red/runtime/lib/flows/index.js``), and
``GET /flows/state`` already says ``start`` at that point. The only signal the runtime publishes
once every node is running is on its editor websocket (``/comms``): the retained notifications
``runtime-state`` (``{"state": "start"}``, or ``{"state": "stop", "error": "missing-types"}``)
and ``runtime-deploy`` (``{"revision": rev}``, emitted after the start completed). The client
subscribes there, as the editor does.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from nodered_causal.errors import (
    AuthError,
    FlowsChangedError,
    MissingNodeTypesError,
    NodeRedConnectionError,
    NodeRedError,
)

if TYPE_CHECKING:
    from nodered_causal.nodered._comms import RuntimeState

__all__ = ["DEPLOYMENT_TYPES", "NodeRedClient", "flow_node_types"]

logger = logging.getLogger(__name__)

#: Values of the ``Node-RED-Deployment-Type`` header.
DEPLOYMENT_TYPES: tuple[str, ...] = ("full", "nodes", "flows", "reload")

_API_HEADERS = {"Node-RED-API-Version": "v2", "Accept": "application/json"}
_STRUCTURAL_TYPES = frozenset({"tab", "subflow", "group"})
_POLL_S = 0.05


def flow_node_types(flows: Iterable[Mapping[str, Any]]) -> set[str]:
    """The node types a flow needs from the runtime's registry.

    Tabs, subflow definitions and groups are structural; ``subflow:<id>`` instances of a subflow
    defined in the same flow need nothing (the same rule as ``flows/util.js`` parseConfig).
    """
    nodes = list(flows)
    local_subflows = {n.get("id") for n in nodes if n.get("type") == "subflow"}
    needed: set[str] = set()
    for node in nodes:
        node_type = node.get("type")
        if not isinstance(node_type, str) or node_type in _STRUCTURAL_TYPES:
            continue
        if node_type.startswith("subflow:") and node_type[len("subflow:") :] in local_subflows:
            continue
        needed.add(node_type)
    return needed


class NodeRedClient:
    """Talk to one Node-RED instance's Admin API.

    ``token`` is an Admin API bearer token; with ``username``/``password`` the client logs in
    (``POST /auth/token``) on first use. ``timeout`` (seconds) bounds every HTTP request and is
    the default for the waits (:meth:`wait_until_started`, :meth:`inject`).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        parts = urlsplit(url)
        basic = None
        if parts.username is not None or parts.password is not None:  # keep it out of self.url
            basic = (unquote(parts.username or ""), unquote(parts.password or ""))
            netloc = parts.hostname or ""
            netloc = f"[{netloc}]" if ":" in netloc else netloc
            netloc += f":{parts.port}" if parts.port else ""
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._token = token
        self._username = username
        self._password = password
        self._last_rev: str | None = None
        self._has_editor: bool | None = None
        self._session = requests.Session()
        self._session.headers.update(_API_HEADERS)
        if basic is not None:  # user-info in the URL: HTTP basic auth, as requests would do
            self._session.auth = basic

    def __repr__(self) -> str:
        return f"NodeRedClient({self.url!r})"

    def __enter__(self) -> NodeRedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- auth ---------------------------------------------------------------------------------

    def login(self) -> str:
        """Get a bearer token with the username/password given (``POST /auth/token``)."""
        action = "log in"
        if self._username is None or self._password is None:
            raise AuthError(
                f"{action}: {self.url} needs admin credentials: give a token or username/password",
                url=self.url,
                action=action,
            )
        data = {
            "client_id": "node-red-admin",
            "grant_type": "password",
            "scope": "*",
            "username": self._username,
            "password": self._password,
        }
        resp = self._send("POST", "/auth/token", action, data=data, auth=False)
        if resp.status_code in (401, 403):
            raise AuthError(
                f"{action} to {self.url} as {self._username!r} failed: wrong username or "
                f"password (HTTP {resp.status_code})",
                url=self.url,
                action=action,
            )
        if resp.status_code >= 400 and not self._auth_enabled(action):
            raise AuthError(
                f"{action}: {self.url} has no admin authentication (GET /auth/login is empty): "
                "drop the username/password",
                url=self.url,
                action=action,
            )
        body = self._json(self._checked(resp, action), action)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise NodeRedError(
                f"{action}: {self.url}/auth/token answered without an access_token",
                url=self.url,
                action=action,
            )
        self._token = token
        return token

    def _auth_enabled(self, action: str) -> bool:
        """Whether the instance has adminAuth (``GET /auth/login`` is ``{}`` without)."""
        resp = self._checked(self._send("GET", "/auth/login", action, auth=False), action)
        body = self._json(resp, action)
        return bool(isinstance(body, dict) and body.get("type"))

    # -- the Admin API --------------------------------------------------------------------------

    def get_flows(self) -> tuple[list[dict[str, Any]], str]:
        """The deployed flows and their revision (``GET /flows``, API v2)."""
        action = "read the flows"
        body = self._json(self._request("GET", "/flows", action), action)
        if isinstance(body, list):  # an API v1 answer: no rev
            return body, ""
        if not isinstance(body, dict) or not isinstance(body.get("flows"), list):
            raise NodeRedError(
                f"{action}: {self.url}/flows answered with neither a flow list nor "
                '{"flows": [...], "rev": ...}',
                url=self.url,
                action=action,
            )
        return body["flows"], str(body.get("rev", ""))

    def deploy(
        self,
        flows: Sequence[Mapping[str, Any]],
        *,
        rev: str | None = None,
        deployment_type: str = "full",
        force: bool = False,
        check_types: bool = True,
    ) -> str:
        """Deploy ``flows`` and return the new revision.

        With ``rev`` (from :meth:`get_flows`) Node-RED refuses to overwrite flows deployed since
        (HTTP 409 → :class:`FlowsChangedError`, nothing changed) unless ``force``. ``rev=None``
        deploys unconditionally. With ``check_types`` the node types are compared with
        :meth:`installed_nodes` first, since Node-RED accepts unknown types with 200 and then
        starts no flow at all (:class:`MissingNodeTypesError`). Call :meth:`wait_until_started`
        before sending messages: the nodes start after this returns.
        """
        if deployment_type not in DEPLOYMENT_TYPES:
            raise ValueError(
                f"deployment_type must be one of {', '.join(DEPLOYMENT_TYPES)}, "
                f"got {deployment_type!r}"
            )
        action = f"deploy {len(flows)} nodes ({deployment_type})"
        if check_types:
            missing = sorted(flow_node_types(flows) - self.installed_types())
            if missing:
                raise MissingNodeTypesError(
                    f"{action}: {self.url} lacks the node types {', '.join(missing)}; Node-RED "
                    "would accept the flows and start none of them. Install the modules that "
                    "provide them first",
                    missing=missing,
                    url=self.url,
                    action=action,
                )
        body: dict[str, Any] = {"flows": list(flows)}
        if rev is not None and not force:
            body["rev"] = rev
        resp = self._request(
            "POST",
            "/flows",
            action,
            json=body,
            headers={"Node-RED-Deployment-Type": deployment_type},
            ok=(409,),
        )
        if resp.status_code == 409:
            raise FlowsChangedError(
                f"{action}: someone deployed to {self.url} since revision {rev} was read; "
                "nothing was overwritten. Read the flows again, or force the deploy",
                url=self.url,
                action=action,
            )
        answer = self._json(resp, action)
        new_rev = str(answer.get("rev", "")) if isinstance(answer, dict) else ""
        self._last_rev = new_rev or None
        logger.info("deployed %d nodes to %s (rev %s)", len(flows), self.url, new_rev)
        return new_rev

    def inject(self, node_id: str, *, timeout: float | None = None) -> None:
        """Trigger an inject node (``POST /inject/:id``).

        The runtime answers 404 until the node exists, so a 404 is retried until ``timeout``.
        """
        action = f"trigger inject node {node_id!r}"
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            resp = self._request("POST", f"/inject/{node_id}", action, ok=(404,))
            if resp.status_code != 404:
                return
            if time.monotonic() >= deadline:
                raise NodeRedError(
                    f"{action}: {self.url} has no running inject node {node_id!r} (HTTP 404): "
                    "check the id, that the node is an inject node and that its flow started",
                    url=self.url,
                    action=action,
                )
            time.sleep(_POLL_S)

    def wait_until_started(self, *, rev: str | None = None, timeout: float | None = None) -> None:
        """Block until the flows run: all nodes created (revision ``rev`` if given, else the
        one this client last deployed).

        Raises :class:`MissingNodeTypesError` when the runtime refused to start the flows for
        missing node types, :class:`NodeRedError` when they did not start within ``timeout``.
        """
        from nodered_causal.nodered._comms import RuntimeWatcher

        rev = rev if rev is not None else self._last_rev
        action = "wait for the flows to start" + (f" (rev {rev})" if rev else "")
        wait_s = self.timeout if timeout is None else timeout
        if self._token is None and self._username is not None:
            self.login()
        if self._has_editor is None:  # GET /settings lists context stores only with an editor
            self._has_editor = "context" in self.settings()
        if self._has_editor:
            with RuntimeWatcher(self._comms_url(), token=self._token, timeout=wait_s) as watcher:
                state = watcher.wait(rev=rev, timeout=wait_s)
        else:  # disableEditor: no /comms websocket
            state = self._poll_state(rev, wait_s, action)
        if state.error == "missing-types":
            raise MissingNodeTypesError(
                f"{action}: {self.url} started no flows: missing node types "
                f"{', '.join(state.types)}",
                missing=list(state.types),
                url=self.url,
                action=action,
            )
        if not state.started or (rev is not None and state.revision != rev):
            raise NodeRedError(
                f"{action}: the flows of {self.url} did not start within {wait_s:g} s "
                f"(runtime state {state.state or 'unknown'}"
                + (f", error {state.error}" if state.error else "")
                + (f", deployed rev {state.revision}" if state.revision else "")
                + ")",
                url=self.url,
                action=action,
            )

    def _poll_state(self, rev: str | None, wait_s: float, action: str) -> RuntimeState:
        """Without /comms: poll ``GET /flows/state`` (and the rev). Weaker: the runtime says
        ``start`` as soon as it begins creating nodes, also when types are missing."""
        from nodered_causal.nodered._comms import RuntimeState

        deadline = time.monotonic() + wait_s
        while True:
            body = self._json(self._request("GET", "/flows/state", action), action)
            state = body.get("state") if isinstance(body, dict) else None
            revision = self.get_flows()[1] if rev is not None else None
            started = state == "start" and (rev is None or revision == rev)
            if started or time.monotonic() >= deadline:
                return RuntimeState(state=state, revision=revision, started=started)
            time.sleep(_POLL_S)

    def installed_nodes(self) -> list[dict[str, Any]]:
        """The installed node sets (``GET /nodes`` as JSON): ``id, name, types, enabled, module,
        version`` each."""
        action = "list the installed nodes"
        body = self._json(self._request("GET", "/nodes", action), action)
        if not isinstance(body, list):
            raise NodeRedError(
                f"{action}: {self.url}/nodes did not answer with a list",
                url=self.url,
                action=action,
            )
        return body

    def installed_types(self) -> set[str]:
        """Node types of the enabled node sets."""
        types: set[str] = set()
        for node_set in self.installed_nodes():
            if node_set.get("enabled", True):
                types.update(t for t in node_set.get("types", ()) if isinstance(t, str))
        return types

    def settings(self) -> dict[str, Any]:
        """The runtime settings the editor sees (``GET /settings``), incl. ``version``."""
        action = "read the settings"
        body = self._json(self._request("GET", "/settings", action), action)
        if not isinstance(body, dict):
            raise NodeRedError(
                f"{action}: {self.url}/settings did not answer with an object",
                url=self.url,
                action=action,
            )
        return body

    def install_module(
        self, name_or_tgz: str | Path, *, version: str | None = None
    ) -> dict[str, Any]:
        """Install a node module from the palette (``POST /nodes``): an npm name (the instance
        runs ``npm install``), or a path to a ``.tgz`` made by ``npm pack`` (uploaded).

        Refused (:class:`NodeRedError`) when the instance disallows palette installs/uploads
        (``externalModules.palette``).
        """
        path = Path(name_or_tgz)
        is_file = str(name_or_tgz).endswith(".tgz") and path.is_file()
        action = f"install module {path.name if is_file else name_or_tgz}"
        if is_file:
            with open(path, "rb") as fh:
                files = {"tarball": (path.name, fh, "application/gzip")}
                resp = self._request("POST", "/nodes", action, files=files, long=True)
        else:
            payload: dict[str, str] = {"module": str(name_or_tgz)}
            if version:
                payload["version"] = version
            resp = self._request("POST", "/nodes", action, json=payload, long=True)
        body = self._json(resp, action)
        return body if isinstance(body, dict) else {"result": body}

    # -- plumbing -------------------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        path: str,
        *,
        action: str,
        body: Any = None,
        ok: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        """Call another Admin API endpoint (e.g. a plugin's, below ``httpAdminRoot``) with this
        client's auth and error translation; returns ``(status, parsed JSON or None)``. Statuses
        in ``ok`` are returned instead of raised."""
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        resp = self._request(method, path, action, ok=ok, **kwargs)
        if not resp.content:
            return resp.status_code, None
        if resp.status_code >= 400 and "json" not in resp.headers.get("Content-Type", ""):
            return resp.status_code, None  # an allowed error status with an HTML page
        return resp.status_code, self._json(resp, action)

    def _comms_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/comms", "", ""))

    def _request(
        self,
        method: str,
        path: str,
        action: str,
        *,
        ok: tuple[int, ...] = (),
        long: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with auth (logging in on the first 401 if credentials were given) and turn any
        non-2xx status except those in ``ok`` into our errors."""
        if self._token is None and self._username is not None:
            self.login()
        resp = self._send(method, path, action, long=long, **kwargs)
        if resp.status_code == 401 and self._username is not None:
            self.login()  # the token expired
            resp = self._send(method, path, action, long=long, **kwargs)
        if resp.status_code in ok:
            return resp
        return self._checked(resp, action)

    def _send(
        self,
        method: str,
        path: str,
        action: str,
        *,
        auth: bool = True,
        long: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        url = self.url + path
        headers = dict(kwargs.pop("headers", None) or {})
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        timeout = max(self.timeout, 300.0) if long else self.timeout
        logger.debug("%s %s (%s)", method, url, action)
        try:
            return self._session.request(method, url, headers=headers, timeout=timeout, **kwargs)
        except requests.Timeout as exc:
            raise NodeRedConnectionError(
                f"{action}: {method} {url} got no answer within {timeout:g} s",
                url=self.url,
                action=action,
            ) from exc
        except requests.ConnectionError as exc:
            raise NodeRedConnectionError(
                f"{action}: cannot connect to {url}: {_reason(exc)}",
                url=self.url,
                action=action,
            ) from exc
        except requests.RequestException as exc:
            raise NodeRedConnectionError(
                f"{action}: {method} {url} failed: {exc}", url=self.url, action=action
            ) from exc

    def _checked(self, resp: requests.Response, action: str) -> requests.Response:
        status = resp.status_code
        if status < 400:
            return resp
        where = f"{resp.request.method} {resp.url}"
        if status in (401, 403):
            hint = (
                "wrong or expired credentials"
                if (self._token or self._username)
                else "admin auth is on: give a token or username/password"
            )
            raise AuthError(
                f"{action}: {where} answered HTTP {status}: {hint}", url=self.url, action=action
            )
        raise NodeRedError(
            f"{action}: {where} answered HTTP {status}: {_error_detail(resp)}",
            url=self.url,
            action=action,
        )

    def _json(self, resp: requests.Response, action: str) -> Any:
        try:
            return resp.json()
        except ValueError as exc:
            kind = "HTML" if _looks_html(resp.text) else "non-JSON"
            raise NodeRedConnectionError(
                f"{action}: {resp.request.method} {resp.url} answered {kind} instead of JSON "
                f"(HTTP {resp.status_code}): is this a Node-RED Admin API? "
                f"{_snippet(resp.text)!r}",
                url=self.url,
                action=action,
            ) from exc


def _looks_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head


def _snippet(text: str, limit: int = 160) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_detail(resp: requests.Response) -> str:
    """The useful line of a Node-RED error answer: ``{"code", "message"}`` JSON (message often
    ends in a stack trace), an HTML error page, or plain text."""
    try:
        body = resp.json()
    except ValueError:
        text = resp.text
        if _looks_html(text):
            return f"an HTML error page: {_snippet(text)!r}"
        first = text.strip().splitlines()[0] if text.strip() else resp.reason or ""
        return _snippet(first)
    if isinstance(body, dict):
        code = body.get("code") or body.get("error")
        message = body.get("message") or body.get("error_description") or ""
        message = str(message).strip().splitlines()[0] if str(message).strip() else ""
        if code and message:
            return f"{code}: {_snippet(message, 300)}"
        if code or message:
            return _snippet(str(code or message), 300)
    return _snippet(json.dumps(body), 300)


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return match.group(1).strip() if match else text
