"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Encoder, Clock, putNumber } = require("../lib/encode");
const { RecordStore, KIND, PTYPE } = require("../lib/store");

test("clock: exact ns, no BigInt needed", () => {
    const c = new Clock();
    for (const t of [0, 0.000001, 0.0005, 0.099, 1.234567, 123456.789012, 9e8]) {
        const want = (BigInt(c.originUs) * 1000n + BigInt(Math.round(t * 1e6))).toString();
        assert.equal(c.nsString(t), want, `t=${t}`);
    }
});

test("numbers are written as JSON would", () => {
    const buf = Buffer.alloc(64);
    for (const n of [0, 7, 10, 99, 100, 123456789012345, -1, -0, -42.5, 1.5e-7, 2 ** 53, 1e21, 0.1 + 0.2, Number.MAX_SAFE_INTEGER]) {
        const end = putNumber(buf, 0, n);
        assert.equal(buf.toString("latin1", 0, end), JSON.stringify(n), String(n));
    }
});

test("batches are valid JSON whatever the ids and error texts", () => {
    const s = new RecordStore(8);
    const e = s.alloc(KIND.error, 1.5);
    s.src[s.slot(e)] = 'we"ird\\id\n é';
    s.error[s.slot(e)] = 'Error: "quoted"\ttab ü';
    const d = s.alloc(KIND.deliver, 2);
    const i = s.slot(d);
    Object.assign(s, {});
    s.src[i] = "a";
    s.port[i] = 1;
    s.dst[i] = "b-c";
    s.trace[i] = 1;
    s.parent[i] = 1;
    s.lat[i] = 0.25;
    s.ptype[i] = PTYPE.number;
    s.pnum[i] = -1.5e-7;
    s.hasNum[i] = 1;
    s.bytes[i] = 8;
    const o = s.alloc(KIND.deliver, 3);
    const j = s.slot(o);
    s.ptype[j] = PTYPE.object;
    s.plen[j] = 2;
    s.pvals[j] = '"payload.a":1,"payload[\\"ö\\"]":2';
    const st = s.alloc(KIND.stats, 4);
    s.extra[s.slot(st)] = { recorded: 4, dropped: 0, failed: 1, queue: 4 };
    const [from, to] = s.take(10);
    const text = new Encoder("tap/1", "ff00").encode(s, from, to).toString("utf8");
    const batch = JSON.parse(text);
    assert.equal(batch.length, 4);
    assert.equal(batch[0].src, 'we"ird\\id\n é');
    assert.equal(batch[0].error, 'Error: "quoted"\ttab ü');
    assert.equal(batch[0].payload, null);
    assert.equal(batch[0].tap, "tap/1");
    assert.deepEqual(
        { ...batch[1], ts_ns: 0 },
        { v: 1, tap: "tap/1", boot: "ff00", seq: 2, ts_ns: 0, kind: "deliver", src: "a", port: 1, dst: "b-c", trace: 1, parent: 1,
          payload: { type: "number", len: null, values: { payload: -1.5e-7 } }, bytes: 8, latency_ns: 250000, error: null },
    );
    assert.deepEqual(batch[2].payload, { type: "object", len: 2, values: { "payload.a": 1, 'payload["ö"]': 2 } });
    assert.deepEqual([batch[3].kind, batch[3].recorded, batch[3].failed, batch[3].queue], ["stats", 4, 1, 4]);
    const ts = [...text.matchAll(/"ts_ns":(\d+)/g)].map((m) => BigInt(m[1]));
    assert.equal(ts[1] - ts[0], 500000n);
});

test("the store evicts the oldest record when full and counts it", () => {
    const s = new RecordStore(3);
    for (let k = 0; k < 5; k++) s.alloc(KIND.deliver, k);
    assert.equal(s.size, 3);
    assert.equal(s.dropped, 2);
    assert.deepEqual(s.take(2), [3, 5]);
    assert.deepEqual(s.take(2), [5, 6]);
    assert.equal(s.size, 0);
});
