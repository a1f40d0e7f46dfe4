"""How ``fastrnn bench`` times a case: its engines interleaved in rounds
(timing.interleaved), summarised into a result.

A result is a dict: group, kind, params, unit, per (units per call), flops
(per call, matrix products), engines {name: summary}, skipped {name: reason}.
"""

from .cases import Case
from .machine import blas_threads
from .timing import interleaved, summary

# Per kind of case: (time given to it, in units of the profile's seconds; rounds).
TIMING = {"stream": (1, 5), "streams": (1, 5), "process": (1, 5), "predict": (1, 3),
          "train": (3, 3), "pipeline": (1, 5)}


def measure(case: Case, seconds: float) -> dict:
    """Time the engines of `case` side by side.

    Parameters
    ----------
    case : Case
        The engines (checked to agree) and what they compute.
    seconds : float
        The profile's seconds per case, scaled by TIMING for the case's kind
        and shared by its engines.

    Returns
    -------
    dict
        The case's result (see the module docstring).
    """
    scale, rounds = TIMING[case.kind]
    with blas_threads(case.blas_threads):
        timings = interleaved(case.engines, seconds * scale, rounds=rounds)
    return {"group": case.group, "kind": case.kind, "params": case.params, "unit": case.unit,
            "per": case.per, "flops": case.flops,
            "engines": {name: summary(durations) for name, durations in timings.items()},
            "skipped": case.skipped}
