# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The one place Python meets C: type and shape glue around csrc/fastrnn.h
(the engine) and csrc/fastrnn_train.h (the trainer's kernels), whose
declarations are in _cfastrnn.pxd.

Every method checks the sizes of the arrays it is given before it releases
the GIL, so that the C side may trust them. Every C status goes through one
table (_raise_for) to one Python exception.
"""

import operator

import numpy as np

cimport numpy as cnp
from libc.stdint cimport uint8_t

from fastrnn._cfastrnn cimport *

cnp.import_array()

# The names Python uses for the C enums: the one name -> code mapping that
# layers, importers and the engine share.
ISAS = {"generic": FR_ISA_GENERIC, "avx2": FR_ISA_AVX2, "avx512": FR_ISA_AVX512}
PRECISIONS = {"float32": FR_PRECISION_FLOAT32, "float16": FR_PRECISION_FLOAT16}
ACTIVATIONS = {"linear": FR_ACT_LINEAR, "relu": FR_ACT_RELU, "tanh": FR_ACT_TANH,
               "sigmoid": FR_ACT_SIGMOID, "elu": FR_ACT_ELU, "softmax": FR_ACT_SOFTMAX}
ELEMENTWISE_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")
MERGE_MODES = {"concat": FR_MERGE_CONCAT, "sum": FR_MERGE_SUM, "mul": FR_MERGE_MUL,
               "ave": FR_MERGE_AVE}
NAN_POLICIES = ("raise", "propagate")
FLOAT16_MAX = FR_FLOAT16_MAX
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

cdef const float *_optional(const float[::1] bias, Py_ssize_t expected, str name) except? NULL:
    if bias is None:
        return NULL
    if bias.shape[0] != expected:
        raise ValueError(f"{name}: expected shape ({expected},), got ({bias.shape[0]},)")
    return &bias[0]


cdef int _check_matrix(const float[:, ::1] w, Py_ssize_t rows, Py_ssize_t cols, str name) except -1:
    if w.shape[0] != rows or w.shape[1] != cols:
        raise ValueError(f"{name}: expected shape ({rows}, {cols}), got ({w.shape[0]}, {w.shape[1]})")
    return 0


cdef unsigned _recurrent_flags(bint return_sequences, bint go_backwards):
    return (FR_RETURN_SEQUENCES if return_sequences else 0) | (FR_GO_BACKWARDS if go_backwards else 0)


cdef class Model:
    """A packed layer stack (fr_model). Owns its packed weights.

    ``state_parts``: the model's state arrays as (name, layer, part) triples,
    in the engine's order (fastrnn.model.state_parts names them); streams and
    ``read_state``/``write_state`` key the state by these names.
    """

    cdef fr_model *ptr
    cdef readonly str isa, precision
    cdef public list state_parts

    def __cinit__(self, str isa, str precision, int input_size):
        if precision not in available_precisions(isa):
            raise ValueError(f"precision: expected one of {available_precisions(isa)} with "
                             f"isa {isa!r}, got {precision!r}")
        if input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        _raise_for(fr_model_create(&self.ptr, _isa_code(isa), PRECISIONS[precision],
                                   input_size), "creating a model")
        self.isa = isa
        self.precision = precision
        self.state_parts = []

    def __dealloc__(self):
        fr_model_destroy(self.ptr)

    @property
    def input_size(self):
        return fr_model_input_size(self.ptr)

    @property
    def output_size(self):
        return fr_model_output_size(self.ptr)

    @property
    def returns_sequences(self):
        return bool(fr_model_returns_sequences(self.ptr))

    @property
    def needs_sequences(self):
        """True if a layer is bidirectional or goes backwards: whole sequences
        only, no streams."""
        return bool(fr_model_needs_sequences(self.ptr))

    @property
    def weight_bytes(self):
        """Bytes of the packed weights and biases."""
        return fr_model_weight_bytes(self.ptr)

    def add_lstm(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                 const float[::1] b_ih, const float[::1] b_hh, bint return_sequences,
                 bint go_backwards):
        cdef int hidden = w_hh.shape[1], inputs = self.output_size
        _check_matrix(w_ih, 4 * hidden, inputs, "LSTM weight_ih")
        _check_matrix(w_hh, 4 * hidden, hidden, "LSTM weight_hh")
        cdef const float *bi = _optional(b_ih, 4 * hidden, "LSTM bias_ih")
        cdef const float *bh = _optional(b_hh, 4 * hidden, "LSTM bias_hh")
        _raise_for(fr_model_add_lstm(self.ptr, hidden, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                     _recurrent_flags(return_sequences, go_backwards)),
                   "adding an LSTM layer")

    def add_gru(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                const float[::1] b_ih, const float[::1] b_hh, bint reset_after,
                bint return_sequences, bint go_backwards):
        cdef int hidden = w_hh.shape[1], inputs = self.output_size
        _check_matrix(w_ih, 3 * hidden, inputs, "GRU weight_ih")
        _check_matrix(w_hh, 3 * hidden, hidden, "GRU weight_hh")
        cdef const float *bi = _optional(b_ih, 3 * hidden, "GRU bias_ih")
        cdef const float *bh = _optional(b_hh, 3 * hidden, "GRU bias_hh")
        _raise_for(fr_model_add_gru(self.ptr, hidden, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                    reset_after, _recurrent_flags(return_sequences, go_backwards)),
                   "adding a GRU layer")

    def add_rnn(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                const float[::1] b_ih, const float[::1] b_hh, str activation,
                bint return_sequences, bint go_backwards):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN activation: expected 'tanh' or 'relu', got {activation!r}")
        cdef int hidden = w_hh.shape[1], inputs = self.output_size
        _check_matrix(w_ih, hidden, inputs, "SimpleRNN weight_ih")
        _check_matrix(w_hh, hidden, hidden, "SimpleRNN weight_hh")
        cdef const float *bi = _optional(b_ih, hidden, "SimpleRNN bias_ih")
        cdef const float *bh = _optional(b_hh, hidden, "SimpleRNN bias_hh")
        _raise_for(fr_model_add_rnn(self.ptr, hidden, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                    ACTIVATIONS[activation],
                                    _recurrent_flags(return_sequences, go_backwards)),
                   "adding a SimpleRNN layer")

    def make_bidirectional(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                           const float[::1] b_ih, const float[::1] b_hh, str merge_mode):
        """The last layer's backward direction: weights of the same shapes."""
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {tuple(MERGE_MODES)}, got "
                             f"{merge_mode!r}")
        cdef int last = fr_model_num_layers(self.ptr) - 1
        if last < 0 or fr_model_layer_state_parts(self.ptr, last) == 0:
            raise ValueError("make_bidirectional: the last layer must be recurrent")
        cdef int gates = fr_model_layer_gates(self.ptr, last)
        cdef int hidden = fr_model_layer_units(self.ptr, last)
        _check_matrix(w_hh, gates * hidden, hidden, "backward weight_hh")
        _check_matrix(w_ih, gates * hidden, w_ih.shape[1], "backward weight_ih")
        cdef const float *bi = _optional(b_ih, gates * hidden, "backward bias_ih")
        cdef const float *bh = _optional(b_hh, gates * hidden, "backward bias_hh")
        _raise_for(fr_model_make_bidirectional(self.ptr, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                               MERGE_MODES[merge_mode]),
                   "making the layer bidirectional")

    def add_dense(self, const float[:, ::1] w, const float[::1] b, str activation):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {tuple(ACTIVATIONS)}, got "
                             f"{activation!r}")
        cdef int outputs = w.shape[0]
        _check_matrix(w, outputs, self.output_size, "Dense weight")
        cdef const float *bias = _optional(b, outputs, "Dense bias")
        _raise_for(fr_model_add_dense(self.ptr, outputs, &w[0, 0], bias,
                                      ACTIVATIONS[activation]), "adding a Dense layer")

    def new_state(self, int batch):
        """The zero state of `batch` sequences (flat, the engine's layout)."""
        return np.zeros(fr_model_state_size(self.ptr, batch), dtype=np.float32)

    def state_shapes(self, int batch, bint single):
        """{name: shape} of the state arrays, (units,) or (batch, units)."""
        rows = () if single else (batch,)
        return {name: rows + (fr_model_layer_units(self.ptr, layer),)
                for name, layer, part in self.state_parts}

    def checked_state(self, state, int batch, bint single, bint finite):
        """The arrays of a state mapping as the engine reads them: every key of
        ``state_parts``, each of ``state_shapes(batch, single)``, as C-contiguous
        float32 (batch, units); ValueError/TypeError naming what is wrong
        (finite: NaN and infinity refused too). Nothing is written."""
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
            arrays[name] = np.ascontiguousarray(value, dtype=np.float32).reshape(batch, -1)
        return arrays

    def read_state(self, const float[::1] state, int batch, bint single):
        """{name: array (units,) or (batch, units)} of a flat state."""
        cdef float[:, ::1] buffer
        if not self.state_parts:
            return {}
        self._check_state(state, batch)
        values = {}
        for name, layer, part in self.state_parts:
            array = np.empty((batch, fr_model_layer_units(self.ptr, layer)), dtype=np.float32)
            buffer = array
            _raise_for(fr_model_get_state(self.ptr, &state[0], batch, layer, part,
                                          &buffer[0, 0]), "reading the state")
            values[name] = array[0] if single else array
        return values

    def write_state(self, float[::1] state, int batch, dict arrays):
        """Write `arrays` (as checked_state returns them) into a flat state."""
        cdef const float[:, ::1] buffer
        if not self.state_parts:
            return
        self._check_state(state, batch)
        for name, layer, part in self.state_parts:
            buffer = arrays[name]
            _raise_for(fr_model_set_state(self.ptr, &state[0], batch, layer, part,
                                          &buffer[0, 0]), "writing the state")

    cdef int _check_state(self, const float[::1] state, int batch) except -1:
        cdef size_t size = fr_model_state_size(self.ptr, batch)
        if batch < 1 or <size_t>state.shape[0] != size:
            raise ValueError(f"state: expected {size} floats for {batch} sequences, got "
                             f"{state.shape[0]}")
        return 0

    def run(self, const float[:, :, ::1] x, float[::1] state, mask, int num_threads):
        """y = model(x) from `state`, which is updated to the state after the last step.

        x (batch, steps, input_size) -> y (batch, steps, output_size), or
        (batch, output_size) when the model does not return sequences; mask
        (batch, steps) bool or None (see fr_model_run).
        """
        cdef Py_ssize_t batch = x.shape[0], steps = x.shape[1]
        if batch < 1 or steps < 1 or batch > _INT_MAX or steps > _INT_MAX:
            raise ValueError(f"expected at least one sequence of at least one step, got "
                             f"batch {batch}, steps {steps}")
        if batch * steps > _INT_MAX:
            raise ValueError(f"batch * steps = {batch * steps} is too large (max {_INT_MAX})")
        if x.shape[2] != self.input_size:
            raise ValueError(f"expected {self.input_size} features per step, got {x.shape[2]}")
        cdef size_t state_size = fr_model_state_size(self.ptr, batch)
        if <size_t>state.shape[0] != state_size:
            raise ValueError(f"state: expected {state_size} floats, got {state.shape[0]}")
        cdef const uint8_t[:, ::1] step_mask
        cdef const uint8_t *mask_ptr = NULL
        if mask is not None:
            step_mask = np.ascontiguousarray(mask, dtype=np.uint8)
            if step_mask.shape[0] != batch or step_mask.shape[1] != steps:
                raise ValueError(f"mask: expected shape ({batch}, {steps}), got "
                                 f"({step_mask.shape[0]}, {step_mask.shape[1]})")
            mask_ptr = &step_mask[0, 0]
        shape = (batch, steps, self.output_size) if self.returns_sequences else (batch, self.output_size)
        out = np.empty(shape, dtype=np.float32)
        workspace_array = np.empty(fr_model_workspace_size(self.ptr, batch, steps), dtype=np.float32)
        cdef float[::1] workspace = workspace_array
        cdef float[::1] y = out.reshape(-1)
        cdef float *state_ptr = &state[0] if state_size > 0 else &workspace[0]
        cdef fr_status status
        with nogil:
            status = fr_model_run(self.ptr, <int>batch, <int>steps, &x[0, 0, 0], mask_ptr, &y[0],
                                  state_ptr, &workspace[0], 0, num_threads)
        _raise_for(status, "running the model")
        return out


