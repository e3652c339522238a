"""NodeRedClient against pytest-httpserver: the error paths a real Node-RED rarely produces."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from nodered_causal.errors import (
    AuthError,
    FlowsChangedError,
    MissingNodeTypesError,
    NodeRedConnectionError,
    NodeRedError,
)
from nodered_causal.nodered.client import NodeRedClient, flow_node_types

FLOWS = [
    {"id": "t1", "type": "tab", "label": "T"},
    {"id": "sf", "type": "subflow", "name": "S", "in": [], "out": []},
    {"id": "n1", "type": "inject", "z": "t1", "x": 1, "y": 1, "wires": [["n2"]]},
    {"id": "n2", "type": "subflow:sf", "z": "t1", "x": 2, "y": 1, "wires": [[]]},
    {"id": "g1", "type": "group", "z": "t1", "nodes": []},
]
NODE_SETS = [
    {"id": "node-red/inject", "types": ["inject"], "enabled": True},
    {"id": "node-red/off", "types": ["disabled-type"], "enabled": False},
]


def client_for(server: HTTPServer, **kw: object) -> NodeRedClient:
    return NodeRedClient(server.url_for("/").rstrip("/"), **kw)  # type: ignore[arg-type]


def test_get_flows_sends_api_v2_and_returns_rev(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/flows", method="GET", headers={"Node-RED-API-Version": "v2"}
    ).respond_with_json({"flows": FLOWS, "rev": "abc"})
    assert client_for(httpserver).get_flows() == (FLOWS, "abc")


def test_flow_node_types_skips_structure_and_local_subflows() -> None:
    extra = [{"id": "x", "type": "subflow:elsewhere", "z": "t1", "x": 0, "y": 0}]
    assert flow_node_types(FLOWS) == {"inject"}
    assert flow_node_types(FLOWS + extra) == {"inject", "subflow:elsewhere"}


def test_deploy_sends_rev_and_deployment_type(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/nodes", headers={"Accept": "application/json"}).respond_with_json(
        NODE_SETS
    )
    seen: list[tuple[dict[str, object], str | None]] = []

    def handler(request: Request) -> Response:
        seen.append((request.get_json(), request.headers.get("Node-RED-Deployment-Type")))
        return Response(json.dumps({"rev": "new"}), content_type="application/json")

    httpserver.expect_request("/flows", method="POST").respond_with_handler(handler)
    client = client_for(httpserver)
    assert client.deploy(FLOWS, rev="old", deployment_type="nodes") == "new"
    assert client.deploy(FLOWS, rev="old", force=True) == "new"
    assert seen == [({"flows": FLOWS, "rev": "old"}, "nodes"), ({"flows": FLOWS}, "full")]


def test_deploy_409_is_flows_changed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/flows", method="POST").respond_with_json(
        {"code": "version_mismatch"}, status=409
    )
    with pytest.raises(FlowsChangedError, match="since revision r1 was read; nothing was") as info:
        client_for(httpserver).deploy(FLOWS, rev="r1", check_types=False)
    assert info.value.action == "deploy 5 nodes (full)"


def test_deploy_refuses_missing_and_disabled_types(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/nodes").respond_with_json(NODE_SETS)
    flows = FLOWS + [
        {"id": "a", "type": "disabled-type", "z": "t1", "x": 0, "y": 0},
        {"id": "b", "type": "acme-sensor", "z": "t1", "x": 0, "y": 0},
    ]
    with pytest.raises(MissingNodeTypesError) as info:
        client_for(httpserver).deploy(flows)
    assert info.value.missing == ["acme-sensor", "disabled-type"]
    assert "lacks the node types acme-sensor, disabled-type;" in str(info.value)
    assert not [r for r, _ in httpserver.log if r.method == "POST"]


def test_timeout_is_a_connection_error(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/nodes").respond_with_handler(slow)
    client = client_for(httpserver, timeout=0.2)
    with pytest.raises(NodeRedConnectionError, match=r"got no answer within 0\.2 s") as info:
        client.installed_nodes()
    assert "list the installed nodes: GET http://localhost" in str(info.value)


def test_connection_refused_names_url_and_action() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = NodeRedClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(NodeRedConnectionError) as info:
        client.get_flows()
    assert str(info.value).startswith(
        f"read the flows: cannot connect to http://127.0.0.1:{port}/flows:"
    )
    assert info.value.url == f"http://127.0.0.1:{port}"


def test_html_500_is_summarised(httpserver: HTTPServer) -> None:
    page = (
        "<!DOCTYPE html><html><head><style>b{}</style><title>Oops</title></head>"
        "<body><h1>Internal Server Error</h1><p>proxy said no</p></body></html>"
    )
    httpserver.expect_request("/settings").respond_with_data(
        page, status=500, content_type="text/html"
    )
    with pytest.raises(NodeRedError) as info:
        client_for(httpserver).settings()
    assert type(info.value) is NodeRedError
    assert str(info.value).endswith(
        "answered HTTP 500: an HTML error page: 'Oops Internal Server Error proxy said no'"
    )


def test_html_200_is_not_node_red(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/flows").respond_with_data(
        "<html><body>Welcome to nginx</body></html>", content_type="text/html"
    )
    with pytest.raises(NodeRedConnectionError, match="answered HTML instead of JSON .*nginx"):
        client_for(httpserver).get_flows()


def test_400_with_stack_trace_keeps_first_line(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/flows", method="POST").respond_with_json(
        {
            "code": "unexpected_error",
            "message": "TypeError: Cannot read properties of undefined (reading 'z')\n"
            "    at Object.diffConfigs (/x/flows/util.js:380:20)\n    at ...",
        },
        status=400,
    )
    with pytest.raises(NodeRedError) as info:
        client_for(httpserver).deploy(FLOWS, check_types=False)
    assert str(info.value).endswith(
        "answered HTTP 400: unexpected_error: TypeError: Cannot read properties of undefined "
        "(reading 'z')"
    )
    assert "diffConfigs" not in str(info.value)


def test_401_without_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/flows").respond_with_data("Unauthorized", status=401)
    with pytest.raises(AuthError, match="admin auth is on: give a token or username/password"):
        client_for(httpserver).get_flows()


def test_login_then_bearer_token_and_relogin_on_expiry(httpserver: HTTPServer) -> None:
    logins: list[dict[str, str]] = []

    def token(request: Request) -> Response:
        logins.append(dict(request.form))
        body = {"access_token": f"tok{len(logins)}", "token_type": "Bearer"}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/auth/token", method="POST").respond_with_handler(token)
    auths: list[str | None] = []

    def settings(request: Request) -> Response:
        auths.append(request.headers.get("Authorization"))
        if len(auths) == 2:  # the first token expires after one use
            return Response("Unauthorized", status=401)
        return Response(json.dumps({"version": "4.1.15"}), content_type="application/json")

    httpserver.expect_request("/settings").respond_with_handler(settings)
    client = client_for(httpserver, username="admin", password="pw-secret")
    assert client.settings() == {"version": "4.1.15"}
    assert client.settings() == {"version": "4.1.15"}
    assert logins[0] == {
        "client_id": "node-red-admin",
        "grant_type": "password",
        "scope": "*",
        "username": "admin",
        "password": "pw-secret",
    }
    assert len(logins) == 2
    assert auths == ["Bearer tok1", "Bearer tok1", "Bearer tok2"]


def test_wrong_password_never_printed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/auth/token", method="POST").respond_with_json(
        {"error": "invalid_grant"}, status=403
    )
    client = client_for(httpserver, username="admin", password="hunter2-pw")
    with pytest.raises(AuthError) as info:
        client.get_flows()
    assert str(info.value) == (
        f"log in to {client.url} as 'admin' failed: wrong username or password (HTTP 403)"
    )
    assert "hunter2" not in repr(info.value.args)


def test_inject_retries_404_until_the_node_exists(httpserver: HTTPServer) -> None:
    for _ in range(3):
        httpserver.expect_ordered_request("/inject/n1", method="POST").respond_with_data(
            "Not Found", status=404
        )
    httpserver.expect_ordered_request("/inject/n1", method="POST").respond_with_data("OK")
    client_for(httpserver).inject("n1", timeout=5)
    assert len(httpserver.log) == 4


def test_inject_500_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/inject/n1", method="POST").respond_with_data("boom", status=500)
    with pytest.raises(NodeRedError, match="trigger inject node 'n1': .* answered HTTP 500: boom"):
        client_for(httpserver).inject("n1")


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        NodeRedClient("127.0.0.1:1880")
    with pytest.raises(ValueError, match="together"):
        NodeRedClient("http://x", username="a")
    with pytest.raises(ValueError, match="timeout"):
        NodeRedClient("http://x", timeout=0)
    assert NodeRedClient("http://x:1880/red/")._comms_url() == "ws://x:1880/red/comms"
