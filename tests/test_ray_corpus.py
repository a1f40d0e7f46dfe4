"""examples/ray_corpus.py on a local Ray cluster of 2 CPUs (ray.init(num_cpus=2)),
run as a user runs it: its Parquet rows equal what `fastrnn run` reports for
the same files (predictions, probabilities and every frame's outputs, bit
for bit before the JSON's rounding), and an unreadable file gets its error."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fastrnn.cli import bundled_data

pytest.importorskip("ray", reason="the Ray Data example needs ray: pip install 'ray[data]'")
parquet = pytest.importorskip("pyarrow.parquet", reason="Ray Data's Parquet needs pyarrow")
soundfile = pytest.importorskip("soundfile", reason="audio files need soundfile")

EXAMPLE = pathlib.Path(__file__).parent.parent / "examples" / "ray_corpus.py"
MODEL = bundled_data() / "digits.fastrnn"


def test_ray_corpus_gives_the_predictions_of_fastrnn_run(tmp_path):
    audio = tmp_path / "audio"
    (audio / "more").mkdir(parents=True)
    for index, path in enumerate(sorted(bundled_data().glob("*.wav")) * 2):
        shutil.copy(path, (audio / "more" if index % 2 else audio) / f"{index}_{path.name}")
    y, sr = soundfile.read(bundled_data() / "7_jackson_1.wav", dtype="float32")
    soundfile.write(audio / "7_stereo.flac", np.stack([y, 0.5 * y], axis=1), sr)
    (audio / "junk.wav").write_bytes(b"RIFF" + bytes(300))
    (audio / "notes.txt").write_text("not audio: not read")

    ray_run = subprocess.run([sys.executable, str(EXAMPLE), str(MODEL), str(audio), "--out",
                              str(tmp_path / "predictions"), "--num-cpus", "2", "--frames"],
                             capture_output=True, text=True, timeout=240)
    assert ray_run.returncode == 0, ray_run.stderr[-3000:]
    rows = {row["path"]: row for row in
            parquet.read_table(tmp_path / "predictions").to_pylist()}
    fastrnn_run = subprocess.run([sys.executable, "-m", "fastrnn", "run", str(MODEL), str(audio),
                                  "--json", "--frames"], capture_output=True, text=True,
                                 timeout=120)
    assert fastrnn_run.returncode == 1                           # the junk file
    expected = json.loads(fastrnn_run.stdout)["files"]

    assert set(rows) == {f["path"] for f in expected} | {str(audio / "junk.wav")}
    assert len(expected) == 7
    for result in expected:
        row = rows[result["path"]]
        assert (row["prediction"], row["frames"], row["error"]) == \
            (result["prediction"], result["frames"], None)
        assert row["probability"] == np.float32(result["probability"])
        outputs = np.array(row["outputs"], np.float32)
        assert outputs.astype(float).round(6).tolist() == result["frame_outputs"]
    junk = rows[str(audio / "junk.wav")]
    assert junk["prediction"] is None and "not a readable audio file" in junk["error"]
