# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The one place Python meets C: type and shape glue around csrc/fastrnn.h
(the engine) and csrc/fastrnn_train.h (the trainer's kernels), whose
declarations are in _cfastrnn.pxd.

Every method checks the sizes of the arrays it is given before it releases
the GIL, so that the C side may trust them. Every C status goes through one
table (_raise_for) to one Python exception.
"""

import operator
import os

import numpy as np

cimport numpy as cnp
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint8_t
from libc.string cimport memcpy, memset

from fastrnn._cfastrnn cimport *

cnp.import_array()

# The names Python uses for the C enums: the one name -> code mapping that
# layers, importers and the engine share.
ISAS = {"generic": FR_ISA_GENERIC, "avx2": FR_ISA_AVX2, "avx512": FR_ISA_AVX512,
        "avx512_vnni": FR_ISA_AVX512_VNNI, "avx512_bf16": FR_ISA_AVX512_BF16}
PRECISIONS = {"float32": FR_PRECISION_FLOAT32, "float16": FR_PRECISION_FLOAT16,
              "bfloat16": FR_PRECISION_BFLOAT16, "int8": FR_PRECISION_INT8}
ACTIVATIONS = {"linear": FR_ACT_LINEAR, "relu": FR_ACT_RELU, "tanh": FR_ACT_TANH,
               "sigmoid": FR_ACT_SIGMOID, "elu": FR_ACT_ELU, "softmax": FR_ACT_SOFTMAX}
ELEMENTWISE_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")
MERGE_MODES = {"concat": FR_MERGE_CONCAT, "sum": FR_MERGE_SUM, "mul": FR_MERGE_MUL,
               "ave": FR_MERGE_AVE}
UNARY_OPS = {"identity": FR_UNARY_IDENTITY, "relu": FR_UNARY_RELU,
             "leaky_relu": FR_UNARY_LEAKY_RELU, "prelu": FR_UNARY_PRELU, "elu": FR_UNARY_ELU,
             "selu": FR_UNARY_SELU, "gelu": FR_UNARY_GELU, "gelu_tanh": FR_UNARY_GELU_TANH,
             "silu": FR_UNARY_SILU, "tanh": FR_UNARY_TANH, "sigmoid": FR_UNARY_SIGMOID,
             "hard_sigmoid": FR_UNARY_HARD_SIGMOID, "softplus": FR_UNARY_SOFTPLUS,
             "softmax": FR_UNARY_SOFTMAX, "log_softmax": FR_UNARY_LOG_SOFTMAX,
             "exp": FR_UNARY_EXP, "log": FR_UNARY_LOG, "sqrt": FR_UNARY_SQRT,
             "reciprocal": FR_UNARY_RECIPROCAL, "abs": FR_UNARY_ABS, "neg": FR_UNARY_NEG,
             "clip": FR_UNARY_CLIP, "pow": FR_UNARY_POW}
BINARY_OPS = {"add": FR_BINARY_ADD, "sub": FR_BINARY_SUB, "mul": FR_BINARY_MUL,
              "div": FR_BINARY_DIV, "max": FR_BINARY_MAX, "min": FR_BINARY_MIN,
              "pow": FR_BINARY_POW}
REDUCTIONS = {"sum": FR_REDUCE_SUM, "mean": FR_REDUCE_MEAN, "max": FR_REDUCE_MAX,
              "min": FR_REDUCE_MIN}
POOLS = {"max": FR_POOL_MAX, "avg": FR_POOL_AVG}
PART_KINDS = {FR_PART_VALUES: "values", FR_PART_POSITION: "position", FR_PART_COUNT: "count"}
SAME_LENGTH = FR_PAD_SAME_LENGTH
NAN_POLICIES = ("raise", "propagate")
FLOAT16_MAX = FR_FLOAT16_MAX
BFLOAT16_MAX = FR_BFLOAT16_MAX
_INT_MAX = 2**31 - 1

# Every C status but FR_OK, and the exception it becomes.
_EXCEPTIONS = {FR_ERR_ARG: ValueError, FR_ERR_SHAPE: ValueError, FR_ERR_ISA: ValueError,
               FR_ERR_NOMEM: MemoryError, FR_ERR_LAYOUT: ValueError,
               FR_ERR_NONFINITE: ValueError, FR_ERR_RANGE: ValueError,
               FR_ERR_SEQUENCE: ValueError}


cdef int _raise_for(fr_status status, str what) except -1:
    """Raise the exception of a failed C call (nothing for FR_OK)."""
    if status != FR_OK:
        raise _EXCEPTIONS.get(status, RuntimeError)(
            f"{what}: {fr_status_string(status).decode()}")
    return 0


cdef Py_ssize_t _count(object value, str name, Py_ssize_t largest, str expected) except -1:
    """`value` as an integer from 1 to `largest`; otherwise ValueError
    "<name>: expected <expected>, got <value>"."""
    try:
        count = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        count = None
    if count is None or not 1 <= count <= largest:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return count


THREADS_PER_CORE = 4


def cores():
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def max_threads():
    """The most threads a call may use: THREADS_PER_CORE per core. More
    threads than cores only share them (useful to test an uneven split);
    thousands make OpenMP end the process when it cannot create them."""
    return THREADS_PER_CORE * cores()


def check_num_threads(value):
    """`value` as a thread count, 1 to max_threads(); ValueError otherwise."""
    largest = max_threads()
    return _count(value, "num_threads", largest,
                  f"an integer from 1 to {largest} ({THREADS_PER_CORE} per core this process "
                  f"may run on)")


def as_c_float32(data):
    """`data` as an aligned, C-contiguous, native float32 array: what a C
    kernel may read through a float pointer (a copy only when it is not one)."""
    return np.require(data, np.float32, "CA")


def all_finite(samples):
    """Whether floating-point `samples` (an ndarray of any shape) are all
    finite; True for other dtypes (which the front end refuses). Aligned
    C-contiguous float32, the pipeline's blocks, is read in one C pass
    without the GIL (fr_all_finite); other arrays go through NumPy's
    isfinite."""
    cdef const float *x
    cdef size_t n
    cdef int finite
    if not _is_float32_c(samples):
        return samples.dtype.kind != "f" or bool(np.isfinite(samples).all())
    x = <const float *>cnp.PyArray_DATA(<cnp.ndarray>samples)
    n = <size_t>cnp.PyArray_SIZE(<cnp.ndarray>samples)
    with nogil:
        finite = fr_all_finite(x, n)
    return finite != 0


cdef fr_isa _isa_code(str isa) except *:
    if isa not in ISAS:
        raise ValueError(f"unknown instruction set {isa!r}; expected one of {tuple(ISAS)}")
    if not fr_isa_supported(ISAS[isa]):
        raise ValueError(f"instruction set {isa!r} is not available on this CPU/build; "
                         f"available: {available_isas()}")
    return ISAS[isa]


def available_isas():
    """Instruction sets built in and supported by this CPU, narrowest first."""
    return [name for name, code in ISAS.items() if fr_isa_supported(code)]


def available_precisions(str isa):
    """Weight precisions the kernels of `isa` support here."""
    cdef fr_isa code = _isa_code(isa)
    return [name for name, precision in PRECISIONS.items()
            if fr_precision_supported(code, precision)]


def kernels_name(str isa, str precision):
    """The kernels a model of `precision` packed for `isa` runs (e.g.
    "avx512_bf16 vdpbf16ps"), or None if that pair is not available here."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {tuple(PRECISIONS)}")
    cdef const char *name = fr_kernels_name(_isa_code(isa), PRECISIONS[precision])
    return None if name is NULL else name.decode()


def best_isa():
    cdef fr_isa best = fr_isa_best()
    return next(name for name, code in ISAS.items() if code == best)


def build_info():
    return {
        "compiler": fr_build_compiler().decode(),
        "flags": fr_build_flags().decode(),
        "openmp": bool(fr_build_openmp()),
    }


def activate(str isa, str activation, const float[::1] x):
    """Elementwise activation with one instruction set's kernels (for tests)."""
    if activation not in ELEMENTWISE_ACTIVATIONS:
        raise ValueError(f"expected one of {ELEMENTWISE_ACTIVATIONS}, got {activation!r}")
    cdef fr_isa code = _isa_code(isa)
    cdef fr_activation act = ACTIVATIONS[activation]
    out = np.empty(x.shape[0], dtype=np.float32)
    cdef float[::1] y = out
    cdef size_t n = x.shape[0]
    cdef fr_status status
    if n == 0:
        return out
    with nogil:
        status = fr_activate(code, act, &x[0], &y[0], n)
    _raise_for(status, "activate")
    return out


# --- the trainer's kernels (csrc/train.c) ------------------------------------

cdef float *_rows(cnp.ndarray array, str name, Py_ssize_t rows, Py_ssize_t cols,
                  bint writable=False) except NULL:
    """The data of a C-contiguous native float32 (rows, cols) array, checked."""
    if (array.dtype != np.float32 or not array.dtype.isnative
            or not cnp.PyArray_IS_C_CONTIGUOUS(array) or array.ndim != 2
            or array.shape[0] != rows or array.shape[1] != cols):
        raise ValueError(f"{name}: expected a C-contiguous float32 array of shape "
                         f"({rows}, {cols}), got {array.dtype} {(<object>array).shape}"
                         f"{'' if cnp.PyArray_IS_C_CONTIGUOUS(array) else ' (not contiguous)'}")
    if writable and not array.flags.writeable:
        raise ValueError(f"{name}: expected a writable array")
    return <float *>cnp.PyArray_DATA(array)


cdef const uint8_t *_row_mask(object mask, Py_ssize_t rows) except? NULL:
    """The data of a contiguous bool/uint8 (rows,) mask, or NULL for None."""
    if mask is None:
        return NULL
    cdef cnp.ndarray array = mask
    if (array.dtype not in (np.bool_, np.uint8) or array.ndim != 1
            or array.shape[0] != rows or not cnp.PyArray_IS_C_CONTIGUOUS(array)):
        raise ValueError(f"mask: expected a contiguous bool array of shape ({rows},), got "
                         f"{array.dtype} {(<object>array).shape}")
    return <const uint8_t *>cnp.PyArray_DATA(array)


cdef Py_ssize_t _gate_rows(cnp.ndarray gates, int gate_count) except -1:
    """The batch of a (B, gate_count * H) gates array, checked (H from its width)."""
    if (gates.ndim != 2 or gates.shape[0] < 1 or gates.shape[1] < gate_count
            or gates.shape[1] % gate_count or gates.shape[0] > _INT_MAX
            or gates.shape[1] > _INT_MAX):
        raise ValueError(f"gates: expected shape (B, {gate_count} * H) with B, H >= 1, got "
                         f"{(<object>gates).shape}")
    return gates.shape[0]


cdef class TrainKernels:
    """The pointwise part of LSTM and GRU (reset_after) training steps, with
    one instruction set's kernels (fastrnn_train.h), resolved once: a
    recurrent layer of fastrnn.train holds one."""

    cdef const fr_train_kernels *kernels
    cdef readonly str isa

    def __cinit__(self, str isa):
        _raise_for(fr_train_kernels_for(&self.kernels, _isa_code(isa)),
                   f"the training kernels for {isa!r}")
        self.isa = isa

    def lstm_forward(self, cnp.ndarray gates, cnp.ndarray c_prev, cnp.ndarray h_prev,
                     cnp.ndarray c, cnp.ndarray tanh_c, cnp.ndarray h, cnp.ndarray out,
                     mask=None):
        """One LSTM step forward: gates (B, 4H) pre-activations -> gate values,
        in place; c, tanh_c, h, out (B, H) written; mask (B,) bool or None."""
        cdef Py_ssize_t batch = _gate_rows(gates, 4)
        cdef Py_ssize_t hidden = gates.shape[1] // 4
        cdef float *g = _rows(gates, "gates", batch, 4 * hidden, True)
        cdef const float *cp = _rows(c_prev, "c_prev", batch, hidden)
        cdef const float *hp = _rows(h_prev, "h_prev", batch, hidden)
        cdef float *cn = _rows(c, "c", batch, hidden, True)
        cdef float *tc = _rows(tanh_c, "tanh_c", batch, hidden, True)
        cdef float *hn = _rows(h, "h", batch, hidden, True)
        cdef float *o = _rows(out, "out", batch, hidden, True)
        cdef const uint8_t *m = _row_mask(mask, batch)
        cdef fr_status status
        with nogil:
            status = fr_lstm_train_forward(self.kernels, <int>batch, <int>hidden, g, cp, hp, cn,
                                           tc, hn, o, m)
        _raise_for(status, "lstm_forward")

    def lstm_backward(self, cnp.ndarray gates, cnp.ndarray c_prev, cnp.ndarray tanh_c,
                      cnp.ndarray dh, d_out, cnp.ndarray dc, cnp.ndarray da, mask=None):
        """One LSTM step backward: da (B, 4H) written, dc (B, H) updated in
        place; d_out (B, H) or None."""
        cdef Py_ssize_t batch = _gate_rows(gates, 4)
        cdef Py_ssize_t hidden = gates.shape[1] // 4
        cdef const float *g = _rows(gates, "gates", batch, 4 * hidden)
        cdef const float *cp = _rows(c_prev, "c_prev", batch, hidden)
        cdef const float *tc = _rows(tanh_c, "tanh_c", batch, hidden)
        cdef const float *dhp = _rows(dh, "dh", batch, hidden)
        cdef const float *dop = NULL if d_out is None else _rows(d_out, "d_out", batch, hidden)
        cdef float *dcp = _rows(dc, "dc", batch, hidden, True)
        cdef float *dap = _rows(da, "da", batch, 4 * hidden, True)
        cdef const uint8_t *m = _row_mask(mask, batch)
        cdef fr_status status
        with nogil:
            status = fr_lstm_train_backward(self.kernels, <int>batch, <int>hidden, g, cp, tc,
                                            dhp, dop, dcp, dap, m)
        _raise_for(status, "lstm_backward")

    def gru_forward(self, cnp.ndarray gates, cnp.ndarray hidden_proj, cnp.ndarray h_prev,
                    cnp.ndarray h, cnp.ndarray out, mask=None):
        """One GRU (reset_after) step forward: gates (B, 3H) input projections
        -> r, z, n, in place; hidden_proj (B, 3H) = W_hh h_prev + b_hh; h, out
        (B, H) written."""
        cdef Py_ssize_t batch = _gate_rows(gates, 3)
        cdef Py_ssize_t hidden = gates.shape[1] // 3
        cdef float *g = _rows(gates, "gates", batch, 3 * hidden, True)
        cdef const float *p = _rows(hidden_proj, "hidden_proj", batch, 3 * hidden)
        cdef const float *hp = _rows(h_prev, "h_prev", batch, hidden)
        cdef float *hn = _rows(h, "h", batch, hidden, True)
        cdef float *o = _rows(out, "out", batch, hidden, True)
        cdef const uint8_t *m = _row_mask(mask, batch)
        cdef fr_status status
        with nogil:
            status = fr_gru_train_forward(self.kernels, <int>batch, <int>hidden, g, p, hp, hn,
                                          o, m)
        _raise_for(status, "gru_forward")

    def gru_backward(self, cnp.ndarray gates, cnp.ndarray hidden_proj, cnp.ndarray h_prev,
                     cnp.ndarray dh, d_out, cnp.ndarray da, cnp.ndarray d_hidden,
                     cnp.ndarray dh_direct, mask=None):
        """One GRU (reset_after) step backward: da, d_hidden (B, 3H) and
        dh_direct (B, H) written."""
        cdef Py_ssize_t batch = _gate_rows(gates, 3)
        cdef Py_ssize_t hidden = gates.shape[1] // 3
        cdef const float *g = _rows(gates, "gates", batch, 3 * hidden)
        cdef const float *p = _rows(hidden_proj, "hidden_proj", batch, 3 * hidden)
        cdef const float *hp = _rows(h_prev, "h_prev", batch, hidden)
        cdef const float *dhp = _rows(dh, "dh", batch, hidden)
        cdef const float *dop = NULL if d_out is None else _rows(d_out, "d_out", batch, hidden)
        cdef float *dap = _rows(da, "da", batch, 3 * hidden, True)
        cdef float *dhid = _rows(d_hidden, "d_hidden", batch, 3 * hidden, True)
        cdef float *direct = _rows(dh_direct, "dh_direct", batch, hidden, True)
        cdef const uint8_t *m = _row_mask(mask, batch)
        cdef fr_status status
        with nogil:
            status = fr_gru_train_backward(self.kernels, <int>batch, <int>hidden, g, p, hp, dhp,
                                           dop, dap, dhid, direct, m)
        _raise_for(status, "gru_backward")


