"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Projector } = require("../lib/project");
const { RecordStore, KIND, PTYPE_NAMES } = require("../lib/store");

const OPTS = { payloadDepth: 4, payloadLeaves: 32, payloadBudget: 256 };

function project(payload, opts = OPTS) {
    const s = new RecordStore(4, 64);
    const p = new Projector(opts);
    const i = s.slot(s.alloc(KIND.deliver, 0));
    p.project(s, i, payload);
    let values = {};
    if (s.hasNum[i]) values = { payload: s.pnum[i] };
    const keys = p.paths.list;
    for (let k = 0; k < s.vcount[i]; k++) {
        const j = s.vstart[i] + k;
        values = { ...values, ...JSON.parse(`{${keys[s.vkey[j]]}${s.vals[j]}}`) };
    }
    const len = s.plen[i] < 0 ? null : s.plen[i];
    return { type: PTYPE_NAMES[s.ptype[i]], len, values, bytes: s.bytes[i] };
}

test("primitives", () => {
    assert.deepEqual(project(1.5), { type: "number", len: null, values: { payload: 1.5 }, bytes: 8 });
    assert.deepEqual(project(true), { type: "boolean", len: null, values: { payload: 1 }, bytes: 4 });
    assert.deepEqual(project(" 42.5"), { type: "string", len: 5, values: { payload: 42.5 }, bytes: 7 });
    assert.deepEqual(project("hello"), { type: "string", len: 5, values: {}, bytes: 7 });
    assert.deepEqual(project(""), { type: "string", len: 0, values: {}, bytes: 2 });
    assert.deepEqual(project(null), { type: "null", len: null, values: {}, bytes: 4 });
    assert.deepEqual(project(undefined), { type: "undefined", len: null, values: {}, bytes: 0 });
    assert.deepEqual(project(NaN).values, {});
    assert.deepEqual(project(Infinity).values, {});
});

test("buffers only as length", () => {
    assert.deepEqual(project(Buffer.from([1, 2, 3])), { type: "buffer", len: 3, values: {}, bytes: 3 });
    assert.deepEqual(project({ raw: Buffer.alloc(100), n: 2 }).values, { "payload.n": 2 });
});

test("nested objects and arrays flatten to numeric leaves", () => {
    const p = project({ a: { b: [1, { c: 2 }] }, s: "x", t: "3", ok: false, nil: null });
    assert.equal(p.type, "object");
    assert.equal(p.len, 5);
    assert.deepEqual(p.values, { "payload.a.b[0]": 1, "payload.a.b[1].c": 2, "payload.t": 3, "payload.ok": 0 });
    assert.deepEqual(project([3, [4]]).values, { "payload[0]": 3, "payload[1][0]": 4 });
    assert.equal(project([3, [4]]).len, 2);
});

test("odd keys are quoted", () => {
    assert.deepEqual(project({ "a.b": 1, "x y": { "0": 2 } }).values, { 'payload["a.b"]': 1, 'payload["x y"]["0"]': 2 });
});

test("credential-like keys are skipped with their subtree", () => {
    const p = project({ password: 1234, apiKey: 5, auth: { n: 1 }, secretValue: 2, token: 3, temp: 20 });
    assert.deepEqual(p.values, { "payload.temp": 20 });
});

test("depth, leaf and walk budget bounds", () => {
    const deep = { a: { b: { c: { d: 1, e: { f: 2 } } } } };
    assert.deepEqual(project(deep).values, { "payload.a.b.c.d": 1 });
    const many = {};
    for (let i = 0; i < 100; i++) many[`k${i}`] = i;
    const p = project(many);
    assert.equal(Object.keys(p.values).length, 32);
    assert.equal(p.values["payload.k31"], 31);
    assert.equal(p.len, 100);
    const big = new Array(10000).fill(1);
    const q = project(big, { payloadDepth: 4, payloadLeaves: 32, payloadBudget: 50 });
    assert.equal(Object.keys(q.values).length, 32);
    assert.ok(q.bytes > 400 && q.bytes < 500, `walk must stop after ~50 entries, bytes=${q.bytes}`);
    assert.deepEqual(project({ a: 1 }, { payloadDepth: 0, payloadLeaves: 32, payloadBudget: 10 }).values, {});
    assert.deepEqual(project(5, { payloadDepth: 4, payloadLeaves: 0, payloadBudget: 10 }).values, {});
});

test("bytes approximates the JSON size of small objects", () => {
    const obj = { temperature: 21.5, unit: "C", ok: true };
    const est = project(obj).bytes;
    const real = JSON.stringify(obj).length;
    assert.ok(Math.abs(est - real) <= real * 0.5, `estimate ${est} vs ${real}`);
});

test("the payload is never modified", () => {
    const obj = { a: { b: [1, 2] }, password: "x" };
    const before = JSON.stringify(obj);
    project(obj);
    assert.equal(JSON.stringify(obj), before);
});
