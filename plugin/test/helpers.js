"use strict";
// Test doubles shared by the unit tests: a hooks registry with Node-RED's add/remove/has
// semantics (labels, duplicate check) and a quiet logger.
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

module.exports = { FakeHooks, quietLog };