cdef inline bint _is_float32_c(object array):
    """True for an exact ndarray of C-contiguous, native-byte-order float32:
    the no-copy fast path."""
    return (cnp.PyArray_CheckExact(array)
            and cnp.PyArray_TYPE(<cnp.ndarray>array) == cnp.NPY_FLOAT32
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>array)
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>array))


cdef class Stream:
    """Frames in, outputs out, with the recurrent state carried between calls.

    Created by ``Sequential.stream()``. A single stream (``batch_size=None``)
    takes frames ``(F,)`` and chunks ``(T, F)``; a batch of N streams takes
    ``(N, F)`` and ``(N, T, F)``. Every frame gets an output, even after a
    layer with ``return_sequences=False``: the output the model would give if
    the sequence ended at that frame.

    Any chunking of a signal gives exactly the outputs of ``predict`` on the
    whole signal. A failed call (wrong shape or dtype, NaN or infinity with
    ``nan_policy="raise"``) raises before the state is touched.

    Threads: the GIL is released while the model runs, so different streams
    can run in parallel from different threads. A stream used (stepped, reset,
    or its state read or written) from a second thread while it is running
    raises RuntimeError (it never blocks, and its state is never corrupted or
    read half-updated): use one stream per thread, or your own lock.
    """

    cdef fr_stream *ptr
    cdef Model engine
    cdef readonly object batch_size
    cdef readonly str nan_policy
    cdef public int num_threads
    cdef readonly int input_size, output_size
    cdef int batch
    cdef bint single, busy

    def __cinit__(self, Model engine, batch_size, str nan_policy, int num_threads):
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy: expected one of {NAN_POLICIES}, got {nan_policy!r}")
        if batch_size is not None:
            try:
                count = None if isinstance(batch_size, bool) else operator.index(batch_size)
            except TypeError:
                count = None
            if count is None or count < 1:
                raise ValueError(f"batch_size: expected None or an integer >= 1, got "
                                 f"{batch_size!r}")
            batch_size = count
        if num_threads < 1:
            raise ValueError(f"num_threads: expected >= 1, got {num_threads}")
        self.engine = engine
        self.batch_size = batch_size
        self.single = batch_size is None
        self.batch = 1 if self.single else batch_size
        self.nan_policy = nan_policy
        self.num_threads = num_threads
        self.input_size = engine.input_size
        self.output_size = engine.output_size
        _raise_for(fr_stream_create(&self.ptr, engine.ptr, self.batch, nan_policy == "raise"),
                   f"creating a stream of {self.batch} sequences")

    def __dealloc__(self):
        fr_stream_destroy(self.ptr)

    def __repr__(self):
        return (f"Stream(batch_size={self.batch_size}, input_size={self.input_size}, "
                f"output_size={self.output_size}, nan_policy={self.nan_policy!r})")

    cdef tuple _shape(self, Py_ssize_t steps, Py_ssize_t features):
        """Shape of a frame (steps < 0) or a chunk of `steps` steps, single or batched."""
        cdef tuple shape
        if steps < 0:
            shape = (features,)
        else:
            shape = (steps, features)
        return shape if self.single else (self.batch,) + shape

    cdef str _describe(self, bint chunk, str features):
        names = ("T", features) if chunk else (features,)
        if not self.single:
            names = (str(self.batch),) + names
        return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"

    cdef cnp.ndarray _input(self, object data, bint chunk):
        """`data` as C-contiguous float32 of this stream's frame or chunk shape."""
        cdef int ndim = 1 + chunk + (not self.single)
        cdef cnp.ndarray array
        cdef bint fast = _is_float32_c(data)
        if fast:
            array = <cnp.ndarray>data
        else:
            array = np.asarray(data)
            if array.dtype.kind != "f":
                raise TypeError(f"expected a floating-point array, got dtype {array.dtype}")
        if (array.ndim != ndim or array.shape[ndim - 1] != self.input_size
                or (not self.single and array.shape[0] != self.batch)):
            raise ValueError(f"expected shape {self._describe(chunk, str(self.input_size))} "
                             f"(F = {self.input_size} features), got {(<object>array).shape}")
        if not fast:
            array = np.ascontiguousarray(array, dtype=np.float32)
        return array

    cdef cnp.ndarray _output(self, object out, tuple shape):
        cdef cnp.npy_intp dims[3]
        if out is None:
            for axis, size in enumerate(shape):
                dims[axis] = size
            return cnp.PyArray_EMPTY(len(shape), dims, cnp.NPY_FLOAT32, 0)
        if not _is_float32_c(out) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
            if not isinstance(out, np.ndarray):
                given = type(out).__name__
            elif out.dtype != np.float32:
                given = f"an array of dtype {out.dtype}"
            elif not out.dtype.isnative:
                given = f"a byte-swapped array (dtype {out.dtype.str})"
            elif not out.flags.c_contiguous:
                given = f"a non-contiguous array (strides {out.strides})"
            else:
                given = "a read-only array"
            raise TypeError(f"out: expected a writable C-contiguous float32 ndarray, got {given}")
        if out.shape != shape:
            raise ValueError(f"out: expected shape {shape}, got {out.shape}")
        return <cnp.ndarray>out

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

    cdef object _run(self, cnp.ndarray x, int steps, cnp.ndarray y, cnp.ndarray mask):
        cdef const float *x_ptr = <const float *>cnp.PyArray_DATA(x)
        cdef float *y_ptr = <float *>cnp.PyArray_DATA(y)
        cdef const unsigned char *active = NULL
        cdef fr_status status
        if mask is not None:
            active = <const unsigned char *>cnp.PyArray_DATA(mask)
        self._claim()
        with nogil:
            status = fr_stream_run(self.ptr, steps, x_ptr, y_ptr, active, self.num_threads)
        self.busy = False
        if status == FR_ERR_NONFINITE:
            raise ValueError("input contains NaN or infinity (nan_policy='raise'); the stream's "
                             "state is unchanged")
        _raise_for(status, "running the stream")
        return y

    def step(self, frame, out=None, active=None):
        """One frame: ``(F,)`` -> ``(O,)``, or ``(N, F)`` -> ``(N, O)`` for N streams.

        Parameters
        ----------
        frame : array (F,) or (N, F); float32 C-contiguous avoids any copy
        out : float32 array (O,) or (N, O), optional
            Written in place and returned, so that a real-time loop allocates nothing.
        active : bool array (N,), optional
            Only these streams advance; the others keep their state, cost no
            compute, and get zeros in the output.
        """
        cdef cnp.ndarray x = self._input(frame, False)
        cdef cnp.ndarray y = self._output(out, self._shape(-1, self.output_size))
        return self._run(x, 1, y, self._active(active))

    def process(self, chunk, out=None, active=None):
        """Several frames at once: ``(T, F)`` -> ``(T, O)``, or ``(N, T, F)`` -> ``(N, T, O)``.

        The state carries on from the previous call; T may be 0.
        """
        cdef cnp.ndarray x = self._input(chunk, True)
        cdef Py_ssize_t steps = x.shape[0 if self.single else 1]
        if steps > 2**31 - 1 or steps * self.batch > 2**31 - 1:
            raise ValueError(f"chunk too long: {steps} steps")
        cdef cnp.ndarray y = self._output(out, self._shape(steps, self.output_size))
        if np.may_share_memory(x, y):
            raise ValueError("out must not share memory with the chunk")
        return self._run(x, <int>steps, y, self._active(active))

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
        rows = np.ascontiguousarray(selected, dtype=np.intc)
        if rows.shape[0] == 0:
            return
        self._claim()
        status = fr_stream_reset(self.ptr, &rows[0], <int>rows.shape[0])
        self.busy = False
        _raise_for(status, "reset")

    def get_state(self):
        """A copy of the state: ``{"layer<i>.h": array, "layer<i>.c": array}`` for
        each recurrent layer i (c for LSTMs), shape (H,) or (N, H)."""
        cdef float[:, ::1] buffer
        state = {}
        self._claim()              # a stream running in another thread would tear the copy
        try:
            for name, layer, part in self.engine.state_parts:
                array = np.empty((self.batch, fr_model_layer_units(self.engine.ptr, layer)),
                                 dtype=np.float32)
                buffer = array
                _raise_for(fr_stream_get_state(self.ptr, layer, part, &buffer[0, 0]),
                           "get_state")
                state[name] = array[0] if self.single else array
        finally:
            self.busy = False
        return state

    def set_state(self, state):
        """Replace the state with `state`, a mapping as returned by get_state().
        Everything is checked before anything is written."""
        arrays = self.engine.checked_state(state, self.batch, self.single,
                                           self.nan_policy == "raise")
        cdef const float[:, ::1] buffer
        self._claim()
        try:
            for name, layer, part in self.engine.state_parts:
                buffer = arrays[name]
                _raise_for(fr_stream_set_state(self.ptr, layer, part, &buffer[0, 0]),
                           "set_state")
        finally:
            self.busy = False
