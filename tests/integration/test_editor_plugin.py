"""The editor half of the causal-tap plugin, in a real browser against real Node-RED 4 and 5.

One Node-RED per major, with ``adminAuth`` on (an admin and a read-only "viewer"), shared by the
ordered tests below; one Chromium (Debian's, driven by Playwright) for all. The admin logs in
to the editor through its login dialog and:

- installs the plugin from the palette (Manage palette → Install → upload the ``npm pack``
  tarball) into the running Node-RED: the "causal" sidebar tab appears; its counters rise
  while the flow runs, pushed over the editor's websocket (the page makes no request to the
  plugin for them);
- ``nodered-causal inject`` shows the warning in the sidebar, on the canvas and on the faulted
  node (a node inside a subflow instance: on the instance); a read-only user's editor shows it
  too, with Restore disabled (the endpoint refuses its call anyway); the admin's Restore clears it;
- ``attribute --push`` and an incident pushed as ``watch`` pushes it (``push_incident``) appear;
  selecting the attribution selects the blamed node on the canvas and opens its report;
- ``experiment --url --push`` on the running flow (Node-RED 4 only: the plugin's side is the
  same) appears with its scores; the tap ships over HTTP to ``collect --http`` until then, and to
  the experiment's own collector on the same port after;
- anonymous and read-only calls to the endpoints that inject, restore or push are refused.

Screenshots go to ``test-artifacts/`` (the README's ``docs/editor-*.png`` are copied from there).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import requests

from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR, pack_plugin
from nodered_causal.report import push_incident
from tests.conftest import FLOWS, REPO, run_cli_process

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

ARTIFACTS = REPO / "test-artifacts"
FLOW = FLOWS / "bottling-line.json"
INNER = "bt_cal_temp-sf_cal_fn"  # "gain & offset" inside the subflow instance "°C → °F"
INSTANCE = "bt_cal_temp"
ADMIN = ("admin", "adm1n-pw")
VIEWER = ("viewer", "v1ewer-pw")
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY = (
    "window.RED && RED.nodes && RED.nodes.node('bt_score') && "
    "document.querySelectorAll('.red-ui-flow-node').length > 5"
)
T0 = 1_750_000_000 * 10**9


def _incident() -> Any:
    """An incident as `watch` opens it (its own document type, pushed with ``push_incident``)."""
    from nodered_causal.watch.incidents import Incident

    return Incident.new(
        "bt_score", "value:payload.score", changed_ns=T0 + 4 * 10**9, detected_ns=T0 + 6 * 10**9
    ).with_evidence(
        target_name="quality score", flow_rev="7c1e2f0", blamed=("bt_pressure",),
        ranking=({"node": "bt_pressure", "name": "pressure channel", "score": 0.2, "low": 0.1,
                  "high": 0.3, "blamed": True},),
        verdict="“pressure channel” explains the change of the average value at “quality score”.",
        series={"signal": "value:payload.score", "t_ns": [T0 + i * 10**9 for i in range(8)],
                "values": [95, 96, 95, 94, 88, 87, 88, 86], "changed_ns": T0 + 4 * 10**9},
    )  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), "chromium missing: scripts/setup.sh --system installs it"
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic runs of the bottling line: a bias inside the subflow instance in the second."""
    from nodered_causal.analysis import synthetic
    from nodered_causal.collector import Store
    from nodered_causal.flows import load_flow, to_causal_dag

    dag = to_causal_dag(load_flow(FLOW), condensed=True)
    path = tmp_path_factory.mktemp("editor") / "runs.db"
    runs = {
        "base": synthetic.simulate_records(dag, n_windows=60, seed=1),
        "inc": synthetic.simulate_records(
            dag, n_windows=60, seed=2, fault=synthetic.Fault(INNER, "bias", 1.0)
        ),
    }
    with Store(path) as st:
        for name, columns in runs.items():
            graph = nx.node_link_data(dag, edges="edges")
            st.start_run(name, dag=graph, start_ns=columns["ts_ns"][0], flow_rev="7c1e2f0")
            st.insert(name, synthetic.to_records(columns))
            st.end_run(name)
    return path


