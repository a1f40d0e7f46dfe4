"""``fastrnn bench``: fastrnn beside PyTorch and ONNX Runtime on the same
models and inputs, in one run, written as JSON, a Markdown table and plots.

Profiles: ``--tiny`` (seconds; for tests), ``--quick`` (default, under two
minutes on two cores), ``--full`` (the whole grid; long).
"""

import argparse
import time

from . import machine, report, suites

PROFILES = {
    # seconds per case (shared by its engines), then the grid
    "tiny": {"seconds": 0.03, "stream_models": ["A"], "predict": [("lstm", 64, 1, 20)],
             "streams": [1, 16], "train": False},
    "quick": {"seconds": 0.6, "stream_models": ["A", "B"],
              "predict": [(cell, hidden, batch, 200) for cell in ("lstm", "gru")
                          for hidden in (64, 256) for batch in (1, 16, 64)],
              "streams": [1, 16, 256, 1024], "train": True},
    "full": {"seconds": 3.0, "stream_models": ["A", "B"],
             "predict": [(cell, hidden, batch, 200) for cell in ("lstm", "gru")
                         for hidden in (64, 256, 1024) for batch in (1, 16, 64)],
             "streams": [1, 16, 256, 1024], "train": True},
}
ENGINES = ("fastrnn", "torch", "onnxruntime")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="the default profile: every kind of case, under 2 minutes")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="the whole grid (H up to 1024), longer timings")
    profile.add_argument("--tiny", dest="profile", action="store_const", const="tiny",
                         help="a few small cases in seconds (to check the harness)")
    parser.set_defaults(profile="quick")
    parser.add_argument("--out", default="fastrnn-bench",
                        help="folder for results.json, results.md and the plots "
                             "(default ./fastrnn-bench)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for every engine (default 1)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated peers to include (default: all installed)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args) -> int:
    import fastrnn

    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"--engines: unknown {sorted(unknown)}; expected some of {ENGINES}")
    if args.threads < 1:
        raise ValueError(f"--threads: expected >= 1, got {args.threads}")
    peers = tuple(e for e in engines if e != "fastrnn")
    profile = PROFILES[args.profile]
    with_plots = not args.no_plots
    if with_plots and not suites.cases.have("matplotlib"):
        print(f"no plots: {report.PLOTS_NEED_MATPLOTLIB}")
        with_plots = False
    started = time.perf_counter()
    fastrnn.set_num_threads(args.threads)
    if suites.cases.have("torch"):
        import torch

        torch.set_num_threads(args.threads)
    peak = machine.sgemm_peak_gflops()
    print(f"single-thread float32 peak (NumPy sgemm {peak['matrix']}^3): "
          f"{peak['gflops']:.1f} GFLOP/s"
          + ("" if peak["single_thread"] else " (BLAS threads not held to 1: threadpoolctl is "
                                               "not installed, pip install threadpoolctl)"))
    seconds, threads = profile["seconds"], args.threads
    jobs = [lambda m=m: suites.stream_latency(m, peers, threads, seconds)
            for m in profile["stream_models"]]
    jobs += [lambda p=p: suites.predict(*p, peers, threads, seconds) for p in profile["predict"]]
    jobs += [lambda n=n: suites.many_streams(n, peers, threads, seconds)
             for n in profile["streams"]]
    if profile["train"]:
        jobs.append(lambda: suites.train_step(peers, threads, seconds * 3))
    results = {"profile": args.profile, "threads": threads, "machine": machine.describe(),
               "peak": peak, "cases": []}
    for job in jobs:
        case = job()
        results["cases"].append(case)
        print(_line(case, peak["gflops"]), flush=True)
    files = report.write(results, args.out, with_plots=with_plots)
    print(f"wrote {', '.join(files)} in {time.perf_counter() - started:.0f} s")
    return 0


def _line(case: dict, peak: float) -> str:
    engines = case["engines"]
    base = engines["fastrnn"]["median_us"] / case["per"]
    parts = [f"fastrnn {base:,.2f} us/{case['unit']}"]
    for name, engine in engines.items():
        if name != "fastrnn":
            parts.append(f"{name} {engine['median_us'] / case['per']:,.2f} "
                         f"(x{engine['median_us'] / engines['fastrnn']['median_us']:.2f})")
    gflops, fraction = report.fastrnn_rate(case, peak)
    if gflops:
        parts.append(f"{gflops:.1f} GFLOP/s = {fraction:.0%} of peak")
    parts += [f"{name} skipped: {why}" for name, why in case["skipped"].items()]
    return f"{case['group']}: " + ", ".join(parts)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastrnn bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
