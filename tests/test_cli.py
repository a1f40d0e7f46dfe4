"""The fastrnn command: convert and info, exit codes and messages."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import dense_weights, recurrent_weights
from test_graph import noise_suppressor_model

import fastrnn
from fastrnn.cli import main


@pytest.fixture
def native_model(tmp_path, rng):
    model = fastrnn.Sequential([fastrnn.GRU(*recurrent_weights(rng, 3, 4, 6)),
                                fastrnn.Dense(*dense_weights(rng, 6, 2), "softmax")])
    path = tmp_path / "model.fastrnn"
    model.save(path)
    return model, path


def test_info(native_model, capsys):
    model, path = native_model
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Sequential: 1 input, 2 layers, 1 output" in out
    gru_parameters = 3 * 6 * (4 + 6 + 2)
    assert row(out, "layer0")[:6] == ["input0", "6", "1", "0", f"{gru_parameters:,}", "6"]
    assert "6  GRU(input_size=4, hidden_size=6, return_sequences=True, reset_after=True)" in out
    assert row(out, "layer1")[:6] == ["layer0", "2", "1", "0", "14", "0"]
    assert f"parameters: {gru_parameters + 14:,}; state: 6 floats per stream" in out


def row(out: str, layer: str) -> list:
    """The cells of the table row of `layer` in `fastrnn info` output."""
    lines = [line.split() for line in out.splitlines() if line.startswith(f"  {layer} ")]
    assert len(lines) == 1, out
    return lines[0][1:]


def test_info_prints_the_graph(tmp_path, rng, capsys):
    """The noise suppressor: two valid kernel-3 convs (2 frames of delay each),
    three GRUs, a concat and two heads; parameters and state counted from the
    file's tensors and a stream's state."""
    model = noise_suppressor_model(rng)
    path = tmp_path / "graph.fastrnn"
    model.save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Model: 1 input, 10 layers, 2 outputs" in out
    assert "  features: 12 features per frame, rate 1, delay 0" in out
    assert row(out, "conv1")[:6] == ["features", "8", "1", "2", f"{8 * 12 * 3 + 8}", "29"]
    assert row(out, "conv2")[:4] == ["tanh1", "8", "1", "4"]
    assert row(out, "concat") == ["tanh2,", "gru1,", "gru2,", "gru3", "26", "1", "4", "0", "0",
                                  "Concatenate()"]
    assert "  gains (from gains): 12 features per frame, rate 1, delay 4" in out
    assert "  vad (from vad): 1 feature per frame, rate 1, delay 4" in out
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        parameters = sum(f.get_tensor(key).size for key in f.keys())
    state = sum(value.size for value in model.stream().get_state().values())
    assert f"parameters: {parameters:,}; state: {state:,} floats per stream" in out


def test_info_of_a_strided_model_that_reads_whole_sequences(tmp_path, rng, capsys):
    x = fastrnn.Input(3)
    pooled = fastrnn.Pool1d("max", 2)(fastrnn.Conv1d(rng.standard_normal((4, 3, 5)), stride=2,
                                                     padding="same")(x))
    path = tmp_path / "strided.fastrnn"
    fastrnn.Model(x, fastrnn.GlobalPool("avg")(pooled)).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert row(out, "layer0")[:4] == ["input0", "4", "2", "3"]     # span 5, left padding 1
    assert row(out, "layer1")[:4] == ["layer0", "4", "4", "5"]     # 3 + 2 * (kernel 2 - 1)
    assert row(out, "layer2")[:3] == ["layer1", "4", "0"]
    assert "streams: none (a layer reads whole sequences): predict only" in out


def test_convert_graphs_and_version_1_files(tmp_path, rng, capsys):
    graph = noise_suppressor_model(rng)
    graph.save(tmp_path / "graph.fastrnn")
    assert main(["convert", str(tmp_path / "graph.fastrnn"), str(tmp_path / "copy.fastrnn")]) == 0
    assert "Model: 1 input, 10 layers, 2 outputs" in capsys.readouterr().out
    x = rng.standard_normal((2, 20, 12)).astype(np.float32)
    copied = fastrnn.load(tmp_path / "copy.fastrnn")
    assert copied.output_names == ["gains", "vad"]
    assert all(np.array_equal(a, b) for a, b in zip(copied.predict(x), graph.predict(x)))

    version_1 = pathlib.Path(__file__).parent / "data" / "v1_sequential.fastrnn"
    assert main(["convert", str(version_1), str(tmp_path / "v2.fastrnn"), "--from",
                 "fastrnn"]) == 0
    from safetensors import safe_open

    with safe_open(str(tmp_path / "v2.fastrnn"), framework="np") as f:
        assert f.metadata()["format_version"] == "2"
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    assert np.array_equal(fastrnn.load(tmp_path / "v2.fastrnn").predict(x),
                          fastrnn.load(version_1).predict(x))


def test_convert_torch_and_keras_round_trip(tmp_path, keras, capsys):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh())
    torch.save(module, tmp_path / "m.pt")
    assert main(["convert", str(tmp_path / "m.pt"), str(tmp_path / "t.fastrnn")]) == 1
    assert "weights_only=False" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "m.pt"), str(tmp_path / "t.fastrnn"),
                 "--trust-pickle"]) == 0
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    converted = fastrnn.load(tmp_path / "t.fastrnn")
    assert np.array_equal(converted.predict(x), fastrnn.from_torch(module).predict(x))

    kmodel = keras.Sequential([keras.Input((None, 5)), keras.layers.LSTM(4)])
    for suffix in (".keras", ".h5"):
        source = tmp_path / f"k{suffix}"
        kmodel.save(source)
        assert main(["convert", str(source), str(tmp_path / "k.fastrnn")]) == 0
        x3 = x[None]
        assert np.array_equal(fastrnn.load(tmp_path / "k.fastrnn").predict(x3),
                              fastrnn.from_keras(kmodel).predict(x3))


def test_errors_are_one_line_with_status_1(tmp_path, capsys):
    assert main(["info", str(tmp_path / "absent.fastrnn")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastrnn info: FileNotFoundError") and "\n" not in err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 64)
    assert main(["info", str(junk)]) == 1
    assert "cannot tell what kind of model" in capsys.readouterr().err
    assert main(["info", str(junk), "--from", "fastrnn"]) == 1
    assert "FormatError" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "only-one-argument"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_installed_command(native_model):
    _, path = native_model
    result = subprocess.run([sys.executable, "-m", "fastrnn", "info", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "parameters:" in result.stdout


def test_convert_onnx(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    import warnings

    torch.manual_seed(2)
    module = torch.nn.GRU(3, 5, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 4, 3),), tmp_path / "g.onnx", dynamo=False)
    assert main(["convert", str(tmp_path / "g.onnx"), str(tmp_path / "g.fastrnn")]) == 0
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    assert np.array_equal(fastrnn.load(tmp_path / "g.fastrnn").predict(x),
                          fastrnn.from_torch(module).predict(x))
