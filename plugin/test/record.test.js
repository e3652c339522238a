"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Record, Clock, encodeBatch, recordHead } = require("../lib/record");

test("clock: exact ns strings, no BigInt needed", () => {
    const c = new Clock();
    for (const t of [0, 0.000001, 0.0005, 0.099, 1.234567, 123456.789012, 9e8]) {
        const want = (BigInt(c.originUs) * 1000n + BigInt(Math.round(t * 1e6))).toString();
        assert.equal(c.ns(t), want, `t=${t}`);
    }
});

test("batches are valid JSON whatever the ids and error texts", () => {
    const r = new Record(7, "error", 1.5);
    r.src = 'we"ird\\id\n';
    r.error = 'Error: "quoted"\ttab';
    const d = new Record(8, "deliver", 2);
    Object.assign(d, { src: "a", port: 1, dst: "b-c", trace: 3, parent: 5, lat: 0.25, ptype: "number", pnum: -1.5e-7, bytes: 8 });
    const batch = JSON.parse(encodeBatch([r, d], recordHead("tap/1", "ff00"), new Clock()));
    assert.equal(batch[0].src, 'we"ird\\id\n');
    assert.equal(batch[0].error, 'Error: "quoted"\ttab');
    assert.equal(batch[0].payload, null);
    assert.equal(batch[0].tap, "tap/1");
    assert.deepEqual(
        { ...batch[1], ts_ns: 0 },
        { v: 1, tap: "tap/1", boot: "ff00", seq: 8, ts_ns: 0, kind: "deliver", src: "a", port: 1, dst: "b-c", trace: 3, parent: 5,
          payload: { type: "number", len: null, values: { payload: -1.5e-7 } }, bytes: 8, latency_ns: 250000, error: null },
    );
});
