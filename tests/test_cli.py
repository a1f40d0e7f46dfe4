"""The fastrnn command: convert and info, exit codes and messages."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import dense_weights, recurrent_weights

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
    assert "GRU(input_size=4, hidden_size=6" in out and "parameters: " in out
    assert f"{3 * 6 * (4 + 6 + 2) + 2 * 6 + 2:,}" in out


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
