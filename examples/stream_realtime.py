"""A real-time loop: one frame in, one output out, nothing allocated per frame.

Builds Model A (2 x LSTM(128) on 40 features + Dense(10), random weights in
PyTorch layout), then feeds it 10 ms frames one at a time as an audio callback
would, with preallocated input and output buffers, and reports the latency
per frame. The stream's outputs equal `predict` on the whole signal.

    python examples/stream_realtime.py
"""

import time

import numpy as np

import fastrnn

FEATURES, HIDDEN, CLASSES, FRAMES = 40, 128, 10, 2000


def random_lstm(rng: np.random.Generator, inputs: int, hidden: int) -> fastrnn.LSTM:
    scale = 1 / np.sqrt(hidden)
    shapes = [(4 * hidden, inputs), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)]
    return fastrnn.LSTM.from_torch(*(rng.uniform(-scale, scale, s) for s in shapes))


def main() -> None:
    rng = np.random.default_rng(0)
    model = fastrnn.Sequential([
        random_lstm(rng, FEATURES, HIDDEN),
        random_lstm(rng, HIDDEN, HIDDEN),
        fastrnn.Dense.from_torch(rng.uniform(-0.1, 0.1, (CLASSES, HIDDEN)),
                                 np.zeros(CLASSES), activation="softmax"),
    ])
    signal = rng.standard_normal((FRAMES, FEATURES)).astype(np.float32)

    stream = model.stream()
    frame = np.empty(FEATURES, dtype=np.float32)       # the "sound card" buffer
    output = np.empty(CLASSES, dtype=np.float32)       # written in place every frame
    outputs = np.empty((FRAMES, CLASSES), dtype=np.float32)
    latency_ns = np.empty(FRAMES, dtype=np.int64)
    for t in range(FRAMES):
        frame[:] = signal[t]                           # a new frame arrives
        start = time.perf_counter_ns()
        stream.step(frame, out=output)
        latency_ns[t] = time.perf_counter_ns() - start
        outputs[t] = output

    assert np.array_equal(outputs, model.predict(signal)), "streaming must equal predict"
    warm = latency_ns[100:] / 1000
    print(f"{FRAMES} frames through {model.layers}")
    print(f"latency per frame: median {np.median(warm):.2f} us, "
          f"p99 {np.percentile(warm, 99):.2f} us ({fastrnn.info()['isa']})")
    print(f"real-time factor at 10 ms frames: {np.median(warm) / 10_000:.5f}")
    print("last frame's class probabilities:", np.round(output, 3))


if __name__ == "__main__":
    main()
