"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Live, liveDoc, TOPICS } = require("../lib/live");
const { Results } = require("../lib/results");
const { quietLog } = require("./helpers");

function stats(recorded, extra) {
    return Object.assign({
        plugin: "p", version: "1", enabled: true, running: true, boot: "b1", recorded, queue: 3,
        dropped: 1, failed: 0, config: { transport: "mqtt", url: "mqtt://h:1883" },
        transport: { kind: "mqtt", url: "mqtt://h:1883 topic t", connected: true, last_error: null },
        faults: [],
    }, extra);
}

test("the live document: transport, counters, the first line of the last error", () => {
    const doc = liveDoc(stats(10, { transport: { kind: "http", url: "http://c", connected: false,
        last_error: "ECONNREFUSED\n    at x" } }), 2.5, 99);
    assert.deepEqual(
        { t: doc.transport, u: doc.url, c: doc.connected, r: doc.rate, q: doc.queue, d: doc.dropped, e: doc.last_error },
        { t: "http", u: "http://c", c: false, r: 2.5, q: 3, d: 1, e: "ECONNREFUSED" },
    );
    assert.equal(liveDoc(stats(0, { faults: null }), 0, 0).faults_enabled, false);
});

test("records/s from the counter between ticks; a forced tick keeps the rate; a new boot resets it", () => {
    const sent = [];
    let now = 0;
    let current = stats(0);
    const live = new Live({ publish: (t, d, r) => sent.push([t, d, r]), stats: () => current, now: () => now,
        intervalMs: 1000, log: quietLog });
    live.tick();
    now = 1000;
    current = stats(500);
    live.tick();
    now = 1010; // a fault was added: publish at once, with the rate of the last second
    current = stats(505, { faults: [{ node: "n", kind: "bias" }] });
    live.tick();
    now = 2000;
    current = stats(20, { boot: "b2" }); // the tap restarted
    live.tick();
    assert.deepEqual(sent.map(([t, d, r]) => [t, d.rate, d.recorded, d.faults.length, r]), [
        [TOPICS.live, 0, 0, 0, true],
        [TOPICS.live, 500, 500, 0, true],
        [TOPICS.live, 500, 505, 1, true],
        [TOPICS.live, 0, 20, 0, true],
    ]);
});

test("results: the list (retained) and the posted one (a toast, not retained)", async () => {
    const sent = [];
    const results = new Results({ dir: null, max: 5, log: quietLog });
    const live = new Live({ publish: (t, d, r) => sent.push([t, d, r]), stats: () => stats(0), results,
        log: quietLog });
    const { entry } = await results.put({ answer: { id: "r1", target: "t", ranking: [], blamed: [] } });
    live.publishResults({ summary: { id: entry.id }, created: true });
    assert.deepEqual(sent.map(([t, d, r]) => [t, Array.isArray(d) ? d.map((s) => s.id) : d.summary.id, r]), [
        [TOPICS.results, ["r1"], true],
        [TOPICS.result, "r1", false],
    ]);
});

test("a failing stats source never throws out of a tick", () => {
    const warnings = [];
    const live = new Live({ publish: () => {}, stats: () => { throw new Error("boom"); },
        log: Object.assign({}, quietLog, { warn: (m) => warnings.push(m) }) });
    live.tick();
    live.tick();
    assert.equal(live.failures, 2);
    assert.equal(warnings.length, 1);
});
