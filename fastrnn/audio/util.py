"""Array helpers with ``librosa.util``'s names: framing, centring, fixing
lengths; and 64-byte aligned arrays for the front end's work buffers."""

import numpy as np

ALIGNMENT = 64          # bytes: a cache line, and the widest SIMD load (AVX-512)


def frame(x: np.ndarray, frame_length: int, hop_length: int, axis: int = -1,
          writeable: bool = False) -> np.ndarray:
    """Overlapping frames of `x` along `axis`, as a view (librosa.util.frame).

    Parameters
    ----------
    x : array (..., n, ...)
    frame_length, hop_length : samples per frame, samples between frame starts
    axis : the axis to frame; with axis=-1 the result is
        (..., frame_length, num_frames), with axis=0 (num_frames, frame_length, ...)
    writeable : whether the view may be written to (frames overlap)

    Returns
    -------
    frames : view of shape (..., frame_length, num_frames) for axis=-1, where
        num_frames = 1 + (n - frame_length) // hop_length
    """
    x = np.asarray(x)
    if not (isinstance(frame_length, (int, np.integer)) and frame_length >= 1):
        raise ValueError(f"frame_length: expected an integer >= 1, got {frame_length!r}")
    if not (isinstance(hop_length, (int, np.integer)) and hop_length >= 1):
        raise ValueError(f"hop_length: expected an integer >= 1, got {hop_length!r}")
    if x.shape[axis] < frame_length:
        raise ValueError(f"frame: input is too short (n={x.shape[axis]}) for "
                         f"frame_length={frame_length}")
    windows = np.lib.stride_tricks.sliding_window_view(x, frame_length, axis=axis,
                                                       writeable=writeable)
    target_axis = axis - 1 if axis < 0 else axis + 1
    windows = np.moveaxis(windows, -1, target_axis)
    hop = [slice(None)] * windows.ndim
    hop[axis] = slice(0, None, hop_length)
    return windows[tuple(hop)]


def pad_center(data: np.ndarray, size: int, axis: int = -1, **kwargs) -> np.ndarray:
    """Pad `data` on both sides of `axis` to `size` (librosa.util.pad_center);
    kwargs go to np.pad (default mode "constant")."""
    kwargs.setdefault("mode", "constant")
    length = data.shape[axis]
    left = (size - length) // 2
    if left < 0:
        raise ValueError(f"pad_center: target size ({size}) must be at least the input "
                         f"size ({length})")
    widths = [(0, 0)] * data.ndim
    widths[axis] = (left, size - length - left)
    return np.pad(data, widths, **kwargs)


def fix_length(data: np.ndarray, size: int, axis: int = -1, **kwargs) -> np.ndarray:
    """Trim or pad `data` along `axis` to exactly `size` (librosa.util.fix_length);
    kwargs go to np.pad (default mode "constant")."""
    kwargs.setdefault("mode", "constant")
    length = data.shape[axis]
    if length > size:
        kept = [slice(None)] * data.ndim
        kept[axis] = slice(0, size)
        return data[tuple(kept)]
    if length < size:
        widths = [(0, 0)] * data.ndim
        widths[axis] = (0, size - length)
        return np.pad(data, widths, **kwargs)
    return data


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose first element is
    ALIGNMENT-byte aligned.

    The streaming front end computes each frame in such arrays, so that the
    SIMD paths NumPy and BLAS take (which may depend on alignment) are the
    same for every stream and every offline call: one reason the results are
    bit for bit the same.
    """
    dtype = np.dtype(dtype)
    num_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(num_bytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + num_bytes].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray, dtype) -> np.ndarray:
    """A read-only aligned C-contiguous copy of `array` as `dtype`."""
    copy = aligned_empty(np.shape(array), dtype)
    copy[...] = array
    copy.flags.writeable = False
    return copy
