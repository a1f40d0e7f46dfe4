"""``fastrnn bench``: fastrnn beside PyTorch and ONNX Runtime on the same
models and inputs, in one run, written as JSON, a Markdown table and plots.

Profiles: ``--tiny`` (seconds; for tests), ``--quick`` (default, under two
minutes on two cores), ``--full`` (the whole grid; long), ``--limits`` (the
cases of issue 15 in every weight precision: streams of models A and B,
per-sample models C and D, 256 streams of A, predict at H = 256, B = 64).
``--precisions`` gives fastrnn's weight precisions (one row each).
"""

import argparse
import functools
import time

from . import cases, machine, report, suites
from .peers import ENGINES, have

PRECISIONS = ("float32", "float16", "bfloat16", "int8")
# Builders run in float32 only: fastrnn.train computes in it, an ONNX graph's weights are it.
FLOAT32_ONLY = ("train_case", "onnx_step_case", "onnx_sequence_case", "onnx_vad_case")


def _profile(seconds: float, stream_models: list[str], predict: list[tuple], streams: list[int],
             train: bool, pipelines: tuple[int, ...] = (), graph_models: tuple[str, ...] = (),
             crnn_hidden: int | None = None, crnn_predict: tuple[tuple, ...] = (),
             samples: tuple[int, ...] = (), precisions: str = "float32",
             onnx_batches: tuple[int, ...] = ()) -> dict:
    """A profile: each engine's seconds per case, the builders of its cases,
    each called as build(threads=..., peers=...) (and precision=... but for
    training), and its default precisions.

    stream_models: stream cases of these models (Sequential), and of
    graph_models built as graphs beside their Sequential; the CRNN stream
    case (when crnn_hidden) and the CRNN predict cases (batch, steps) with
    GRUs of crnn_hidden; the per-sample cases of the tiny models in buffers
    of `samples`; end-to-end pipeline cases of these stream counts; with
    onnx_batches, the ONNX session cases (issue 13, float32 only): the
    per-step graph of model A, its whole-sequence graph at these batches
    (ONNX_STEPS frames) and the VAD-shaped CRNN.
    """
    builders = [functools.partial(cases.stream_case, model) for model in stream_models]
    builders += [functools.partial(cases.stream_case, model, graph=True)
                 for model in graph_models]
    if crnn_hidden:
        builders += [functools.partial(cases.crnn_stream_case, hidden=crnn_hidden)]
    builders += [functools.partial(cases.sample_case, model, count) for model in cases.TINY
                 for count in samples]
    builders += [functools.partial(cases.predict_case, *grid) for grid in predict]
    builders += [functools.partial(cases.crnn_predict_case, *grid, hidden=crnn_hidden)
                 for grid in crnn_predict]
    builders += [functools.partial(cases.streams_case, "A", count) for count in streams]
    builders += [functools.partial(cases.pipeline_case, count) for count in pipelines]
    if onnx_batches:
        builders += [functools.partial(cases.onnx_step_case)]
        builders += [functools.partial(cases.onnx_sequence_case, batch, ONNX_STEPS)
                     for batch in onnx_batches]
        builders += [functools.partial(cases.onnx_vad_case)]
    builders += [cases.train_case] if train else []
    return {"seconds": seconds, "cases": builders, "precisions": precisions}


def _predict_grid(hidden_sizes: tuple[int, ...]) -> list[tuple]:
    """(cell, hidden, batch, steps) of the predict cases: LSTM and GRU, batch
    1, 16 and 64, 200 steps."""
    return [(cell, hidden, batch, 200) for cell in ("lstm", "gru") for hidden in hidden_sizes
            for batch in (1, 16, 64)]


