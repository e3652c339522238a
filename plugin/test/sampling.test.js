"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("crypto");
const { resolveConfig, ConfigError } = require("../lib/config");
const { SampledTap, Sampler, tapClass } = require("../lib/sampling");
const { Tap } = require("../lib/recorder");
const { MemoryTransport } = require("../lib/transport/memory");
const { FakeHooks, quietLog } = require("./helpers");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function makeTap(settings = {}) {
    const cfg = resolveConfig(
        Object.assign({ transport: "memory", instance: "t", flushMs: 5, statsMs: 60000, sample: 0.25 }, settings),
        {},
    );
    const hooks = new FakeHooks();
    const transport = new MemoryTransport(cfg, quietLog);
    const TapClass = tapClass(cfg);
    const tap = new TapClass(cfg, { hooks, transport, log: quietLog });
    tap.start();
    return { tap, hooks, transport };
}

const node = (id, type = "function") => ({ id, type });

function deliver(hooks, msg, src, port, dst, cloneMessage = false) {
    hooks.fire("postDeliver", { msg, source: { id: src, port, node: node(src) }, destination: { id: dst }, cloneMessage });
    hooks.fire("onReceive", { msg, destination: { id: dst, node: node(dst) } });
}

/**
 * One message through inject -> fn (new object, same _msgid, later) -> sw (forwards) -> two
 * sinks (the second wire gets a copy): 4 deliveries, like Node-RED would make them.
 */
async function trace(hooks, i) {
    const mid = crypto.randomBytes(8).toString("hex");
    deliver(hooks, { _msgid: mid, payload: i }, "inj", 0, "fn");
    await null; // the function node sends from a promise
    const made = { _msgid: mid, payload: { v: i * 2 } };
    deliver(hooks, made, "fn", 0, "sw");
    deliver(hooks, made, "sw", 0, "sinkA");
    deliver(hooks, { _msgid: mid, payload: { v: i * 2 } }, "sw", 0, "sinkB", true);
}

test("the sample is whole traces, deterministic by _msgid, with their lineage", async () => {
    const { tap, hooks, transport } = makeTap({ sample: 0.25 });
    assert.ok(tap instanceof SampledTap);
    const traces = 2000;
    for (let i = 0; i < traces; i++) await trace(hooks, i);
    await tap.stop(2000);
    const recs = transport.records();
    const delivers = recs.filter((r) => r.kind === "deliver");
    const byTrace = new Map();
    for (const r of delivers) byTrace.set(r.trace, (byTrace.get(r.trace) || []).concat([r]));
    // every sampled trace is whole: its root and all 3 descendants, parents chained
    for (const [root, rs] of byTrace) {
        assert.equal(rs.length, 4, `trace ${root}`);
        const by = Object.fromEntries(rs.map((r) => [`${r.src}>${r.dst}`, r]));
        assert.equal(by["inj>fn"].seq, root);
        assert.equal(by["inj>fn"].parent, null);
        assert.equal(by["fn>sw"].parent, by["inj>fn"].seq);
        assert.equal(by["sw>sinkA"].parent, by["fn>sw"].seq);
        assert.equal(by["sw>sinkB"].parent, by["fn>sw"].seq);
    }
    const share = byTrace.size / traces;
    assert.ok(share > 0.2 && share < 0.3, `sampled share ${share}`);
    // counts records: every delivery counted once per wire, sampled or not
    const counts = recs.filter((r) => r.kind === "counts");
    const total = {};
    for (const c of counts) {
        assert.equal(c.sample, 0.25);
        assert.ok(c.since_ns <= c.ts_ns);
        for (const [src, port, dst, n] of c.counts) total[`${src}:${port}>${dst}`] = (total[`${src}:${port}>${dst}`] || 0) + n;
    }
    assert.deepEqual(total, { "inj:0>fn": traces, "fn:0>sw": traces, "sw:0>sinkA": traces, "sw:0>sinkB": traces });
    assert.equal(tap.sampled + tap.skipped, 4 * traces);
    assert.equal(tap.als, null); // no AsyncLocalStorage, no async hooks
    // the seqs have no gaps: unsampled deliveries take none
    const seqs = recs.map((r) => r.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, k) => k + 1));
});

