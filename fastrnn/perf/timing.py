"""Timing engines side by side: warm up, then alternate the engines in
rounds so that each sees the same machine noise, timing every call, net of
what timing a call that does nothing takes (the timer's own cost and one
Python call, ~0.1 us: the harness's, not an engine's)."""

import time

import numpy as np


def sample_calls(call, seconds: float, min_calls: int = 3, max_calls: int = 200_000) -> list:
    """Durations (seconds) of successive calls until `seconds` have passed
    (at least min_calls)."""
    durations = []
    deadline = time.perf_counter() + seconds
    while len(durations) < max_calls and (len(durations) < min_calls
                                          or time.perf_counter() < deadline):
        start = time.perf_counter_ns()
        call()
        durations.append((time.perf_counter_ns() - start) * 1e-9)
    return durations


def nothing() -> None:
    """The call that does nothing, whose timing interleaved subtracts."""


def interleaved(engines: dict, seconds_each: float, rounds: int = 5,
                empty_calls: int = 1000) -> dict:
    """Per-call durations of every engine, np.ndarray each: one warm-up call
    each, then `rounds` rounds in which every engine runs for
    seconds_each / rounds (the order rotating between rounds); {} for no engine.

    Every round also times `empty_calls` calls of `nothing`; the median of
    those durations, the cost of timing a call (the timer, one Python call),
    is subtracted from every engine's durations (clipped at 0), so that a
    microsecond step is not charged the harness's ~0.1 us, the same for
    every engine."""
    if not engines:
        return {}
    for call in engines.values():
        call()
    samples = {name: [] for name in engines}
    empty = []
    names = list(engines)
    for round_index in range(rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        empty += sample_calls(nothing, 0.0, min_calls=empty_calls)
        for name in order:
            samples[name] += sample_calls(engines[name], seconds_each / rounds, min_calls=1)
    overhead = float(np.median(empty))
    return {name: np.maximum(np.array(values) - overhead, 0.0) for name, values in samples.items()}


def summary(durations: np.ndarray) -> dict:
    """Median and p99 (microseconds) and the number of calls."""
    return {"median_us": float(np.median(durations) * 1e6),
            "p99_us": float(np.percentile(durations, 99) * 1e6),
            "calls": int(len(durations))}
