"use strict";
// Multi-parent lineage: the sends of aggregating nodes (join, batch, aggregateTypes) list every
// delivery they received since their previous send as `parents`.
const test = require("node:test");
const assert = require("node:assert/strict");
const { resolveConfig } = require("../lib/config");
const { Tap } = require("../lib/recorder");
const { Parts } = require("../lib/lineage");
const { RecordStore, KIND } = require("../lib/store");
const { Encoder } = require("../lib/encode");
const { FakeHooks, quietLog, until, makeTap, records } = require("./helpers");

/** A tiny runtime: one object per node (as Node-RED has), deliveries received on a later tick. */
class Runtime {
    constructor(hooks) {
        this.hooks = hooks;
        this.nodes = new Map();
        this.handlers = new Map();
        this.pending = 0;
    }
    node(id, type = "function") {
        let n = this.nodes.get(id);
        if (n === undefined) {
            n = { id, type };
            this.nodes.set(id, n);
        }
        return n;
    }
    on(id, type, handler) {
        this.node(id, type);
        this.handlers.set(id, handler);
    }
    /** node `src` sends msg to `dst` (cloneMessage: a copy for a 2nd..nth wire). */
    send(msg, src, port, dst, cloneMessage = false) {
        this.hooks.fire("postDeliver", {
            msg,
            source: { id: src, port, node: this.node(src) },
            destination: { id: dst, node: undefined },
            cloneMessage,
        });
        this.pending++;
        setImmediate(() => {
            this.hooks.fire("onReceive", { msg, destination: { id: dst, node: this.node(dst) } });
            const h = this.handlers.get(dst);
            if (h) h(msg);
            this.pending--;
        });
    }
    idle() {
        return until(() => this.pending === 0);
    }
}

/** A join by count: collects n payloads, then sends one new object to `out`. */
function joinByCount(rt, id, n, out) {
    let parts = [];
    rt.on(id, "join", (msg) => {
        parts.push(msg.payload);
        if (parts.length === n) {
            rt.send({ payload: parts }, id, 0, out);
            parts = [];
        }
    });
}

test("a join's send lists every part it received as parents, oldest first", async () => {
    const { tap, hooks, transport } = makeTap();
    const rt = new Runtime(hooks);
    joinByCount(rt, "J", 3, "sink");
    for (let k = 0; k < 6; k++) {
        rt.send({ payload: k }, ["a", "b", "c"][k % 3], 0, "J");
        await rt.idle(); // one part per tick, as Node-RED delivers them
    }
    const recs = await records(tap, transport);
    const into = recs.filter((r) => r.dst === "J");
    const out = recs.filter((r) => r.src === "J");
    assert.equal(into.length, 6);
    assert.equal(out.length, 2);
    assert.deepEqual(out[0].parents, into.slice(0, 3).map((r) => r.seq));
    assert.deepEqual(out[1].parents, into.slice(3).map((r) => r.seq));
    // parent stays the delivery the join was handling when it sent (the last part)
    assert.equal(out[0].parent, into[2].seq);
    assert.equal(out[1].parent, into[5].seq);
    for (const r of into) assert.ok(!("parents" in r), "only aggregating nodes' sends have parents");
});

test("a batch's burst: every message it sends (and every wire) gets all parts; later sends none", async () => {
    const { tap, hooks, transport } = makeTap();
    const rt = new Runtime(hooks);
    let queue = [];
    rt.on("B", "batch", (msg) => {
        queue.push(msg);
        if (queue.length === 3) {
            // the batch node re-sends the received objects, to two wires (2nd one a copy)
            for (const m of queue) {
                rt.send(m, "B", 0, "s1");
                rt.send({ payload: m.payload }, "B", 0, "s2", true);
            }
            queue = [];
        }
    });
    for (let k = 0; k < 3; k++) {
        rt.send({ payload: k }, "src", 0, "B");
        await rt.idle();
    }
    assert.equal(tap.store.pnext, 3, "one copy of the parts for the whole burst");
    // a send from a timer, nothing received since: no parts
    await new Promise((r) => setTimeout(r, 5));
    rt.send({ payload: null }, "B", 0, "s1");
    await rt.idle();
    const recs = await records(tap, transport);
    const into = recs.filter((r) => r.dst === "B").map((r) => r.seq);
    const out = recs.filter((r) => r.src === "B");
    assert.equal(out.length, 7);
    for (const r of out.slice(0, 6)) assert.deepEqual(r.parents, into);
    // each message's parent is the delivery of that very object
    assert.deepEqual(out.slice(0, 6).map((r) => r.parent), [into[0], into[0], into[1], into[1], into[2], into[2]]);
    assert.ok(!("parents" in out[6]));
});

