"use strict";
/**
 * Fault injection into one node's outgoing messages, without redeploying (runtime ids unchanged).
 *
 * While at least one fault is active, a `preRoute.nodered-causal-fault` hook is registered; it
 * looks at every routed message and acts only on those sent by a faulted node:
 *   bias      field := field + value            (numbers only; others pass unchanged)
 *   scale     field := field * value
 *   noise     field := field + N(0, value^2)    (seeded)
 *   constant  field := value                    (any JSON value)
 *   drop      the message is not delivered
 *   delay     the message is delivered value ms later (the hook returns a promise)
 *   error     node.error(...) is raised with the message (catch nodes see it) and it is not
 *             delivered
 * Each message is affected with `probability` (default 1; for drop and error, `value` is the
 * probability when `probability` is not given). Randomness comes from a PRNG seeded with `seed`.
 * A modified message is a clone (RED.util.cloneMessage): the node's own message object is never
 * changed. The copies of one send to several wires share one decision.
 */

const LABEL = "nodered-causal-fault";
const HOOK = `preRoute.${LABEL}`;
const KINDS = ["bias", "scale", "noise", "constant", "drop", "delay", "error"];
const PASS = Object.freeze({ action: "pass" });

class FaultError extends Error {
    constructor(message, status) {
        super(message);
        this.status = status || 400;
    }
}