# --- models ------------------------------------------------------------------

cdef const float *_vector(object values, Py_ssize_t expected, str name) except? NULL:
    """The data of a float32 vector of `expected` values, or NULL for None."""
    if values is None:
        return NULL
    cdef const float[::1] vector = values
    if vector.shape[0] != expected:
        raise ValueError(f"{name}: expected shape ({expected},), got ({vector.shape[0]},)")
    return &vector[0]


cdef int _check_matrix(const float[:, ::1] w, Py_ssize_t rows, Py_ssize_t cols, str name) except -1:
    if w.shape[0] != rows or w.shape[1] != cols:
        raise ValueError(f"{name}: expected shape ({rows}, {cols}), got ({w.shape[0]}, {w.shape[1]})")
    return 0


cdef unsigned _recurrent_flags(bint return_sequences, bint go_backwards):
    return (FR_RETURN_SEQUENCES if return_sequences else 0) | (FR_GO_BACKWARDS if go_backwards else 0)


cdef object _code(dict table, str name, str what):
    if name not in table:
        raise ValueError(f"{what}: expected one of {tuple(table)}, got {name!r}")
    return table[name]


cdef class Model:
    """A packed graph of layers (fr_model). Owns its packed weights.

    Layers are added in a topological order; each ``add_*`` reads tensors
    made before (numbers returned by ``add_input`` and earlier ``add_*``)
    and returns the number of the tensor it makes. ``state_parts``: the
    model's state arrays as (name, layer, part) triples, in the engine's
    order (fastrnn.model names them); streams and ``read_state`` /
    ``write_state`` key the state by these names.
    """

    cdef fr_model *ptr
    cdef readonly str isa, precision
    cdef public list state_parts

    def __cinit__(self, str isa, str precision):
        if precision not in available_precisions(isa):
            raise ValueError(f"precision: expected one of {available_precisions(isa)} with "
                             f"isa {isa!r}, got {precision!r}")
        _raise_for(fr_model_create(&self.ptr, _isa_code(isa), PRECISIONS[precision]),
                   "creating a model")
        self.isa = isa
        self.precision = precision
        self.state_parts = []

    def __dealloc__(self):
        fr_model_destroy(self.ptr)

    def features(self, int tensor):
        """Features per frame of tensor `tensor`."""
        return fr_model_tensor_features(self.ptr, tensor)

    def timing(self, int tensor):
        """(rate, delay) of tensor `tensor`: its frame j follows input frame
        j * rate + delay; rate 0: one frame per sequence."""
        cdef int rate, delay
        _raise_for(fr_model_tensor_timing(self.ptr, tensor, &rate, &delay), "timing")
        return rate, delay

    def stream_timing(self, int tensor):
        """(rate, delay, in_step) of the frames a stream gives of tensor
        `tensor`: frame j follows input frame j * rate + delay (after a layer
        that ends the sequence: its input's frames); in_step: a frame for a
        frame, none added at the end."""
        cdef int rate, delay, in_step
        _raise_for(fr_model_stream_timing(self.ptr, tensor, &rate, &delay, &in_step),
                   "stream timing")
        return rate, delay, bool(in_step)

    def sequence_frames(self, int output, int steps):
        """Frames output `output` gives over one whole sequence of `steps` steps."""
        cdef int frames = fr_model_sequence_frames(self.ptr, output, steps)
        if frames < 0:
            raise ValueError(f"sequence_frames: no output {output} or steps {steps} < 0")
        return frames

    @property
    def num_inputs(self):
        return fr_model_num_inputs(self.ptr)

    @property
    def outputs(self):
        """The output tensors' numbers, in order."""
        return [fr_model_output_tensor(self.ptr, o) for o in range(fr_model_num_outputs(self.ptr))]

    @property
    def needs_sequences(self):
        """True if a layer needs whole sequences: predict only, no streams."""
        return bool(fr_model_needs_sequences(self.ptr))

    @property
    def weight_bytes(self):
        """Bytes of the packed weights and biases."""
        return fr_model_weight_bytes(self.ptr)

    def add_input(self, int features):
        cdef int tensor
        _raise_for(fr_model_add_input(self.ptr, features, &tensor), "adding a model input")
        return tensor

    def add_lstm(self, int input, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                 b_ih, b_hh, bint return_sequences, bint go_backwards):
        cdef int hidden = w_hh.shape[1], output
        _check_matrix(w_ih, 4 * hidden, self.features(input), "LSTM weight_ih")
        _check_matrix(w_hh, 4 * hidden, hidden, "LSTM weight_hh")
        _raise_for(fr_model_add_lstm(self.ptr, input, hidden, &w_ih[0, 0], &w_hh[0, 0],
                                     _vector(b_ih, 4 * hidden, "LSTM bias_ih"),
                                     _vector(b_hh, 4 * hidden, "LSTM bias_hh"),
                                     _recurrent_flags(return_sequences, go_backwards), &output),
                   "adding an LSTM layer")
        return output

    def add_gru(self, int input, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                b_ih, b_hh, bint reset_after, bint return_sequences, bint go_backwards):
        cdef int hidden = w_hh.shape[1], output
        _check_matrix(w_ih, 3 * hidden, self.features(input), "GRU weight_ih")
        _check_matrix(w_hh, 3 * hidden, hidden, "GRU weight_hh")
        _raise_for(fr_model_add_gru(self.ptr, input, hidden, &w_ih[0, 0], &w_hh[0, 0],
                                    _vector(b_ih, 3 * hidden, "GRU bias_ih"),
                                    _vector(b_hh, 3 * hidden, "GRU bias_hh"), reset_after,
                                    _recurrent_flags(return_sequences, go_backwards), &output),
                   "adding a GRU layer")
        return output

    def add_rnn(self, int input, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                b_ih, b_hh, str activation, bint return_sequences, bint go_backwards):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN activation: expected 'tanh' or 'relu', got {activation!r}")
        cdef int hidden = w_hh.shape[1], output
        _check_matrix(w_ih, hidden, self.features(input), "SimpleRNN weight_ih")
        _check_matrix(w_hh, hidden, hidden, "SimpleRNN weight_hh")
        _raise_for(fr_model_add_rnn(self.ptr, input, hidden, &w_ih[0, 0], &w_hh[0, 0],
                                    _vector(b_ih, hidden, "SimpleRNN bias_ih"),
                                    _vector(b_hh, hidden, "SimpleRNN bias_hh"),
                                    ACTIVATIONS[activation],
                                    _recurrent_flags(return_sequences, go_backwards), &output),
                   "adding a SimpleRNN layer")
        return output

    def make_bidirectional(self, int tensor, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                           b_ih, b_hh, str merge_mode):
        """The backward direction of the recurrent layer that made `tensor`:
        weights of the same shapes."""
        cdef fr_merge merge = _code(MERGE_MODES, merge_mode, "merge_mode")
        cdef int rows = w_hh.shape[0]
        _raise_for(fr_model_make_bidirectional(self.ptr, tensor, &w_ih[0, 0], &w_hh[0, 0],
                                               _vector(b_ih, rows, "backward bias_ih"),
                                               _vector(b_hh, rows, "backward bias_hh"), merge),
                   "making the layer bidirectional")

    def add_dense(self, int input, const float[:, ::1] w, b, str activation):
        cdef fr_activation act = _code(ACTIVATIONS, activation, "activation")
        cdef int outputs = w.shape[0], output
        _check_matrix(w, outputs, self.features(input), "Dense weight")
        _raise_for(fr_model_add_dense(self.ptr, input, outputs, &w[0, 0],
                                      _vector(b, outputs, "Dense bias"), act, &output),
                   "adding a Dense layer")
        return output

    def add_conv(self, int input, const float[:, :, ::1] w, b, int stride, int dilation,
                 int groups, int pad_left, int pad_right):
        """w (C_out, C_in / groups, kernel); pad_left SAME_LENGTH for padding
        from each sequence's length."""
        cdef int output
        _raise_for(fr_model_add_conv(self.ptr, input, w.shape[0], w.shape[2], stride, dilation,
                                     groups, pad_left, pad_right, &w[0, 0, 0],
                                     _vector(b, w.shape[0], "Conv1d bias"), &output),
                   "adding a Conv1d layer")
        return output

    def add_pool(self, int input, str pool, int kernel, int stride, int pad_left, int pad_right,
                 bint count_padding, replicate_edges):
        """replicate_edges: True, False or "uneven" (FR_POOL_REPLICATE_UNEVEN)."""
        cdef fr_pool code = _code(POOLS, pool, "pool")
        cdef unsigned flags = ((FR_POOL_COUNT_PADDING if count_padding else 0)
                               | (FR_POOL_REPLICATE_UNEVEN if replicate_edges == "uneven"
                                  else FR_POOL_REPLICATE_EDGES if replicate_edges else 0))
        cdef int output
        _raise_for(fr_model_add_pool(self.ptr, input, code, kernel, stride, pad_left, pad_right,
                                     flags, &output), "adding a pooling layer")
        return output

    def add_global_pool(self, int input, str reduce):
        cdef fr_reduce code = _code(REDUCTIONS, reduce, "global pool")
        cdef int output
        _raise_for(fr_model_add_global_pool(self.ptr, input, code, &output),
                   "adding a global pooling layer")
        return output

    def add_unary(self, int input, str op, float alpha, float beta, params):
        cdef fr_unary code = _code(UNARY_OPS, op, "activation")
        cdef const float *values = NULL
        cdef Py_ssize_t count = 0
        cdef const float[::1] vector
        if params is not None:
            vector = params
            count = vector.shape[0]
            values = &vector[0]
        cdef int output
        _raise_for(fr_model_add_unary(self.ptr, input, code, alpha, beta, values, <int>count,
                                      &output), f"adding a {op} layer")
        return output

    def add_affine(self, int input, scale, shift):
        cdef int features = self.features(input), output
        _raise_for(fr_model_add_affine(self.ptr, input, _vector(scale, features, "scale"),
                                       _vector(shift, features, "shift"), &output),
                   "adding an affine layer")
        return output

    def add_layer_norm(self, int input, float eps, gamma, beta):
        cdef int features = self.features(input), output
        _raise_for(fr_model_add_layer_norm(self.ptr, input, eps,
                                           _vector(gamma, features, "LayerNorm weight"),
                                           _vector(beta, features, "LayerNorm bias"), &output),
                   "adding a LayerNorm layer")
        return output

    def add_binary(self, str op, int a, int b):
        cdef fr_binary code = _code(BINARY_OPS, op, "operation")
        cdef int output
        _raise_for(fr_model_add_binary(self.ptr, code, a, b, &output), f"adding a {op} layer")
        return output

    def add_binary_constant(self, str op, int a, const float[::1] values, bint constant_first):
        cdef fr_binary code = _code(BINARY_OPS, op, "operation")
        cdef int output
        _raise_for(fr_model_add_binary_constant(self.ptr, code, a, &values[0],
                                                <int>values.shape[0], constant_first, &output),
                   f"adding a {op} layer")
        return output

    def add_concat(self, list inputs):
        cdef int[::1] tensors = np.asarray(inputs, dtype=np.intc)
        cdef int output
        _raise_for(fr_model_add_concat(self.ptr, <int>tensors.shape[0], &tensors[0], &output),
                   "adding a concatenation")
        return output

    def add_slice(self, int input, int begin, int end):
        cdef int output
        _raise_for(fr_model_add_slice(self.ptr, input, begin, end, &output), "adding a slice")
        return output

    def add_reduce(self, int input, str reduce):
        cdef fr_reduce code = _code(REDUCTIONS, reduce, "reduction")
        cdef int output
        _raise_for(fr_model_add_reduce(self.ptr, input, code, &output), "adding a reduction")
        return output

    def set_outputs(self, list tensors):
        cdef int[::1] outputs = np.asarray(tensors, dtype=np.intc)
        _raise_for(fr_model_set_outputs(self.ptr, <int>outputs.shape[0], &outputs[0]),
                   "setting the outputs")

    def output_frames(self, int output, int steps):
        """The most frames output `output` gives in a run of `steps` steps."""
        return fr_model_output_frames(self.ptr, output, steps, 0)

    # --- state ---

    def part_shape(self, int layer, int part):
        """(frames, features) of one sequence's state part."""
        cdef int frames, features
        _raise_for(fr_model_state_part_shape(self.ptr, layer, part, &frames, &features),
                   "state part")
        return frames, features

    def part_kinds(self, int layer):
        """[(kind, input)] of layer `layer`'s state parts, in order: kind
        "values", "position" or "count" (PART_KINDS); input, for a merge's
        queue, the layer input its frames come from, else -1."""
        cdef fr_part_kind kind
        cdef int input
        kinds = []
        for part in range(fr_model_layer_state_parts(self.ptr, layer)):
            _raise_for(fr_model_state_part_kind(self.ptr, layer, part, &kind, &input),
                       "state part")
            kinds.append((PART_KINDS[kind], input))
        return kinds

    def new_state(self, int batch):
        """The zero state of `batch` sequences (flat, the engine's layout)."""
        return np.zeros(fr_model_state_size(self.ptr, batch), dtype=np.float32)

    def state_shapes(self, int batch, bint single):
        """{name: shape} of the state arrays: (features,) or (frames, features)
        per sequence, after (batch,) unless `single`."""
        rows = () if single else (batch,)
        shapes = {}
        for name, layer, part in self.state_parts:
            frames, features = self.part_shape(layer, part)
            shapes[name] = rows + ((features,) if frames == 1 else (frames, features))
        return shapes

    def checked_state(self, state, int batch, bint single, bint finite):
        """The arrays of a state mapping as the engine reads them: every key of
        ``state_parts``, each of ``state_shapes(batch, single)``, as C-contiguous
        float32 (batch, frames * features); ValueError/TypeError naming what is
        wrong (finite: NaN and infinity refused too). Nothing is written."""
        if not hasattr(state, "keys"):
            raise TypeError(f"state: expected a mapping of names to arrays (as get_state "
                            f"gives), got {type(state).__name__}")
        shapes = self.state_shapes(batch, single)
        missing = sorted(set(shapes) - set(state))
        unexpected = sorted(set(state) - set(shapes))
        if missing or unexpected:
            raise ValueError(f"state: expected keys {sorted(shapes)}; missing {missing}, "
                             f"unexpected {unexpected}")
        arrays = {}
        for name, shape in shapes.items():
            value = np.asarray(state[name])
            if value.dtype.kind != "f":
                raise TypeError(f"state[{name!r}]: expected floats, got dtype {value.dtype}")
            if value.shape != shape:
                raise ValueError(f"state[{name!r}]: expected shape {shape}, got {value.shape}")
            if finite and not np.all(np.isfinite(value)):
                raise ValueError(f"state[{name!r}]: contains NaN or infinity")
            arrays[name] = as_c_float32(value).reshape(batch, -1)
        return arrays

    def read_state(self, const float[::1] state, int batch, bint single):
        """{name: array} of a flat state (shapes as state_shapes)."""
        cdef float[:, ::1] buffer
        shapes = self.state_shapes(batch, single)
        values = {}
        if not self.state_parts:
            return values
        self._check_state(state, batch)
        for name, layer, part in self.state_parts:
            frames, features = self.part_shape(layer, part)
            array = np.empty((batch, frames * features), dtype=np.float32)
            buffer = array
            _raise_for(fr_model_get_state(self.ptr, &state[0], batch, layer, part,
                                          &buffer[0, 0]), "reading the state")
            values[name] = array.reshape(shapes[name])
        return values

    def write_state(self, float[::1] state, int batch, dict arrays):
        """Write `arrays` (as checked_state returns them) into a flat state;
        ValueError if a counter is out of its range."""
        cdef const float[:, ::1] buffer
        if not self.state_parts:
            return
        self._check_state(state, batch)
        for name, layer, part in self.state_parts:
            buffer = arrays[name]
            _raise_for(fr_model_set_state(self.ptr, &state[0], batch, layer, part,
                                          &buffer[0, 0]),
                       f"state[{name!r}] (positions and counts are whole numbers in their "
                       f"range, and a position one a sequence reaches)")

    cdef int _check_state(self, const float[::1] state, int batch) except -1:
        cdef size_t size = fr_model_state_size(self.ptr, batch)
        if batch < 1 or <size_t>state.shape[0] != size:
            raise ValueError(f"state: expected {size} floats for {batch} sequences, got "
                             f"{state.shape[0]}")
        return 0

    def run(self, list inputs, float[::1] state, counts, mask, bint final, int num_threads):
        """One run of whole sequences (or their start, without `final`):
        inputs[i] (batch, steps, features_i) C-contiguous float32; counts
        (batch,) int32 or None; mask (batch, steps) bool or None. Returns the
        outputs [(batch, frames_o, features_o)] and each one's frames per
        sequence [(batch,) int32]; the state is updated."""
        cdef Py_ssize_t num_inputs = fr_model_num_inputs(self.ptr)
        cdef Py_ssize_t num_outputs = fr_model_num_outputs(self.ptr)
        if len(inputs) != num_inputs:
            raise ValueError(f"expected {num_inputs} inputs, got {len(inputs)}")
        cdef const float[:, :, ::1] x
        cdef Py_ssize_t batch = inputs[0].shape[0], steps = inputs[0].shape[1]
        if batch < 1 or batch > _INT_MAX or steps > _INT_MAX or batch * steps > _INT_MAX:
            raise ValueError(f"expected 1 to {_INT_MAX} sequences and frames, got batch "
                             f"{batch}, steps {steps}")
        x_arrays = []
        for i, array in enumerate(inputs):
            x = array
            if x.shape[0] != batch or x.shape[1] != steps or x.shape[2] != self.features(i):
                raise ValueError(f"input {i}: expected shape ({batch}, {steps}, "
                                 f"{self.features(i)}), got {array.shape}")
            x_arrays.append(array)
        cdef size_t state_size = fr_model_state_size(self.ptr, batch)
        if <size_t>state.shape[0] != state_size:
            raise ValueError(f"state: expected {state_size} floats, got {state.shape[0]}")
        cdef const int[::1] counts_view
        cdef const int *counts_ptr = NULL
        if counts is not None:
            counts_view = counts
            if counts_view.shape[0] != batch:
                raise ValueError(f"counts: expected {batch} values, got {counts_view.shape[0]}")
            counts_ptr = &counts_view[0]
        cdef const uint8_t[:, ::1] step_mask
        cdef const uint8_t *mask_ptr = NULL
        if mask is not None:
            step_mask = np.ascontiguousarray(mask, dtype=np.uint8)
            if step_mask.shape[0] != batch or step_mask.shape[1] != steps:
                raise ValueError(f"mask: expected shape ({batch}, {steps}), got "
                                 f"({step_mask.shape[0]}, {step_mask.shape[1]})")
            mask_ptr = &step_mask[0, 0]
        outputs, frames = [], np.empty(num_outputs, dtype=np.intc)
        for o in range(num_outputs):
            frames[o] = max(self.output_frames(o, <int>steps), 1)
            outputs.append(np.empty((batch, frames[o], self.features(self.outputs[o])),
                                    dtype=np.float32))
        y_counts = np.empty((num_outputs, batch), dtype=np.intc)
        workspace_array = np.empty(fr_model_workspace_size(self.ptr, batch, steps), np.float32)
        cdef _Pointers x_ptrs = _Pointers(x_arrays), y_ptrs = _Pointers(outputs)
        cdef int[::1] frames_view = frames
        cdef int[:, ::1] counts_out = y_counts
        cdef float[::1] workspace = workspace_array
        cdef float *state_ptr = &state[0] if state_size > 0 else &workspace[0]
        cdef unsigned flags = FR_RUN_FINAL if final else 0
        cdef fr_status status
        with nogil:
            status = fr_model_run(self.ptr, <int>batch, <int>steps, <const float *const *>x_ptrs.data,
                                  counts_ptr, mask_ptr, y_ptrs.data, &frames_view[0],
                                  &counts_out[0, 0], state_ptr, &workspace[0], flags,
                                  num_threads)
        _raise_for(status, "running the model")
        return outputs, list(y_counts)


