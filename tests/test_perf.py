"""The benchmark harness (fastrnn.perf, behind ``fastrnn bench`` and bench/):
its logic on stub engines (timing order and summaries, ratios, the agreement
check, skipped peers, the report, the command line), then one run of the
tiny profile on the real engines. No figure of speed is asserted."""

import argparse
import functools
import json
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn import cli
from fastrnn.perf import cases, models, peers, report, run, suites, timing
from fastrnn.perf.cases import Case
from fastrnn.perf.peers import (FASTRNN_IOBINDING, FASTRNN_SEQUENTIAL, FASTRNN_STREAM,
                                ORT_IOBINDING)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("latency_vs_hidden.png", "throughput_vs_batch.png", "streams_vs_cost.png")
PEAK = {"gflops": 100.0, "matrix": 1536, "single_thread": True}
MEDIANS = {"fastrnn": 4.0, "torch": 12.0, "onnxruntime": 2.0,      # us, the stub timings
           FASTRNN_SEQUENTIAL: 4.4}
ONNX_MEDIANS = {FASTRNN_IOBINDING: 3.0, ORT_IOBINDING: 15.0, FASTRNN_STREAM: 3.2}  # us, stubs
MODEL_ALONE_US = 2.5                       # us, the stub timing of a pipeline case's "model"
needs_peers = pytest.mark.skipif(
    not all(map(peers.have, ("torch", "onnxruntime", "onnx"))),
    reason="needs PyTorch and ONNX Runtime: pip install torch==2.13.0 onnxruntime onnx")
needs_matplotlib = pytest.mark.skipif(not peers.have("matplotlib"),
                                      reason="needs matplotlib: pip install matplotlib")


def hide(monkeypatch, *names):
    """Make `names` fail to import for the rest of the test (already imported or not)."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def fastrnn_threads():
    """Restore fastrnn's thread count, which ``fastrnn --threads`` sets for the process."""
    before = fastrnn.get_num_threads()
    yield
    fastrnn.set_num_threads(before)


@pytest.fixture
def fixed_medians(monkeypatch):
    """suites.measure's timing replaced: each engine's durations are [m, m, 3m]
    (median m, p99 2.96 m), m from MEDIANS; returns the calls of interleaved
    as they come, (engines, seconds, rounds)."""
    calls = []

    def interleaved(engines, seconds, rounds):
        calls.append((list(engines), seconds, rounds))
        medians = {**MEDIANS, **ONNX_MEDIANS, "model": MODEL_ALONE_US}
        return {name: np.array([1, 1, 3]) * medians[name] * 1e-6 for name in engines}

    monkeypatch.setattr(suites, "interleaved", interleaved)
    return calls


def stub_case(kind="predict", threads=1, engines=("fastrnn", "torch"),
              skipped=None, name="stub", params=None) -> Case:
    """A Case whose engines return zeros; params (default) as the plots read them."""
    if params is None:
        params = {"cell": "lstm", "hidden": 8, "batch": 1, "steps": 5, "model": "A",
                  "streams": 4, "threads": threads}
    if kind == "pipeline":
        return Case(f"pipeline-stub-n2-threads{threads}", "pipeline",
                    {"model": "digits", "streams": 2, "threads": threads, "frame_seconds": 0.01},
                    "stream-frame", 2, 1e5, {name: (lambda: np.zeros(3)) for name in
                                             ("fastrnn", "model")},
                    {"torch": cases.END_TO_END_ONLY, "onnxruntime": cases.END_TO_END_ONLY})
    per = {"predict": 5, "streams": 4}.get(kind, 1)
    return Case(f"{kind}-{name}-threads{threads}", kind, params, "frame", per, 1e5,
                {name: (lambda: np.zeros(3)) for name in engines},
                {"onnxruntime": "no ORT here"} if skipped is None else skipped)


# timing ---------------------------------------------------------------------------------

def test_interleaved_warms_up_each_engine_then_rotates_the_order_every_round():
    log = []
    engines = {name: (lambda name=name: log.append(name)) for name in "abc"}
    durations = timing.interleaved(engines, 0.0, rounds=4)
    assert log == list("abc" "abc" "bca" "cab" "abc")
    assert {name: len(values) for name, values in durations.items()} == {"a": 4, "b": 4, "c": 4}
    assert all(values.dtype == np.float64 and (values >= 0).all() for values in durations.values())


def test_interleaved_subtracts_the_median_time_of_an_empty_call_from_every_engine(monkeypatch):
    def sample_calls(call, seconds, min_calls=3):
        return [1e-7, 2e-7, 9e-7] if call is timing.nothing else [5e-7, 1.5e-7, 3e-6]
    monkeypatch.setattr(timing, "sample_calls", sample_calls)
    durations = timing.interleaved({"a": lambda: None, "b": lambda: None}, 0.0, rounds=2)
    for values in durations.values():          # the empty call's median, 2e-7, subtracted
        np.testing.assert_allclose(values, [3e-7, 0.0, 2.8e-6] * 2, rtol=1e-12, atol=1e-15)


