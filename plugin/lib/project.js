"use strict";
/**
 * Payload projection: what the tap keeps of `msg.payload`.
 *
 * Only the type, a length, an approximate size and the numeric leaves (bounded depth, count and
 * walk budget) are kept, never the value itself. Booleans count as 0/1, numeric strings of up to
 * 32 characters as numbers, Buffers and typed arrays only as their length. Keys that look like
 * credentials (password, secret, token, auth, api key, credentials) are skipped with their subtree.
 *
 * A scalar payload is kept as a number; the numeric leaves of an object go to the store's values
 * ring as (path id, value) pairs. Paths are interned in a tree of {path, id, kids} nodes, one per
 * (parent path, key), so walking a payload shape seen before allocates nothing. At most
 * `MAX_PATHS` distinct paths per tap: leaves under newer paths are skipped (counted).
 *
 * `bytes` is an estimate of the JSON size of the payload, computed by the same bounded walk: exact
 * for numbers (as printed), strings (UTF-16 code units + 2) and Buffers (their length); for
 * objects and arrays the sum over the visited entries of key length + 4 (quotes, colon, comma) +
 * the value's estimate; once the walk budget is spent, the remaining entries are not visited and
 * `bytes` is a lower bound.
 */

const { PTYPE, Interner } = require("./store");

const DENY = /pass(word|wd)?|secret|token|credential|api[-_]?key|auth|cookie|session/i;
const SAFE_KEY = /^[A-Za-z_$][\w$-]*$/;
const NUMERIC_STRING_MAX = 32;

const keyCache = new Map(); // key -> 0 deny, 1 safe, 2 needs quoting
const KEY_CACHE_MAX = 4096;

function keyClass(key) {
    let c = keyCache.get(key);
    if (c === undefined) {
        c = DENY.test(key) ? 0 : SAFE_KEY.test(key) ? 1 : 2;
        if (keyCache.size < KEY_CACHE_MAX) keyCache.set(key, c);
    }
    return c;
}