cdef enum:
    _FEED_SYMBOLS = 64      # the named dimensions a FeedCheck compares (more: every check fails)


cdef class FeedCheck:
    """The inputs a graph declares, checked against a feed in one pass:
    ``check(feed)`` is {name: array} when every declared input is there
    with its dtype and shape (ints equal, a symbol the same size wherever
    it appears) and nothing else is, else None (the caller then says what
    is wrong). specs: ((name, dtype or None, shape tuple or None), ...),
    shape entries ints, symbol strings or None (unknown)."""

    cdef tuple names, dtypes
    cdef Py_ssize_t count, num_symbols
    cdef int *ranks                 # per input: its rank, or -1 for any shape
    cdef Py_ssize_t *starts         # per input: where its dims start in `dims`
    cdef Py_ssize_t *dims           # per axis: a size, -1 unknown, -2 - symbol

    def __dealloc__(self):
        PyMem_Free(self.ranks)
        PyMem_Free(self.starts)
        PyMem_Free(self.dims)

    def __cinit__(self, tuple specs):
        symbols = {}
        self.names = tuple(name for name, _, _ in specs)
        self.dtypes = tuple(None if dtype is None else np.dtype(dtype) for _, dtype, _ in specs)
        shapes = [None if shape is None else [
            -1 if dim is None else -2 - symbols.setdefault(dim, len(symbols))
            if isinstance(dim, str) else int(dim) for dim in shape] for _, _, shape in specs]
        self.count, self.num_symbols = len(specs), len(symbols)
        cdef Py_ssize_t i, axis, total = sum(len(shape) for shape in shapes if shape is not None)
        self.ranks = <int *>PyMem_Malloc(max(self.count, 1) * sizeof(int))
        self.starts = <Py_ssize_t *>PyMem_Malloc(max(self.count, 1) * sizeof(Py_ssize_t))
        self.dims = <Py_ssize_t *>PyMem_Malloc(max(total, 1) * sizeof(Py_ssize_t))
        if self.ranks == NULL or self.starts == NULL or self.dims == NULL:
            raise MemoryError()
        total = 0
        for i in range(self.count):
            self.ranks[i] = -1 if shapes[i] is None else len(shapes[i])
            self.starts[i] = total
            for axis in range(max(self.ranks[i], 0)):
                self.dims[total] = shapes[i][axis]
                total += 1

    def check(self, dict feed):
        return self._check(feed)

    cdef dict _check(self, dict feed):
        cdef Py_ssize_t i, axis, dim, size
        cdef Py_ssize_t seen[_FEED_SYMBOLS]
        cdef const Py_ssize_t *dims
        cdef cnp.ndarray array
        if len(feed) != self.count or self.num_symbols > _FEED_SYMBOLS:
            return None
        for i in range(self.num_symbols):
            seen[i] = -1
        checked = {}
        for i in range(self.count):
            name = self.names[i]
            value = feed.get(name)
            if value is None:
                return None
            array = value if cnp.PyArray_CheckExact(value) else np.asarray(value)
            dtype = self.dtypes[i]
            if dtype is not None and <object>cnp.PyArray_DESCR(array) is not dtype \
                    and array.dtype != dtype:
                return None
            if self.ranks[i] >= 0:
                if cnp.PyArray_NDIM(array) != self.ranks[i]:
                    return None
                dims = self.dims + self.starts[i]
                for axis in range(self.ranks[i]):
                    dim, size = dims[axis], cnp.PyArray_DIM(array, axis)
                    if dim <= -2:
                        if seen[-2 - dim] < 0:
                            seen[-2 - dim] = size
                        elif seen[-2 - dim] != size:
                            return None
                    elif dim >= 0 and dim != size:
                        return None
            checked[name] = array
        return checked


cdef enum:
    _CALL_POINTERS = 32     # inputs and outputs a GraphCall keeps its pointers for on the stack


