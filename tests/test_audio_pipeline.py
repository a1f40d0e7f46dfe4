"""StreamingPipeline: blocks of samples through a front end stream and a
model stream in one object. The reference is the two streams driven
separately, the model one frame at a time (np.array_equal: the pipeline
must give the same bits, whatever the block sizes, masks, resets and
flushes), for one stream and N, for a model giving a frame for a frame
(the bundled digits model) and one whose outputs lag (a "same"-padded
convolution), with a front end that holds frames back for its deltas."""

import concurrent.futures
import threading

import numpy as np
import pytest

import fastrnn
from fastrnn.audio import FrontEnd, StreamingPipeline, load
from fastrnn.audio.pipeline import front_end_of, stream_signal
from fastrnn.cli import bundled_data

DIGITS = bundled_data() / "digits.fastrnn"
DELTAS = FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, n_mels=20, deltas=1,
                  delta_width=5)
BLOCK_SIZES = (0, 1, 37, 80, 81, 255, 1000)


def random_model(features: int, lagging: bool, seed: int = 0) -> fastrnn.Sequential:
    """GRU(16) + Dense(4, softmax) on `features`; lagging: behind a Conv1d
    with kernel 3 and "same" padding (its output lags its input by a frame)."""
    rng = np.random.default_rng(seed)

    def uniform(*shape):
        return rng.uniform(-0.3, 0.3, shape).astype(np.float32)

    layers = [fastrnn.GRU.from_torch(uniform(48, features), uniform(48, 16), uniform(48),
                                     uniform(48)),
              fastrnn.Dense.from_torch(uniform(4, 16), uniform(4), activation="softmax")]
    if lagging:
        layers.insert(0, fastrnn.Conv1d(uniform(features, features, 3), uniform(features),
                                        padding="same"))
    return fastrnn.Sequential(layers)


@pytest.fixture(scope="module")
def digits():
    return fastrnn.load(DIGITS)


@pytest.fixture(scope="module", params=["digits", "lagging_deltas"])
def setup(request, digits):
    """(model, front end): the bundled model with its own front end, or a
    lagging model on a front end with deltas."""
    if request.param == "digits":
        return digits, front_end_of(digits)
    return random_model(DELTAS.num_features, lagging=True), DELTAS


@pytest.fixture(scope="module")
def speech():
    """The three bundled recordings, one after the other (2.1 s at 8 kHz)."""
    return np.concatenate([load(path, sr=8000)[0]
                           for path in sorted(bundled_data().glob("*.wav"))])


class Reference:
    """The front end stream and the model stream driven one after the
    other, the model one frame per call: per stream, the list of outputs."""

    def __init__(self, model, front_end, batch_size=None):
        self.single = batch_size is None
        self.features = front_end.stream(batch_size=batch_size)
        self.model = model.stream(batch_size)
        self.outputs = [[] for _ in range(batch_size or 1)]

    def push(self, blocks, active=None):
        if self.single:
            return self._run_single(self.features.push(blocks))
        return self._run(*self.features.push(blocks, active=active))

    def flush(self, indices=None):
        if self.single:
            return self._run_single(self.features.flush()) + self._run_single(None)
        before = [len(rows) for rows in self.outputs]
        self._run(*self.features.flush(indices))
        ended = None
        if indices is not None:
            ended = np.zeros(len(self.outputs), bool)
            ended[indices] = True
        if not self.model.in_step:                  # else the last answer was given
            self._keep(self.model.flush(active=ended), self.model.counts)
        self.model.reset(indices)                   # the flushed streams start over
        return [rows[count:] for rows, count in zip(self.outputs, before)]

    def reset(self, indices=None):
        self.features.reset(indices)
        self.model.reset(indices)

    def _run_single(self, frames):
        if frames is None:                       # the end: what the model holds back
            new = [] if self.model.in_step else list(self.model.flush())
            self.model.reset()
        else:
            new = [row for frame in frames for row in self._step_single(frame)]
        self.outputs[0] += new
        return new

    def _step_single(self, frame):
        output = self.model.step(frame)
        return [output] if output.ndim == 1 else list(output)

    def _run(self, frames, counts):
        for t in range(frames.shape[1]):
            output = self.model.step(frames[:, t], active=counts > t)
            if output.ndim == 2:                 # a frame for a frame
                self._keep(output[:, None], (counts > t).astype(int))
            else:
                self._keep(output, self.model.counts)

    def _keep(self, outputs, counts):
        for row, count in enumerate(counts):
            self.outputs[row] += list(outputs[row, :count])


def rows_of(outputs, counts):
    """Per stream, the frames of a push's (outputs (N, T, O), counts (N,));
    checks that each row is zero after its frames."""
    assert outputs.shape[1] == (counts.max() if len(counts) else 0)
    for row, count in enumerate(counts):
        assert not outputs[row, count:].any()
    return [list(outputs[row, :count]) for row, count in enumerate(counts)]