def test_sample_calls_runs_at_least_min_calls_and_at_most_max_calls():
    log = []
    assert len(timing.sample_calls(lambda: log.append(1), 0.0, min_calls=7)) == 7 == len(log)
    assert len(timing.sample_calls(lambda: None, 60.0, max_calls=50)) == 50


def test_summary_is_median_and_p99_in_microseconds_and_the_call_count():
    durations = np.arange(1, 101) * 1e-6                     # 1 us .. 100 us
    assert timing.summary(durations) == {"median_us": pytest.approx(50.5),
                                         "p99_us": pytest.approx(99.01), "calls": 100}


# ratios and results ----------------------------------------------------------------------

def test_ratios_are_peer_median_over_fastrnn_median():
    assert report.ratios(MEDIANS) == {"torch": 3.0, "onnxruntime": 0.5,
                                      FASTRNN_SEQUENTIAL: pytest.approx(1.1)}
    assert report.ratios({"torch": 1.0}) == {}


def test_measure_times_the_case_engines_by_its_kind_and_keeps_what_was_skipped(fixed_medians):
    case = stub_case("train", threads=2)
    result = suites.measure(case, 0.5)
    assert fixed_medians == [(["fastrnn", "torch"], 1.5, 3)]      # train: 3 x seconds, 3 rounds
    assert result["engines"]["torch"] == {"median_us": pytest.approx(12.0),
                                          "p99_us": pytest.approx(35.52), "calls": 3}
    assert result["skipped"] == {"onnxruntime": "no ORT here"}
    assert {key: result[key] for key in ("group", "kind", "params", "unit", "per", "flops")} == {
        "group": case.group, "kind": "train", "params": case.params, "unit": "frame", "per": 1,
        "flops": 1e5}
    suites.measure(stub_case("stream"), 0.5)
    assert fixed_medians[-1][1:] == (0.5, 5)


# the agreement check ---------------------------------------------------------------------

def test_check_agree_passes_within_the_tolerance_and_names_the_engine_beyond_it():
    def zeros():
        return np.zeros(4, np.float32)

    cases.check_agree({"fastrnn": zeros, "torch": lambda: np.full(4, 1e-6)}, tolerance=1e-5)
    with pytest.raises(AssertionError, match=r"onnxruntime differs from fastrnn by 2\.00e-04"):
        cases.check_agree({"fastrnn": zeros, "torch": zeros,
                           "onnxruntime": lambda: np.full(4, 2e-4)}, tolerance=1e-4)


def test_check_agree_compares_every_call_so_a_drifting_state_is_caught():
    steps = iter(range(10))

    def drifting():                                   # differs from its third call on
        return np.full(2, 1.0 if next(steps) == 2 else 0.0)

    cases.check_agree({"fastrnn": lambda: np.zeros(2), "torch": drifting}, calls=2)
    with pytest.raises(AssertionError, match="torch differs"):
        cases.check_agree({"fastrnn": lambda: np.zeros(2), "torch": drifting}, calls=2)


def test_check_agree_keeps_a_copy_of_outputs_written_into_one_buffer():
    out, counter = np.zeros(1), iter(range(10))

    def into_buffer():
        out[0] = next(counter) % 2                                     # 0, 1, 0, 1, ...
        return out

    with pytest.raises(AssertionError, match="torch differs"):
        cases.check_agree({"fastrnn": into_buffer, "torch": lambda: np.zeros(1)}, calls=2)


def test_check_agree_on_joined_outputs_compares_every_output_of_a_model():
    def two_outputs(vad):
        return lambda: (np.zeros((1, 3), np.float32), np.full((1, 1), vad, np.float32))

    cases.check_agree(cases._joined({"fastrnn": two_outputs(0.5), "torch": two_outputs(0.5)}))
    with pytest.raises(AssertionError, match=r"onnxruntime differs from fastrnn by 1\.00e-03"):
        cases.check_agree(cases._joined({"fastrnn": two_outputs(0.5),
                                         "onnxruntime": two_outputs(0.501)}), tolerance=1e-4)


# the CRNN's peers -----------------------------------------------------------------------