cdef class GraphCall:
    """A compiled ONNX graph segment, called as ONNX Runtime calls a graph:
    arrays in ONNX layouts in, one engine run from the initial states the
    call gives, the outputs and final states out in ONNX layouts. Built by
    fastrnn.io.onnx.compile (CompiledGraph) from plain tuples:

    inputs : ((name, inverse permutation or None), ...), per model input:
        the ONNX array transposed by it is (B, T, features...)
    initial : per state part (state_parts order), None (zeros) or (name,
        index, batch_first): entry `index` of a (D, B, H) value, or of a
        (B, D, H) one with batch_first
    finals : ((name, (part, ...), batch_first), ...): outputs joining state
        parts along their D axis
    results : ((name, output, input, shape tail, permutation or None), ...):
        model output `output` (or, when it is -1, model input `input`) as
        (B, T) + tail, or (B,) + tail for one frame per sequence, transposed
    lengths : the name of the sequence lengths (B,), or None

    The arrays given are read in place when they are C-contiguous float32
    already (a state's rows, an input in the engine's layout); outputs are
    new arrays. The state, counts and workspace buffers of the last call's
    (batch, steps) are kept for the next call of that size; a call while
    another runs (in another thread) takes buffers of its own.
    """

    cdef Model engine
    cdef tuple inputs, initial, finals, results, part_layers, part_numbers, part_sizes
    cdef tuple timing, input_features, output_features, as_computed
    cdef object lengths
    cdef Py_ssize_t num_inputs, num_outputs
    cdef Py_ssize_t kept_batch, kept_steps
    cdef object kept                    # (state, y_counts, workspace) or None
    cdef bint busy
    cdef int kept_frames[_CALL_POINTERS]    # per output, its frames at kept_steps
    cdef int features[_CALL_POINTERS]       # per output, its features
    cdef int input_sizes[_CALL_POINTERS]    # per input, its features
    cdef int *layers                        # per state part: its layer, part and size
    cdef int *parts
    cdef Py_ssize_t *sizes
    cdef Py_ssize_t *initial_entries        # and its initial value's entry along D (-1: zeros)
    cdef tuple initial_names                # (and that value's name)
    cdef tuple produced_names               # what a call produces: finals, then results
    cdef tuple feed_names                   # run_feed's last `names`, and where each is produced
    cdef Py_ssize_t feed_order[_CALL_POINTERS]

    def __dealloc__(self):
        PyMem_Free(self.layers)
        PyMem_Free(self.parts)
        PyMem_Free(self.sizes)
        PyMem_Free(self.initial_entries)

    def __cinit__(self, Model engine, tuple inputs, tuple initial, tuple finals, tuple results,
                  lengths):
        if len(initial) != len(engine.state_parts) or len(inputs) != engine.num_inputs:
            raise ValueError(f"expected {engine.num_inputs} inputs and "
                             f"{len(engine.state_parts)} state parts, got {len(inputs)} and "
                             f"{len(initial)}")
        self.engine = engine
        self.inputs, self.initial, self.finals, self.results = inputs, initial, finals, results
        self.lengths = lengths
        self.part_layers = tuple(layer for _, layer, _ in engine.state_parts)
        self.part_numbers = tuple(part for _, _, part in engine.state_parts)
        self.part_sizes = tuple(engine.part_shape(layer, part)[0] * engine.part_shape(
            layer, part)[1] for _, layer, part in engine.state_parts)
        self.timing = tuple(engine.timing(tensor) for tensor in engine.outputs)
        self.input_features = tuple(engine.features(i) for i in range(engine.num_inputs))
        self.output_features = tuple(engine.features(tensor) for tensor in engine.outputs)
        self.num_inputs, self.num_outputs = len(inputs), len(engine.outputs)
        if self.num_inputs > _CALL_POINTERS or self.num_outputs > _CALL_POINTERS:
            raise NotImplementedError(f"a compiled graph takes at most {_CALL_POINTERS} inputs "
                                      f"and outputs, got {self.num_inputs} and "
                                      f"{self.num_outputs}")
        cdef Py_ssize_t k, count = max(len(self.part_layers), 1)
        self.layers = <int *>PyMem_Malloc(count * sizeof(int))
        self.parts = <int *>PyMem_Malloc(count * sizeof(int))
        self.sizes = <Py_ssize_t *>PyMem_Malloc(count * sizeof(Py_ssize_t))
        self.initial_entries = <Py_ssize_t *>PyMem_Malloc(count * sizeof(Py_ssize_t))
        if self.layers == NULL or self.parts == NULL or self.sizes == NULL \
                or self.initial_entries == NULL:
            raise MemoryError()
        for k in range(len(self.part_layers)):
            self.layers[k], self.parts[k] = self.part_layers[k], self.part_numbers[k]
            self.sizes[k] = self.part_sizes[k]
            self.initial_entries[k] = -1 if initial[k] is None else initial[k][1]
        self.initial_names = tuple(None if source is None else source[0] for source in initial)
        for k in range(self.num_outputs):
            self.features[k] = self.output_features[k]
        for k in range(self.num_inputs):
            self.input_sizes[k] = self.input_features[k]
        self.as_computed = tuple(        # the engine's array is the result as it is
            output >= 0 and self.timing[output] == (1, 0) and perm is None
            and tail == (self.output_features[output],)
            for _, output, _, tail, perm in results)
        self.produced_names = tuple(entry[0] for entry in finals) + tuple(
            entry[0] for entry in results)

    def run(self, dict values, int num_threads):
        """Read the segment's inputs, states and lengths from `values`
        ({name: array}) and add its outputs to it."""
        values.update(zip(self.produced_names, self._run(values, num_threads)))

    def run_feed(self, FeedCheck check, dict feed, tuple names, int num_threads):
        """The outputs `names` names, in order, of this call on `feed` when
        ``check.check(feed)`` accepts it, else None (nothing run): a
        session's per-step run as one call."""
        cdef dict values = check._check(feed)
        if values is None:
            return None
        cdef Py_ssize_t k, count = len(names)
        cdef Py_ssize_t order[_CALL_POINTERS]   # this call's own: _run lets other threads in
        if names is not self.feed_names:
            if count > _CALL_POINTERS:
                raise ValueError(f"expected at most {_CALL_POINTERS} output names, got {count}")
            for k in range(count):
                self.feed_order[k] = self.produced_names.index(names[k])
            self.feed_names = names
        memcpy(order, self.feed_order, count * sizeof(Py_ssize_t))
        cdef list produced = self._run(values, num_threads)
        return [produced[order[k]] for k in range(count)]

    cdef list _run(self, dict values, int num_threads):
        """One engine run on `values`: what it produces, in the order of
        produced_names (the final states, then the results)."""
        cdef fr_model *model = self.engine.ptr
        cdef Py_ssize_t k, o, output, batch, steps, size
        cdef cnp.npy_intp dims[3]
        arrays = [_frames(values[name], inverse) for name, inverse in self.inputs]
        batch, steps = cnp.PyArray_DIM(arrays[0], 0), cnp.PyArray_DIM(arrays[0], 1)
        if batch < 1 or batch > _INT_MAX or steps > _INT_MAX or batch * steps > _INT_MAX:
            raise ValueError(f"expected 1 to {_INT_MAX} sequences and frames, got batch "
                             f"{batch}, steps {steps}")
        for k in range(self.num_inputs):
            array = arrays[k]
            if cnp.PyArray_DIM(array, 0) != batch or cnp.PyArray_DIM(array, 1) != steps \
                    or cnp.PyArray_DIM(array, 2) != self.input_sizes[k]:
                raise ValueError(f"{self.inputs[k][0]!r}: expected ({batch}, {steps}) frames "
                                 f"of {self.input_features[k]} features, got {array.shape}")
        counts = None
        cdef const int *counts_ptr = NULL
        if self.lengths is not None:
            counts = _sequence_counts(values[self.lengths], batch, steps, self.lengths)
            counts_ptr = <const int *>cnp.PyArray_DATA(<cnp.ndarray>counts)
        buffers = self.kept if not self.busy and self.kept is not None \
            and self.kept_batch == batch and self.kept_steps == steps else None
        if buffers is None:
            buffers = self._buffers(batch, steps)
        cdef bint owns = buffers is self.kept   # no other call uses them while this one runs
        cdef cnp.ndarray state = buffers[0], y_counts = buffers[1], workspace = buffers[2]
        cdef float *state_ptr = <float *>cnp.PyArray_DATA(state)
        memset(state_ptr, 0, cnp.PyArray_NBYTES(state))
        cdef const float *rows
        cdef fr_status status
        for k in range(len(self.initial)):
            if self.initial_entries[k] < 0:
                continue
            rows = _state_rows(values[self.initial_names[k]], batch, self.sizes[k],
                               self.initial_entries[k], self.initial[k][2])
            if rows == NULL:
                _set_rows(model, state_ptr, batch, self.layers[k], self.parts[k], self.sizes[k],
                          self.initial[k], values)
                continue
            status = fr_model_set_state(model, state_ptr, <int>batch, self.layers[k],
                                        self.parts[k], rows)
            if status != FR_OK:
                _raise_for(status, f"initial state {self.initial_names[k]!r}")
        outputs = []
        cdef int frames[_CALL_POINTERS]
        cdef float *x_stack[_CALL_POINTERS]
        cdef float *y_stack[_CALL_POINTERS]
        for k in range(self.num_inputs):
            x_stack[k] = <float *>cnp.PyArray_DATA(<cnp.ndarray>arrays[k])
        for o in range(self.num_outputs):
            frames[o] = self.kept_frames[o] if owns else max(
                fr_model_output_frames(model, o, <int>steps, FR_RUN_FINAL), 1)
            dims[0], dims[1], dims[2] = batch, frames[o], self.features[o]
            outputs.append(cnp.PyArray_EMPTY(3, dims, cnp.NPY_FLOAT32, 0))
            y_stack[o] = <float *>cnp.PyArray_DATA(<cnp.ndarray>outputs[o])
        cdef float *workspace_ptr = <float *>cnp.PyArray_DATA(workspace)
        cdef int *y_counts_ptr = <int *>cnp.PyArray_DATA(y_counts)
        if owns:
            self.busy = True
        try:
            with nogil:
                status = fr_model_run(model, <int>batch, <int>steps,
                                      <const float *const *>x_stack, counts_ptr, NULL, y_stack,
                                      frames, y_counts_ptr, state_ptr, workspace_ptr,
                                      FR_RUN_FINAL, num_threads)
        finally:
            if owns:
                self.busy = False
        if status != FR_OK:
            _raise_for(status, "running the model")
        cdef cnp.ndarray joined
        cdef Py_ssize_t part
        cdef tuple entry, parts
        cdef list produced = []
        for entry in self.finals:           # indexed, not unpacked: no iterator per entry
            parts, batch_first = entry[1], entry[2]
            size = self.sizes[<Py_ssize_t>parts[0]]
            dims[0], dims[1], dims[2] = len(<tuple>parts), batch, size
            joined = cnp.PyArray_EMPTY(3, dims, cnp.NPY_FLOAT32, 0)
            for k in range(len(<tuple>parts)):
                part = (<tuple>parts)[k]
                status = fr_model_get_state(model, state_ptr, <int>batch, self.layers[part],
                                            self.parts[part],
                                            <float *>cnp.PyArray_DATA(joined) + k * batch * size)
                if status != FR_OK:
                    _raise_for(status, "reading the final state")
            if counts is not None:
                joined[:, counts == 0] = 0          # ONNX Runtime's rule for empty sequences
            produced.append(np.ascontiguousarray(joined.transpose(1, 0, 2)) if batch_first
                            else joined)
        for k in range(len(self.results)):
            entry = self.results[k]
            output = entry[1]
            produced.append(outputs[output] if self.as_computed[k] else self._result(
                output, arrays[entry[2]] if output < 0 else outputs[output], y_counts, entry[3],
                entry[4]))
        return produced

    def bind(self, dict values, dict targets):
        """A BoundCall of this call on `values` ({name: array}: inputs,
        initial states, bound once and read at every run) writing the
        outputs `targets` names ({name: array}) in place; None when they are
        not arrays the engine reads and writes as they are (see _bind_call)."""
        return _bind_call(self, values, targets)

    cdef tuple _buffers(self, Py_ssize_t batch, Py_ssize_t steps):
        """New (state, y_counts, workspace) buffers for a call of this size,
        kept for the next one when no other call holds the kept ones."""
        buffers = _run_buffers(self.engine.ptr, self.num_outputs, batch, steps)
        cdef Py_ssize_t o
        if not self.busy:
            for o in range(self.num_outputs):
                self.kept_frames[o] = max(fr_model_output_frames(self.engine.ptr, o, <int>steps,
                                                                 FR_RUN_FINAL), 1)
            self.kept, self.kept_batch, self.kept_steps = buffers, batch, steps
        return buffers

    cdef object _result(self, Py_ssize_t output, object result, cnp.ndarray y_counts, tuple tail,
                        object perm):
        """Output `output`'s frames (or a copy of an input's, output -1) in
        its ONNX layout, C-contiguous."""
        per_sequence = False
        if output < 0:
            result = np.array(result)
        else:
            rate, delay = self.timing[output]
            per_sequence = rate == 0
            if per_sequence:
                result = result[:, 0]
            elif (rate, delay) != (1, 0):
                result = result[:, :int(y_counts[output].max())]
        shape = (result.shape[:1] if per_sequence else result.shape[:2]) + tail
        if shape != result.shape:
            result = result.reshape(shape)
        return np.ascontiguousarray(result if perm is None else result.transpose(perm))


cdef tuple _run_buffers(fr_model *model, Py_ssize_t num_outputs, Py_ssize_t batch,
                        Py_ssize_t steps):
    """New (state, y_counts, workspace) buffers for fr_model_run of this size."""
    cdef cnp.npy_intp dims[2]
    dims[0] = max(fr_model_state_size(model, batch), 1)
    state = cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT32, 0)
    dims[0], dims[1] = max(num_outputs, 1), batch
    y_counts = cnp.PyArray_EMPTY(2, dims, cnp.NPY_INT32, 0)
    dims[0] = max(fr_model_workspace_size(model, batch, steps), 1)
    workspace = cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT32, 0)
    return state, y_counts, workspace


cdef enum:
    _HELD_FLAGS = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_WRITEABLE | cnp.NPY_ARRAY_ALIGNED


cdef inline Py_ssize_t _held_length(cnp.ndarray array):
    """Entries of an array's record in a BoundCall signature: data, type,
    flags, ndim, then its dims."""
    return 4 + cnp.PyArray_NDIM(array)


cdef class BoundCall:
    """A GraphCall prepared for arrays bound once (GraphCall.bind, an
    IOBinding's run): the pointers of the bound inputs, initial states and
    outputs worked out and checked when it is made, so that ``run`` is the
    engine call alone, reading the inputs' current contents and writing the
    outputs in place, with no allocation.

    It holds a reference to every array it points into, and ``run`` first
    checks that each still has the data pointer, dtype, flags and shape it
    had (an array reshaped or retyped in place since): if not, or when
    another thread is running it, ``run`` returns False without computing
    (the caller then takes the general path, which checks everything again).
    """

    cdef GraphCall call
    cdef list held                      # the caller's arrays pointed into
    cdef list scratch                   # the outputs not bound, written and dropped
    cdef cnp.npy_intp *signature        # per held array: data, type, flags, ndim, dims
    cdef Py_ssize_t signature_length, batch, steps, num_finals
    cdef object buffers                 # (state, y_counts, workspace)
    cdef Py_ssize_t num_parts
    cdef bint busy
    cdef int frames[_CALL_POINTERS]
    cdef float *x_stack[_CALL_POINTERS]
    cdef float *y_stack[_CALL_POINTERS]
    cdef const float *rows[_CALL_POINTERS]      # per state part: its initial rows, or NULL
    cdef int final_parts[_CALL_POINTERS]        # per final written: its state part
    cdef float *final_rows[_CALL_POINTERS]      # and where its (B, H) rows go
    cdef Py_ssize_t num_firsts                  # outputs of one frame per sequence, kept
    cdef int first_outputs[_CALL_POINTERS]      # as more: the model output
    cdef float *first_rows[_CALL_POINTERS]      # and where each sequence's first frame goes
    cdef int first_features[_CALL_POINTERS]

    def __dealloc__(self):
        PyMem_Free(self.signature)

    cdef int _hold(self, list arrays) except -1:
        """Keep `arrays` and their signature (see the class)."""
        cdef cnp.ndarray array
        cdef Py_ssize_t i = 0, axis
        self.held = arrays
        self.signature_length = sum(_held_length(array) for array in arrays)
        self.signature = <cnp.npy_intp *>PyMem_Malloc(
            max(self.signature_length, 1) * sizeof(cnp.npy_intp))
        if self.signature == NULL:
            raise MemoryError()
        for array in arrays:
            self.signature[i] = <cnp.npy_intp>cnp.PyArray_DATA(array)
            self.signature[i + 1] = cnp.PyArray_TYPE(array)
            self.signature[i + 2] = cnp.PyArray_FLAGS(array) & _HELD_FLAGS
            self.signature[i + 3] = cnp.PyArray_NDIM(array)
            for axis in range(cnp.PyArray_NDIM(array)):
                self.signature[i + 4 + axis] = cnp.PyArray_DIM(array, axis)
            i += _held_length(array)
        return 0

    cdef bint _unchanged(self):
        """Every held array as it was when bound (see the class)."""
        cdef cnp.ndarray array
        cdef Py_ssize_t i = 0, axis
        for array in self.held:
            if self.signature[i] != <cnp.npy_intp>cnp.PyArray_DATA(array) \
                    or self.signature[i + 1] != cnp.PyArray_TYPE(array) \
                    or self.signature[i + 2] != cnp.PyArray_FLAGS(array) & _HELD_FLAGS \
                    or self.signature[i + 3] != cnp.PyArray_NDIM(array):
                return False
            for axis in range(cnp.PyArray_NDIM(array)):
                if self.signature[i + 4 + axis] != cnp.PyArray_DIM(array, axis):
                    return False
            i += _held_length(array)
        return True

    def run(self, int num_threads):
        """One engine call on the bound arrays; False (nothing computed) when
        a bound array changed since or another thread is running this call."""
        if self.busy or not self._unchanged():
            return False
        cdef fr_model *model = self.call.engine.ptr
        cdef cnp.ndarray state = self.buffers[0], y_counts = self.buffers[1]
        cdef cnp.ndarray workspace = self.buffers[2]
        cdef float *state_ptr = <float *>cnp.PyArray_DATA(state)
        cdef float *workspace_ptr = <float *>cnp.PyArray_DATA(workspace)
        cdef int *y_counts_ptr = <int *>cnp.PyArray_DATA(y_counts)
        cdef int batch = <int>self.batch, steps = <int>self.steps
        cdef const int *layers = self.call.layers       # per state part (GraphCall)
        cdef const int *parts = self.call.parts
        cdef Py_ssize_t k
        cdef fr_status status = FR_OK
        self.busy = True
        with nogil:
            memset(state_ptr, 0, cnp.PyArray_NBYTES(state))
            for k in range(self.num_parts):
                if self.rows[k] != NULL and status == FR_OK:
                    status = fr_model_set_state(model, state_ptr, batch, layers[k], parts[k],
                                                self.rows[k])
            if status == FR_OK:
                status = fr_model_run(model, batch, steps, <const float *const *>self.x_stack,
                                      NULL, NULL, self.y_stack, self.frames, y_counts_ptr,
                                      state_ptr, workspace_ptr, FR_RUN_FINAL, num_threads)
            for k in range(self.num_firsts if status == FR_OK else 0):
                _first_frames(self.y_stack[self.first_outputs[k]], self.first_rows[k], batch,
                              self.frames[self.first_outputs[k]], self.first_features[k])
            for k in range(self.num_finals):
                if status == FR_OK:
                    status = fr_model_get_state(model, state_ptr, batch,
                                                layers[self.final_parts[k]],
                                                parts[self.final_parts[k]], self.final_rows[k])
        self.busy = False
        if status != FR_OK:
            _raise_for(status, "running the model")
        return True


