"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Faults, parseSpec, prng, describeSkip, HOOK } = require("../lib/faults");
const { FakeHooks, quietLog } = require("./helpers");

// RED.util's three helpers the fault module uses, for plain objects
const util = {
    cloneMessage: (m) => JSON.parse(JSON.stringify(m)),
    getMessageProperty: (m, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), m),
    setMessageProperty: (m, path, v) => {
        const keys = path.split(".");
        let o = m;
        for (const k of keys.slice(0, -1)) o = o[k] = o[k] || {};
        o[keys[keys.length - 1]] = v;
    },
};

function setup() {
    const hooks = new FakeHooks();
    const errors = [];
    const nodes = { n1: { id: "n1", error: (e, msg) => errors.push([String(e), msg]) } };
    const faults = new Faults({ hooks, util, getNode: (id) => nodes[id], log: quietLog });
    const route = (msg, cloneMessage = false) => {
        const ev = { msg, source: { id: "n1", port: 0, node: nodes.n1 }, destination: { id: "x" }, cloneMessage };
        const r = hooks.fire("preRoute", ev);
        return { r, msg: ev.msg };
    };
    return { hooks, faults, route, errors };
}

test("spec validation names the field", () => {
    assert.throws(() => parseSpec({ node: "n1", kind: "melt" }), /fault.kind must be one of/);
    assert.throws(() => parseSpec({ node: "n1", kind: "bias" }), /fault.value must be a finite number for kind bias/);
    assert.throws(() => parseSpec({ node: "n1", kind: "drop", probability: 2 }), /probability must be a number in \[0, 1\]/);
    assert.throws(() => parseSpec({ node: "n1", kind: "bias", value: 1, field: "payload..x" }), /fault.field/);
    assert.throws(() => parseSpec({ node: "", kind: "drop" }), /fault.node/);
    assert.deepEqual(parseSpec({ node: "n1", kind: "drop", value: 0.25 }), {
        node: "n1", kind: "drop", value: 0.25, field: "payload", probability: 0.25, seed: 0,
    });
});

test("unknown node is a 404", () => {
    const { faults } = setup();
    assert.throws(() => faults.add({ node: "zz", kind: "drop" }), (e) => e.status === 404);
});

test("bias on a nested field: a modified copy, the original untouched; removal removes the hook", () => {
    const { hooks, faults, route } = setup();
    faults.add({ node: "n1", kind: "bias", value: 10, field: "payload.t" });
    assert.ok(hooks.has(HOOK));
    const orig = { payload: { t: 1.5, other: "x" } };
    const { r, msg } = route(orig);
    assert.equal(r, undefined);
    assert.deepEqual(msg.payload, { t: 11.5, other: "x" });
    assert.deepEqual(orig.payload, { t: 1.5, other: "x" });
    const skipped = route({ payload: { t: "not a number" } });
    assert.equal(skipped.msg.payload.t, "not a number");
    assert.deepEqual(faults.list().map((f) => [f.seen, f.applied, f.skipped]), [[2, 1, 1]]);
    faults.remove();
    assert.ok(!hooks.has(HOOK));
});

test("copies of one send share the decision; drop with probability is seeded", () => {
    const { faults, route } = setup();
    faults.add({ node: "n1", kind: "noise", value: 1, seed: 7 });
    const m = { payload: 0 };
    const a = route(m).msg.payload;
    const b = route(m, true).msg.payload; // the same send to a second wire
    assert.equal(a, b);
    faults.add({ node: "n1", kind: "drop", probability: 0.5, seed: 3 });
    const run = () => Array.from({ length: 200 }, () => route({ payload: 1 }).r === false);
    const first = run();
    faults.add({ node: "n1", kind: "drop", probability: 0.5, seed: 3 });
    assert.deepEqual(run(), first, "same seed, same drops");
    const dropped = first.filter(Boolean).length;
    assert.ok(dropped > 70 && dropped < 130, `${dropped} of 200 dropped at p=0.5`);
});

test("error raises node.error with the message and stops it; delay returns a promise", async () => {
    const { faults, route, errors } = setup();
    faults.add({ node: "n1", kind: "error", value: 1 });
    const m = { payload: 5 };
    assert.equal(route(m).r, false);
    assert.equal(errors.length, 1);
    assert.match(errors[0][0], /injected fault: error in n1/);
    assert.equal(errors[0][1], m);
    faults.add({ node: "n1", kind: "delay", value: 20 });
    const t0 = Date.now();
    const { r } = route({ payload: 1 });
    assert.equal(typeof r.then, "function");
    await r;
    assert.ok(Date.now() - t0 >= 15);
});

test("constant sets any JSON value; the prng is deterministic", () => {
    const { faults, route } = setup();
    faults.add({ node: "n1", kind: "constant", value: { stuck: true } });
    assert.deepEqual(route({ payload: 3 }).msg.payload, { stuck: true });
    const a = prng(42);
    const b = prng(42);
    assert.deepEqual([a(), a(), a()], [b(), b(), b()]);
});

test("a skipped value fault says what the field was and which numeric leaves it has", () => {
    const { faults, route } = setup();
    faults.add({ node: "n1", kind: "scale", value: 2 });
    route({ payload: { total: 3, lines: [{ qty: 1 }], name: "x", password: 7, "odd key": 1, id: "7" } });
    const [f] = faults.list();
    assert.deepEqual([f.seen, f.applied, f.skipped], [1, 0, 1]);
    assert.deepEqual(f.last_skip, { field: "payload", type: "an object", leaves: ["payload.total", "payload.lines[0].qty"] });
    assert.deepEqual(describeSkip("12", "payload"), { field: "payload", type: "a string", leaves: [] });
    assert.deepEqual(describeSkip(undefined, "payload.t"), { field: "payload.t", type: "missing", leaves: [] });
    const deep = describeSkip({ a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } }, x: 2 }, "payload");
    assert.deepEqual(deep.leaves, ["payload.x"]); // bounded depth
    const wide = describeSkip(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])), "payload");
    assert.equal(wide.leaves.length, 20);
});