def assert_same(got, expected):
    """Two lists of output frames, bit for bit."""
    assert len(got) == len(expected)
    if got:
        assert np.array_equal(np.stack(got), np.stack(expected))


def random_blocks(signal, rng, count):
    """Blocks of random sizes from BLOCK_SIZES, cycling through `signal`."""
    position = 0
    for _ in range(count):
        size = int(rng.choice(BLOCK_SIZES))
        block = np.take(signal, range(position, position + size), mode="wrap")
        position += size
        yield block


# one stream ------------------------------------------------------------------------------

def test_one_stream_equals_the_front_end_then_the_model(setup, speech):
    model, front_end = setup
    pipeline = StreamingPipeline(model, front_end)
    reference = Reference(model, front_end)
    rng = np.random.default_rng(1)
    for block in random_blocks(speech, rng, 60):
        got = pipeline.push(block)
        assert got.dtype == np.float32 and got.shape[1:] == (pipeline.output_size,)
        assert_same(list(got), reference.push(block))
    assert_same(list(pipeline.flush()), reference.flush())
    # The flush ended the signal: a whole signal again, in one push, gives the same.
    whole = np.concatenate([pipeline.push(speech), pipeline.flush()])
    again = Reference(model, front_end)
    again.push(speech)
    again.flush()
    assert_same(list(whole), again.outputs[0])


def test_one_stream_of_the_whole_signal_equals_predict_of_its_features(digits, speech):
    pipeline = StreamingPipeline(digits)
    outputs = np.concatenate([pipeline.push(speech), pipeline.flush()])
    features = pipeline.front_end.features(speech)
    expected = digits.stream().process(features)
    assert np.array_equal(outputs, expected)
    assert np.array_equal(outputs[-1], digits.predict(features))   # return_sequences=False


def test_stream_signal_times_blocks_and_gives_the_pipelines_outputs(digits, speech):
    pipeline = StreamingPipeline(digits)
    result = stream_signal(pipeline, speech, 80)
    assert np.array_equal(result.outputs, np.concatenate([pipeline.push(speech),
                                                          pipeline.flush()]))
    assert result.frames_per_block.sum() == len(result.outputs)
    assert len(result.block_seconds) == len(result.frames_per_block)
    assert result.duration == len(speech) / 8000 and 0 < result.real_time_factor
    with pytest.raises(ValueError, match="shorter than one analysis frame"):
        stream_signal(pipeline, speech[:255], 80)
    assert np.array_equal(stream_signal(pipeline, speech, 1000).outputs, result.outputs)


# N streams -------------------------------------------------------------------------------

def test_n_streams_equal_the_front_end_then_the_model(setup, speech):
    """Streams pushed with random block sizes and masks, some reset, some
    flushed, so that they complete different numbers of frames per push."""
    model, front_end = setup
    batch = 5
    pipeline = StreamingPipeline(model, front_end, batch_size=batch)
    reference = Reference(model, front_end, batch)
    rng = np.random.default_rng(2)
    got = [[] for _ in range(batch)]
    offsets = rng.integers(0, len(speech), batch)
    for push in range(50):
        size = int(rng.choice(BLOCK_SIZES))
        blocks = np.stack([np.take(speech, range(o, o + size), mode="wrap") for o in offsets])
        offsets += size
        active = rng.random(batch) < 0.7 if push % 3 else None
        outputs, counts = pipeline.push(blocks, active=active)
        assert outputs.dtype == np.float32 and counts.shape == (batch,)
        for row, frames in enumerate(rows_of(outputs, counts)):
            got[row] += frames
        reference.push(blocks, active=active)
        if push % 11 == 10:
            pipeline.reset([push % batch])
            reference.reset([push % batch])
        if push % 13 == 12:
            ended = [1, 3]
            if front_end.deltas:                 # streams too short for their deltas
                ended = [row for row in ended
                         if not 0 < reference.features.get_state()["num_frames"][row]
                         < front_end.delta_width]
            for row, frames in enumerate(rows_of(*pipeline.flush(ended))):
                got[row] += frames
            reference.flush(ended)
    for rows, expected in zip(got, reference.outputs):
        assert_same(rows, expected)
    assert sum(map(len, got)) > 100