cdef inline void _first_frames(const float *frames, float *rows, int batch, int count,
                               int features) noexcept nogil:
    """rows[b, :] = frames[b, 0, :] of (B, count, F) frames."""
    cdef int b
    for b in range(batch):
        memcpy(rows + <Py_ssize_t>b * features,
               frames + <Py_ssize_t>b * count * features, features * sizeof(float))


cdef bint _overlaps(cnp.ndarray a, cnp.ndarray b):
    """Whether two C-contiguous arrays' bytes overlap."""
    cdef char *a_start = <char *>cnp.PyArray_DATA(a)
    cdef char *b_start = <char *>cnp.PyArray_DATA(b)
    return (cnp.PyArray_NBYTES(a) > 0 and cnp.PyArray_NBYTES(b) > 0
            and a_start < b_start + cnp.PyArray_NBYTES(b)
            and b_start < a_start + cnp.PyArray_NBYTES(a))


cdef bint _bindable_target(object target, tuple shape):
    """An output array the engine can write in place: an exact ndarray of
    aligned, C-contiguous, native float32, writable, of this shape."""
    return (_is_float32_c(target) and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>target)
            and target.shape == shape)


cdef object _bind_call(GraphCall call, dict values, dict targets):
    """GraphCall.bind: a BoundCall, or None where the engine cannot read or
    write a bound array in place (an input to transpose or convert, a
    batch-first state, sequence lengths, an output in another layout or not
    exactly float32 of the run's shape, an output overlapping another bound
    array) or a check of GraphCall.run would fail (the caller's general path
    then runs, converting or saying what is wrong)."""
    cdef fr_model *model = call.engine.ptr
    cdef BoundCall bound = BoundCall.__new__(BoundCall)
    cdef Py_ssize_t k, o, j, part, batch = 0, steps = 0, size, count = 0
    cdef cnp.npy_intp dims[3]
    cdef cnp.ndarray array
    if call.lengths is not None or len(call.part_layers) > _CALL_POINTERS:
        return None
    held, inputs, sources, written = [], [], [], []
    for k, (name, inverse) in enumerate(call.inputs):
        value = values[name]
        if inverse is not None or not _is_float32_c(value) or cnp.PyArray_NDIM(value) < 2:
            return None
        array = _frames(value, None)            # the same memory, as (B, T, F)
        if k == 0:
            batch, steps = cnp.PyArray_DIM(array, 0), cnp.PyArray_DIM(array, 1)
            if batch < 1 or batch > _INT_MAX or steps > _INT_MAX or batch * steps > _INT_MAX:
                return None
        if cnp.PyArray_DIM(array, 0) != batch or cnp.PyArray_DIM(array, 1) != steps \
                or cnp.PyArray_DIM(array, 2) != call.input_features[k]:
            return None
        bound.x_stack[k] = <float *>cnp.PyArray_DATA(array)
        held.append(value)
        inputs.append(value)
    bound.num_parts = len(call.part_layers)
    for k, source in enumerate(call.initial):
        bound.rows[k] = NULL
        if source is None:
            continue
        name, index, batch_first = source
        value = values[name]
        size = call.part_sizes[k]
        if batch_first or not _is_float32_c(value):
            return None
        array = value
        if cnp.PyArray_NDIM(array) != 3 or cnp.PyArray_DIM(array, 0) <= index \
                or cnp.PyArray_DIM(array, 1) != batch or cnp.PyArray_DIM(array, 2) != size:
            return None
        bound.rows[k] = <const float *>cnp.PyArray_DATA(array) + <Py_ssize_t>index * batch * size
        held.append(value)
        sources.append(value)
    for o in range(call.num_outputs):
        bound.frames[o] = max(fr_model_output_frames(model, o, <int>steps, FR_RUN_FINAL), 1)
        bound.y_stack[o] = NULL
    used, outputs_bound = set(), set()
    for k, (name, output, _, tail, perm) in enumerate(call.results):
        target = targets.get(name)
        if target is None:
            continue
        if output < 0 or output in outputs_bound:
            return None
        outputs_bound.add(output)
        if call.as_computed[k]:
            shape = (batch, bound.frames[output], call.output_features[output])
        elif call.timing[output][0] == 0 and perm is None \
                and int(np.prod(tail)) == call.output_features[output]:
            shape = (batch,) + tail         # one frame per sequence: (B, F) in memory
        else:
            return None
        if not _bindable_target(target, shape):
            return None
        if shape == (batch, bound.frames[output], call.output_features[output]) \
                or bound.frames[output] == 1:
            bound.y_stack[output] = <float *>cnp.PyArray_DATA(<cnp.ndarray>target)
        else:                               # the first of the frames the engine keeps
            bound.first_outputs[count] = output
            bound.first_rows[count] = <float *>cnp.PyArray_DATA(<cnp.ndarray>target)
            bound.first_features[count] = call.output_features[output]
            count += 1
        written.append(target)
        used.add(name)
    bound.num_firsts, count = count, 0
    if any(_overlaps(target, other) for k, target in enumerate(written)
           for other in written[k + 1:] + inputs + sources):
        return None                 # the engine writes these while it reads the others
    finals = []
    for name, parts, batch_first in call.finals:
        target = targets.get(name)
        if target is None:
            continue
        size = call.part_sizes[parts[0]]
        if batch_first or count + len(parts) > _CALL_POINTERS \
                or not _bindable_target(target, (len(parts), batch, size)):
            return None
        for j, part in enumerate(parts):
            bound.final_parts[count] = part
            bound.final_rows[count] = <float *>cnp.PyArray_DATA(<cnp.ndarray>target) \
                + j * batch * size
            count += 1
        finals.append(target)
        used.add(name)
    if used != set(targets) or any(_overlaps(target, other) for k, target in enumerate(finals)
                                   for other in finals[k + 1:] + written):
        return None         # finals are written after the run: they may be its inputs
    bound.num_finals = count
    bound.scratch = []
    for o in range(call.num_outputs):
        if bound.y_stack[o] == NULL:
            dims[0], dims[1], dims[2] = batch, bound.frames[o], call.output_features[o]
            array = cnp.PyArray_EMPTY(3, dims, cnp.NPY_FLOAT32, 0)
            bound.scratch.append(array)
            bound.y_stack[o] = <float *>cnp.PyArray_DATA(array)
    bound.call, bound.batch, bound.steps = call, batch, steps
    bound.buffers = _run_buffers(model, call.num_outputs, batch, steps)
    bound._hold(held + written + finals)
    return bound


cdef cnp.ndarray _frames(object value, object inverse):
    """An ONNX input as the engine's (B, T, F) float32 frames (in place
    when it is laid out so already)."""
    if inverse is not None:
        value = np.asarray(value).transpose(inverse)
    if not _is_float32_c(value):
        value = np.ascontiguousarray(value, dtype=np.float32)
    if cnp.PyArray_NDIM(<cnp.ndarray>value) < 2:
        raise ValueError(f"expected (B, T, features...) frames, got shape {np.shape(value)}")
    if cnp.PyArray_NDIM(<cnp.ndarray>value) != 3:
        value = value.reshape(value.shape[:2] + (-1,))
    return value


cdef inline const float *_state_rows(object value, Py_ssize_t batch, Py_ssize_t size,
                                     Py_ssize_t entry, bint batch_first):
    """The rows of entry `entry` of a (D, B, H) initial state, read in place,
    or NULL when the value is not one as a C-contiguous float32 array, or is
    batch first (_set_rows then converts it, or says what is wrong)."""
    if batch_first or not _is_float32_c(value):
        return NULL
    cdef cnp.ndarray array = value
    if cnp.PyArray_NDIM(array) != 3 or cnp.PyArray_DIM(array, 0) <= entry \
            or cnp.PyArray_DIM(array, 1) != batch or cnp.PyArray_DIM(array, 2) != size:
        return NULL
    return <const float *>cnp.PyArray_DATA(array) + entry * batch * size


cdef int _set_rows(fr_model *model, float *state, Py_ssize_t batch, int layer, int part,
                   Py_ssize_t size, tuple source, dict values) except -1:
    """A state part's rows from the initial-state value `source` names (see
    GraphCall), read in place from a C-contiguous float32 (D, B, H) value."""
    name, index, batch_first = source[0], source[1], source[2]
    value = values[name]
    cdef Py_ssize_t d = 1 if batch_first else 0, b = 0 if batch_first else 1
    if not _is_float32_c(value):
        value = np.ascontiguousarray(value, dtype=np.float32)
    cdef cnp.ndarray array = value
    if cnp.PyArray_NDIM(array) != 3 or cnp.PyArray_DIM(array, b) != batch \
            or cnp.PyArray_DIM(array, 2) != size or cnp.PyArray_DIM(array, d) <= index:
        layout = "(B, D, H)" if batch_first else "(D, B, H)"
        raise ValueError(f"{name!r}: expected an initial state {layout} with B = {batch}, "
                         f"H = {size} and more than {index} entries along D, got shape "
                         f"{np.shape(value)}")
    cdef const float *rows
    if batch_first:
        array = np.ascontiguousarray(array[:, index])
        rows = <const float *>cnp.PyArray_DATA(array)
    else:
        rows = <const float *>cnp.PyArray_DATA(array) + <Py_ssize_t>index * batch * size
    cdef fr_status status = fr_model_set_state(model, state, <int>batch, layer, part, rows)
    if status != FR_OK:
        _raise_for(status, f"initial state {name!r}")
    return 0


cdef object _sequence_counts(object value, Py_ssize_t batch, Py_ssize_t steps, str name):
    """sequence_lens as the engine's (B,) int32 counts, each in [0, T]."""
    lengths = np.asarray(value)
    if lengths.shape != (batch,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{name!r} (sequence_lens): expected ({batch},) integers, got "
                         f"{lengths.dtype} {lengths.shape}")
    if batch and (lengths.min() < 0 or lengths.max() > steps):
        raise ValueError(f"{name!r} (sequence_lens): expected lengths in [0, {steps}], got "
                         f"{lengths.min()} to {lengths.max()}")
    return np.ascontiguousarray(lengths, dtype=np.intc)


cdef class _Pointers:
    """The data pointers of a list of C-contiguous float32 arrays, kept alive."""

    cdef float **data
    cdef list arrays

    def __cinit__(self, list arrays):
        self.arrays = arrays
        self.data = <float **>PyMem_Malloc((len(arrays) + 1) * sizeof(float *))
        if self.data is NULL:
            raise MemoryError()
        for i, array in enumerate(arrays):
            self.data[i] = <float *>cnp.PyArray_DATA(<cnp.ndarray>array)

    def __dealloc__(self):
        PyMem_Free(self.data)


cdef int _check_apart(cnp.ndarray a, cnp.ndarray b) except -1:
    """ValueError if the data of two C-contiguous arrays overlap (out= given
    the input's memory: the engine reads the input after writing outputs)."""
    cdef char *a_start = <char *>cnp.PyArray_DATA(a)
    cdef char *b_start = <char *>cnp.PyArray_DATA(b)
    if (a_start < b_start + cnp.PyArray_NBYTES(b) and b_start < a_start + cnp.PyArray_NBYTES(a)
            and cnp.PyArray_NBYTES(a) and cnp.PyArray_NBYTES(b)):
        raise ValueError("out must not share memory with the input")
    return 0


cdef inline bint _is_float32_c(object array):
    """True for an exact ndarray of aligned, C-contiguous, native-byte-order
    float32: the no-copy fast path."""
    return cnp.PyArray_CheckExact(array) and _is_c_float32(<cnp.ndarray>array)


cdef inline bint _is_c_float32(cnp.ndarray array):
    return (cnp.PyArray_TYPE(array) == cnp.NPY_FLOAT32 and cnp.PyArray_IS_C_CONTIGUOUS(array)
            and cnp.PyArray_ISNOTSWAPPED(array) and cnp.PyArray_ISALIGNED(array))


cdef cnp.ndarray _writable_out(object out):
    """`out` if the engine can write it in place: an ndarray (or subclass) of
    aligned, C-contiguous, native float32, writable; TypeError saying what
    it is otherwise."""
    if cnp.PyArray_Check(out) and _is_c_float32(<cnp.ndarray>out) \
            and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
        return <cnp.ndarray>out
    if not cnp.PyArray_Check(out):
        given = type(out).__name__
    elif out.dtype != np.float32:
        given = f"an array of dtype {out.dtype}"
    elif not out.dtype.isnative:
        given = f"a byte-swapped array (dtype {out.dtype.str})"
    elif not out.flags.c_contiguous:
        given = f"a non-contiguous array (strides {out.strides})"
    elif not out.flags.aligned:
        given = "a misaligned array (its data address is not a multiple of 4)"
    else:
        given = "a read-only array"
    raise TypeError(f"out: expected a writable C-contiguous float32 ndarray, got {given}")


cdef cnp.ndarray _out_of_shape(object out, int ndim, const cnp.npy_intp *dims):
    """`out` if the engine can write it in place (_writable_out) and it has
    shape dims[:ndim]; ValueError naming both shapes otherwise."""
    cdef cnp.ndarray array = _writable_out(out)
    cdef bint fits = cnp.PyArray_NDIM(array) == ndim
    cdef int axis
    for axis in range(ndim):
        fits = fits and cnp.PyArray_DIMS(array)[axis] == dims[axis]
    if not fits:
        _raise_out_shape(array, [dims[axis] for axis in range(ndim)])
    return array


