"use strict";
// Test doubles shared by the unit tests: a hooks registry with Node-RED's add/remove/has
// semantics (labels, duplicate check), a quiet logger, and a tap recording into memory.
const { resolveConfig } = require("../lib/config");
const { Tap } = require("../lib/recorder");
const { MemoryTransport } = require("../lib/transport/memory");

class FakeHooks {
    constructor() {
        this.byId = new Map();
    }
    add(id, fn) {
        if (!id.includes(".")) throw new Error("test hooks need labels");
        if (this.byId.has(id)) throw new Error(`Hook ${id} already registered`);
        this.byId.set(id, fn);
    }
    remove(id) {
        this.byId.delete(id);
    }
    has(id) {
        return this.byId.has(id);
    }
    fire(name, ev) {
        for (const [id, fn] of this.byId) {
            if (id.split(".")[0] === name) {
                const r = fn(ev);
                if (r === false || (r && typeof r.then === "function")) return r;
            }
        }
        return undefined;
    }
}

const quietLog = { info() {}, warn() {}, error() {}, debug() {} };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait until pred() holds (the machine may be loaded: no fixed sleeps for ordering). */
async function until(pred, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
        if (Date.now() > deadline) throw new Error("timed out");
        await sleep(2);
    }
}

/** A started tap recording into an in-process memory transport, with fake hooks. */
function makeTap(settings = {}) {
    const cfg = resolveConfig(Object.assign({ transport: "memory", instance: "t", flushMs: 5, statsMs: 60000 }, settings), {});
    const hooks = new FakeHooks();
    const transport = new MemoryTransport(cfg, quietLog);
    const tap = new Tap(cfg, { hooks, transport, log: quietLog });
    tap.start();
    return { tap, hooks, transport };
}

/** Stop the tap and return what it shipped, stats records left out. */
async function records(tap, transport) {
    await tap.stop(1000);
    return transport.records().filter((r) => r.kind !== "stats");
}

module.exports = { FakeHooks, quietLog, sleep, until, makeTap, records };