def test_streams_out_of_step_complete_different_numbers_of_frames_in_one_push(digits,
                                                                             speech):
    """A stream started later completes 1 frame where the others complete 3
    (two model calls: the first frame of every stream, then the rest)."""
    pipeline = StreamingPipeline(digits, batch_size=3)
    reference = Reference(digits, pipeline.front_end, 3)
    pushes = [(speech[:296], np.array([True, False, True]), [1, 0, 1]),
              (speech[296:556], None, [3, 1, 3]),
              (speech[556:636], None, [1, 1, 1])]
    got = [[] for _ in range(3)]
    for block, active, expected_counts in pushes:
        blocks = np.stack([block] * 3)
        outputs, counts = pipeline.push(blocks, active=active)
        assert counts.tolist() == expected_counts
        for row, frames in enumerate(rows_of(outputs, counts)):
            got[row] += frames
        reference.push(blocks, active=active)
    for rows, expected in zip(got, reference.outputs):
        assert_same(rows, expected)


def test_a_push_that_completes_no_frame_gives_no_rows(digits):
    pipeline = StreamingPipeline(digits, batch_size=2)
    outputs, counts = pipeline.push(np.zeros((2, 100), np.float32))
    assert outputs.shape == (2, 0, 10) and counts.tolist() == [0, 0]
    assert pipeline.push(np.zeros((2, 0)))[0].shape == (2, 0, 10)
    single = StreamingPipeline(digits)
    assert single.push(np.zeros(255)).shape == (0, 10)
    assert single.push(np.zeros(1, np.float64)).shape == (1, 10)


# state -----------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [None, 3])
def test_state_round_trip(setup, speech, batch_size):
    model, front_end = setup
    pipeline = StreamingPipeline(model, front_end, batch_size=batch_size)

    def blocks(start, stop):
        block = speech[start:stop]
        return block if batch_size is None else np.stack([block, block[::-1], -block])

    def push(start, stop):
        result = pipeline.push(blocks(start, stop))
        return result if batch_size is None else result[0]

    push(0, 1001)
    saved = pipeline.get_state()
    assert set(saved) == {"front_end", "model"}
    first = push(1001, 1700)
    pipeline.reset()
    pipeline.set_state(saved)
    assert np.array_equal(push(1001, 1700), first)


def test_a_refused_state_leaves_both_streams_as_they_were(digits, speech):
    pipeline = StreamingPipeline(digits)
    pipeline.push(speech[:1000])
    saved = pipeline.get_state()
    changed = pipeline.get_state()
    changed["front_end"]["samples"][:] = 0.5
    changed["model"]["layer0.h"] = np.zeros(3, np.float32)      # a wrong shape
    with pytest.raises(ValueError):
        pipeline.set_state(changed)
    after = pipeline.get_state()
    for part in ("front_end", "model"):
        for name, value in saved[part].items():
            assert np.array_equal(after[part][name], value), (part, name)
    with pytest.raises(ValueError, match=r"keys \['front_end', 'model'\]"):
        pipeline.set_state(saved["model"])


# refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [None, 2])
def test_samples_with_nan_or_infinity_are_refused_before_anything_changes(digits, speech,
                                                                           batch_size):
    pipeline = StreamingPipeline(digits, batch_size=batch_size)
    reference = StreamingPipeline(digits, batch_size=batch_size)

    def blocks(samples):
        return samples if batch_size is None else np.stack([samples, samples])

    pipeline.push(blocks(speech[:500]))
    reference.push(blocks(speech[:500]))
    for bad in (np.nan, np.inf, -np.inf):
        block = speech[500:580].copy()
        block[37] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            pipeline.push(blocks(block))
    huge = np.full(80, 3e38, np.float32)      # finite, though their squares overflow
    assert np.isfinite(pipeline.push(blocks(huge))[0]).all()
    reference.push(blocks(huge))
    later = pipeline.push(blocks(speech[580:900]))
    expected = reference.push(blocks(speech[580:900]))
    assert np.array_equal(later[0] if batch_size else later, expected[0] if batch_size
                          else expected)
    unchecked = StreamingPipeline(digits, batch_size=batch_size, nan_policy="propagate")
    block = speech[:400].copy()
    block[300] = np.nan
    result = unchecked.push(blocks(block))
    assert np.isnan(result if batch_size is None else result[0]).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_nonfinite_sample_is_found_wherever_it_is(digits, speech, dtype):
    # Every position of a block, in the float32 blocks the C check reads and
    # the float64 ones NumPy's isfinite does; the largest finite floats, the
    # smallest subnormal and -0 are samples like any other.
    pipeline = StreamingPipeline(digits)
    block = speech[:83].astype(dtype)
    for place in range(len(block)):
        for bad in (np.nan, np.inf, -np.inf):
            spoiled = block.copy()
            spoiled[place] = bad
            with pytest.raises(ValueError, match="NaN or infinity"):
                pipeline.push(spoiled)
    extremes = block.copy()
    extremes[:4] = [np.finfo(np.float32).max, -np.finfo(np.float32).max,
                    np.finfo(np.float32).smallest_subnormal, -0.0]
    assert np.isfinite(pipeline.push(extremes)).all()


