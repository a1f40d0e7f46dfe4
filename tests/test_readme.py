"""The README's examples run as written (issue 14 item 5: the first one
built from_torch(torch.nn.Sequential(lstm, head)), a module torch itself
cannot run, since an LSTM returns a tuple)."""

import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of the README section titled `section`."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end > 0 else None], re.S)


def test_the_first_example_runs_in_torch_and_fastrnn():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, 50, 40)).astype(np.float32)
    names = {"x": x}
    exec(python_blocks("Using it")[0], names)
    with torch.inference_mode():
        expected = names["net"](torch.from_numpy(x)).numpy()
    assert names["y"].shape == (3, 50, 10)
    assert np.abs(names["y"] - expected).max() <= 1e-5                  # from the layers
    whole = names["fastrnn"].from_torch(names["net"])
    assert np.abs(whole.predict(x) - expected).max() <= 1e-5            # from the module