/** mulberry32: small seeded PRNG returning floats in [0, 1). */
function prng(seed) {
    let a = seed >>> 0;
    return function next() {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function gauss(rand) {
    let u = 0;
    while (u === 0) u = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Validate a POSTed fault spec; returns a normalised plain object or throws FaultError(400). */
function parseSpec(body) {
    if (!body || typeof body !== "object" || Array.isArray(body)) {
        throw new FaultError("fault must be a JSON object {node, kind, value, field, probability, seed}");
    }
    const node = body.node;
    if (typeof node !== "string" || node === "") throw new FaultError("fault.node must be a node id (string)");
    const kind = body.kind;
    if (!KINDS.includes(kind)) throw new FaultError(`fault.kind must be one of ${KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
    const field = body.field === undefined ? "payload" : body.field;
    if (typeof field !== "string" || !/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*|\[\d+\])*$/.test(field)) {
        throw new FaultError(`fault.field must be a message property path like "payload" or "payload.a.b", got ${JSON.stringify(field)}`);
    }
    let value = body.value;
    if (["bias", "scale", "noise", "delay"].includes(kind) && !(typeof value === "number" && Number.isFinite(value))) {
        throw new FaultError(`fault.value must be a finite number for kind ${kind}`);
    }
    if (kind === "constant" && value === undefined) throw new FaultError("fault.value is required for kind constant");
    if ((kind === "noise" || kind === "delay") && value < 0) throw new FaultError(`fault.value must be >= 0 for kind ${kind}`);
    let probability = body.probability;
    if (probability === undefined) {
        probability = (kind === "drop" || kind === "error") && typeof value === "number" ? value : 1;
    }
    if (typeof probability !== "number" || !(probability >= 0 && probability <= 1)) {
        throw new FaultError("fault.probability must be a number in [0, 1]");
    }
    const seed = body.seed === undefined ? 0 : body.seed;
    if (!Number.isInteger(seed)) throw new FaultError("fault.seed must be an integer");
    if (value === undefined) value = null;
    return { node, kind, value, field, probability, seed };
}

class Faults {
    /**
     * @param {object} deps {hooks, util (RED.util), getNode(id), tap (optional, for lineage), log,
     *   onChange (optional, called after a fault was added or removed)}
     */
    constructor(deps) {
        this.hooks = deps.hooks;
        this.util = deps.util;
        this.getNode = deps.getNode;
        this.tap = deps.tap || null;
        this.log = deps.log;
        this.onChange = deps.onChange || null;
        this.active = new Map();
        this.hooked = false;
        this.failed = 0;
        this.lastMsg = null;
        this.lastDecision = PASS;
        this.handler = (ev) => this.preRoute(ev);
    }

    list() {
        return Array.from(this.active.values(), publicFault);
    }

    /** Apply (or replace) the fault on spec.node. Throws FaultError (400/404). */
    add(body) {
        const spec = parseSpec(body);
        if (!this.getNode(spec.node)) throw new FaultError(`no running node with id ${JSON.stringify(spec.node)}`, 404);
        const fault = Object.assign({}, spec, {
            rand: prng(spec.seed),
            created: Date.now(),
            seen: 0,
            applied: 0,
            skipped: 0,
        });
        this.active.set(spec.node, fault);
        this.lastMsg = null;
        if (!this.hooked) {
            if (this.hooks.has && this.hooks.has(HOOK)) this.hooks.remove(HOOK);
            this.hooks.add(HOOK, this.handler);
            this.hooked = true;
        }
        this.log.info(`[causal-tap] fault ${spec.kind} applied to node ${spec.node}`);
        this.changed();
        return publicFault(fault);
    }

    /** Remove one node's fault (or all when node is undefined); returns the removed faults. */
    remove(node) {
        let removed;
        if (node === undefined) {
            removed = this.list();
            this.active.clear();
        } else {
            const f = this.active.get(node);
            removed = f ? [publicFault(f)] : [];
            this.active.delete(node);
        }
        this.lastMsg = null;
        if (this.active.size === 0 && this.hooked) {
            this.hooks.remove(HOOK);
            this.hooked = false;
        }
        if (removed.length) {
            this.log.info(`[causal-tap] removed ${removed.length} fault(s)`);
            this.changed();
        }
        return removed;
    }

    /** Tell the editor feed at once (never throws into the caller). */
    changed() {
        if (!this.onChange) return;
        try {
            this.onChange();
        } catch (err) {
            this.log.warn(`[causal-tap] fault change listener failed: ${err}`);
        }
    }

    preRoute(ev) {
        const f = this.active.get(ev.source.id);
        if (f === undefined) return undefined;
        try {
            let d;
            if (ev.cloneMessage === true && this.lastMsg === ev.msg) {
                d = this.lastDecision;
            } else {
                d = this.decide(f, ev);
                this.lastMsg = ev.msg;
                this.lastDecision = d;
            }
            switch (d.action) {
                case "replace":
                    ev.msg = d.msg;
                    return undefined;
                case "stop":
                    return false;
                case "delay":
                    return new Promise((resolve) => setTimeout(resolve, d.ms));
                default:
                    return undefined;
            }
        } catch (err) {
            this.failed++;
            this.log.warn(`[causal-tap] fault hook failure: ${err && err.stack ? err.stack : err}`);
            return undefined;
        }
    }

    decide(f, ev) {
        f.seen++;
        if (f.probability < 1 && f.rand() >= f.probability) return PASS;
        const msg = ev.msg;
        switch (f.kind) {
            case "drop":
                f.applied++;
                return { action: "stop" };
            case "delay":
                f.applied++;
                return { action: "delay", ms: f.value };
            case "error": {
                f.applied++;
                const node = ev.source.node;
                if (node && typeof node.error === "function") {
                    node.error(new Error(`causal-tap injected fault: error in ${f.node}`), msg);
                }
                return { action: "stop" };
            }
            default:
                break;
        }
        let next;
        if (f.kind === "constant") {
            next = f.value;
        } else {
            const cur = this.util.getMessageProperty(msg, f.field);
            if (typeof cur !== "number") {
                f.skipped++;
                return PASS;
            }
            if (f.kind === "bias") next = cur + f.value;
            else if (f.kind === "scale") next = cur * f.value;
            else next = cur + f.value * gauss(f.rand);
        }
        const clone = this.util.cloneMessage(msg);
        this.util.setMessageProperty(clone, f.field, next, true);
        if (this.tap) this.tap.alias(clone, msg);
        f.applied++;
        return { action: "replace", msg: clone };
    }
}

function publicFault(f) {
    return {
        node: f.node,
        kind: f.kind,
        value: f.value,
        field: f.field,
        probability: f.probability,
        seed: f.seed,
        created: f.created,
        seen: f.seen,
        applied: f.applied,
        skipped: f.skipped,
    };
}

module.exports = { Faults, FaultError, parseSpec, prng, KINDS, HOOK };
