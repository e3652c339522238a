"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { Results, parseBody, fromIncident, summary } = require("../lib/results");
const { Tickets } = require("../lib/admin");
const { quietLog } = require("./helpers");

function tmpDir() {
    return fs.mkdtempSync(path.join(os.tmpdir(), "causal-tap-results-"));
}

function answer(id, extra) {
    return Object.assign({ id, kind: "attribution", target: "t1", title: `why ${id}`,
        ranking: [{ node: "n1", name: "calibrate", score: 0.3, share: 0.9, blamed: true }], blamed: ["n1"] }, extra);
}

test("bad documents are refused with the field named", () => {
    assert.throws(() => parseBody(null), /a result must be a JSON object/);
    assert.throws(() => parseBody({ answer: [] }), /answer must be a JSON object/);
    assert.throws(() => parseBody({ answer: answer("../x") }), /answer.id must match/);
    assert.throws(() => parseBody({ answer: answer("a", { kind: "rumour" }) }), /answer.kind must be one of/);
    assert.throws(() => parseBody({ answer: answer("a", { target: "" }) }), /answer.target must be/);
    assert.throws(() => parseBody({ answer: answer("a", { state: "gone" }) }), /answer.state must be/);
    assert.throws(() => parseBody({ answer: answer("a", { ranking: [{ node: "n", score: "x" }] }) }),
        /answer.ranking\[0\].score must be a number or null/);
    assert.throws(() => parseBody({ answer: answer("a"), report_html: 42 }), /report_html must be a string/);
    const big = "x".repeat(4 * 1024 * 1024 + 1);
    assert.throws(() => parseBody({ answer: answer("a"), report_html: big }), (e) => e.status === 413);
    // the minimal incident document watch posts: blamed defaults from the ranking, id generated
    const { answer: doc } = parseBody({ answer: { state: "open", target: "t",
        ranking: [{ node: "a", name: "A", score: 1, low: 0.5, high: 1.5, blamed: true }] } });
    assert.deepEqual(doc.blamed, ["a"]);
    assert.equal(doc.kind, "incident");
    assert.match(doc.id, /^incident-\d{8}T\d{6}-[0-9a-f]{6}$/);
});

test("results are kept in the userDir, 0644, atomically, bounded, and survive a restart", async () => {
    const dir = path.join(tmpDir(), "causal-tap-results");
    const results = new Results({ dir, max: 2, log: quietLog });
    assert.equal(results.load(), 0);
    await results.put({ answer: answer("a1"), report_html: "<p>a1</p>" });
    await results.put({ answer: answer("a2") });
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ["a1.html", "a1.json", "a2.json"]);
    for (const f of files) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o644);
    assert.equal(await results.report("a1"), "<p>a1</p>");
    assert.equal(await results.report("a2"), null);
    await results.put({ answer: answer("a3") }); // evicts a1, the oldest
    assert.deepEqual(results.list().map((s) => s.id), ["a3", "a2"]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["a2.json", "a3.json"]);
    fs.writeFileSync(path.join(dir, "junk.json"), "{not json");
    const again = new Results({ dir, max: 2, log: quietLog });
    assert.equal(again.load(), 2);
    assert.deepEqual(again.list().map((s) => s.id), ["a3", "a2"]);
    assert.equal(again.get("a2").answer.title, "why a2");
});

test("an incident keeps one entry through its transitions, with the history", async () => {
    let now = 1000;
    const results = new Results({ dir: null, max: 5, log: quietLog, now: () => now });
    const first = await results.put({ answer: answer("inc-1", { kind: "incident", state: "open" }) });
    now = 2000;
    await results.put({ answer: answer("other") });
    now = 3000;
    const closed = await results.put({ answer: answer("inc-1", { kind: "incident", state: "closed" }) });
    assert.equal(first.created, true);
    assert.equal(closed.created, false);
    const entry = results.get("inc-1");
    assert.deepEqual(entry.history, [{ state: "open", at: 1000 }, { state: "closed", at: 3000 }]);
    assert.equal(entry.received_at, 1000);
    const s = summary(entry);
    assert.equal(s.state, "closed");
    assert.deepEqual(s.blamed_names, ["calibrate"]);
    assert.deepEqual(results.list().map((x) => x.id), ["inc-1", "other"]); // updated = newest
});

test("an unwritable directory: results in memory, and the reason is shown", async () => {
    const file = path.join(tmpDir(), "a-file");
    fs.writeFileSync(file, "");
    const results = new Results({ dir: path.join(file, "results"), max: 5, log: quietLog });
    assert.equal(results.load(), 0);
    assert.match(results.status().persist_error, /^cannot use .*a-file\/results/);
    await results.put({ answer: answer("m1"), report_html: "<p>m</p>" });
    assert.equal(await results.report("m1"), "<p>m</p>");
    assert.deepEqual(await results.remove("m1"), ["m1"]);
    assert.equal(results.get("m1"), null);
});

test("report tickets: only for their result, only for a while", () => {
    let now = 0;
    const tickets = new Tickets(() => now);
    const key = tickets.issue("r1");
    assert.equal(tickets.valid(key, "r1"), true);
    assert.equal(tickets.valid(key, "r2"), false);
    assert.equal(tickets.valid("forged", "r1"), false);
    assert.equal(tickets.valid(undefined, "r1"), false);
    now = 5 * 60 * 1000;
    assert.equal(tickets.valid(key, "r1"), false);
});

test("watch's incident document, posted as it is, becomes an incident with before/after", async () => {
    const doc = { id: "20250601T101455Z-bt_score", state: "open", target: "bt_score", target_name: "quality score",
        detected_at: "2025-06-01T10:15:02Z", changed_at: "2025-06-01T10:14:55Z",
        ranking: [{ node: "bt_join", name: "collect bottle (join)", score: 0.8, low: 0.6, high: 1.0, blamed: true,
            changed: true, deployed: false }],
        blamed: ["bt_join"], verdict: "blamed: collect bottle (join)", history: [{ state: "open" }],
        series: { signal: "value:payload.score", t_ns: [1e18, 1e18 + 1e9, 1e18 + 2e9, 1e18 + 3e9],
            values: [95, 95.5, null, 90], reference_mean: 95.2, changed_ns: 1e18 + 2e9 } };
    const results = new Results({ dir: null, max: 5, log: quietLog });
    const { entry } = await results.put(fromIncident(doc));
    assert.equal(entry.answer.kind, "incident");
    assert.deepEqual(entry.answer.series, [{ node: "bt_score", name: "quality score", what: "value:payload.score",
        before_label: "before the change", after_label: "since the change", before: [[0, 95], [1, 95.5]],
        after: [[3, 90]] }]);
    assert.deepEqual(summary(entry).blamed_names, ["collect bottle (join)"]);
    assert.throws(() => fromIncident([]), /an incident must be a JSON object/);
    assert.throws(() => results.put(fromIncident({ state: "open" })), /answer.target must be/);
});