def test_window_stepper_starts_full_shifts_a_frame_per_call_and_carries_the_state():
    seen = []

    def run(window, state):               # gains: the window's last frame; vad: the call count
        seen.append((window.copy(), state))
        return [window[:, -1:], np.full((1, 1, 1), state[0] + 1.0), state[0] + 1]

    frames = np.arange(12, dtype=np.float32).reshape(6, 2)
    step = cases._window_stepper(run, frames[:4], [0])
    outputs = [step(frames[4]), step(frames[5])]
    assert [state for _, state in seen] == [[0], [1]]
    assert np.array_equal(seen[0][0], frames[None, 0:5])
    assert np.array_equal(seen[1][0], frames[None, 1:6])
    gains, vad = outputs[-1]
    assert np.array_equal(gains, frames[5:6]) and np.array_equal(vad, [[2.0]])


def test_suppressor_flops_count_each_layer_once_per_frame():
    spec = models.suppressor_spec()
    assert (spec.features, spec.channels, spec.hidden, spec.delay, spec.joint) == \
        (65, (128, 384), 384, 4, 1536)
    convs = 2 * 3 * (128 * 65 + 384 * 128)
    grus = 3 * 2 * 3 * 384 * (384 + 384)
    heads = 2 * 1536 * (65 + 1)
    assert models.suppressor_flops(spec) == convs + grus + heads == 5_856_000
    assert spec.weights["gru1.weight_ih_l0"].shape == (3 * 384, 384)
    assert spec.weights["vad.weight"].shape == (1, 1536)


def test_crnn_cases_give_a_frame_per_stream_call_and_count_input_frames(monkeypatch):
    hide(monkeypatch, "torch", "onnxruntime", "onnx")
    stream = cases.crnn_stream_case(threads=1, hidden=24)
    gains, vad = stream.engines["fastrnn"]()           # primed: the first call gives a frame
    assert gains.shape == (1, 65) and vad.shape == (1, 1)
    assert (stream.group, stream.unit, stream.per) == ("stream-crnn-h24-batch1-threads1",
                                                        "frame", 1)
    spec = models.suppressor_spec(channels=(8, 24), hidden=24)
    assert stream.flops == models.suppressor_flops(spec)
    predict = cases.crnn_predict_case(3, 30, threads=1, hidden=24)
    gains, vad = predict.engines["fastrnn"]()
    assert gains.shape == (3, 26, 65) and vad.shape == (3, 26, 1)
    assert (predict.group, predict.per, predict.flops) == (
        "predict-crnn-h24-b3-t30-threads1", 90, 3 * 26 * models.suppressor_flops(spec))



@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_crnn_cases_take_fastrnns_precision(monkeypatch, precision):
    """The CRNN cases build fastrnn's graph in `precision` (its weight
    bytes shrink; the name says the precision; without peers, nothing to
    agree with)."""
    hide(monkeypatch, "torch", "onnxruntime", "onnx")
    stream = cases.crnn_stream_case(threads=1, hidden=24, precision=precision)
    assert stream.group == f"stream-crnn-h24-batch1-threads1-{precision}"
    assert stream.params["precision"] == precision
    gains, vad = stream.engines["fastrnn"]()
    assert gains.shape == (1, 65) and vad.shape == (1, 1)
    predict = cases.crnn_predict_case(2, 10, threads=1, hidden=24, precision=precision)
    assert predict.group == f"predict-crnn-h24-b2-t10-threads1-{precision}"
    spec = models.suppressor_spec(channels=(8, 24), hidden=24)
    assert (models.suppressor_to_fastrnn(spec, precision=precision).weight_bytes
            < models.suppressor_to_fastrnn(spec).weight_bytes)

# the ONNX session cases -----------------------------------------------------------------

class StubBinding:
    """An IOBinding recording what is bound (name -> array, inputs and outputs)."""

    def __init__(self):
        self.inputs, self.outputs = {}, {}


class StubSession:
    """A per-step graph (x, h -> y, h_out) with y = x + h, h_out = h + 1,
    run through StubBinding: its outputs written into the bound arrays."""

    def __init__(self):
        self.runs = []

    def get_outputs(self):
        return [argparse.Namespace(name="y"), argparse.Namespace(name="h_out")]

    def io_binding(self):
        return StubBinding()

    def run_with_iobinding(self, binding):
        self.runs.append(binding)
        h = binding.inputs["h"].copy()
        binding.outputs["y"][...] = binding.inputs["x"] + h
        binding.outputs["h_out"][...] = h + 1


def stub_bind(binding, name, array, is_input):
    (binding.inputs if is_input else binding.outputs)[name] = array


def test_bound_stepper_binds_once_and_feeds_each_calls_state_outputs_to_the_next():
    session = StubSession()
    step = cases._bound_stepper(session, stub_bind, (1, 2), (1, 2), [np.zeros((1, 2))])
    outputs = [step(np.array([10.0, 20.0])).copy() for _ in range(3)]
    assert [o.tolist() for o in outputs] == [[[10, 20]], [[11, 21]], [[12, 22]]]
    first, second = session.runs[:2]
    assert session.runs == [first, second, first] and first is not second
    assert first.outputs["h_out"] is second.inputs["h"]           # the state swaps
    assert second.outputs["h_out"] is first.inputs["h"]
    assert first.inputs["x"] is second.inputs["x"]                # one input buffer
    assert first.outputs["y"] is second.outputs["y"]