test("the same _msgid gets the same decision in every instance", () => {
    const a = new Sampler(0.1);
    const b = new Sampler(0.1);
    const ids = Array.from({ length: 5000 }, () => crypto.randomBytes(8).toString("hex"));
    assert.deepEqual(ids.map((i) => a.take(i)), ids.map((i) => b.take(i)));
    // nested samples: in at 1/8 means in at 1/4
    const eighth = new Sampler(1 / 8);
    const quarter = new Sampler(1 / 4);
    for (const id of ids) if (eighth.take(id)) assert.ok(quarter.take(id));
});

test("errors are always recorded, sampled message or not", async () => {
    const cfg = resolveConfig({ transport: "memory", instance: "t", flushMs: 5, statsMs: 60000, sample: 1 / 1024 }, {});
    const hooks = new FakeHooks();
    const transport = new MemoryTransport(cfg, quietLog);
    const handlers = [];
    const logRegistry = { addHandler: (h) => handlers.push(h), removeHandler: () => {} };
    const tap = new SampledTap(cfg, { hooks, transport, log: quietLog, logRegistry });
    tap.start();
    for (let i = 0; i < 50; i++) {
        deliver(hooks, { _msgid: `m${i}`, payload: i }, "inj", 0, "fn");
        // done(err) with no catch node: the runtime logs the error
        handlers.forEach((h) => h.emit("log", { level: 20, id: "fn", type: "function", msg: `bad ${i}` }));
        await null;
    }
    await tap.stop(1000);
    const errors = transport.records().filter((r) => r.kind === "error");
    assert.deepEqual(errors.map((e) => e.error), Array.from({ length: 50 }, (_, i) => `bad ${i}`));
    assert.ok(tap.skipped > 40); // the deliveries themselves were mostly not sampled
});

test("adaptive mode lowers the rate over its CPU budget and raises it under", async () => {
    const busy = makeTap({ sampleMode: "adaptive", cpuBudget: 1e-6, statsMs: 20 });
    const idle = makeTap({ sampleMode: "adaptive", cpuBudget: 1, statsMs: 20 });
    for (const { hooks } of [busy, idle]) {
        for (let i = 0; i < 20; i++) {
            for (let k = 0; k < 50; k++) {
                deliver(hooks, { _msgid: crypto.randomBytes(8).toString("hex"), payload: { a: k } }, "inj", 0, "fn");
            }
            await sleep(10);
        }
    }
    assert.ok(busy.tap.sampler.rate < 1 / 8, `rate ${busy.tap.sampler.rate}`);
    assert.equal(idle.tap.sampler.rate, 1);
    const snap = busy.tap.snapshot();
    assert.equal(snap.sample_mode, "adaptive");
    assert.ok(snap.recording_cpu_share > 0);
    await busy.tap.stop(500);
    await idle.tap.stop(500);
});

test("sampling settings are checked; sample 1 keeps the full recorder", () => {
    assert.equal(tapClass(resolveConfig({ transport: "memory" }, {})), Tap);
    assert.equal(tapClass(resolveConfig({ transport: "memory" }, { NODERED_CAUSAL_TAP_SAMPLE: "0.1" })), SampledTap);
    assert.equal(resolveConfig({ transport: "memory" }, { NODERED_CAUSAL_TAP_SAMPLE: "adaptive" }).sampleMode, "adaptive");
    assert.throws(() => resolveConfig({ sample: 0 }, {}), (e) => e instanceof ConfigError && /sample must be a number in \(0, 1\]/.test(e.message));
    assert.throws(() => resolveConfig({ sampleMode: "sometimes" }, {}), /sampleMode must be "fixed" or "adaptive"/);
});
