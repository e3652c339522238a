"use strict";
/**
 * Payload projection: what the tap keeps of `msg.payload`.
 *
 * Only the type, a length, an approximate size and the numeric leaves (bounded depth, count and
 * walk budget) are kept, never the value itself. Booleans count as 0/1, numeric strings of up to
 * 32 characters as numbers, Buffers and typed arrays only as their length. Keys that look like
 * credentials (password, secret, token, auth, api key, credentials) are skipped with their subtree.
 *
 * The numeric leaves of an object are written straight away as a JSON fragment
 * (`"payload.a":1,"payload.b[0]":2`, with interned path strings), so the record holds one string
 * and no reference into the message. A scalar payload is kept as a number (no allocation).
 *
 * `bytes` is an estimate of the JSON size of the payload, computed by the same bounded walk: exact
 * for numbers (as printed), strings (UTF-16 code units + 2) and Buffers (their length); for
 * objects and arrays the sum over the visited entries of key length + 4 (quotes, colon, comma) +
 * the value's estimate; once the walk budget is spent, the remaining entries are not visited and
 * `bytes` is a lower bound.
 */

const { PTYPE } = require("./store");

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

// Interned paths: a tree of {path, jk, quoted, kids} nodes under ROOT, one per (parent path,
// key), where jk is the JSON key `"path":` — walking a payload shape seen before allocates no
// path strings. Bounded: past PATHS_MAX nodes the tree is dropped and rebuilt.
const PATHS_MAX = 8192;
let pathCount = 0;
const ROOT = { path: "payload", jk: '"payload":', quoted: false, kids: null };

const DOT = 0;
const INDEX = 1;
const QUOTED = 2;

function child(c, key, mode) {
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
        k = { path, jk: `${quoted ? JSON.stringify(path) : `"${path}"`}:`, quoted, kids: null };
        if (++pathCount > PATHS_MAX) {
            ROOT.kids = null;
            pathCount = 0;
        } else {
            kids.set(key, k);
        }
    }
    return k;
}

// Walk state, reused (the tap runs on one thread and the walk is synchronous).
const W = { out: "", leaves: 0, budget: 0, bytes: 0, maxLeaves: 0, maxDepth: 0 };

function emit(jk, n) {
    if (W.leaves >= W.maxLeaves) return;
    W.out = W.leaves === 0 ? jk + n : W.out + "," + jk + n;
    W.leaves++;
}

function walkValue(v, c, depth) {
    if (--W.budget < 0) return;
    switch (typeof v) {
        case "number":
            W.bytes += 8;
            if (Number.isFinite(v)) emit(c.jk, v);
            return;
        case "boolean":
            W.bytes += v ? 4 : 5;
            emit(c.jk, v ? 1 : 0);
            return;
        case "string": {
            W.bytes += v.length + 2;
            const n = numericString(v);
            if (n === n) emit(c.jk, n);
            return;
        }
        case "bigint":
            W.bytes += 8;
            emit(c.jk, Number(v));
            return;
        case "object":
            if (v === null) {
                W.bytes += 4;
                return;
            }
            if (ArrayBuffer.isView(v)) {
                W.bytes += v.byteLength;
                return;
            }
            if (depth >= W.maxDepth) {
                W.bytes += 2;
                return;
            }
            if (Array.isArray(v)) walkArray(v, c, depth);
            else walkObject(v, c, depth);
            return;
        default:
            return;
    }
}

function walkArray(a, c, depth) {
    W.bytes += 2;
    const n = a.length;
    for (let i = 0; i < n && W.budget > 0; i++) {
        W.bytes += 1;
        walkValue(a[i], child(c, i, INDEX), depth + 1);
    }
}

function walkObject(o, c, depth) {
    W.bytes += 2;
    for (const key in o) {
        if (W.budget <= 0) return;
        if (!Object.prototype.hasOwnProperty.call(o, key)) continue;
        const k = keyClass(key);
        if (k === 0) continue;
        W.bytes += key.length + 4;
        walkValue(o[key], child(c, key, k === 1 ? DOT : QUOTED), depth + 1);
    }
}

function countKeys(o) {
    let n = 0;
    for (const key in o) {
        if (Object.prototype.hasOwnProperty.call(o, key)) n++;
    }
    return n;
}

/**
 * Project `payload` into slot i of the record store (ptype, plen, pnum/hasNum, pvals, bytes).
 * @param {RecordStore} s
 * @param {number} i slot
 * @param {*} payload msg.payload (read only)
 * @param {{payloadDepth:number,payloadLeaves:number,payloadBudget:number}} opts
 */
function projectPayload(s, i, payload, opts) {
    switch (typeof payload) {
        case "number":
            s.ptype[i] = PTYPE.number;
            s.bytes[i] = 8;
            if (Number.isFinite(payload) && opts.payloadLeaves > 0) {
                s.pnum[i] = payload;
                s.hasNum[i] = 1;
            }
            return;
        case "string": {
            s.ptype[i] = PTYPE.string;
            s.plen[i] = payload.length;
            s.bytes[i] = payload.length + 2;
            if (opts.payloadLeaves > 0) {
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
            if (opts.payloadLeaves > 0) {
                s.pnum[i] = payload ? 1 : 0;
                s.hasNum[i] = 1;
            }
            return;
        case "bigint":
            s.ptype[i] = PTYPE.number;
            s.bytes[i] = 8;
            if (opts.payloadLeaves > 0) {
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
    W.out = "";
    W.leaves = 0;
    W.bytes = 0;
    W.budget = opts.payloadBudget;
    W.maxLeaves = opts.payloadLeaves;
    W.maxDepth = opts.payloadDepth;
    if (opts.payloadDepth > 0) {
        if (isArray) walkArray(payload, ROOT, 0);
        else walkObject(payload, ROOT, 0);
    }
    s.bytes[i] = W.bytes;
    s.pvals[i] = W.out;
    W.out = "";
}

module.exports = { projectPayload, numericString, DENY };
