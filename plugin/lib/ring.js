"use strict";
/**
 * A bounded FIFO queue over a fixed array. `push` never blocks and never grows: when full, the
 * oldest item is evicted and returned (the caller counts it as dropped).
 */
class Ring {
    constructor(capacity) {
        this.capacity = capacity;
        this.items = new Array(capacity).fill(null);
        this.head = 0;
        this.size = 0;
    }

    /** Append; returns the evicted oldest item when the ring was full, else undefined. */
    push(item) {
        const cap = this.capacity;
        if (this.size < cap) {
            let i = this.head + this.size;
            if (i >= cap) i -= cap;
            this.items[i] = item;
            this.size++;
            return undefined;
        }
        const evicted = this.items[this.head];
        this.items[this.head] = item;
        this.head = this.head + 1 === cap ? 0 : this.head + 1;
        return evicted;
    }

    /** Remove and return up to n oldest items (an array, possibly empty). */
    take(n) {
        const k = Math.min(n, this.size);
        const out = new Array(k);
        const cap = this.capacity;
        for (let j = 0; j < k; j++) {
            out[j] = this.items[this.head];
            this.items[this.head] = null;
            this.head = this.head + 1 === cap ? 0 : this.head + 1;
        }
        this.size -= k;
        return out;
    }

    clear() {
        this.items.fill(null);
        this.head = 0;
        this.size = 0;
    }
}

module.exports = { Ring };
