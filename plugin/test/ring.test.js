"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { Ring } = require("../lib/ring");

test("fifo with eviction of the oldest when full", () => {
    const r = new Ring(3);
    assert.equal(r.push(1), undefined);
    assert.equal(r.push(2), undefined);
    assert.equal(r.push(3), undefined);
    assert.equal(r.push(4), 1);
    assert.equal(r.size, 3);
    assert.deepEqual(r.take(2), [2, 3]);
    assert.equal(r.push(5), undefined);
    assert.equal(r.push(6), undefined);
    assert.equal(r.push(7), 4);
    assert.deepEqual(r.take(10), [5, 6, 7]);
    assert.equal(r.size, 0);
    assert.deepEqual(r.take(1), []);
});