def _ours(stack: str | None) -> bool:
    """A page error not thrown by Node-RED's own code (its bundle, vendor libraries): the plugin's
    handlers log theirs with a "[causal-tap]" prefix, this catches what escaped them. (Node-RED 5
    under heavy load sometimes throws from its Monaco set-up.)"""
    frames = [line for line in (stack or "").splitlines() if line.strip().startswith("at ")]
    return not frames or not re.search(r"/(red|vendor)/", frames[0])


def _number(page: Any, label: str) -> float:
    text = page.eval_on_selector(
        "table.causal-tap-stats",
        "(t, label) => { for (const r of t.rows) if (r.cells[0].textContent === label) "
        "return r.cells[1].textContent; return null; }",
        label,
    )
    assert text is not None, f"no row {label!r} in the tap table"
    m = re.fullmatch(r"([\d.]+)([kM]?)", text.strip())
    assert m, f"{label}: {text!r}"
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)]


def _wait(predicate: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _cli_process(*args: str, log: Path | None = None) -> subprocess.Popen[str]:
    """``python -m nodered_causal ARGS`` started in the background (as ``run_cli_process``);
    with ``log`` its output goes to that file, else to pipes."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    argv = [sys.executable, "-m", "nodered_causal", *args]
    if log is None:
        pipe = subprocess.PIPE
        return subprocess.Popen(argv, stdout=pipe, stderr=pipe, text=True, env=env)
    with open(log, "w") as fh:  # the child has its own copy of the descriptor
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, text=True, env=env)


def _post(url: str, path: str, body: Any, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}{path}", json=body, headers=headers, timeout=10)


@dataclass
class Editor:
    """One Node-RED major with the plugin installed from the palette, and the admin's editor."""

    version: str
    nr: LocalNodeRed
    token: str  # the admin's
    page: Any
    store: Path  # two runs of the bottling line, for `attribute`
    collector: subprocess.Popen[str]  # `collect --http` on `port`, where the tap ships
    port: int
    tmp: Path
    errors: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # the page's requests to the plugin
    attribute: subprocess.Popen[str] | None = None  # `attribute --push`, once installed
    answer_id: str = ""
    experiment_id: str = ""
    incident_id: str = ""


def _open_editor(
    browser: Any, url: str, user: tuple[str, str], errors: list[str], *, plugin: bool = True
) -> Any:
    """A new browser context (its own storage) on the editor, logged in through the dialog;
    ``plugin``: wait for the plugin's panel too."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}") if _ours(e.stack) else 0)
    page.on("console", lambda m: errors.append(m.text) if "[causal-tap]" in m.text else 0)
    page.goto(url)
    page.fill("#node-dialog-login-username", user[0], timeout=60_000)
    page.fill("#node-dialog-login-password", user[1])
    page.click("#node-dialog-login-submit")
    page.wait_for_function(READY, timeout=60_000)
    if plugin:
        page.wait_for_selector(".causal-tap-panel", state="attached", timeout=30_000)
    return page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module", params=["4", "5"], ids=lambda v: f"nr{v}")
def editor(
    request: pytest.FixtureRequest,
    browser: Any,
    store: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Editor]:
    version = request.param
    tmp = tmp_path_factory.mktemp(f"nr{version}")
    # the tap ships over HTTP to a collector (the experiment's own collector takes its place)
    port = _free_port()
    collector = _cli_process(
        "collect", "--http", f"127.0.0.1:{port}", "--store", str(tmp / "live.db"), "--run", "live",
        log=tmp / "collect.log",
    )  # fmt: skip
    settings = {"causalTap": {"transport": "http", "url": f"http://127.0.0.1:{port}"}}
    ARTIFACTS.mkdir(exist_ok=True)
    page: Any = None
    ed: Editor | None = None
    try:
        with LocalNodeRed(
            version,
            flows=FLOW,
            settings=settings,
            admin_auth=ADMIN,
            admin_users=[(*VIEWER, "read")],
        ) as nr:
            token = nr.client.login()
            errors: list[str] = []
            page = _open_editor(browser, nr.url, ADMIN, errors, plugin=False)
            ed = Editor(version, nr, token, page, store, collector, port, tmp, errors)
            page.on("request", lambda r: ed.calls.append(r.url) if "causal-tap" in r.url else 0)
            yield ed
    finally:
        if page is not None:
            page.context.close()
        for proc in (ed.attribute if ed is not None else None, collector):
            if proc is not None:
                _stop(proc)
                proc.communicate()  # closes its pipes (a no-op after the test's own call)


def test_the_tab_appears_after_a_palette_install(editor: Editor) -> None:
    page, nr = editor.page, editor.nr
    assert not page.evaluate("RED.sidebar.containsTab('causal-tap')")
    # Manage palette → Install → upload the `npm pack` tarball, as a user does
    tarball = pack_plugin(version=editor.version)
    page.evaluate("RED.actions.invoke('core:manage-palette', {view: 'install'})")
    page.set_input_files("#red-ui-palette-editor-upload-form input[type=file]", str(tarball))
    upload = page.locator(".red-ui-palette-editor-upload-buttons button.primary")
    upload.wait_for(state="visible")
    upload.click()
    page.wait_for_function("RED.sidebar.containsTab('causal-tap')", timeout=60_000)
    package = json.loads((PLUGIN_DIR / "package.json").read_text())["name"]
    status, info = nr.client.request_json("GET", f"/nodes/{package}", action="module")
    assert status == 200 and info["name"] == package
    page.evaluate("RED.tray.close()")
    page.wait_for_selector(".red-ui-tray", state="detached")
    # now that the plugin is there: the answer of `attribute --push`, computed meanwhile
    editor.attribute = _cli_process(
        "attribute", "--store", str(editor.store), "--baseline", "base", "--incident", "inc",
        "--target", "bt_score", "--metric", "value", "--push", "--url", nr.url,
        "--token", editor.token,
    )  # fmt: skip
    page.evaluate("RED.sidebar.show('causal-tap')")
    page.wait_for_selector(".causal-tap-panel", state="visible")


def test_counters_rise_pushed_not_polled(editor: Editor) -> None:
    page = editor.page
    editor.calls.clear()  # (the editor loaded the plugin's editor half and messages at install)
    _wait(lambda: _number(page, "recorded") > 0, "the first live update")
    first = _number(page, "recorded")
    _wait(lambda: _number(page, "recorded") > first, "the counter to rise")
    assert _number(page, "records/s") > 0
    stats = page.inner_text("table.causal-tap-stats")
    assert f"http → http://127.0.0.1:{editor.port}" in stats and "(connected)" in stats
    assert _number(page, "queue") >= 0 and _number(page, "dropped") == 0
    assert _number(page, "failed") == 0
    last_error = "(t) => [...t.rows].find(r => r.cells[0].textContent === 'last error')"
    assert (
        page.eval_on_selector(
            "table.causal-tap-stats", f"t => ({last_error})(t).cells[1].textContent"
        )
        == "none"
    )
    assert editor.calls == []


def test_a_fault_is_unmissable_and_restore_clears_it(editor: Editor, browser: Any) -> None:
    page, nr = editor.page, editor.nr
    proc = run_cli_process(
        "inject", "--url", nr.url, "--token", editor.token, "--node", INNER, "--fault", "bias:3"
    )
    assert proc.returncode == 0, proc.stderr
    page.wait_for_selector(".causal-tap-fault.active")
    banner = page.inner_text(".causal-tap-fault")
    assert "gain & offset in °C → °F" in banner and "bias 3 on payload" in banner
    _wait(lambda: "applied 0" not in page.inner_text(".causal-tap-fault"), "applied > 0")
    counts = re.findall(r"seen (\d+), applied (\d+)", page.inner_text(".causal-tap-fault"))
    seen, applied = map(int, counts[0])
    assert seen >= applied > 0
    note = page.inner_text(".red-ui-notification-error")
    assert "fault injected" in note and "gain & offset in °C → °F" in note
    badge = page.evaluate(f"RED.nodes.node('{INSTANCE}').status")
    assert badge["fill"] == "red" and badge["text"] == "fault: bias 3 on payload"

    # whoever opens the editor sees it; a read-only user cannot restore
    viewer = _open_editor(browser, nr.url, VIEWER, editor.errors)
    try:
        viewer.evaluate("RED.sidebar.show('causal-tap')")
        viewer.wait_for_selector(".causal-tap-fault.active")
        assert "bias 3 on payload" in viewer.inner_text(".causal-tap-fault")
        assert "fault injected" in viewer.inner_text(".red-ui-notification-error")
        assert viewer.is_disabled(".causal-tap-fault .causal-tap-restore")
        assert "no causal-tap.write permission" in viewer.inner_text(".causal-tap-readonly")
        # the endpoint refuses the call with the viewer's own credentials anyway
        status = viewer.evaluate(
            "new Promise(ok => $.ajax({url: 'causal-tap/faults', type: 'DELETE'})"
            ".then(() => ok(200), x => ok(x.status)))"
        )
        assert status == 401
        faults = nr.client.request_json("GET", "/causal-tap/faults", action="list")[1]["faults"]
        assert [f["node"] for f in faults] == [INNER]
    finally:
        viewer.context.close()

    toasts = ".red-ui-notification:not(.red-ui-notification-error)"  # e.g. "new answer"
    page.evaluate(f"document.querySelectorAll('{toasts}').forEach(n => n.close())")
    page.wait_for_selector(toasts, state="detached")
    page.screenshot(path=str(ARTIFACTS / f"editor-fault-nr{editor.version}.png"))
    page.click(".causal-tap-fault .causal-tap-restore")
    page.wait_for_selector(".causal-tap-fault", state="hidden")
    assert nr.client.request_json("GET", "/causal-tap/faults", action="list")[1] == {"faults": []}
    _wait(lambda: not page.evaluate(f"RED.nodes.node('{INSTANCE}').status"), "badge gone")
    _wait(lambda: not page.is_visible(".red-ui-notification-error"), "notification closed")


def test_pushed_answers_appear_and_select_the_blamed_nodes(editor: Editor) -> None:
    page, nr = editor.page, editor.nr
    # -- `attribute --push`, and an incident pushed live as `watch` pushes it
    assert editor.attribute is not None, "needs test_the_tab_appears_after_a_palette_install"
    out, err = editor.attribute.communicate(timeout=300)
    assert editor.attribute.returncode == 0, err
    answer_id = re.search(r"pushed to the editor of \S+: (\S+)", err).group(1)  # type: ignore[union-attr]
    editor.answer_id = answer_id
    item = f"ul.causal-tap-results li[data-id='{answer_id}']"
    page.wait_for_selector(item)
    assert "blamed: gain & offset in °C → °F" in page.inner_text(item)
    incident = _incident()
    assert push_incident(nr.client, incident.doc())["created"] is True
    toast = page.wait_for_selector(".red-ui-notification:has-text('pressure channel')")
    assert "new answer" in toast.inner_text()
    incident_item = f"ul.causal-tap-results li[data-id='{incident.id}']"
    assert page.inner_text(f"{incident_item} .causal-tap-badge:not(.kind)") == "open"
    assert page.inner_text(f"{incident_item} .what").startswith("incident at “quality score”")
    page.click(incident_item)
    chart = f".causal-tap-detail[data-id='{incident.id}'] .causal-tap-chart"
    assert "before the change: 95 → since the change: 87.3" in page.inner_text(chart)
    closed = incident.close(T0 + 20 * 10**9)
    assert push_incident(nr.client, closed.doc())["created"] is False
    page.wait_for_selector(f"{incident_item} .causal-tap-badge.closed")
    # the open detail follows the incident to its latest state
    page.wait_for_selector(f".causal-tap-detail[data-id='{incident.id}'] .causal-tap-badge.closed")
    assert "2 updates" in page.inner_text(".causal-tap-detail")
    assert page.locator("ul.causal-tap-results li").count() == 2  # one entry per incident
    editor.incident_id = incident.id

    # -- selecting the attribution selects the blamed node (on its subflow instance)
    page.evaluate("RED.workspaces.show('tab_bottling')")
    page.evaluate("RED.view.select({nodes: [RED.nodes.node('bt_score')]})")
    page.click(item)
    page.wait_for_selector(f".causal-tap-detail.active[data-id='{answer_id}']")
    _wait(
        lambda: page.evaluate("RED.view.selection().nodes?.map(n => n.id)") == [INSTANCE],
        "the blamed node's subflow instance to be selected",
    )
    assert page.evaluate("RED.workspaces.active()") == "tab_bottling"
    detail = page.inner_text(".causal-tap-detail")
    assert "explains" in detail and "flow rev 7c1e2f0" in detail
    bar = f".causal-tap-detail .causal-tap-bar[data-id='{INNER}']"
    assert page.inner_text(f"{bar} .name.blamed") == "gain & offset in °C → °F"
    assert page.inner_text(f"{bar} .value").endswith("%")  # its share
    whisker = page.get_attribute(f"{bar} .whisker", "title") or ""  # and its interval
    assert re.fullmatch(r"interval -?\d+ % to -?\d+ %", whisker), whisker
    assert page.locator(".causal-tap-detail .causal-tap-chart svg polyline").count() >= 2
    page.evaluate("document.querySelectorAll('.red-ui-notification').forEach(n => n.close())")
    page.wait_for_selector(".red-ui-notification", state="detached")
    flashing = f"!!RED.nodes.node('{INSTANCE}').__flashTimer"  # RED.view.reveal's, for 2.2 s
    _wait(lambda: not page.evaluate(flashing), "the revealed node to stop flashing", timeout=5)
    page.screenshot(path=str(ARTIFACTS / f"editor-answer-nr{editor.version}.png"))

    # -- its full report, served by the plugin under the admin root
    with page.context.expect_page() as opened:
        page.click(".causal-tap-detail .causal-tap-report")
    report = opened.value
    report.wait_for_url(re.compile(r".*/causal-tap/results/.*/report\?ticket=.*"))
    report.wait_for_load_state()
    assert report.title() == "Why did the average value at “quality score” change?"
    report.set_viewport_size({"width": 1200, "height": 900})
    path = ARTIFACTS / f"report-attribute-nr{editor.version}.png"
    report.screenshot(path=str(path), full_page=True)
    report.close()


def test_anonymous_and_read_only_users_cannot_change_anything(editor: Editor) -> None:
    url = editor.nr.url
    viewer = requests.post(
        f"{url}/auth/token",
        data={"client_id": "node-red-admin", "grant_type": "password", "scope": "read",
              "username": VIEWER[0], "password": VIEWER[1]},
        timeout=10,
    ).json()["access_token"]  # fmt: skip
    fault = {"node": "bt_score", "kind": "bias", "value": 1}
    answer = {"answer": {"id": "a-1", "target": "bt_score", "ranking": [], "blamed": []},
              "report_html": "<title>r</title>"}  # fmt: skip
    incident = {"id": "i-1", "state": "open", "target": "bt_score", "ranking": []}
    for token, who in ((None, "anonymous"), (viewer, "read-only")):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        assert _post(url, "/causal-tap/faults", fault, token).status_code == 401, who
        assert _post(url, "/causal-tap/results", answer, token).status_code == 401, who
        assert _post(url, "/causal-tap/incidents", incident, token).status_code == 401, who
        for path in ("/causal-tap/faults", "/causal-tap/faults/bt_score", "/causal-tap/results"):
            assert requests.delete(f"{url}{path}", headers=h, timeout=10).status_code == 401, who
    for path in ("/causal-tap/stats", "/causal-tap/faults", "/causal-tap/results"):
        assert requests.get(f"{url}{path}", timeout=10).status_code == 401, path
        ok = requests.get(f"{url}{path}", headers={"Authorization": f"Bearer {viewer}"}, timeout=10)
        assert ok.status_code == 200, path
    # nothing changed
    admin = {"Authorization": f"Bearer {editor.token}"}
    assert requests.get(f"{url}/causal-tap/faults", headers=admin, timeout=10).json() == {
        "faults": []
    }
    ids = [r["id"] for r in requests.get(f"{url}/causal-tap/results", headers=admin,
                                          timeout=10).json()["results"]]  # fmt: skip
    assert "a-1" not in ids and "i-1" not in ids
    # the admin (permission "*") may push; a report link for a browser tab: read permission
    # gets a ticket, nothing else opens it
    pushed = _post(url, "/causal-tap/results", answer, editor.token)
    assert pushed.status_code == 201 and pushed.json()["report"] == "causal-tap/results/a-1/report"
    assert requests.get(f"{url}/causal-tap/results/a-1/report", timeout=10).status_code == 401
    bad_ticket = f"{url}/causal-tap/results/a-1/report?ticket=forged"
    assert requests.get(bad_ticket, timeout=10).status_code == 401
    assert _post(url, "/causal-tap/results/a-1/ticket", None).status_code == 401
    ticket = _post(url, "/causal-tap/results/a-1/ticket", None, viewer).json()["url"]
    page = requests.get(f"{url}/{ticket}", timeout=10)
    assert page.status_code == 200 and page.text == "<title>r</title>"
    assert page.headers["Content-Security-Policy"].startswith("sandbox allow-scripts")
    other = ticket.replace("/a-1/", "/a-2/")
    assert requests.get(f"{url}/{other}", timeout=10).status_code == 401
    removed = requests.delete(f"{url}/causal-tap/results/a-1", headers=admin, timeout=10)
    assert removed.status_code == 200


def test_an_experiment_on_the_running_flow_pushes_its_scores(editor: Editor) -> None:
    if editor.version != "4":  # the plugin's side is what the tests above saw on this major
        pytest.skip("the experiment runs on one major only, to keep this module short")
    page = editor.page
    _stop(editor.collector)  # the experiment collects on the same port
    proc = run_cli_process(
        "experiment", "--url", editor.nr.url, "--token", editor.token,
        "--http", f"127.0.0.1:{editor.port}", "--target", "bt_score", "--cases", "1",
        "--no-fault-cases", "0", "--faults", "bias:5", "--seconds", "2", "--seed", "1",
        "--store", str(editor.tmp / "exp.db"), "-o", str(editor.tmp / "exp.json"), "--push",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    exp_id = re.search(r"pushed to the editor of \S+: (experiment-\S+)", proc.stderr).group(1)  # type: ignore[union-attr]
    item = f"ul.causal-tap-results li[data-id='{exp_id}']"
    page.wait_for_selector(item)
    assert page.inner_text(f"{item} .causal-tap-badge.kind") == "experiment"
    assert "“quality score”" in page.inner_text(f"{item} .what")
    page.click(item)
    detail = page.wait_for_selector(f".causal-tap-detail.active[data-id='{exp_id}']")
    assert "Named the faulted node first in" in detail.inner_text()  # type: ignore[union-attr]
    assert "NAMED FIRST, PER FAULTED NODE" in detail.inner_text().upper()  # type: ignore[union-attr]
    assert editor.nr.client.request_json("GET", "/causal-tap/faults", action="list")[1] == {
        "faults": []
    }
    editor.experiment_id = exp_id


def test_a_reloaded_editor_sees_the_latest_answers(editor: Editor) -> None:
    page = editor.page
    assert editor.answer_id, "needs test_pushed_answers_appear_and_select_the_blamed_nodes"
    page.reload()
    page.wait_for_selector(
        f"ul.causal-tap-results li[data-id='{editor.answer_id}']", state="attached", timeout=60_000
    )
    pushed = [editor.answer_id, editor.incident_id, editor.experiment_id]
    ids = page.eval_on_selector_all("ul.causal-tap-results li", "li => li.map(e => e.dataset.id)")
    assert sorted(ids) == sorted(i for i in pushed if i)
    assert editor.errors == [], editor.errors