def test_pair_ratios_are_reported_for_the_pairs_a_case_names(tmp_path, fixed_medians):
    params = {"model": "A", "threads": 1,
              "pairs": (("onnxruntime", "fastrnn"), (ORT_IOBINDING, FASTRNN_IOBINDING),
                        ("fastrnn", FASTRNN_STREAM), ("tract", "fastrnn"))}
    case = suites.measure(stub_case("stream", name="onnx", params=params, skipped={},
                                    engines=("fastrnn", FASTRNN_IOBINDING, "onnxruntime",
                                             ORT_IOBINDING, FASTRNN_STREAM)), 1.0)
    expected = {"onnxruntime/fastrnn": 0.5, f"{ORT_IOBINDING}/{FASTRNN_IOBINDING}": 5.0,
                f"fastrnn/{FASTRNN_STREAM}": 1.25}                 # tract: not timed
    assert report.pair_ratios(case) == pytest.approx(expected)
    assert ", onnxruntime/fastrnn x0.50, onnxruntime-iobinding/fastrnn-iobinding x5.00, " \
           "fastrnn/fastrnn-stream x1.25" in run._line(case, PEAK["gflops"])
    report.write(results_of(case), str(tmp_path), with_plots=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["cases"][0]["pair_ratios"] == pytest.approx(expected)
    assert "- stream-onnx-threads1: fastrnn IOBinding 3.00 us (p99 8.88), x0.75; ONNX Runtime " \
           "IOBinding 15.00 us (p99 44.40), x3.75; fastrnn Stream.step 3.20 us (p99 9.47), " \
           "x0.80; onnxruntime/fastrnn x0.50;" in (tmp_path / "results.md").read_text()


def test_onnx_cases_without_pytorch_have_no_engine_and_say_why(monkeypatch):
    hide(monkeypatch, "torch", "onnxruntime", "onnx")
    for case in (cases.onnx_step_case(threads=1), cases.onnx_sequence_case(2, 5, threads=1),
                 cases.onnx_vad_case(threads=1)):
        assert case.engines == {}
        assert case.skipped["fastrnn"] == cases.ONNX_NEEDS_EXPORT
        assert case.skipped[ORT_IOBINDING] == case.skipped["onnxruntime"] == peers.NO_ORT
        result = suites.measure(case, 0.0)
        assert run._line(result, PEAK["gflops"]).startswith(
            f"{case.group}: torch skipped: {peers.NO_TORCH}, ")


def test_vad_flops_count_the_convolutions_and_lstm_of_one_branch_over_three_frames():
    convs = 258 * 256 + 3 * (129 * 128 + 128 * 64 + 64 * 64 + 64 * 128) + 128
    assert models.vad_flops() == 2 * 3 * convs + 3 * 2 * 4 * 128 * 256


# skipped peers ---------------------------------------------------------------------------

def installed(monkeypatch, *names):
    """peers.have answers True for `names` only."""
    monkeypatch.setattr(peers, "have", lambda name: name in names)


def test_peer_problems_give_each_missing_peer_its_reason(monkeypatch):
    installed(monkeypatch, "torch", "onnxruntime", "openvino", "tract", "onnx")
    assert peers.peer_problems() == {}
    installed(monkeypatch, "torch", "onnxruntime", "onnx")
    assert peers.peer_problems() == {"openvino": peers.NO_OPENVINO, "tract": peers.NO_TRACT}
    installed(monkeypatch, "onnxruntime", "openvino", "tract", "onnx")
    assert peers.peer_problems() == {"torch": peers.NO_TORCH,
                                     "onnxruntime": peers.ORT_NEEDS_TORCH,
                                     "openvino": peers.ORT_NEEDS_TORCH,
                                     "tract": peers.ORT_NEEDS_TORCH}
    installed(monkeypatch, "torch", "onnxruntime", "openvino", "tract")
    assert peers.peer_problems() == {"onnxruntime": peers.NO_ORT,
                                     "openvino": peers.NO_OPENVINO, "tract": peers.NO_TRACT}


def test_available_keeps_the_wanted_peers_that_run_and_the_reasons_of_the_others(monkeypatch):
    installed(monkeypatch, "torch")
    assert peers.available(("onnxruntime", "torch")) == (("torch",),
                                                         {"onnxruntime": peers.NO_ORT})
    assert peers.available(("torch",)) == (("torch",), {})
    assert peers.available(()) == ((), {})


def test_fastrnn_is_measured_alone_when_the_peers_are_hidden(monkeypatch):
    hide(monkeypatch, "torch", "onnxruntime", "onnx")
    built = [build(threads=1) for build in run.PROFILES["tiny"]["cases"]]
    pipelines = [case for case in built if case.kind == "pipeline"]
    assert [list(case.engines) for case in pipelines] == [["fastrnn", "model"]] * 2
    built = [case for case in built if case.kind != "pipeline"]
    built.append(cases.train_case(threads=1, batch=2, steps=3))
    for case in built:
        fastrnn_builds = ["fastrnn", FASTRNN_SEQUENTIAL] if case.params.get("graph") \
            else ["fastrnn"]
        assert list(case.engines) == fastrnn_builds, case.group
        assert case.skipped["torch"] == peers.NO_TORCH
    assert [case.skipped["onnxruntime"] for case in built] == \
        [peers.NO_ORT] * (len(built) - 1) + [cases.ORT_CANNOT_TRAIN]
    result = suites.measure(built[0], 0.0)
    assert list(result["engines"]) == ["fastrnn"] and result["engines"]["fastrnn"]["calls"] == 5


# the report -----------------------------------------------------------------------------

def results_of(*measured) -> dict:
    return {"profile": "tiny", "threads": 1, "peak": PEAK,
            "machine": {"cpu": "cpu", "cores": 2, "isa": "generic", "openmp": True,
                        "compiler": "cc", "versions": {"fastrnn": "0.1.0", "torch": None}},
            "cases": list(measured)}


def test_report_json_and_markdown_rows(tmp_path, fixed_medians):
    stream = suites.measure(stub_case("stream", engines=("fastrnn", "torch", "onnxruntime"),
                                      skipped={}), 1.0)
    predict = suites.measure(stub_case("predict"), 1.0)
    files = report.write(results_of(stream, predict), str(tmp_path), with_plots=False)
    assert files == [str(tmp_path / "results.json"), str(tmp_path / "results.md")]

    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved) == {"profile", "threads", "peak", "machine", "cases"}
    first = saved["cases"][0]
    assert set(first) == {"group", "kind", "params", "unit", "per", "flops", "engines",
                          "skipped", "fastrnn_gflops", "fraction_of_peak", "ratios"}
    assert set(first["engines"]["torch"]) == {"median_us", "p99_us", "calls", "gflops"}
    assert first["ratios"] == {"torch": 3.0, "onnxruntime": 0.5}
    assert first["engines"]["torch"]["gflops"] == pytest.approx(1e5 / 12e-6 / 1e9)
    assert first["fastrnn_gflops"] == pytest.approx(25.0)
    assert first["fraction_of_peak"] == pytest.approx(0.25)

    table = (tmp_path / "results.md").read_text()
    assert "| stream-stub-threads1 | 4.00 us (p99 11.84) | 12.00 us (p99 35.52) | " \
           "2.00 us (p99 5.92) | - | - | x3.00 | x0.50 | - | - | 25.0 (25%) |" in table
    assert "| predict-stub-threads1 | 0.80 us/frame | 2.40 us/frame | skipped | - | - | x3.00 " \
           "| - | - | - | 25.0 (25%) |" in table
    assert "Skipped: ONNX Runtime: no ORT here." in table
    assert table.startswith("Machine: cpu, 2 cores, fastrnn ISA generic; fastrnn 0.1.0. ")


