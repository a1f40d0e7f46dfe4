"""A server holding many live calls: N streams stepped together, one frame each.

Slots are calls. Each tick, the calls that have a frame step together in one
batched call; idle slots cost nothing (the `active` mask); a slot whose call
ends is reset for the next one; a call's state can be snapshotted and moved
(get_state / set_state).

    python examples/many_streams.py
"""

import time

import numpy as np

import fastrnn

FEATURES, HIDDEN, CLASSES, SLOTS, TICKS = 40, 128, 10, 256, 200


def random_gru(rng: np.random.Generator, inputs: int, hidden: int) -> fastrnn.GRU:
    scale = 1 / np.sqrt(hidden)
    shapes = [(3 * hidden, inputs), (3 * hidden, hidden), (3 * hidden,), (3 * hidden,)]
    return fastrnn.GRU.from_torch(*(rng.uniform(-scale, scale, s) for s in shapes))


def main() -> None:
    rng = np.random.default_rng(0)
    model = fastrnn.Sequential([
        random_gru(rng, FEATURES, HIDDEN),
        random_gru(rng, HIDDEN, HIDDEN),
        fastrnn.Dense.from_torch(rng.uniform(-0.1, 0.1, (CLASSES, HIDDEN)), np.zeros(CLASSES)),
    ])
    calls = model.stream(batch_size=SLOTS)
    frames = np.zeros((SLOTS, FEATURES), dtype=np.float32)
    outputs = np.empty((SLOTS, CLASSES), dtype=np.float32)
    active = np.zeros(SLOTS, dtype=bool)

    elapsed = 0.0
    for _ in range(TICKS):
        active[:] = rng.random(SLOTS) < 0.8            # about 80% of the slots have audio now
        frames[active] = rng.standard_normal((active.sum(), FEATURES))
        start = time.perf_counter()
        calls.step(frames, out=outputs, active=active)
        elapsed += time.perf_counter() - start
        ended = np.flatnonzero(rng.random(SLOTS) < 0.01)  # some calls hang up
        calls.reset(ended)                                 # their slots start fresh

    snapshot = calls.get_state()                       # e.g. to migrate the calls
    moved = model.stream(batch_size=SLOTS)
    moved.set_state(snapshot)
    check = np.ones((SLOTS, FEATURES), dtype=np.float32)
    assert np.array_equal(calls.step(check), moved.step(check)), "state moves exactly"

    per_tick = elapsed / TICKS * 1e6
    threads = fastrnn.get_num_threads()
    print(f"{SLOTS} slots (~80% active), {TICKS} ticks, {threads} threads: "
          f"{per_tick:.0f} us per tick")
    print(f"calls these {threads} threads could hold at 10 ms frames: "
          f"~{int(0.8 * SLOTS * 10_000 / per_tick)}")


if __name__ == "__main__":
    main()