/** Node-RED's batch "W" (count 3, overlap 2): after the first three, each reading sends a window
 * of clones of the newest three. */
function slidingBatch(rt) {
    let queue = [];
    rt.on("W", "batch", (msg) => {
        queue.push(msg);
        if (queue.length === 3) {
            for (const m of queue) rt.send({ payload: m.payload }, "W", 0, "sink", true);
            queue = queue.slice(-2);
        }
    });
}

test("a batch by count with overlap: every window lists all the readings it holds", async () => {
    const { tap, hooks, transport } = makeTap();
    const rt = new Runtime(hooks);
    slidingBatch(rt);
    rt.node("W")._flow = { flow: { nodes: { W: { id: "W", mode: "count", count: "3", overlap: "2" } } } };
    for (let k = 0; k < 5; k++) {
        rt.send({ payload: k }, "src", 0, "W");
        await rt.idle();
    }
    const recs = await records(tap, transport);
    const into = recs.filter((r) => r.dst === "W").map((r) => r.seq);
    const out = recs.filter((r) => r.src === "W");
    assert.equal(out.length, 9); // three windows of three
    const windows = [0, 1, 2].map((w) => out.slice(3 * w, 3 * w + 3));
    windows.forEach((win, w) => {
        for (const r of win) assert.deepEqual(r.parents, into.slice(w, w + 3), `window ${w}`);
    });
    // without the overlap in its config a batch lists only what it received since its last send
    const plain = makeTap();
    const rt2 = new Runtime(plain.hooks);
    slidingBatch(rt2);
    for (let k = 0; k < 4; k++) {
        rt2.send({ payload: k }, "src", 0, "W");
        await rt2.idle();
    }
    const recs2 = await records(plain.tap, plain.transport);
    const into2 = recs2.filter((r) => r.dst === "W").map((r) => r.seq);
    const last = recs2.filter((r) => r.src === "W").pop();
    assert.deepEqual(last.parents, [into2[3]]);
});

test("parts are bounded by maxParents (the newest kept, the send counted as truncated)", async () => {
    const { tap, hooks, transport } = makeTap({ maxParents: 4 });
    const rt = new Runtime(hooks);
    joinByCount(rt, "J", 6, "sink");
    for (let k = 0; k < 6; k++) {
        rt.send({ payload: k }, "a", 0, "J");
        await rt.idle();
    }
    const truncated = tap.snapshot().parents_truncated;
    const recs = await records(tap, transport);
    const into = recs.filter((r) => r.dst === "J").map((r) => r.seq);
    const [out] = recs.filter((r) => r.src === "J");
    assert.deepEqual(out.parents, into.slice(2));
    assert.equal(truncated, 1);
});

test("only the configured aggregating types; a redeployed node starts with no parts", async () => {
    const { tap, hooks, transport } = makeTap({ aggregateTypes: ["smooth"] });
    const rt = new Runtime(hooks);
    joinByCount(rt, "J", 2, "sink1"); // type join, not configured here
    joinByCount(rt, "S", 2, "sink2");
    rt.node("S").type = "smooth";
    joinByCount(rt, "F", 2, "sink3");
    rt.node("F").type = "function";
    for (const id of ["J", "S", "F"]) {
        rt.send({ payload: 1 }, "a", 0, id);
        rt.send({ payload: 2 }, "a", 0, id);
        await rt.idle();
    }
    // S is redeployed (a new node object) after one part: the old part is not a parent
    rt.send({ payload: 3 }, "a", 0, "S");
    await rt.idle();
    rt.nodes.set("S", { id: "S", type: "smooth" });
    rt.send({ payload: 4 }, "a", 0, "S");
    await rt.idle();
    const recs = await records(tap, transport);
    const withParents = recs.filter((r) => "parents" in r);
    const intoS = recs.filter((r) => r.dst === "S").map((r) => r.seq);
    assert.deepEqual(withParents.map((r) => [r.src, r.parents]), [
        ["S", intoS.slice(0, 2)],
        ["S", [intoS[3]]],
    ]);
    assert.equal(recs.filter((r) => r.src === "J" || r.src === "F").length, 2);
});