def test_report_gives_a_second_build_of_fastrnn_a_line_of_its_own(tmp_path, fixed_medians):
    graph = suites.measure(stub_case("stream", engines=("fastrnn", FASTRNN_SEQUENTIAL, "torch"),
                                     name="graph"), 1.0)
    report.write(results_of(graph), str(tmp_path), with_plots=False)
    table = (tmp_path / "results.md").read_text()
    assert "| stream-graph-threads1 | 4.00 us (p99 11.84) | 12.00 us (p99 35.52) | skipped | " \
           "- | - | x3.00 | - | - | - | 25.0 (25%) |" in table
    assert "\n- stream-graph-threads1: fastrnn Sequential 4.40 us (p99 13.02), x1.10\n" in table
    assert run._line(graph, PEAK["gflops"]).startswith(
        "stream-graph-threads1: fastrnn 4.00 us/frame, fastrnn-sequential 4.40 (x1.10), "
        "torch 12.00 (x3.00), ")


def test_end_to_end_cases_get_their_own_table_with_real_time_streams_per_core(
        tmp_path, fixed_medians):
    """Stub medians: 4 us per call end to end, 2.5 us for the model alone,
    2 streams per call, 10 ms of audio per frame."""
    measured = [suites.measure(stub_case("pipeline", threads=threads), 1.0)
                for threads in (1, 2)]
    assert fixed_medians[-1][1:] == (1.0, 5)
    report.write(results_of(suites.measure(stub_case("predict"), 1.0), *measured),
                 str(tmp_path), with_plots=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["cases"][1]["end_to_end"] == {
        "end_to_end_us": 2.0, "model_us": 1.25, "end_to_end_over_model": 1.6,
        "real_time_streams_per_core": pytest.approx(5000.0)}
    assert saved["cases"][2]["end_to_end"]["real_time_streams_per_core"] == \
        pytest.approx(2500.0)                                       # two threads: two cores
    table = (tmp_path / "results.md").read_text()
    main, end_to_end = table.split("End to end: audio in, prediction out")
    assert "pipeline-stub" not in main and "end to end cases" not in main
    assert "| pipeline-stub-n2-threads1 | 2.00 us | 1.25 us | x1.60 | 5,000 |" in end_to_end
    assert "| pipeline-stub-n2-threads2 | 2.00 us | 1.25 us | x1.60 | 2,500 |" in end_to_end
    assert run._line(measured[1], PEAK["gflops"]) == (
        "pipeline-stub-n2-threads2: end to end 2.00 us/stream-frame, model alone 1.25 "
        "(x1.60), 2,500 real-time streams per core")


@needs_matplotlib
def test_plots_are_written_as_png(tmp_path, fixed_medians):
    crnn = stub_case("predict", name="crnn", params={"model": "crnn", "hidden": 8, "batch": 1,
                                                     "steps": 5, "threads": 1})
    measured = [suites.measure(case, 1.0) for case in (stub_case("predict"),
                                                       stub_case("streams"), crnn)]
    files = report.write(results_of(*measured), str(tmp_path))
    assert files[2:] == [str(tmp_path / name) for name in PLOTS]
    assert all((tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE for name in PLOTS)


# the command line -----------------------------------------------------------------------

@pytest.fixture
def stub_profile(monkeypatch, fixed_medians):
    """`fastrnn bench --tiny` over two stub cases, the sgemm peak fixed;
    returns the keyword arguments each case was built with."""
    built = []

    def builder(kind):
        def build(**options):
            built.append(options)
            return stub_case(kind, threads=options["threads"])
        build.__name__ = f"stub_{kind}_case"
        return build

    monkeypatch.setitem(run.PROFILES, "tiny",
                        {"seconds": 0.25, "cases": [builder("predict"), builder("streams")],
                         "precisions": "float32"})
    monkeypatch.setattr(run.machine, "sgemm_peak_gflops", lambda: PEAK)
    return built


def test_the_command_builds_each_case_with_the_engines_and_threads_asked(
        tmp_path, capsys, stub_profile, fixed_medians, fastrnn_threads):
    status = cli.main(["bench", "--tiny", "--engines", " fastrnn, onnxruntime ", "--threads",
                       "2", "--no-plots", "--out", str(tmp_path)])
    assert status == 0
    assert stub_profile == [{"threads": 2, "peers": ("onnxruntime",)}] * 2
    assert [seconds for _, seconds, _ in fixed_medians] == [0.25, 0.25]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == ("NumPy sgemm (1536^3, 1 thread; not the FMA peak, "
                          "bench/machine_limits.c measures that): 100.0 GFLOP/s")
    assert printed[1] == ("predict-stub-threads2: fastrnn 0.80 us/frame, torch 2.40 (x3.00), "
                          "25.0 GFLOP/s = 25% of NumPy sgemm, onnxruntime skipped: no ORT here")
    assert printed[3].startswith(f"wrote {tmp_path / 'results.json'}, ")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (saved["profile"], saved["threads"]) == ("tiny", 2)
    assert [case["group"] for case in saved["cases"]] == ["predict-stub-threads2",
                                                         "streams-stub-threads2"]
    assert not list(tmp_path.glob("*.png"))


@needs_matplotlib
def test_the_command_writes_the_plots_by_default(tmp_path, stub_profile, fastrnn_threads):
    assert cli.main(["bench", "--tiny", "--out", str(tmp_path)]) == 0
    assert all((tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE for name in PLOTS)


def test_without_matplotlib_the_command_says_so_and_writes_no_plots(
        tmp_path, capsys, monkeypatch, stub_profile, fastrnn_threads):
    hide(monkeypatch, "matplotlib")
    assert cli.main(["bench", "--tiny", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"no plots: {report.PLOTS_NEED_MATPLOTLIB}\n")
    assert (tmp_path / "results.md").exists() and not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("arguments, message", [
    (["--engines", "fastrnn,tensorflow"], "ValueError: --engines: unknown ['tensorflow']; "
                                          "expected some of ('fastrnn', 'torch', 'onnxruntime', "
                                          "'openvino', 'tract')"),
    (["--threads", "0"], f"ValueError: num_threads: expected an integer from 1 to "
                         f"{fastrnn.runtime.max_threads()} (4 per core this process may run on), "
                         f"got 0"),
])
def test_a_bad_argument_exits_1_with_one_line_before_any_case(
        tmp_path, capsys, stub_profile, fastrnn_threads, arguments, message):
    assert cli.main(["bench", *arguments, "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"fastrnn bench: {message}\n" and captured.out == ""
    assert stub_profile == [] and not (tmp_path / "out").exists()


def test_only_runs_the_cases_whose_builder_is_named_so_and_float32_only_ones_once(
        tmp_path, capsys, monkeypatch, stub_profile, fastrnn_threads):
    monkeypatch.setattr(run, "FLOAT32_ONLY", ("stub_streams_case",))
    assert cli.main(["bench", "--tiny", "--only", "streams", "--no-plots", "--out",
                     str(tmp_path), "--precisions", "float32,bfloat16"]) == 0
    assert stub_profile == [{"threads": 1, "peers": peers.PEERS}]
    assert run._builder_name(functools.partial(cases.onnx_sequence_case, 1, 1000)) == \
        "onnx_sequence_case"
    assert run._builder_name(cases.onnx_vad_case) == "onnx_vad_case"


def bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    return parser


def test_run_refuses_a_thread_count_below_one():
    with pytest.raises(ValueError, match=r"--threads: expected >= 1, got 0"):
        run.run(bench_parser().parse_args(["--threads", "0"]))


def test_the_default_profile_is_quick_and_profiles_exclude_each_other(capsys):
    defaults = bench_parser().parse_args([])
    assert (defaults.profile, defaults.threads, defaults.out, defaults.no_plots) == \
        ("quick", 1, "fastrnn-bench", False)
    assert defaults.engines == "fastrnn,torch,onnxruntime,openvino,tract"
    with pytest.raises(SystemExit) as exit_info:
        bench_parser().parse_args(["--tiny", "--full"])
    assert exit_info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_the_quick_profile_keeps_its_cases():
    *builders, train = run.PROFILES["quick"]["cases"]
    grid = [(build.func.__name__, build.args, build.keywords) for build in builders]
    predict = [("predict_case", (cell, hidden, batch, 200), {}) for cell in ("lstm", "gru")
               for hidden in (64, 256) for batch in (1, 16, 64)]
    crnn = {"hidden": 384}
    assert grid[:4] == [("stream_case", ("A",), {}), ("stream_case", ("B",), {}),
                        ("stream_case", ("A",), {"graph": True}),
                        ("crnn_stream_case", (), crnn)]
    assert grid[4:10] == [("sample_case", (model, count), {}) for model in ("C", "D")
                          for count in (1, 64, 256)]
    assert grid[10:22] == predict
    assert grid[22:24] == [("crnn_predict_case", (batch, 1000), crnn) for batch in (1, 16)]
    assert grid[24:28] == [("streams_case", ("A", count), {}) for count in (1, 16, 256, 1024)]
    assert grid[28:30] == [("pipeline_case", (1,), {}), ("pipeline_case", (256,), {})]
    assert grid[30:] == [("onnx_step_case", (), {}),
                         *[("onnx_sequence_case", (batch, 1000), {}) for batch in (1, 64)],
                         ("onnx_vad_case", (), {})]
    assert run.PROFILES["quick"]["seconds"] == 0.6
    assert train is cases.train_case


# the real engines -----------------------------------------------------------------------

@pytest.mark.parametrize("streams", [1, 3])
def test_the_pipeline_case_checks_the_pipeline_then_feeds_both_engines_a_block(streams):
    case = cases.pipeline_case(streams, threads=1, peers=("torch",))
    assert (case.group, case.kind, case.unit, case.per) == \
        (f"pipeline-digits-n{streams}-threads1", "pipeline", "stream-frame", streams)
    assert case.params["frame_seconds"] == 0.01
    assert list(case.engines) == ["fastrnn", "model"]
    assert case.skipped == {"torch": cases.END_TO_END_ONLY}
    end_to_end, model_alone = case.engines["fastrnn"](), case.engines["model"]()
    if streams == 1:
        assert end_to_end.shape == (1, 10) and model_alone.shape == (10,)
    else:                                        # one frame per stream per call
        assert end_to_end[0].shape == (3, 1, 10) and end_to_end[1].tolist() == [1, 1, 1]
        assert model_alone.shape == (3, 10)


def test_the_pipeline_case_refuses_a_pipeline_that_differs_from_its_streams(monkeypatch):
    from fastrnn.audio import StreamingPipeline

    push = StreamingPipeline.push
    monkeypatch.setattr(StreamingPipeline, "push",
                        lambda self, blocks, active=None: push(self, blocks) * np.float32(1.001))
    with pytest.raises(AssertionError, match="the pipeline differs from its front end then "
                                             "model stream by"):
        cases.pipeline_case(1, threads=1)


@needs_peers
def test_the_onnx_cases_agree_before_timing_and_time_every_engine_asked():
    step = cases.onnx_step_case(threads=1, peers=("onnxruntime", "torch"))
    assert list(step.engines) == ["fastrnn", FASTRNN_IOBINDING, "onnxruntime", ORT_IOBINDING,
                                  FASTRNN_STREAM]
    assert step.skipped == {"torch": cases.ONNX_SESSION_PEERS_ONLY}
    # the graph's engines give y as the graph does, (1, 1, CLASSES); the stream (CLASSES,)
    assert [call().shape for call in step.engines.values()] == [(1, 1, models.CLASSES)] * 4 + [
        (models.CLASSES,)]
    sequence = cases.onnx_sequence_case(2, 5, threads=1, peers=("onnxruntime",))
    assert (sequence.group, sequence.per) == ("onnx-sequence-modelA-b2-t5-threads1", 10)
    assert [call().shape for call in sequence.engines.values()] == [(2, 5, models.CLASSES)] * 3
    vad = cases.onnx_vad_case(threads=1, peers=("onnxruntime",))
    assert (vad.group, vad.unit, list(vad.engines)) == (
        "onnx-vad-threads1", "chunk", ["fastrnn", FASTRNN_IOBINDING, "onnxruntime",
                                       ORT_IOBINDING])
    probabilities = np.concatenate([vad.engines["fastrnn"]() for _ in range(5)])
    assert probabilities.shape == (5, 1) and ((0 < probabilities) & (probabilities < 1)).all()


@needs_peers
def test_tiny_profile_end_to_end(tmp_path, capsys, fastrnn_threads):
    assert run.main(["--tiny", "--no-plots", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [case["group"] for case in saved["cases"]] == [
        "stream-modelA-batch1-threads1", "stream-modelA-graph-batch1-threads1",
        "stream-crnn-h48-batch1-threads1", "predict-lstm-h64-b1-t20-threads1",
        "predict-crnn-h48-b2-t20-threads1", "streams-modelA-n1-threads1",
        "streams-modelA-n16-threads1", "pipeline-digits-n1-threads1",
        "pipeline-digits-n16-threads1"]
    for case in saved["cases"][:7]:
        fastrnn_builds = {"fastrnn", FASTRNN_SEQUENTIAL} if case["params"].get("graph") \
            else {"fastrnn"}
        assert set(case["engines"]) | set(case["skipped"]) == fastrnn_builds | set(peers.PEERS)
        assert {"torch", "onnxruntime"} | fastrnn_builds <= set(case["engines"]), case["group"]
        onnx_peers = {"openvino", "tract"} & {peer for peer in peers.PEERS if peers.have(peer)}
        if "crnn" not in case["group"]:       # the CRNN cases run PyTorch and ONNX Runtime only
            assert onnx_peers <= set(case["engines"]), case["group"]
    assert all(list(case["engines"]) == ["fastrnn", "model"] and case["end_to_end"]
               for case in saved["cases"][7:])


@needs_peers
def test_a_peer_that_fails_on_the_model_is_skipped_with_its_reason_and_the_rest_run(monkeypatch):
    def cannot_run(*args, **kwargs):
        raise models.PeerCannotRun("tract 0.23.9 cannot run this graph: xw not contiguous")
    monkeypatch.setattr(peers, "peer_problems", lambda: {})     # tract "installed"
    monkeypatch.setattr(cases, "tract_runner", cannot_run)
    case = cases.sample_case("D", 4, threads=1, peers=("tract", "onnxruntime"))
    assert list(case.engines) == ["fastrnn", "onnxruntime"]
    assert case.skipped == {"tract": "tract 0.23.9 cannot run this graph: xw not contiguous"}
    predict = cases.predict_case("gru", 8, 2, 3, threads=1, peers=("tract",))
    assert list(predict.engines) == ["fastrnn"] and "xw not contiguous" in predict.skipped["tract"]


@needs_peers
def test_tract_runs_the_models_it_can_and_names_what_it_cannot():
    pytest.importorskip("tract", reason="tract is not installed (pip install tract)")
    lstm = cases.sample_case("C", 4, threads=1, peers=("tract",))
    assert list(lstm.engines) == ["fastrnn", "tract"] and lstm.skipped == {}
    gru = cases.sample_case("D", 4, threads=1, peers=("tract",))
    # tract 0.23's GRU fails over several steps of one feature; a tract that runs it joins
    reason = gru.skipped.get("tract", "")
    assert list(gru.engines) == ["fastrnn", "tract"] or \
        reason.startswith("tract ") and "cannot run this graph" in reason