cdef int _raise_out_shape(cnp.ndarray out, list expected) except -1:
    raise ValueError(f"out: expected shape {tuple(expected)}, got {(<object>out).shape}")


# A stream call whose work is below this many bytes (the packed weights and
# every tensor's frame, times rows and steps) runs holding the GIL: releasing
# it and taking it back costs about 100 ns (two hand-offs through its mutex),
# as much as such a call's compute (a 1x1 Dense, an LSTM(1 -> 32) per audio
# sample); another thread then waits at most that call, about a microsecond.
_HOLD_GIL_BYTES = 1 << 16


cdef Py_ssize_t _row_step_bytes(Model engine):
    """Bytes one step of one row touches: the packed weights and every
    tensor's frame (at least 1)."""
    cdef Py_ssize_t frame_floats = 0
    cdef int tensor
    for tensor in range(fr_model_num_tensors(engine.ptr)):
        frame_floats += fr_model_tensor_features(engine.ptr, tensor)
    return max(<Py_ssize_t>fr_model_weight_bytes(engine.ptr) + 4 * frame_floats, 1)


cdef class Stream:
    """Frames in, outputs out, with the state carried between calls.

    Created by ``Model.stream()``. A single stream (``batch_size=None``)
    takes frames ``(F,)`` and chunks ``(T, F)``; a batch of N streams takes
    ``(N, F)`` and ``(N, T, F)`` (a model with several inputs takes a tuple
    of them).

    Timing: output frame j follows input frame ``j * rate + delay``
    (``rate``, ``delay``). A model whose outputs lag their inputs or change
    their rate (padding on the right, strides) gives the frames completed
    so far: ``step`` and ``process`` return (frames, O) for one stream and
    (N, frames, O) for N, frames the most any stream completed, and
    ``counts`` says how many each stream's are; ``flush()`` ends the
    sequences and returns the rest (the frames look-ahead padding adds).
    Otherwise a frame in is a frame out: ``step`` returns (O,) or (N, O),
    ``process`` (T, O) or (N, T, O).

    An output that predict gives once per sequence (after a layer with
    return_sequences=False, or a GlobalPool) answers, in a stream, each
    frame of that layer's input with its answer so far: the output predict
    would give if the sequence ended there. Its frames follow that input's
    rate and delay (after a strided convolution, one answer per two frames
    in), and ``flush()`` gives the final answer, the value predict gives,
    as its last frame (after look-ahead, the frames the end completes; else
    the last answer once more).

    Any chunking of a signal, ended by ``flush()``, gives exactly the
    outputs of ``predict`` on the whole signal, and ``get_state()`` at any
    point is the same whatever the chunking was (set_state on another
    stream carries on exactly). After ``flush()`` the state is the state at
    the sequence's end, what ``predict(x, return_state=True)`` returns: the
    recurrent states final, convolution windows, merge queues and global
    pools empty. The next frame starts a new sequence from it (as
    ``predict(x2, initial_state=...)`` would); ``reset()`` starts from
    zero. A failed call (wrong shape or dtype, NaN or infinity with
    ``nan_policy="raise"``) raises before the state is touched.

    Threads: the GIL is released while the model runs, so different streams
    can run in parallel from different threads (except for calls of under
    64 KiB of work, packed weights and frames times rows and steps: a tiny
    model's step, which takes less time than releasing the GIL). A stream
    used (stepped, reset, or its state read or written) from a second thread
    while it is running raises RuntimeError (it never blocks, and its state is
    never corrupted or read half-updated): use one stream per thread, or your
    own lock.
    """

    cdef fr_stream *ptr
    cdef Model engine
    cdef readonly object batch_size
    cdef readonly str nan_policy
    cdef int threads
    cdef readonly int num_inputs, num_outputs
    cdef readonly tuple input_sizes, output_sizes
    cdef readonly bint in_step
    cdef readonly tuple timing
    cdef int batch
    cdef bint single, busy, plain
    cdef float **x_ptrs
    cdef float **y_ptrs
    cdef int[::1] frames
    cdef object last_counts
    cdef int *counts_data
    cdef long long held_row_steps
    cdef int plain_features

    def __cinit__(self, Model engine, batch_size, nan_policy, num_threads):
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy: expected one of {NAN_POLICIES}, got {nan_policy!r}")
        if batch_size is not None:
            batch_size = _count(batch_size, "batch_size", _INT_MAX,
                                f"None or an integer from 1 to {_INT_MAX}")
        self.num_threads = num_threads
        self.engine = engine
        self.batch_size = batch_size
        self.single = batch_size is None
        self.batch = 1 if self.single else batch_size
        self.nan_policy = nan_policy
        self.num_inputs = engine.num_inputs
        self.num_outputs = len(engine.outputs)
        self.input_sizes = tuple(engine.features(i) for i in range(self.num_inputs))
        self.output_sizes = tuple(engine.features(t) for t in engine.outputs)
        self.timing = tuple(engine.stream_timing(t)[:2] for t in engine.outputs)
        self.in_step = all(engine.stream_timing(t)[2] for t in engine.outputs)
        self.x_ptrs = <float **>PyMem_Malloc((self.num_inputs + 1) * sizeof(float *))
        self.y_ptrs = <float **>PyMem_Malloc((self.num_outputs + 1) * sizeof(float *))
        if self.x_ptrs is NULL or self.y_ptrs is NULL:
            raise MemoryError()
        self.frames = np.empty(self.num_outputs, dtype=np.intc)
        self.last_counts = np.zeros((self.num_outputs, self.batch), dtype=np.intc)
        self.counts_data = <int *>cnp.PyArray_DATA(<cnp.ndarray>self.last_counts)
        # One input, one output, a frame in for a frame out: the lean path of step()
        # and process().
        self.plain = self.in_step and self.num_inputs == 1 and self.num_outputs == 1
        self.plain_features = self.output_sizes[0]
        # Calls of at most this many (row, step) pairs run holding the GIL.
        self.held_row_steps = _HOLD_GIL_BYTES // _row_step_bytes(engine)
        _raise_for(fr_stream_create(&self.ptr, engine.ptr, self.batch, nan_policy == "raise"),
                   f"creating a stream of {self.batch} sequences")

    def __dealloc__(self):
        fr_stream_destroy(self.ptr)
        PyMem_Free(self.x_ptrs)
        PyMem_Free(self.y_ptrs)

    def __repr__(self):
        return (f"Stream(batch_size={self.batch_size}, input_size={self.input_size}, "
                f"output_size={self.output_size}, nan_policy={self.nan_policy!r})")

    @property
    def num_threads(self):
        """Threads a call may use, 1 to ``max_threads()``; settable."""
        return self.threads

    @num_threads.setter
    def num_threads(self, value):
        self.threads = check_num_threads(value)

    @property
    def input_size(self):
        """Features per frame of the (first) input."""
        return self.input_sizes[0]

    @property
    def output_size(self):
        """Features per frame of the (first) output."""
        return self.output_sizes[0]

    @property
    def delay(self):
        """Input frames an output frame lags: output frame j follows input
        frame j * rate + delay (a tuple for several outputs); for an output
        predict gives once per sequence, the frames of the layer's input it
        answers."""
        delays = tuple(delay for _, delay in self.timing)
        return delays[0] if self.num_outputs == 1 else delays

    @property
    def rate(self):
        """Input frames per output frame (a tuple for several outputs)."""
        rates = tuple(rate for rate, _ in self.timing)
        return rates[0] if self.num_outputs == 1 else rates

    @property
    def counts(self):
        """Frames each stream got from the last call, (N,) (one (N,) per
        output for several outputs)."""
        counts = self.last_counts[:, 0] if self.single else self.last_counts
        return counts[0].copy() if self.num_outputs == 1 else tuple(c.copy() for c in counts)

    cdef str _describe(self, bint chunk, int features):
        names = ("T", str(features)) if chunk else (str(features),)
        if not self.single:
            names = (str(self.batch),) + names
        return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"

    cdef cnp.ndarray _input(self, object data, bint chunk, int index):
        """`data` as C-contiguous float32 of this stream's frame or chunk shape
        for input `index`."""
        cdef int ndim = 1 + chunk + (not self.single)
        cdef int features = self.input_sizes[index]
        cdef cnp.ndarray array
        cdef bint fast = _is_float32_c(data)
        if fast:
            array = <cnp.ndarray>data
        else:
            array = np.asarray(data)
            if array.dtype.kind != "f":
                raise TypeError(f"expected a floating-point array, got dtype {array.dtype}")
        if (array.ndim != ndim or array.shape[ndim - 1] != features
                or (not self.single and array.shape[0] != self.batch)):
            raise ValueError(f"expected shape {self._describe(chunk, features)} "
                             f"(F = {features} features), got {(<object>array).shape}")
        if not fast:
            array = as_c_float32(array)
        return array

    cdef list _inputs(self, object data, bint chunk):
        if self.num_inputs == 1:
            return [self._input(data, chunk, 0)]
        if not isinstance(data, (tuple, list)) or len(data) != self.num_inputs:
            raise ValueError(f"expected a tuple of {self.num_inputs} arrays, one per input, "
                             f"got {type(data).__name__}")
        arrays = [self._input(item, chunk, i) for i, item in enumerate(data)]
        steps = {a.shape[0 if self.single else 1] for a in arrays} if chunk else {1}
        if len(steps) != 1:
            raise ValueError(f"expected the inputs' chunks to have one length, got {steps}")
        return arrays

    cdef cnp.ndarray _output(self, object out, tuple shape):
        """A new float32 array of `shape` (out None), or `out` checked to be one."""
        cdef cnp.npy_intp dims[3]
        for axis, size in enumerate(shape):
            dims[axis] = size
        if out is None:
            return cnp.PyArray_EMPTY(len(shape), dims, cnp.NPY_FLOAT32, 0)
        return _out_of_shape(out, len(shape), dims)

    cdef cnp.ndarray _active(self, object active):
        if active is None:
            return None
        if self.single:
            raise ValueError("active: only a batch of streams (batch_size=N) takes an active mask")
        cdef cnp.ndarray mask = np.asarray(active)
        if mask.dtype != np.bool_:
            raise TypeError(f"active: expected a boolean array, got dtype {mask.dtype}")
        if mask.ndim != 1 or mask.shape[0] != self.batch:
            raise ValueError(f"active: expected shape ({self.batch},), got {(<object>mask).shape}")
        return np.ascontiguousarray(mask)

    cdef int _claim(self) except -1:
        if self.busy:
            raise RuntimeError("this Stream is being run by another thread; use one stream "
                               "per thread, or a lock")
        self.busy = True
        return 0

    cdef tuple _shape(self, int steps, int index, bint frame):
        """Shape of an output array: a frame (O,), or `steps` frames."""
        cdef tuple shape = (self.output_sizes[index],) if frame else (steps, self.output_sizes[index])
        return shape if self.single else (self.batch,) + shape

    cdef inline fr_status _run_stream(self, int steps, const unsigned char *active,
                                      unsigned flags) noexcept nogil:
        return fr_stream_run(self.ptr, steps, <const float *const *>self.x_ptrs, self.y_ptrs,
                             &self.frames[0], self.counts_data, active, flags, self.threads)

    cdef int _call(self, int steps, const unsigned char *active, unsigned flags) except -1:
        """fr_stream_run with the pointer tables filled (the caller holds the
        stream); the GIL released unless the call is small (_HOLD_GIL_BYTES)."""
        cdef fr_status status
        if <long long>max(steps, 1) * self.batch > self.held_row_steps:
            with nogil:
                status = self._run_stream(steps, active, flags)
        else:
            status = self._run_stream(steps, active, flags)
        self.busy = False
        if status == FR_ERR_NONFINITE:
            raise ValueError("input contains NaN or infinity (nan_policy='raise'); the stream's "
                             "state is unchanged")
        _raise_for(status, "running the stream")
        return 0

    cdef object _run(self, list x, int steps, object out, cnp.ndarray mask, unsigned flags,
                     bint frame):
        """Run the stream; returns the outputs: frames as `frame` says, else
        the most frames any stream completed."""
        cdef const unsigned char *active = NULL
        cdef bint trim = not self.in_step or flags & FR_RUN_FINAL
        outs, capacities = [], []
        for o in range(self.num_outputs):
            capacity = steps if not trim else max(self.engine.output_frames(o, steps), 1)
            given = out if self.num_outputs == 1 else (out[o] if out is not None else None)
            outs.append(self._output(given, self._shape(capacity, o, frame and self.in_step)))
            capacities.append(capacity)
        for array in x:
            for y in outs:
                _check_apart(array, y)
        if mask is not None:
            active = <const unsigned char *>cnp.PyArray_DATA(mask)
        self._claim()               # the pointer tables below are this stream's own
        for o in range(self.num_outputs):
            self.frames[o] = capacities[o]
            self.y_ptrs[o] = <float *>cnp.PyArray_DATA(<cnp.ndarray>outs[o])
        for i in range(self.num_inputs):
            self.x_ptrs[i] = <float *>cnp.PyArray_DATA(<cnp.ndarray>x[i])
        self._call(steps, active, flags)
        if trim:
            for o in range(self.num_outputs):
                most = int(np.max(self.last_counts[o]))
                outs[o] = outs[o][:most] if self.single else outs[o][:, :most]
        return outs[0] if self.num_outputs == 1 else tuple(outs)

    cdef cnp.ndarray _run_plain(self, cnp.ndarray x, int steps, object out, object active):
        """_run for a plain stream (one input, one output, a frame out per
        frame in) without its lists: `steps` frames of x (checked by _input)
        into a new array, or into `out`; a step (steps 1) gives (O,) or (N, O),
        else (steps, O) or (N, steps, O)."""
        cdef cnp.npy_intp dims[3]
        cdef int ndim = 0
        if not self.single:
            dims[ndim] = self.batch
            ndim += 1
        if cnp.PyArray_NDIM(x) == ndim + 2:    # a chunk
            dims[ndim] = steps
            ndim += 1
        dims[ndim] = self.plain_features
        ndim += 1
        cdef cnp.ndarray y
        if out is None:
            y = cnp.PyArray_EMPTY(ndim, dims, cnp.NPY_FLOAT32, 0)
        else:
            y = _out_of_shape(out, ndim, dims)
            _check_apart(x, y)
        cdef cnp.ndarray mask = self._active(active)
        self._claim()
        self.frames[0] = steps
        self.x_ptrs[0] = <float *>cnp.PyArray_DATA(x)
        self.y_ptrs[0] = <float *>cnp.PyArray_DATA(y)
        self._call(steps, NULL if mask is None else <const unsigned char *>cnp.PyArray_DATA(mask),
                   0)
        return y

    def step(self, frame, out=None, active=None):
        """One frame: ``(F,)`` -> ``(O,)``, or ``(N, F)`` -> ``(N, O)`` for N streams
        (a model whose outputs lag or change rate: (frames, O) or (N, frames, O),
        see the class).

        Parameters
        ----------
        frame : array (F,) or (N, F); float32 C-contiguous avoids any copy
        out : float32 array (O,) or (N, O), optional
            Written in place and returned, so that a real-time loop allocates nothing.
        active : bool array (N,), optional
            Only these streams advance; the others keep their state, cost no
            compute, and get zeros in the output.
        """
        if not self.plain:
            return self._run(self._inputs(frame, False), 1, out, self._active(active), 0, True)
        return self._run_plain(self._input(frame, False, 0), 1, out, active)

    def process(self, chunk, out=None, active=None):
        """Several frames at once: ``(T, F)`` -> ``(T, O)``, or ``(N, T, F)`` -> ``(N, T, O)``.

        The state carries on from the previous call; T may be 0.
        """
        cdef list x
        cdef cnp.ndarray array
        cdef Py_ssize_t steps
        if self.plain:
            array = self._input(chunk, True, 0)
            steps = array.shape[0 if self.single else 1]
        else:
            x = self._inputs(chunk, True)
            steps = x[0].shape[0 if self.single else 1]
        if steps > 2**31 - 1 or steps * self.batch > 2**31 - 1:
            raise ValueError(f"chunk too long: {steps} steps")
        if self.plain:
            return self._run_plain(array, <int>steps, out, active)
        return self._run(x, <int>steps, out, self._active(active), 0, False)

    def flush(self, active=None):
        """End the sequences (of the streams in `active`, N streams): the
        frames still held (look-ahead padding) come out as ``process`` gives
        them, (frames, O) or (N, frames, O), and for an output predict gives
        once per sequence, its final answer as the last frame.

        The state is then as at the sequences' end (``predict(x,
        return_state=True)``'s): recurrent states final, windows, queues and
        pools empty; the next frame starts a new sequence from it, and
        ``reset()`` starts from zero instead. Flushing again with no frame
        between ends an empty sequence: no frames, but for an output after a
        recurrent layer with return_sequences=False, its answer (its state)
        once more; a GlobalPool that has pooled nothing gives none."""
        cdef list x = [np.empty((0, f) if self.single else (self.batch, 0, f), np.float32)
                       for f in self.input_sizes]
        return self._run(x, 0, None, self._active(active), FR_RUN_FINAL, False)

    def reset(self, indices=None):
        """Zero the state of every stream, or of the streams at `indices` (e.g. a
        call slot being reused)."""
        cdef int[::1] rows
        cdef fr_status status
        if indices is None:
            self._claim()
            status = fr_stream_reset(self.ptr, NULL, 0)
            self.busy = False
            _raise_for(status, "reset")
            return
        if self.single:
            raise ValueError("indices: a single stream (batch_size=None) is reset as a whole")
        selected = np.atleast_1d(np.asarray(indices))
        if selected.size == 0:
            return
        if selected.dtype.kind not in "iu" or selected.ndim != 1:
            raise TypeError(f"indices: expected integers, got {selected.dtype} of shape "
                            f"{selected.shape}")
        if selected.size and (selected.min() < 0 or selected.max() >= self.batch):
            raise ValueError(f"indices: expected values in [0, {self.batch}), got "
                             f"{selected[(selected < 0) | (selected >= self.batch)][:5].tolist()}")
        rows = np.unique(selected).astype(np.intc)      # at most batch rows, as C needs
        self._claim()
        status = fr_stream_reset(self.ptr, &rows[0], <int>rows.shape[0])
        self.busy = False
        _raise_for(status, "reset")

    def get_state(self):
        """A copy of the state: ``{"layer<i>.h": array, "layer<i>.c": array, ...}``,
        each of shape (H,) or (N, H) (see Model.state_names for every layer's parts:
        a convolution's frames and position, a global pool's value and count, a
        merge's waiting frames and their count per input). The same at the same
        point of a sequence whatever the chunking; after flush(), the state at
        the sequence's end (what predict(return_state=True) returns)."""
        cdef float[:, ::1] buffer
        shapes = self.engine.state_shapes(self.batch, self.single)
        state = {}
        self._claim()              # a stream running in another thread would tear the copy
        try:
            for name, layer, part in self.engine.state_parts:
                frames, features = self.engine.part_shape(layer, part)
                array = np.empty((self.batch, frames * features), dtype=np.float32)
                buffer = array
                _raise_for(fr_stream_get_state(self.ptr, layer, part, &buffer[0, 0]),
                           "get_state")
                state[name] = array.reshape(shapes[name])
        finally:
            self.busy = False
        return state

    def set_state(self, state):
        """Replace the state with `state`, a mapping as returned by get_state().
        Everything is checked before anything is written."""
        arrays = self.engine.checked_state(state, self.batch, self.single,
                                           self.nan_policy == "raise")
        self._check_counters(arrays)
        cdef const float[:, ::1] buffer
        self._claim()
        try:
            for name, layer, part in self.engine.state_parts:
                buffer = arrays[name]
                _raise_for(fr_stream_set_state(self.ptr, layer, part, &buffer[0, 0]),
                           f"set_state: state[{name!r}]")
        finally:
            self.busy = False

    cdef int _check_counters(self, dict arrays) except -1:
        """Counters (window positions, counts) are checked by writing them
        into a scratch state first: a refused one leaves the stream as it was."""
        scratch = self.engine.new_state(self.batch)
        self.engine.write_state(scratch, self.batch, arrays)
        return 0