CRNN_PREDICT = ((1, 1000), (16, 1000))      # (batch, steps) of the CRNN's whole sequences
ONNX_STEPS = 1000                           # frames of the ONNX whole-sequence cases
ONNX_BATCHES = (1, 64)                      # their batches
PROFILES = {
    "tiny": _profile(0.03, ["A"], [("lstm", 64, 1, 20)], [1, 16], train=False, pipelines=(1, 16),
                     graph_models=("A",), crnn_hidden=48, crnn_predict=((2, 20),)),
    "quick": _profile(0.6, ["A", "B"], _predict_grid((64, 256)), [1, 16, 256, 1024], train=True,
                      pipelines=(1, 256), graph_models=("A",), crnn_hidden=cases.CRNN_HIDDEN,
                      crnn_predict=CRNN_PREDICT, samples=(1, 64, 256),
                     onnx_batches=ONNX_BATCHES),
    "full": _profile(3.0, ["A", "B"], _predict_grid((64, 256, 1024)), [1, 16, 256, 1024],
                     train=True, pipelines=(1, 16, 256, 1024), graph_models=("A",),
                     crnn_hidden=cases.CRNN_HIDDEN, crnn_predict=CRNN_PREDICT,
                     samples=(1, 64, 256), onnx_batches=ONNX_BATCHES),
    "limits": _profile(0.6, ["A", "B"], [(cell, 256, 64, 200) for cell in ("lstm", "gru")],
                       [256], train=False, samples=(1, 64, 256),
                       precisions="float32,bfloat16,int8"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fastrnn bench``, added to `parser`."""
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="the default profile: every kind of case, under 2 minutes")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="the whole grid (H up to 1024), longer timings")
    profile.add_argument("--tiny", dest="profile", action="store_const", const="tiny",
                         help="a few small cases in seconds (to check the harness)")
    profile.add_argument("--limits", dest="profile", action="store_const", const="limits",
                         help="issue 15's cases (A, B, C, D, 256 streams, predict H=256 "
                              "B=64) in float32, bfloat16 and int8")
    parser.set_defaults(profile="quick")
    parser.add_argument("--out", default="fastrnn-bench",
                        help="folder for results.json, results.md and the plots "
                             "(default ./fastrnn-bench)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for every engine (default 1)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated peers to include (default: all installed)")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated weight precisions of fastrnn, one row each "
                             "(default: float32; --limits: float32,bfloat16,int8)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--only", default=None,
                        help="run only the profile's cases whose builder's name contains this "
                             "(e.g. onnx: the ONNX session cases)")


def run(args: argparse.Namespace) -> int:
    """``fastrnn bench`` with parsed `args`: time every case of the profile,
    print a line per case, write the results; returns the exit status.

    Raises
    ------
    ValueError
        For an unknown engine in --engines or a thread count below 1.
    """
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"--engines: unknown {sorted(unknown)}; expected some of {ENGINES}")
    if args.threads < 1:
        raise ValueError(f"--threads: expected >= 1, got {args.threads}")
    peers = tuple(e for e in engines if e != "fastrnn")
    profile = PROFILES[args.profile]
    precisions = [p.strip() for p in (args.precisions or profile["precisions"]).split(",")
                  if p.strip()]
    unknown = set(precisions) - set(PRECISIONS)
    if unknown:
        raise ValueError(f"--precisions: unknown {sorted(unknown)}; expected some of "
                         f"{PRECISIONS}")
    with_plots = not args.no_plots
    if with_plots and not have("matplotlib"):
        print(f"no plots: {report.PLOTS_NEED_MATPLOTLIB}")
        with_plots = False
    started = time.perf_counter()
    with machine.engine_threads(args.threads):
        peak = machine.sgemm_peak_gflops()
        print(f"NumPy sgemm ({peak['matrix']}^3, 1 thread; not the FMA peak, "
              f"bench/machine_limits.c measures that): "
              f"{peak['gflops']:.1f} GFLOP/s"
              + ("" if peak["single_thread"] else " (BLAS threads not held to 1: threadpoolctl "
                                                   "is not installed, pip install threadpoolctl)"))
        results = {"profile": args.profile, "threads": args.threads,
                   "machine": machine.describe(), "peak": peak, "cases": []}
        for build in profile["cases"]:
            if args.only and args.only not in _builder_name(build):
                continue
            for precision in precisions:
                if _builder_name(build) in FLOAT32_ONLY and precision != "float32":
                    continue                    # fastrnn.train computes in float32
                options = {} if precision == "float32" else {"precision": precision}
                case = suites.measure(build(threads=args.threads, peers=peers, **options),
                                      profile["seconds"])
                results["cases"].append(case)
                print(_line(case, peak["gflops"]), flush=True)
    files = report.write(results, args.out, with_plots=with_plots)
    print(f"wrote {', '.join(files)} in {time.perf_counter() - started:.0f} s")
    return 0


def _builder_name(build) -> str:
    """The name of a profile's case builder (a function or a partial of one)."""
    return getattr(build, "func", build).__name__


def _line(case: dict, peak: float) -> str:
    """The line printed for a case's result."""
    if case["kind"] == "pipeline":
        figures = report.end_to_end(case)
        return (f"{case['group']}: end to end {figures['end_to_end_us']:,.2f} us/stream-frame, "
                f"model alone {figures['model_us']:,.2f} "
                f"(x{figures['end_to_end_over_model']:.2f}), "
                f"{figures['real_time_streams_per_core']:,.0f} real-time streams per core")
    engines = case["engines"]
    if "fastrnn" not in engines:
        return f"{case['group']}: " + ", ".join(f"{name} skipped: {why}"
                                                for name, why in case["skipped"].items())
    ratios = report.ratios({name: engine["median_us"] for name, engine in engines.items()})
    parts = [f"fastrnn {engines['fastrnn']['median_us'] / case['per']:,.2f} us/{case['unit']}"]
    parts += [f"{name} {engines[name]['median_us'] / case['per']:,.2f} (x{ratio:.2f})"
              for name, ratio in ratios.items()]
    parts += [f"{pair} x{ratio:.2f}" for pair, ratio in report.pair_ratios(case).items()]
    gflops, fraction = report.fastrnn_rate(case, peak)
    if gflops:
        parts.append(f"{gflops:.1f} GFLOP/s = {fraction:.0%} of NumPy sgemm")
    parts += [f"{name} skipped: {why}" for name, why in case["skipped"].items()]
    return f"{case['group']}: " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m fastrnn.perf``: parse `argv` and run."""
    parser = argparse.ArgumentParser(prog="fastrnn bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
