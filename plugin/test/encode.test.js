"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Encoder, Clock } = require("../lib/encode");
const { RecordStore, KIND, PTYPE } = require("../lib/store");

test("clock: exact ns, no BigInt needed", () => {
    const c = new Clock();
    for (const t of [0, 0.000001, 0.0005, 0.099, 1.234567, 123456.789012, 9e8]) {
        const want = (BigInt(c.originUs) * 1000n + BigInt(Math.round(t * 1e6))).toString();
        assert.equal(c.nsString(t), want, `t=${t}`);
    }
});

test("numbers are written as JSON would", () => {
    const s = new RecordStore(32, 64);
    const enc = new Encoder("t", "b");
    const nums = [0, 7, -1, -0, -42.5, 1.5e-7, 2 ** 53, 1e21, 0.1 + 0.2, Number.MAX_SAFE_INTEGER];
    for (const n of nums) {
        const i = s.slot(s.alloc(KIND.deliver, 0));
        s.ptype[i] = PTYPE.number;
        s.pnum[i] = n;
        s.hasNum[i] = 1;
    }
    const recs = JSON.parse(enc.encode(s.take(32)).toString());
    assert.deepEqual(recs.map((r) => r.payload.values.payload), nums.map((n) => JSON.parse(JSON.stringify(n))));
});

test("batches are valid JSON whatever the ids and error texts", () => {
    const s = new RecordStore(8, 16);
    const enc = new Encoder("tap/1", "ff00");
    const e = s.alloc(KIND.error, 1.5);
    s.src[s.slot(e)] = s.nodeIds.id('we"ird\\id\n é');
    s.texts.set(e, 'Error: "quoted"\ttab ü');
    const d = s.alloc(KIND.deliver, 2);
    const i = s.slot(d);
    s.src[i] = s.nodeIds.id("a");
    s.port[i] = 1;
    s.dst[i] = s.nodeIds.id("b-c");
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
    s.addValue(j, 0, 1);
    s.addValue(j, 1, 2.5);
    const st = s.alloc(KIND.stats, 4);
    s.stats.set(st, { recorded: 4, dropped: 0, failed: 1, queue: 4 });
    enc.learn(s.nodeIds.fresh(), ['"payload.a":', '"payload[\\"ö\\"]":']);
    const text = enc.encode(s.take(10)).toString("utf8");
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
    assert.deepEqual(batch[2].payload, { type: "object", len: 2, values: { "payload.a": 1, 'payload["ö"]': 2.5 } });
    assert.deepEqual([batch[3].kind, batch[3].recorded, batch[3].failed, batch[3].queue], ["stats", 4, 1, 4]);
    const ts = [...text.matchAll(/"ts_ns":(\d+)/g)].map((m) => BigInt(m[1]));
    assert.equal(ts[1] - ts[0], 500000n);
    assert.equal(s.texts.size + s.stats.size, 0, "side tables emptied by take");
});

test("a batch never wraps around the ring; values follow their records", () => {
    const s = new RecordStore(4, 8);
    const enc = new Encoder("t", "b");
    enc.learn(["n"], ['"payload.x":']);
    const seen = [];
    for (let k = 0; k < 10; k++) {
        const seq = s.alloc(KIND.deliver, k);
        const i = s.slot(seq);
        s.src[i] = 0;
        s.ptype[i] = PTYPE.object;
        s.addValue(i, 0, seq * 10);
        if (k % 3 === 2) {
            while (s.size > 0) seen.push(...JSON.parse(enc.encode(s.take(3)).toString()));
        }
    }
    while (s.size > 0) seen.push(...JSON.parse(enc.encode(s.take(3)).toString()));
    assert.deepEqual(seen.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const r of seen) assert.deepEqual(r.payload.values, { "payload.x": r.seq * 10 });
});

test("the store evicts the oldest record when full and counts it", () => {
    const s = new RecordStore(3, 8);
    for (let k = 0; k < 5; k++) s.alloc(KIND.deliver, k);
    assert.equal(s.size, 3);
    assert.equal(s.dropped, 2);
    const b1 = s.take(2);
    assert.deepEqual([b1.seq0, b1.n], [3, 2]);
    const b2 = s.take(2);
    assert.deepEqual([b2.seq0, b2.n], [5, 1]);
    assert.equal(s.size, 0);
});
