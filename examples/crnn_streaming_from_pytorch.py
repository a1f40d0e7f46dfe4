"""A CRNN noise suppressor from PyTorch, streamed frame by frame.

The module is shaped like a real-time noise suppressor: two kernel-3 Conv1d
layers with tanh over 65 spectral features, three GRUs, the concatenation of
the convolution output and the three GRU outputs, and two sigmoid heads
(per-band gains and a voice-activity probability); its forward also returns
the GRU states. ``fastrnn.from_torch`` imports it (torch.fx), its
``predict`` is checked against torch's forward, and then the model is fed
one frame per call through ``model.stream()``:

- the convolutions pad one frame on each side ("same"), so each looks one
  frame ahead and the stream lags its input by two frames (``stream.delay``):
  the first two steps return no frames, every later step one;
- ``flush()`` ends the sequence and returns the last two frames, after which
  the stream's outputs equal ``predict`` on the whole signal, bit for bit;
- the GRU states the forward returns are the stream's state
  (``get_state()["gru1.h"]``, ...), equal to torch's after the last frame.

    python examples/crnn_streaming_from_pytorch.py              # the full-size model
    python examples/crnn_streaming_from_pytorch.py --small      # a small one, in a second
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

import fastrnn

# fastrnn's bar against the framework (float32 both sides, sums in different orders).
TOLERANCE = 1e-5


class NoiseSuppressor(nn.Module):
    """(B, T, features) -> (gains (B, T, features), vad (B, T, 1), (h1, h2, h3))."""

    def __init__(self, features: int, conv_channels: tuple, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        first, second = conv_channels
        self.conv1 = nn.Conv1d(features, first, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(first, second, kernel_size=3, padding=1)
        self.gru1 = nn.GRU(second, hidden_size, batch_first=True)
        self.gru2 = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.gru3 = nn.GRU(hidden_size, hidden_size, batch_first=True)
        joint = second + 3 * hidden_size
        self.gains = nn.Linear(joint, features)
        self.vad = nn.Linear(joint, 1)

    def forward(self, x, states=None):
        if states is None:
            zeros = torch.zeros((1, x.size(0), self.hidden_size))
            states = (zeros, zeros, zeros)
        c = torch.tanh(self.conv1(x.transpose(1, 2)))          # Conv1d reads (B, C, T)
        c = torch.tanh(self.conv2(c)).transpose(1, 2)
        g1, h1 = self.gru1(c, states[0])
        g2, h2 = self.gru2(g1, states[1])
        g3, h3 = self.gru3(g2, states[2])
        joint = torch.cat([c, g1, g2, g3], dim=-1)
        return torch.sigmoid(self.gains(joint)), torch.sigmoid(self.vad(joint)), (h1, h2, h3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="16 features, convolutions of 16 and 24 channels, GRU(32), "
                             "100 frames")
    parser.add_argument("--frames", type=int, default=None, help="frames to stream")
    args = parser.parse_args()
    features, conv_channels, hidden, frames = ((16, (16, 24), 32, 100) if args.small
                                               else (65, (128, 384), 384, 1000))
    frames = args.frames or frames

    torch.manual_seed(0)
    net = NoiseSuppressor(features, conv_channels, hidden).eval()
    model = fastrnn.from_torch(net)
    signal = np.random.default_rng(0).standard_normal((frames, features)).astype(np.float32)

    with torch.inference_mode():
        torch_gains, torch_vad, torch_states = net(torch.from_numpy(signal[np.newaxis]))
    gains, vad = model.predict(signal)                # (T, 65), (T, 1): a tuple, in order
    difference = max(np.abs(gains - torch_gains[0].numpy()).max(),
                     np.abs(vad - torch_vad[0].numpy()).max())
    assert difference <= TOLERANCE, f"predict differs from torch by {difference:.3g}"

    stream = model.stream(num_threads=1)              # one thread, as an audio callback
    streamed = [[], []]
    step_ns = np.empty(frames, dtype=np.int64)
    for t in range(frames):
        start = time.perf_counter_ns()
        outputs = stream.step(signal[t])              # (0 or 1, 65), (0 or 1, 1)
        step_ns[t] = time.perf_counter_ns() - start
        for kept, output in zip(streamed, outputs):
            kept.append(output)
    from_steps = sum(len(output) for output in streamed[0])
    tail = stream.flush()                             # the frames the look-ahead held back
    for kept, output in zip(streamed, tail):
        kept.append(output)
    stream_gains, stream_vad = (np.concatenate(kept) for kept in streamed)
    assert np.array_equal(stream_gains, gains) and np.array_equal(stream_vad, vad), \
        "the stream must equal predict bit for bit"

    state = stream.get_state()                        # after flush: the sequence's end
    state_difference = max(np.abs(state[f"gru{i}.h"] - h[0, 0].numpy()).max()
                           for i, h in enumerate(torch_states, 1))
    assert state_difference <= TOLERANCE, f"GRU states differ by {state_difference:.3g}"

    warm = step_ns[min(10, frames - 1):] / 1000
    print(f"model: {len(model.layers)} layers, outputs {model.output_names}, "
          f"state {sorted(state)}")
    print(f"predict vs torch: max |difference| {difference:.3g} (gains and vad)")
    print(f"stream: delay {stream.delay} input frames, rate {stream.rate} (per output); "
          f"{frames} steps gave {from_steps} frames, flush() {len(tail[0])} more: equal to "
          "predict bit for bit")
    print(f"GRU states after flush vs torch's: max |difference| {state_difference:.3g}")
    print(f"per frame: median {np.median(warm):.1f} us, p99 {np.percentile(warm, 99):.1f} us "
          f"({fastrnn.info()['isa']}, {stream.num_threads} thread)")


if __name__ == "__main__":
    main()
