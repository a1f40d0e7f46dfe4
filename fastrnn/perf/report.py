"""What ``fastrnn bench`` writes: results.json (every figure), results.md (the
side-by-side table with ratios) and PNG plots."""

import json
import os

from .peers import (ENGINES, FASTRNN_IOBINDING, FASTRNN_PREDICT, FASTRNN_SEQUENTIAL,
                    FASTRNN_STREAM, ORT_IOBINDING, PEERS)

ENGINE_TITLES = {"fastrnn": "fastrnn", "torch": "PyTorch", "onnxruntime": "ONNX Runtime",
                 "openvino": "OpenVINO", "tract": "tract", FASTRNN_SEQUENTIAL: "fastrnn Sequential",
                 FASTRNN_IOBINDING: "fastrnn IOBinding", ORT_IOBINDING: "ONNX Runtime IOBinding",
                 FASTRNN_STREAM: "fastrnn Stream.step", FASTRNN_PREDICT: "fastrnn predict"}


def ratios(medians: dict[str, float]) -> dict[str, float]:
    """{peer: peer median / fastrnn median} (above 1: fastrnn is faster), for
    every engine of `medians` ({engine: median}) but fastrnn; {} without fastrnn."""
    if "fastrnn" not in medians:
        return {}
    return {name: median / medians["fastrnn"] for name, median in medians.items()
            if name != "fastrnn"}


def pair_ratios(case: dict) -> dict[str, float]:
    """{"a/b": median of a / median of b} for each pair (a, b) of engines
    the case names in params["pairs"] and timed (the ONNX session cases:
    ONNX Runtime over fastrnn's session with and without IOBinding, the
    session over the model's own stream)."""
    engines = case["engines"]
    return {f"{a}/{b}": engines[a]["median_us"] / engines[b]["median_us"]
            for a, b in case["params"].get("pairs", ()) if a in engines and b in engines}


def fastrnn_rate(case: dict, peak_gflops: float) -> tuple:
    """(GFLOP/s, fraction of the single-thread peak) of fastrnn in a case."""
    engine = case["engines"].get("fastrnn")
    if not engine or not case["flops"]:
        return None, None
    gflops = case["flops"] / (engine["median_us"] * 1e-6) / 1e9
    return gflops, gflops / peak_gflops


def end_to_end(case: dict) -> dict:
    """A pipeline case's figures: us per stream-frame end to end and of the
    model alone, their ratio, and the real-time streams one core holds (the
    audio of a frame, frame_seconds, over the time a core spends on one
    stream's frame: per stream-frame time x threads)."""
    engines, per = case["engines"], case["per"]
    end_to_end_us = engines["fastrnn"]["median_us"] / per
    model_us = engines["model"]["median_us"] / per
    core_seconds = end_to_end_us * 1e-6 * case["params"]["threads"]
    return {"end_to_end_us": end_to_end_us, "model_us": model_us,
            "end_to_end_over_model": end_to_end_us / model_us,
            "real_time_streams_per_core": case["params"]["frame_seconds"] / core_seconds}


def add_rates(results: dict) -> None:
    """Per case: every engine's GFLOP/s, fastrnn's GFLOP/s and fraction of
    peak, and the peer / fastrnn ratios; for pipeline cases, ``end_to_end``."""
    peak = results["peak"]["gflops"]
    for case in results["cases"]:
        for engine in case["engines"].values():
            engine["gflops"] = case["flops"] / (engine["median_us"] * 1e-6) / 1e9
        gflops, fraction = fastrnn_rate(case, peak)
        case["fastrnn_gflops"], case["fraction_of_peak"] = gflops, fraction
        case["ratios"] = ratios({name: engine["median_us"]
                                 for name, engine in case["engines"].items()})
        if case["kind"] == "pipeline":
            case["end_to_end"] = end_to_end(case)
        if "pairs" in case["params"]:
            case["pair_ratios"] = pair_ratios(case)


def _time(engine: dict | None, case: dict) -> str:
    if engine is None:
        return "-"
    per_item = engine["median_us"] / case["per"]
    text = f"{per_item:,.2f} us/{case['unit']}" if case["per"] > 1 else f"{per_item:,.2f} us"
    if case["kind"] == "stream":
        text += f" (p99 {engine['p99_us']:,.2f})"
    return text