test("lineage off: no parents", async () => {
    const { tap, hooks, transport } = makeTap({ lineage: false });
    const rt = new Runtime(hooks);
    joinByCount(rt, "J", 2, "sink");
    rt.send({ payload: 1 }, "a", 0, "J");
    rt.send({ payload: 2 }, "a", 0, "J");
    await rt.idle();
    const recs = await records(tap, transport);
    assert.equal(recs.length, 3);
    for (const r of recs) assert.ok(!("parents" in r));
});

test("Parts: a receive during a running burst starts a new set", async () => {
    const parts = new Parts(["join"], 8);
    const n = { id: "J", type: "join" };
    parts.received("J", n, 5);
    parts.received("J", n, 6);
    const st = parts.sending("J");
    assert.deepEqual([st.size, st.at(0), st.at(1)], [2, 5, 6]);
    assert.equal(parts.sending("J"), st, "same burst");
    parts.received("J", n, 9); // synchronous delivery back into the node
    assert.deepEqual([st.size, st.at(0)], [1, 9]);
    await Promise.resolve();
    assert.equal(parts.sending("X"), undefined);
});

test("store: bursts share ranges, batches cut anywhere carry the right parents, ring wraps", () => {
    // a small queue and parents ring, so ranges wrap and old records are evicted
    const s = new RecordStore(32, 64, 8);
    const enc = new Encoder("t", "b");
    const fakeParts = (seqs) => ({ start: -1, count: 0, size: seqs.length, at: (k) => seqs[k] });
    const want = new Map();
    const got = [];
    let seqBase = 1000;
    for (let burst = 0; burst < 20; burst++) {
        const seqs = Array.from({ length: 1 + (burst % 4) }, (_, k) => seqBase + k);
        seqBase += 10;
        const p = fakeParts(seqs);
        // a plain record, then the burst's sends (3 deliveries), then another plain record
        want.set(s.alloc(KIND.deliver, 0), undefined);
        for (let k = 0; k < 3; k++) {
            const seq = s.alloc(KIND.deliver, 0);
            s.setParents(s.slot(seq), p);
            want.set(seq, seqs);
        }
        want.set(s.alloc(KIND.deliver, 0), undefined);
        // cut a batch of 3 now and then (batches start and end inside bursts)
        if (burst % 2 === 1) got.push(...JSON.parse(enc.encode(s.take(3)).toString()));
    }
    while (s.size > 0) got.push(...JSON.parse(enc.encode(s.take(5)).toString()));
    assert.ok(s.dropped > 0, "the small rings evicted records");
    assert.equal(got.length + s.dropped, want.size);
    for (const r of got) assert.deepEqual(r.parents, want.get(r.seq), `seq ${r.seq}`);
    // pstart never decreases, so the oldest queued record bounds the ring
    assert.ok(s.pnext <= 20 * 4);
});

test("the shipping worker thread writes the same parents", async () => {
    const cfg = resolveConfig({ transport: "memory", instance: "w", flushMs: 5, statsMs: 60000, worker: true }, {});
    const hooks = new FakeHooks();
    const tap = new Tap(cfg, { hooks, log: quietLog });
    tap.start();
    const rt = new Runtime(hooks);
    joinByCount(rt, "J", 2, "sink");
    for (let k = 0; k < 4; k++) {
        rt.send({ payload: k }, "a", 0, "J");
        await rt.idle();
    }
    await tap.stop(2000);
    assert.equal(tap.shipper.mode, "worker");
    const recs = tap.shipper.memory.flatMap((b) => JSON.parse(b)).filter((r) => r.kind === "deliver");
    const into = recs.filter((r) => r.dst === "J").map((r) => r.seq);
    assert.deepEqual(recs.filter((r) => r.src === "J").map((r) => r.parents), [into.slice(0, 2), into.slice(2)]);
});