function numericString(s) {
    if (s.length === 0 || s.length > NUMERIC_STRING_MAX) return NaN;
    const c = s.charCodeAt(0);
    // quick reject: must start with a digit, sign, dot or space
    if (!((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 32)) return NaN;
    const n = Number(s);
    return Number.isFinite(n) && s.trim() !== "" ? n : NaN;
}

const MAX_PATHS = 8192;
const DOT = 0;
const INDEX = 1;
const QUOTED = 2;

class Projector {
    /**
     * @param {{payloadDepth:number,payloadLeaves:number,payloadBudget:number}} opts
     */
    constructor(opts) {
        this.maxDepth = opts.payloadDepth;
        this.maxLeaves = opts.payloadLeaves;
        this.budgetMax = opts.payloadBudget;
        this.root = { path: "payload", id: -1, quoted: false, kids: null };
        /** path id -> JSON key `"path":` (shipped with the batches) */
        this.paths = new Interner(MAX_PATHS);
        this.root.id = this.paths.id('"payload":');
        this.skipped = 0;
        // walk state (the tap runs on one thread and the walk is synchronous)
        this.store = null;
        this.slot = 0;
        this.leaves = 0;
        this.budget = 0;
        this.bytes = 0;
    }

    child(c, key, mode) {
        let kids = c.kids;
        if (kids === null) {
            kids = new Map();
            c.kids = kids;
        }
        let k = kids.get(key);
        if (k === undefined) {
            const quoted = c.quoted || mode === QUOTED;
            const path =
                mode === DOT ? `${c.path}.${key}` : mode === INDEX ? `${c.path}[${key}]` : `${c.path}[${JSON.stringify(key)}]`;
            k = { path, id: this.paths.id(`${quoted ? JSON.stringify(path) : `"${path}"`}:`), quoted, kids: null };
            kids.set(key, k);
        }
        return k;
    }

    emit(c, n) {
        if (this.leaves >= this.maxLeaves) return;
        if (c.id < 0) {
            this.skipped++;
            return;
        }
        this.leaves++;
        this.store.addValue(this.slot, c.id, n);
    }

    walkValue(v, c, depth) {
        if (--this.budget < 0) return;
        switch (typeof v) {
            case "number":
                this.bytes += 8;
                if (Number.isFinite(v)) this.emit(c, v);
                return;
            case "boolean":
                this.bytes += v ? 4 : 5;
                this.emit(c, v ? 1 : 0);
                return;
            case "string": {
                this.bytes += v.length + 2;
                const n = numericString(v);
                if (n === n) this.emit(c, n);
                return;
            }
            case "bigint":
                this.bytes += 8;
                this.emit(c, Number(v));
                return;
            case "object":
                if (v === null) {
                    this.bytes += 4;
                    return;
                }
                if (ArrayBuffer.isView(v)) {
                    this.bytes += v.byteLength;
                    return;
                }
                if (depth >= this.maxDepth) {
                    this.bytes += 2;
                    return;
                }
                if (Array.isArray(v)) this.walkArray(v, c, depth);
                else this.walkObject(v, c, depth);
                return;
            default:
                return;
        }
    }

    walkArray(a, c, depth) {
        this.bytes += 2;
        const n = a.length;
        for (let i = 0; i < n && this.budget > 0; i++) {
            this.bytes += 1;
            this.walkValue(a[i], this.child(c, i, INDEX), depth + 1);
        }
    }

    walkObject(o, c, depth) {
        this.bytes += 2;
        for (const key in o) {
            if (this.budget <= 0) return;
            if (!Object.prototype.hasOwnProperty.call(o, key)) continue;
            const k = keyClass(key);
            if (k === 0) continue;
            this.bytes += key.length + 4;
            this.walkValue(o[key], this.child(c, key, k === 1 ? DOT : QUOTED), depth + 1);
        }
    }

    /**
     * Project `payload` into record slot i of the store (the newest record).
     * @param {RecordStore} s
     * @param {number} i
     * @param {*} payload msg.payload (read only)
     */
    project(s, i, payload) {
        switch (typeof payload) {
            case "number":
                s.ptype[i] = PTYPE.number;
                s.bytes[i] = 8;
                if (Number.isFinite(payload) && this.maxLeaves > 0) {
                    s.pnum[i] = payload;
                    s.hasNum[i] = 1;
                }
                return;
            case "string": {
                s.ptype[i] = PTYPE.string;
                s.plen[i] = payload.length;
                s.bytes[i] = payload.length + 2;
                if (this.maxLeaves > 0) {
                    const n = numericString(payload);
                    if (n === n) {
                        s.pnum[i] = n;
                        s.hasNum[i] = 1;
                    }
                }
                return;
            }
            case "boolean":
                s.ptype[i] = PTYPE.boolean;
                s.bytes[i] = payload ? 4 : 5;
                if (this.maxLeaves > 0) {
                    s.pnum[i] = payload ? 1 : 0;
                    s.hasNum[i] = 1;
                }
                return;
            case "bigint":
                s.ptype[i] = PTYPE.number;
                s.bytes[i] = 8;
                if (this.maxLeaves > 0) {
                    s.pnum[i] = Number(payload);
                    s.hasNum[i] = 1;
                }
                return;
            case "object":
                break;
            default: // undefined, function, symbol: nothing JSON would keep
                s.ptype[i] = PTYPE.undefined;
                s.bytes[i] = 0;
                return;
        }
        if (payload === null) {
            s.ptype[i] = PTYPE.null;
            s.bytes[i] = 4;
            return;
        }
        if (ArrayBuffer.isView(payload)) {
            s.ptype[i] = PTYPE.buffer;
            s.plen[i] = payload.byteLength;
            s.bytes[i] = payload.byteLength;
            return;
        }
        const isArray = Array.isArray(payload);
        s.ptype[i] = isArray ? PTYPE.array : PTYPE.object;
        s.plen[i] = isArray ? payload.length : countKeys(payload);
        this.store = s;
        this.slot = i;
        this.leaves = 0;
        this.bytes = 0;
        this.budget = this.budgetMax;
        if (this.maxDepth > 0) {
            if (isArray) this.walkArray(payload, this.root, 0);
            else this.walkObject(payload, this.root, 0);
        }
        s.bytes[i] = this.bytes;
        this.store = null;
    }
}

function countKeys(o) {
    let n = 0;
    for (const key in o) {
        if (Object.prototype.hasOwnProperty.call(o, key)) n++;
    }
    return n;
}

module.exports = { Projector, numericString, DENY, MAX_PATHS };