def markdown(results: dict) -> str:
    """results.md: the machine, then one table row per case (add_rates
    first), then a line per case that timed engines beyond ENGINES (a second
    build of fastrnn) with their times and ratios."""
    machine = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, fastrnn ISA "
             f"{machine['isa']}; {versions}. NumPy sgemm, 1 thread: "
             f"{results['peak']['gflops']:.1f} GFLOP/s. Profile: {results['profile']}.",
             "",
             "Medians per frame (streams: per stream per step; train: per step); ratio = "
             "peer time / fastrnn time (> 1: fastrnn is faster).",
             "",
             "| case | " + " | ".join(ENGINE_TITLES[name] for name in ENGINES) + " | "
             + " | ".join(f"{ENGINE_TITLES[name]} / fastrnn" for name in PEERS)
             + " | fastrnn GFLOP/s (of NumPy sgemm) |",
             "| --- |" + " ---: |" * (len(ENGINES) + len(PEERS) + 1)]
    for case in (case for case in results["cases"] if case["kind"] != "pipeline"):
        engines, ratios = case["engines"], case.get("ratios", {})
        cells = [case["group"]]
        cells += [_time(engines.get(name), case) if name in engines
                  else ("skipped" if name in case["skipped"] else "-")
                  for name in ENGINES]
        cells += [f"x{ratios[name]:.2f}" if name in ratios else "-" for name in PEERS]
        rate = case.get("fastrnn_gflops")
        cells.append(f"{rate:.1f} ({case['fraction_of_peak']:.0%})" if rate else "-")
        lines.append("| " + " | ".join(cells) + " |")
    beside = [_beside(case) for case in results["cases"]
              if case["kind"] != "pipeline" and set(case["engines"]) - set(ENGINES)]
    if beside:
        lines += ["", "Timed beside fastrnn in the same rounds (ratio = its time / fastrnn time):",
                  "", *beside]
    reasons = sorted({f"{ENGINE_TITLES.get(n, n)}: {why}" for case in results["cases"]
                      for n, why in case["skipped"].items() if case["kind"] != "pipeline"})
    if reasons:
        lines += ["", "Skipped: " + "; ".join(reasons) + "."]
    pipelines = [case for case in results["cases"] if case["kind"] == "pipeline"]
    if pipelines:
        lines += ["", "End to end: audio in, prediction out (StreamingPipeline, one 10 ms "
                  "block per stream per call), beside the model alone on the same frames; "
                  "medians per stream-frame.", "",
                  "| case | end to end | model alone | end to end / model | "
                  "real-time streams per core |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for case in pipelines:
            figures = case.get("end_to_end") or end_to_end(case)
            lines.append(f"| {case['group']} | {figures['end_to_end_us']:,.2f} us | "
                         f"{figures['model_us']:,.2f} us | "
                         f"x{figures['end_to_end_over_model']:.2f} | "
                         f"{figures['real_time_streams_per_core']:,.0f} |")
    return "\n".join(lines) + "\n"


def _beside(case: dict) -> str:
    """The Markdown line of a case's engines beyond ENGINES."""
    ratios = case.get("ratios", {})
    cells = [f"{ENGINE_TITLES.get(name, name)} {_time(engine, case)}, x{ratios[name]:.2f}"
             for name, engine in case["engines"].items() if name not in ENGINES]
    cells += [f"{pair} x{ratio:.2f}" for pair, ratio in pair_ratios(case).items()]
    return f"- {case['group']}: " + "; ".join(cells)


PLOTS_NEED_MATPLOTLIB = "the plots need matplotlib: pip install matplotlib (or fastrnn[bench])"
ENGINE_COLORS = {"fastrnn": "tab:green", "torch": "tab:orange", "onnxruntime": "tab:blue",
                 "openvino": "tab:purple", "tract": "tab:brown"}


def plots(results: dict, directory: str) -> list:
    """PNG plots (matplotlib, Agg), one panel per cell type (and hidden size),
    one line per engine: latency per frame vs hidden size (predict, batch 1),
    throughput vs batch (predict), per-stream cost vs number of streams.
    Returns the files written."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(PLOTS_NEED_MATPLOTLIB) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    predict = [c for c in results["cases"]            # the one-layer grid, not the CRNN
               if c["kind"] == "predict" and "cell" in c["params"] and c["engines"]]
    streams = [c for c in results["cases"] if c["kind"] == "streams" and c["engines"]]
    figures = [
        ("latency_vs_hidden.png", "Latency per frame vs hidden size (predict, batch 1, T 200)",
         "hidden size", "us per frame", [c for c in predict if c["params"]["batch"] == 1],
         "hidden", lambda c: c["params"]["cell"].upper(),
         lambda c, e: e["median_us"] / c["per"]),
        ("throughput_vs_batch.png", "Throughput vs batch (predict, T 200)", "batch",
         "frames per second", predict, "batch",
         lambda c: f"{c['params']['cell'].upper()} H={c['params']['hidden']}",
         lambda c, e: c["per"] / (e["median_us"] * 1e-6)),
        ("streams_vs_cost.png", "Per-stream cost vs number of streams (model A, one step)",
         "streams", "us per stream per step", streams, "streams", lambda c: "model A",
         lambda c, e: e["median_us"] / c["per"]),
    ]
    written = []
    for filename, title, xlabel, ylabel, selected, key, panel_of, value in figures:
        panels = {}
        for case in selected:
            lines = panels.setdefault(panel_of(case), {})
            for name, engine in case["engines"].items():
                lines.setdefault(name, []).append((case["params"][key], value(case, engine)))
        if not panels:
            continue
        figure, axes_list = pyplot.subplots(1, len(panels), figsize=(4 * len(panels) + 1, 4),
                                            squeeze=False)
        for axes, (panel, lines) in zip(axes_list[0], sorted(panels.items()), strict=True):
            for name, points in sorted(lines.items()):
                points.sort()
                axes.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                          color=ENGINE_COLORS.get(name), label=ENGINE_TITLES.get(name, name))
            axes.set_xscale("log", base=2)
            axes.set_yscale("log")
            axes.set(title=panel, xlabel=xlabel, ylabel=ylabel)
            axes.grid(True, which="both", alpha=0.3)
            axes.legend(fontsize=8)
        figure.suptitle(title)
        figure.tight_layout()
        path = os.path.join(directory, filename)
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written


def write(results: dict, directory: str, with_plots: bool = True) -> list:
    """Add the rates to `results` and write results.json, results.md and (with
    plots) the PNGs into `directory`; returns the files written."""
    os.makedirs(directory, exist_ok=True)
    add_rates(results)
    files = [os.path.join(directory, "results.json"), os.path.join(directory, "results.md")]
    with open(files[0], "w") as file:
        json.dump(results, file, indent=1)
    with open(files[1], "w") as file:
        file.write(markdown(results))
    if with_plots:
        files += plots(results, directory)
    return files