# --- audio front end (csrc/frontend.c) ----------------------------------------
#
# FrontEndEngine owns an fr_frontend (the C tables of one FrontEnd);
# FrontEndStream owns an fr_frontend_stream (one stream of samples, or N).
# The conventions of Stream: shapes and dtypes checked before the GIL is
# released and before anything changes, out=, active=, reset(indices),
# get_state/set_state, and a busy flag against a second thread.

from libc.stdint cimport int64_t

from fastrnn cimport _cfrontend as cfe

AUDIO_FEATURES = ("log_mel", "mel_db", "mfcc")


cdef int _audio_check(cfe.fr_status status, str what) except -1:
    if status == cfe.FR_ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory")
    if status != cfe.FR_OK:
        raise RuntimeError(f"{what} failed: "
                           f"{fr_status_string(<fr_status><int>status).decode()}")
    return 0


def fft_sizes():
    """(smallest, largest) rfft size of the C front end (powers of two between)."""
    return cfe.FR_FFT_MIN_SIZE, cfe.FR_FFT_MAX_SIZE


def rfft(str isa, x):
    """numpy.fft.rfft of x (n,) or of each row of x (rows, n), n a power of
    two in fft_sizes(), computed in float64 by the C FFT of one instruction
    set: complex128 (n // 2 + 1,) or (rows, n // 2 + 1)."""
    cdef fr_isa code = _isa_code(isa)
    cdef cnp.ndarray signal = np.asarray(x)
    if signal.dtype.kind != "f":
        raise TypeError(f"rfft: expected floating-point samples, got dtype {signal.dtype}")
    if signal.ndim not in (1, 2):
        raise ValueError(f"rfft: expected shape (n,) or (rows, n), got {(<object>signal).shape}")
    cdef Py_ssize_t n = signal.shape[signal.ndim - 1], r
    if n < cfe.FR_FFT_MIN_SIZE or n > cfe.FR_FFT_MAX_SIZE or n & (n - 1):
        raise ValueError(f"rfft: expected a power of two from {cfe.FR_FFT_MIN_SIZE} to "
                         f"{cfe.FR_FFT_MAX_SIZE} points, got {n}")
    cdef double[:, ::1] rows = np.ascontiguousarray(signal.reshape(-1, n), dtype=np.float64)
    cdef Py_ssize_t count = rows.shape[0]
    cdef cfe.fr_rfft *plan = NULL
    _audio_check(cfe.fr_rfft_create(<cfe.fr_isa><int>code, <int>n, &plan), "rfft plan")
    spectrum = np.empty((count, n // 2 + 1), dtype=np.complex128)
    cdef double *out = <double *>cnp.PyArray_DATA(spectrum)
    cdef double[::1] work = np.empty(cfe.fr_rfft_work_size(plan), dtype=np.float64)
    try:
        with nogil:
            for r in range(count):
                cfe.fr_rfft_forward(plan, &rows[r, 0], out + r * (n + 2), &work[0])
    finally:
        cfe.fr_rfft_destroy(plan)
    return spectrum[0] if signal.ndim == 1 else spectrum


cdef const double *_table(object table, tuple shape, str name, list keep) except NULL:
    """The data of `table` as C-contiguous float64 of `shape` (kept alive in `keep`)."""
    cdef cnp.ndarray array = np.ascontiguousarray(table, dtype=np.float64)
    if (<object>array).shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {(<object>array).shape}")
    keep.append(array)
    return <const double *>cnp.PyArray_DATA(array)


cdef class FrontEndEngine:
    """The C tables of one set of features (fr_frontend): a FrontEnd's
    parameters and the tables of its NumPy path (window (n_fft,), mel filters
    (n_mels, n_fft // 2 + 1), DCT (n_mfcc, n_mels), delta weights (deltas,
    delta_width, delta_width), mean and std (num_features,)), copied once and
    shared by the FrontEndStreams made from it."""

    cdef cfe.fr_frontend *ptr
    cdef readonly str isa
    cdef readonly int n_fft, num_base, num_features, delta_width

    def __cinit__(self, str isa, *, int n_fft, int hop_length, str feature, int n_mels,
                  int n_mfcc, double power, double log_floor, double amin, int deltas,
                  int delta_width, window, mel_basis, dct=None, delta_weights=None,
                  mean=None, std=None):
        if feature not in AUDIO_FEATURES:
            raise ValueError(f"feature: expected one of {AUDIO_FEATURES}, got {feature!r}")
        if n_fft < cfe.FR_FFT_MIN_SIZE or n_fft > cfe.FR_FFT_MAX_SIZE or n_fft & (n_fft - 1):
            raise ValueError(f"n_fft: the C front end needs a power of two from "
                             f"{cfe.FR_FFT_MIN_SIZE} to {cfe.FR_FFT_MAX_SIZE}, got {n_fft}")
        cdef cfe.fr_frontend_config config
        config.isa = <cfe.fr_isa><int>_isa_code(isa)
        config.n_fft = n_fft
        config.hop_length = hop_length
        config.feature = <cfe.fr_feature><int>AUDIO_FEATURES.index(feature)
        config.n_mels = n_mels
        config.n_mfcc = n_mfcc
        config.power = power
        config.log_floor = log_floor
        config.amin = amin
        config.deltas = deltas
        config.delta_width = delta_width
        self.num_base = n_mfcc if feature == "mfcc" else n_mels
        self.num_features = self.num_base * (1 + deltas)
        keep = []
        cdef const double *window_ptr = _table(window, (n_fft,), "window", keep)
        cdef const double *mel_ptr = _table(mel_basis, (n_mels, n_fft // 2 + 1), "mel_basis",
                                            keep)
        cdef const double *dct_ptr = NULL
        cdef const double *delta_ptr = NULL
        if feature == "mfcc":
            dct_ptr = _table(dct, (n_mfcc, n_mels), "dct", keep)
        if deltas:
            delta_ptr = _table(delta_weights, (deltas, delta_width, delta_width),
                               "delta_weights", keep)
        cdef const float[::1] mean_view, std_view
        cdef const float *mean_ptr = NULL
        cdef const float *std_ptr = NULL
        if (mean is None) != (std is None):
            raise ValueError("mean/std: expected both or neither")
        if mean is not None:
            mean_view = np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)
            std_view = np.ascontiguousarray(std, dtype=np.float32).reshape(-1)
            if mean_view.shape[0] != self.num_features or std_view.shape[0] != self.num_features:
                raise ValueError(f"mean/std: expected {self.num_features} values each, got "
                                 f"{mean_view.shape[0]} and {std_view.shape[0]}")
            mean_ptr, std_ptr = &mean_view[0], &std_view[0]
        status = cfe.fr_frontend_create(&config, window_ptr, mel_ptr, dct_ptr, delta_ptr,
                                        mean_ptr, std_ptr, &self.ptr)
        if status == cfe.FR_ERR_ARG:
            raise ValueError("the C front end rejected these parameters (sizes out of range, "
                             "a non-positive power, floor or std, or non-finite statistics)")
        _audio_check(status, "creating the front end")
        self.isa = isa
        self.n_fft = n_fft
        self.delta_width = delta_width if deltas else 0

    def __dealloc__(self):
        cfe.fr_frontend_destroy(self.ptr)

    def __repr__(self):
        return (f"FrontEndEngine(isa={self.isa!r}, n_fft={self.n_fft}, "
                f"num_features={self.num_features})")


cdef class FrontEndStream:
    """Blocks of samples in, feature frames out, for one stream or N, in C.

    Made by ``FrontEnd.stream()`` (one stream) or
    ``FrontEnd.stream(batch_size=N)``. Each stream keeps the samples of its
    frame in progress and, with deltas, its last delta_width base frames, so
    any block sizes give exactly (bit for bit) the frames of
    ``FrontEnd.features`` on the whole signal, and N streams exactly the
    frames each would give alone.

    One stream: ``push(block)`` takes samples (n,) and returns the frames
    they completed, (new_frames, num_features); ``flush()`` the frames held
    back for the deltas. N streams: ``push(blocks)`` takes (N, n) and
    returns ``(frames, counts)``: frames (N, T, num_features), counts (N,),
    row b holding its counts[b] new frames then zeros, T = max(counts);
    ``active=`` leaves streams out of a push (they keep their state), and
    ``flush(indices)`` ends the signal of some.

    A failed call (wrong shape or dtype, a bad ``out=``, too few frames for
    the deltas at a flush) raises before anything changes. Threads: the GIL
    is released while C runs; a stream used from a second thread while it
    runs raises RuntimeError (use one stream per thread, or a lock).
    """

    cdef cfe.fr_frontend_stream *ptr
    cdef FrontEndEngine engine
    cdef readonly object front_end, batch_size
    cdef readonly int num_features, delay_frames
    cdef int threads, batch, n_fft, delta_width, num_base, max_threads
    cdef bint single, busy
    cdef cnp.ndarray counts        # int (batch,): frames of the push being made

    def __cinit__(self, front_end, FrontEndEngine engine, batch_size, num_threads):
        if batch_size is not None:
            batch_size = _count(batch_size, "batch_size", _INT_MAX,
                                f"None or an integer from 1 to {_INT_MAX}")
        self.num_threads = num_threads
        self.front_end = front_end
        self.engine = engine
        self.batch_size = batch_size
        self.single = batch_size is None
        self.batch = 1 if self.single else batch_size
        self.max_threads = 1 if self.single else self.threads
        self.num_features = engine.num_features
        self.n_fft = engine.n_fft
        self.delta_width = engine.delta_width
        self.num_base = engine.num_base
        self.delay_frames = self.delta_width // 2
        self.counts = np.zeros(self.batch, dtype=np.intc)
        _audio_check(cfe.fr_frontend_stream_create(engine.ptr, self.batch, self.max_threads,
                                                   &self.ptr), "creating the feature stream")

    def __dealloc__(self):
        cfe.fr_frontend_stream_destroy(self.ptr)

    @property
    def num_threads(self):
        """Threads a push may use, 1 to ``max_threads()``; settable (a push
        runs on at most as many as the stream was made with)."""
        return self.threads

    @num_threads.setter
    def num_threads(self, value):
        self.threads = check_num_threads(value)

    def __repr__(self):
        return (f"FrontEndStream(batch_size={self.batch_size}, "
                f"num_features={self.num_features}, isa={self.engine.isa!r})")

    cdef int _claim(self) except -1:
        if self.busy:
            raise RuntimeError("this FrontEndStream is being run by another thread; use one "
                               "stream per thread, or a lock")
        self.busy = True
        return 0

    cdef cnp.ndarray _samples(self, object block):
        """`block` as C-contiguous float32 (n,) or (N, n)."""
        if self.single and _is_float32_c(block) and (<cnp.ndarray>block).ndim == 1:
            return <cnp.ndarray>block
        if self.single:
            return self.front_end.as_samples(block)
        cdef cnp.ndarray array = block if _is_float32_c(block) else np.asarray(block)
        if array.ndim != 2 or array.shape[0] != self.batch:
            raise ValueError(f"expected samples of shape ({self.batch}, n), got "
                             f"{(<object>array).shape}")
        if array.dtype.kind != "f":
            raise TypeError(f"expected floating-point samples, got dtype {array.dtype} "
                            "(scale integer PCM to [-1, 1): int16 / 32768)")
        if array.shape[1] > _INT_MAX:
            raise ValueError(f"a block of {array.shape[1]} samples is too long (max {_INT_MAX})")
        return as_c_float32(array)

    cdef cnp.ndarray _mask(self, object mask, str name):
        """A contiguous bool (N,) mask as uint8-compatible data, or None."""
        if mask is None:
            return None
        if self.single:
            raise ValueError(f"{name}: only a batch of streams (batch_size=N) takes a mask")
        cdef cnp.ndarray array = np.asarray(mask)
        if array.dtype != np.bool_:
            raise TypeError(f"{name}: expected a boolean array, got dtype {array.dtype}")
        if array.ndim != 1 or array.shape[0] != self.batch:
            raise ValueError(f"{name}: expected shape ({self.batch},), got "
                             f"{(<object>array).shape}")
        return np.ascontiguousarray(array)

    cdef cnp.ndarray _frames_out(self, object out, int frames):
        """The (frames, F) or (N, >= frames, F) float32 array a call writes."""
        cdef cnp.npy_intp dims[3]
        if out is None:
            if self.single:
                dims[0], dims[1] = frames, self.num_features
                return cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0)
            dims[0], dims[1], dims[2] = self.batch, frames, self.num_features
            return cnp.PyArray_EMPTY(3, dims, cnp.NPY_FLOAT32, 0)
        cdef cnp.ndarray array = _writable_out(out)
        if self.single:
            if array.ndim != 2 or array.shape[0] < frames or array.shape[1] != self.num_features:
                raise ValueError(f"out: expected shape (T, {self.num_features}) with T >= "
                                 f"{frames} (the frames this call gives), got {out.shape}")
        elif (array.ndim != 3 or array.shape[0] != self.batch or array.shape[1] < frames
              or array.shape[2] != self.num_features):
            raise ValueError(f"out: expected shape ({self.batch}, T, {self.num_features}) with "
                             f"T >= {frames} (the most frames this call gives a stream), got "
                             f"{out.shape}")
        return array

    cdef object _result(self, cnp.ndarray frames, int count):
        """What push and flush return: frames[:count] for one stream, (frames[:, :count],
        counts) for N."""
        if self.single:
            return frames if frames.shape[0] == count else frames[:count]
        view = frames if frames.shape[1] == count else frames[:, :count]
        return view, self.counts.copy()

    def num_new_frames(self, num_samples):
        """Frames a push of `num_samples` samples would give: an int for one
        stream, an int array (N,) for N."""
        cdef Py_ssize_t n = operator.index(num_samples)
        if n < 0 or n > _INT_MAX:
            raise ValueError(f"num_samples: expected 0 .. {_INT_MAX}, got {n}")
        cdef int[::1] counts = np.empty(self.batch, dtype=np.intc)
        _audio_check(cfe.fr_frontend_stream_count(self.ptr, <int>n, NULL, &counts[0]),
                     "num_new_frames")
        return int(counts[0]) if self.single else np.asarray(counts)

    def push(self, block, out=None, active=None):
        """Add a block of samples to each stream.

        Parameters
        ----------
        block : (n,) samples for one stream, (N, n) for N; any floating dtype
            (C-contiguous float32 avoids a copy); n may be 0
        out : float32 C-contiguous array, optional
            (T, F) for one stream, (N, T, F) for N, with T at least the frames
            this push gives (``num_new_frames``); written and returned (its
            first rows), so that a real-time loop allocates nothing.
        active : bool array (N,), optional
            Only these streams take their row of the block; the others keep
            their state and get no frames.

        Returns
        -------
        frames : float32 (new_frames, F) for one stream; for N streams
            ``(frames, counts)``: frames (N, T, F) with T = max(counts), row
            b holding its counts[b] frames then zeros, counts int (N,)
        """
        cdef cnp.ndarray samples = self._samples(block)
        cdef cnp.ndarray mask = self._mask(active, "active")
        cdef Py_ssize_t n = samples.shape[samples.ndim - 1]
        if n > _INT_MAX:
            raise ValueError(f"a block of {n} samples is too long (max {_INT_MAX})")
        cdef const unsigned char *active_ptr = NULL
        if mask is not None:
            active_ptr = <const unsigned char *>cnp.PyArray_DATA(mask)
        cdef int *counts = <int *>cnp.PyArray_DATA(self.counts)
        cdef int largest = 0, b
        self._claim()
        try:
            _audio_check(cfe.fr_frontend_stream_count(self.ptr, <int>n, active_ptr, counts),
                         "counting frames")
            for b in range(self.batch):
                largest = counts[b] if counts[b] > largest else largest
            frames = self._frames_out(out, largest)
            _audio_check(self._push(samples, <int>n, active_ptr, frames), "push")
            return self._result(frames, largest)    # counts copied before another call
        finally:
            self.busy = False

    cdef cfe.fr_status _push(self, cnp.ndarray samples, int n, const unsigned char *active,
                             cnp.ndarray frames):
        cdef const float *x = <const float *>cnp.PyArray_DATA(samples)
        cdef float *y = <float *>cnp.PyArray_DATA(frames)
        cdef int max_frames = frames.shape[0] if self.single else frames.shape[1]
        cdef int *counts = <int *>cnp.PyArray_DATA(self.counts)
        cdef int threads = min(self.threads, self.max_threads)
        cdef cfe.fr_status status
        with nogil:
            status = cfe.fr_frontend_stream_push(self.ptr, n, x, active, y, max_frames, counts,
                                                 threads)
        return status

    def flush(self, indices=None, out=None):
        """End of the signal: the frames held back for the deltas (none
        without deltas), then the stream starts over (``reset``). Samples of
        an incomplete frame are dropped, as offline.

        One stream: ``flush()`` -> float32 (delay_frames, F) or no rows. N
        streams: ``flush(indices=None)`` ends the streams at `indices` (all
        when None) -> ``(frames, counts)`` as ``push``; the others are not
        touched and get no frames.

        Raises
        ------
        ValueError
            With deltas, for a stream that gave 1 to delta_width - 1 frames
            (as ``FrontEnd.features``); nothing changes.
        """
        cdef cnp.ndarray rows = None
        if indices is not None:
            if self.single:
                raise ValueError("indices: a single stream (batch_size=None) is flushed as a "
                                 "whole")
            rows = np.zeros(self.batch, dtype=np.bool_)
            rows[self._indices(indices)] = True
        cdef const unsigned char *rows_ptr = NULL
        if rows is not None:
            rows_ptr = <const unsigned char *>cnp.PyArray_DATA(rows)
        cdef int64_t[::1] known = np.empty(self.batch, dtype=np.int64)
        cdef int *counts = <int *>cnp.PyArray_DATA(self.counts)
        cdef int largest = 0
        self._claim()
        try:
            _audio_check(cfe.fr_frontend_stream_base_frames(self.ptr, &known[0]), "flush")
            for b in range(self.batch):
                if rows is not None and not rows[b]:
                    continue
                if self.delta_width and 0 < known[b] < self.delta_width:
                    self.front_end._check_delta_frames(known[b],
                                                       stream=None if self.single else b)
                if self.delta_width and known[b]:
                    largest = self.delay_frames
            frames = self._frames_out(out, largest)
            _audio_check(cfe.fr_frontend_stream_flush(
                self.ptr, rows_ptr, <float *>cnp.PyArray_DATA(frames),
                frames.shape[0] if self.single else frames.shape[1], counts), "flush")
            return self._result(frames, largest)
        finally:
            self.busy = False

    cdef cnp.ndarray _indices(self, object indices):
        selected = np.atleast_1d(np.asarray(indices))
        if selected.size and (selected.dtype.kind not in "iu" or selected.ndim != 1):
            raise TypeError(f"indices: expected integers, got {selected.dtype} of shape "
                            f"{selected.shape}")
        if selected.size and (selected.min() < 0 or selected.max() >= self.batch):
            raise ValueError(f"indices: expected values in [0, {self.batch}), got "
                             f"{selected[(selected < 0) | (selected >= self.batch)][:5].tolist()}")
        return np.ascontiguousarray(selected, dtype=np.intc)

    def reset(self, indices=None):
        """Start every stream, or the streams at `indices` (e.g. a call slot
        being reused), over: no held samples, no frames."""
        cdef int[::1] rows
        if indices is not None and self.single:
            raise ValueError("indices: a single stream (batch_size=None) is reset as a whole")
        if indices is not None:
            rows = self._indices(indices)
            if rows.shape[0] == 0:
                return
        self._claim()
        try:
            if indices is None:
                status = cfe.fr_frontend_stream_reset(self.ptr, NULL, 0)
            else:
                status = cfe.fr_frontend_stream_reset(self.ptr, &rows[0], <int>rows.shape[0])
        finally:
            self.busy = False
        _audio_check(status, "reset")

    cdef dict _state_shapes(self):
        cdef tuple batch = () if self.single else (self.batch,)
        shapes = {"samples": batch + (self.n_fft - 1,), "num_samples": batch}
        if self.delta_width:
            shapes["history"] = batch + (self.delta_width, self.num_base)
            shapes["num_frames"] = batch
        return shapes

    def get_state(self):
        """A copy of the state of every stream: "samples" (N, n_fft - 1)
        float32, its held samples first then zeros; "num_samples" (N,) how
        many; with deltas "history" (N, delta_width, num_base) float32, its
        last min(num_frames, delta_width) base frames oldest first, then
        zeros, and "num_frames" (N,) its base frames so far. One stream:
        the same without the N axis."""
        samples = np.empty((self.batch, self.n_fft - 1), dtype=np.float32)
        num_samples = np.empty(self.batch, dtype=np.intc)
        history = np.zeros((self.batch, max(self.delta_width, 1), self.num_base),
                           dtype=np.float32)
        num_frames = np.empty(self.batch, dtype=np.int64)
        cdef float[:, ::1] samples_view = samples
        cdef int[::1] num_samples_view = num_samples
        cdef float[:, :, ::1] history_view = history
        cdef int64_t[::1] num_frames_view = num_frames
        self._claim()              # a push in another thread would tear the copy
        try:
            status = cfe.fr_frontend_stream_get_state(self.ptr, &samples_view[0, 0],
                                                      &num_samples_view[0],
                                                      &history_view[0, 0, 0],
                                                      &num_frames_view[0])
        finally:
            self.busy = False
        _audio_check(status, "get_state")
        state = {"samples": samples, "num_samples": num_samples.astype(np.int64)}
        if self.delta_width:
            state["history"] = history
            state["num_frames"] = num_frames
        if self.single:
            state = {name: value[0] for name, value in state.items()}
        return state

    def set_state(self, state):
        """Replace the state with `state`, a mapping as returned by
        get_state(). Everything is checked before anything is written."""
        if not hasattr(state, "keys"):
            raise TypeError(f"state: expected a mapping of names to arrays (as get_state "
                            f"gives), got {type(state).__name__}")
        shapes = self._state_shapes()
        missing = sorted(set(shapes) - set(state))
        unexpected = sorted(set(state) - set(shapes))
        if missing or unexpected:
            raise ValueError(f"state: expected keys {sorted(shapes)}; missing {missing}, "
                             f"unexpected {unexpected}")
        arrays = {}
        for name, shape in shapes.items():
            value = np.asarray(state[name])
            kind = "f" if name in ("samples", "history") else "iu"
            if value.dtype.kind not in kind:
                expected = "floats" if kind == "f" else "integers"
                raise TypeError(f"state[{name!r}]: expected {expected}, got dtype {value.dtype}")
            if value.shape != shape:
                raise ValueError(f"state[{name!r}]: expected shape {shape}, got {value.shape}")
            arrays[name] = value.reshape((1,) + shape) if self.single else value
        if ((arrays["num_samples"] < 0) | (arrays["num_samples"] >= self.n_fft)).any():
            raise ValueError(f"state['num_samples']: expected values in [0, {self.n_fft - 1}], "
                             f"got {arrays['num_samples'].tolist()}")
        if self.delta_width and (arrays["num_frames"] < 0).any():
            raise ValueError(f"state['num_frames']: expected values >= 0, got "
                             f"{arrays['num_frames'].tolist()}")
        cdef float[:, ::1] samples = np.ascontiguousarray(arrays["samples"], dtype=np.float32)
        cdef int[::1] num_samples = np.ascontiguousarray(arrays["num_samples"], dtype=np.intc)
        cdef float[:, :, ::1] history = np.zeros((self.batch, max(self.delta_width, 1),
                                                  self.num_base), dtype=np.float32)
        cdef int64_t[::1] num_frames = np.zeros(self.batch, dtype=np.int64)
        if self.delta_width:
            history = np.ascontiguousarray(arrays["history"], dtype=np.float32)
            num_frames = np.ascontiguousarray(arrays["num_frames"], dtype=np.int64)
        self._claim()
        try:
            status = cfe.fr_frontend_stream_set_state(self.ptr, &samples[0, 0], &num_samples[0],
                                                      &history[0, 0, 0], &num_frames[0])
        finally:
            self.busy = False
        _audio_check(status, "set_state")
