"use strict";
/**
 * The in-memory record and its JSON encoding (schema v1, see README).
 *
 * A record is created on the hot path with a fixed shape (one allocation); it is turned into JSON
 * only when a batch is flushed, off the hook. Times are `performance.now()` milliseconds on the
 * hot path and become wall-clock nanoseconds in `encodeBatch`.
 */

const { performance } = require("perf_hooks");

class Record {
    constructor(seq, kind, t) {
        this.seq = seq;
        this.kind = kind;
        this.t = t; // performance.now() ms when the record was created
        this.src = null;
        this.port = null;
        this.dst = null;
        this.trace = null;
        this.parent = null;
        this.lat = -1; // ms, -1 = unknown
        this.ptype = null;
        this.plen = null;
        this.pnum = undefined;
        this.pvals = "";
        this.bytes = null;
        this.error = null;
        this.stats = null;
        // lineage bookkeeping (not serialised): receive time at dst, and whether dst is a
        // `link out` in return mode territory (its sends come back through a `link call`)
        this.rt = -1;
        this.ret = false;
        this.prev = undefined; // sync delivery only: the sender's store, restored in postReceive
    }
}

/**
 * Wall clock in ns for a performance.now() value, as a decimal string (exact integer; no BigInt:
 * the µs part fits a double exactly, the ns remainder is appended).
 */
class Clock {
    constructor() {
        // performance.timeOrigin: ms since the epoch (double, sub-ms precision)
        this.originUs = Math.round(performance.timeOrigin * 1000);
    }
    ns(t) {
        const tns = Math.round(t * 1e6);
        const rem = tns % 1000;
        const us = this.originUs + (tns - rem) / 1000;
        return rem < 10 ? `${us}00${rem}` : rem < 100 ? `${us}0${rem}` : `${us}${rem}`;
    }
}

const idCache = new Map();
const ID_CACHE_MAX = 65536;

function jsonId(id) {
    if (id === null || id === undefined) return "null";
    let s = idCache.get(id);
    if (s === undefined) {
        s = JSON.stringify(String(id));
        if (idCache.size >= ID_CACHE_MAX) idCache.clear();
        idCache.set(id, s);
    }
    return s;
}

function num(v) {
    return v === null || v === undefined ? "null" : String(v);
}

function encodeRecord(rec, head, clock) {
    let values;
    if (rec.pnum !== undefined) values = `"payload":${rec.pnum}`;
    else values = rec.pvals;
    const payload =
        rec.ptype === null
            ? "null"
            : `{"type":"${rec.ptype}","len":${num(rec.plen)},"values":{${values}}}`;
    let s =
        `{${head}"seq":${rec.seq},"ts_ns":${clock.ns(rec.t)},"kind":"${rec.kind}",` +
        `"src":${jsonId(rec.src)},"port":${num(rec.port)},"dst":${jsonId(rec.dst)},` +
        `"trace":${num(rec.trace)},"parent":${num(rec.parent)},"payload":${payload},` +
        `"bytes":${num(rec.bytes)},"latency_ns":${rec.lat < 0 ? "null" : Math.round(rec.lat * 1e6)},` +
        `"error":${rec.error === null ? "null" : JSON.stringify(rec.error)}`;
    const st = rec.stats;
    if (st !== null) {
        s += `,"recorded":${st.recorded},"dropped":${st.dropped},"failed":${st.failed},"queue":${st.queue}`;
    }
    return s + "}";
}

/** The constant head of every record of one tap boot: `"v":1,"tap":...,"boot":...,` */
function recordHead(instance, boot) {
    return `"v":1,"tap":${JSON.stringify(instance)},"boot":${JSON.stringify(boot)},`;
}

/** Encode records as one JSON array (a batch). */
function encodeBatch(records, head, clock) {
    const parts = new Array(records.length);
    for (let i = 0; i < records.length; i++) parts[i] = encodeRecord(records[i], head, clock);
    return `[${parts.join(",")}]`;
}

module.exports = { Record, Clock, encodeRecord, encodeBatch, recordHead, jsonId };
