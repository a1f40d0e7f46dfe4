"""`fastrnn demo` and `fastrnn run`, end to end in subprocesses, as a user
runs them: the bundled model and recordings, folders, bad paths, unreadable,
stereo, 44.1 kHz and silent files, --json and --frames."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fastrnn.cli import bundled_data

soundfile = pytest.importorskip("soundfile", reason="audio files need soundfile")
MODEL = bundled_data() / "digits.fastrnn"


def fastrnn_command(*args):
    return subprocess.run([sys.executable, "-m", "fastrnn", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_demo_classifies_the_bundled_recordings():
    result = fastrnn_command("demo")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if ".wav:" in line]
    assert len(lines) == 3
    for line in lines:
        name, rest = line.split(": ", 1)
        predicted = rest.split()[0]
        assert name[0] == predicted and "reference" in rest and " ok " in rest
        assert "per-frame latency median" in rest and "real-time factor" in rest
    assert "accuracy: 3/3" in result.stdout
    assert "CC BY-SA 4.0" in result.stdout
    as_json = fastrnn_command("demo", "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["accuracy"] == 1.0


@pytest.fixture
def recordings(tmp_path):
    """A folder of the bundled recordings plus converted variants."""
    folder = tmp_path / "audio"
    folder.mkdir()
    for path in bundled_data().glob("*.wav"):
        shutil.copy(path, folder / path.name)
    y, sr = soundfile.read(bundled_data() / "7_jackson_1.wav", dtype="float32")
    soundfile.write(folder / "7_stereo.wav", np.stack([y, y], axis=1), sr)
    t = np.arange(int(len(y) * 44100 / sr))
    soundfile.write(folder / "7_cd.flac", np.interp(t * sr / 44100, np.arange(len(y)), y), 44100)
    soundfile.write(folder / "silence.wav", np.zeros(4000, np.float32), sr)
    return folder


def test_run_on_a_folder_with_variants(recordings):
    result = fastrnn_command("run", MODEL, recordings, "--json", "--labels-from-names")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_name = {os.path.basename(f["path"]): f for f in report["files"]}
    assert set(by_name) == {"3_theo_0.wav", "7_jackson_1.wav", "9_yweweler_2.wav",
                            "7_stereo.wav", "7_cd.flac", "silence.wav"}
    for name in ("7_stereo.wav", "7_cd.flac"):       # mixed to mono / resampled to 8 kHz
        assert by_name[name]["prediction"] == "7"
    assert by_name["7_cd.flac"]["frames"] == pytest.approx(by_name["7_jackson_1.wav"]["frames"],
                                                           abs=1)
    assert by_name["silence.wav"]["reference"] is None
    assert 0 <= by_name["silence.wav"]["probability"] <= 1
    assert report["accuracy"] == 1.0 and report["failed"] == 0


def test_run_frames_and_text_output(recordings):
    result = fastrnn_command("run", MODEL, recordings / "9_yweweler_2.wav", "--frames",
                             "--labels-from-names")
    assert result.returncode == 0, result.stderr
    frames = [line for line in result.stdout.splitlines() if line.strip().startswith("frame")]
    assert len(frames) > 10 and "t=" in frames[0]
    assert result.stdout.splitlines()[-1].startswith("accuracy: 1/1")


def test_run_takes_labels_from_file_names_only_when_asked(recordings):
    result = fastrnn_command("run", MODEL, recordings / "9_yweweler_2.wav", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0]["reference"] is None and report["accuracy"] is None


def test_run_reports_bad_files_and_carries_on(recordings, tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(os.urandom(2000))
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(100, np.float32), 8000)
    result = fastrnn_command("run", MODEL, tmp_path / "missing.wav", junk, short,
                             recordings / "3_theo_0.wav")
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("fastrnn run: ") for e in errors)
    assert "missing.wav: no such file" in errors[0]
    assert "junk.wav: not a readable audio file" in errors[1]
    assert "shorter than one analysis frame" in errors[2]
    assert "Traceback" not in result.stderr
    assert "3_theo_0.wav: 3" in result.stdout


def test_run_errors_and_usage(tmp_path):
    not_a_model = tmp_path / "model.fastrnn"
    not_a_model.write_text("hello")
    result = fastrnn_command("run", not_a_model, tmp_path)
    assert result.returncode == 1 and "FormatError" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    debug = fastrnn_command("--debug", "run", not_a_model, tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert fastrnn_command("run", MODEL).returncode == 2
    assert fastrnn_command("frobnicate").returncode == 2
    for command in ("demo", "run", "convert", "info"):
        help_result = fastrnn_command(command, "--help")
        assert help_result.returncode == 0 and "usage: fastrnn" in help_result.stdout


def test_progress_bar_for_many_files(tmp_path):
    for index in range(6):
        shutil.copy(bundled_data() / "3_theo_0.wav", tmp_path / f"3_copy_{index}.wav")
    result = fastrnn_command("run", MODEL, tmp_path, "--labels-from-names")
    assert result.returncode == 0
    assert "6/6" in result.stderr                        # tqdm's bar, on stderr
    assert "accuracy: 6/6" in result.stdout


def test_run_in_parallel_gives_the_serial_results_in_the_order_given(tmp_path):
    """--jobs 2 and --jobs 1 on the same files, an unreadable one among them:
    the same results (bit for bit: each file runs alone in its pipeline), the
    same errors, in the order of the files."""
    files = []
    for index in range(9):
        source = sorted(bundled_data().glob("*.wav"))[index % 3]
        files.append(shutil.copy(source, tmp_path / f"{index}_{source.name}"))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(os.urandom(500))
    files.insert(4, junk)
    runs = {jobs: fastrnn_command("run", MODEL, *files, "--json", "--frames", "--jobs", jobs)
            for jobs in (1, 2)}
    for result in runs.values():
        assert result.returncode == 1
        assert "junk.wav: not a readable audio file" in result.stderr
        assert "9/9" not in result.stderr and "10/10" in result.stderr     # the bar, on stderr
    serial, parallel = (json.loads(runs[jobs].stdout) for jobs in (1, 2))
    assert [f["path"] for f in serial["files"]] == [str(f) for f in files if f != junk]
    for one, other in zip(serial["files"], parallel["files"]):
        for key in ("path", "prediction", "probability", "frames", "frame_outputs"):
            assert one[key] == other[key], key
    assert serial["failed"] == parallel["failed"] == 1


def test_run_refuses_fewer_than_one_job(tmp_path):
    result = fastrnn_command("run", MODEL, bundled_data() / "3_theo_0.wav", "--jobs", "0")
    assert result.returncode == 1
    assert result.stderr == "fastrnn run: ValueError: --jobs: expected >= 1, got 0\n"