def test_nan_in_the_block_of_a_stream_left_out_is_not_looked_at(digits, speech):
    pipeline = StreamingPipeline(digits, batch_size=3)
    reference = StreamingPipeline(digits, batch_size=3)
    blocks = np.stack([speech[:400]] * 3)
    active = np.array([True, False, True])
    reference.push(blocks, active=active)
    blocks[1] = np.nan                                # an idle slot's stale buffer
    outputs, counts = pipeline.push(blocks, active=active)
    expected, expected_counts = reference.push(np.stack([speech[400:480]] * 3), active=active)
    assert counts.tolist() == [2, 0, 2]
    outputs, counts = pipeline.push(np.stack([speech[400:480]] * 3), active=active)
    assert np.array_equal(outputs, expected) and np.array_equal(counts, expected_counts)


def test_bad_arguments_raise_naming_what_was_expected(digits):
    with pytest.raises(ValueError, match="front_end gives 20 features per frame, the model "
                                         "takes 40"):
        StreamingPipeline(digits, FrontEnd(sample_rate=8000, n_fft=256, hop_length=80,
                                           n_mels=20))
    with pytest.raises(ValueError, match="no audio front end in its metadata"):
        StreamingPipeline(random_model(40, lagging=False))
    with pytest.raises(ValueError, match="nan_policy"):
        StreamingPipeline(digits, nan_policy="ignore")
    with pytest.raises(ValueError, match="batch_size"):
        StreamingPipeline(digits, batch_size=0)
    single = StreamingPipeline(digits)
    with pytest.raises(ValueError, match="active"):
        single.push(np.zeros(80), active=np.array([True]))
    with pytest.raises(ValueError, match="indices"):
        single.flush([0])
    with pytest.raises(ValueError, match="mono samples"):
        single.push(np.zeros((2, 80)))
    many = StreamingPipeline(digits, batch_size=2)
    with pytest.raises(ValueError, match=r"expected samples of shape \(2, n\)"):
        many.push(np.zeros((3, 80)))
    with pytest.raises(TypeError, match="floating-point samples"):
        many.push(np.zeros((2, 80), np.int16))
    with pytest.raises(ValueError, match=r"indices: expected values in \[0, 2\)"):
        many.flush([2])
    with pytest.raises(ValueError, match=r"active: expected shape \(2,\)"):
        many.push(np.zeros((2, 80)), active=np.array([True, False, True]))
    with pytest.raises(TypeError, match="active: expected a boolean array"):
        many.push(np.zeros((2, 80)), active=np.array([1, 0]))


def test_one_stream_needs_no_c_front_end(speech):
    """A front end whose n_fft the C FFT does not take runs on the NumPy path."""
    front_end = FrontEnd(sample_rate=8000, n_fft=200, hop_length=80, n_mels=40)
    model = random_model(40, lagging=False)
    pipeline = StreamingPipeline(model, front_end)
    outputs = np.concatenate([pipeline.push(speech[:999]), pipeline.push(speech[999:]),
                              pipeline.flush()])
    assert np.array_equal(outputs, model.stream().process(front_end.features(speech)))
    with pytest.raises(ValueError, match="power of two"):
        StreamingPipeline(model, front_end, batch_size=2)


# threads ---------------------------------------------------------------------------------

def test_pipelines_in_threads_give_the_serial_outputs(digits, speech):
    def run(seed):
        pipeline = StreamingPipeline(digits, batch_size=4)
        rng = np.random.default_rng(seed)
        signal = np.stack([np.roll(speech, int(s)) for s in rng.integers(0, 9999, 4)])
        return np.concatenate([pipeline.push(signal[:, i:i + 160])[0]
                               for i in range(0, signal.shape[1], 160)], axis=1)

    serial = [run(seed) for seed in range(6)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(run, range(6)))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded))


def test_one_pipeline_from_two_threads_never_gets_its_streams_out_of_step(digits, speech):
    """Every push either succeeds or raises RuntimeError before touching
    either stream: k successful pushes leave the state of k serial pushes."""
    blocks = np.stack([np.roll(speech, 101 * row)[:810] for row in range(64)])   # not hops
    pipeline = StreamingPipeline(digits, batch_size=64, num_threads=1)
    start, refused = threading.Barrier(2), []

    def hammer():
        start.wait()
        successes = 0
        while successes < 15:
            try:
                pipeline.push(blocks)
            except RuntimeError as error:
                assert "another thread" in str(error)
                refused.append(1)
                continue
            successes += 1

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    serial = StreamingPipeline(digits, batch_size=64, num_threads=1)
    for _ in range(30):
        serial.push(blocks)
    got, expected = pipeline.get_state(), serial.get_state()
    for part in ("front_end", "model"):
        for name, value in expected[part].items():
            assert np.array_equal(got[part][name], value), (part, name)
