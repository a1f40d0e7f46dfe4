# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The one place Python meets C: type and shape glue around csrc/fastrnn.h.

Every method checks the sizes of the arrays it is given against the model
before it releases the GIL, so that the C side may trust them. Arrays arrive
as C-contiguous float32 (the Python layer converts them once).
"""

import operator

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "fastrnn.h" nogil:
    ctypedef enum fr_status:
        FR_OK
        FR_ERR_NONFINITE
    ctypedef enum fr_isa:
        pass
    ctypedef enum fr_activation:
        pass
    ctypedef enum fr_precision:
        pass
    ctypedef enum fr_merge:
        pass
    ctypedef struct fr_model:
        pass

    const char *fr_status_string(fr_status status)
    int fr_isa_supported(fr_isa isa)
    int fr_precision_supported(fr_isa isa, fr_precision precision)
    fr_isa fr_isa_best()
    fr_status fr_activate(fr_isa isa, fr_activation act, const float *x, float *y, size_t n)
    fr_status fr_lstm_train_forward(fr_isa isa, int batch, int hidden, float *gates,
                                    const float *c_prev, const float *h_prev, float *c,
                                    float *tanh_c, float *h, float *out,
                                    const unsigned char *mask)
    fr_status fr_lstm_train_backward(fr_isa isa, int batch, int hidden, const float *gates,
                                     const float *c_prev, const float *tanh_c, const float *dh,
                                     const float *d_out, float *dc, float *da,
                                     const unsigned char *mask)
    fr_status fr_gru_train_forward(fr_isa isa, int batch, int hidden, float *gates,
                                   const float *hidden_proj, const float *h_prev, float *h,
                                   float *out, const unsigned char *mask)
    fr_status fr_gru_train_backward(fr_isa isa, int batch, int hidden, const float *gates,
                                    const float *hidden_proj, const float *h_prev,
                                    const float *dh, const float *d_out, float *da,
                                    float *d_hidden, float *dh_direct, const unsigned char *mask)

    fr_model *fr_model_create(fr_isa isa, fr_precision precision, int input_size)
    void fr_model_destroy(fr_model *model)
    fr_status fr_model_add_lstm(fr_model *model, int hidden_size, const float *w_ih,
                                const float *w_hh, const float *b_ih, const float *b_hh,
                                int return_sequences)
    fr_status fr_model_add_gru(fr_model *model, int hidden_size, const float *w_ih,
                               const float *w_hh, const float *b_ih, const float *b_hh,
                               int reset_after, int return_sequences)
    fr_status fr_model_add_rnn(fr_model *model, int hidden_size, const float *w_ih,
                               const float *w_hh, const float *b_ih, const float *b_hh,
                               fr_activation activation, int return_sequences)
    fr_status fr_model_add_dense(fr_model *model, int output_size, const float *w,
                                 const float *b, fr_activation activation)
    int fr_model_input_size(const fr_model *model)
    int fr_model_output_size(const fr_model *model)
    int fr_model_returns_sequences(const fr_model *model)
    size_t fr_model_state_size(const fr_model *model, int batch)
    size_t fr_model_workspace_size(const fr_model *model, int batch, int steps)
    fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *x,
                           float *y, float *state, float *workspace, unsigned flags,
                           int num_threads)
    int fr_model_num_layers(const fr_model *model)
    int fr_model_layer_units(const fr_model *model, int layer)
    int fr_model_layer_state_parts(const fr_model *model, int layer)
    int fr_model_layer_gates(const fr_model *model, int layer)
    fr_status fr_model_make_bidirectional(fr_model *model, const float *w_ih, const float *w_hh,
                                          const float *b_ih, const float *b_hh, fr_merge merge)

    ctypedef struct fr_stream:
        pass
    fr_stream *fr_stream_create(const fr_model *model, int batch, int check_finite)
    void fr_stream_destroy(fr_stream *stream)
    fr_status fr_stream_run(fr_stream *stream, int steps, const float *x, float *y,
                            const unsigned char *active, int num_threads)
    fr_status fr_stream_reset(fr_stream *stream, const int *rows, int count)
    fr_status fr_stream_get_state(const fr_stream *stream, int layer, int part, float *dst)
    fr_status fr_stream_set_state(fr_stream *stream, int layer, int part, const float *src)

    const char *fr_build_compiler()
    const char *fr_build_flags()
    int fr_build_openmp()


ISA_NAMES = ("generic", "avx2", "avx512")
MERGE_MODES = ("concat", "sum", "mul", "ave")
PRECISIONS = ("float32", "float16")
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "elu", "softmax")
_INT_MAX = 2**31 - 1


cdef fr_isa _isa_code(str isa) except *:
    if isa not in ISA_NAMES:
        raise ValueError(f"unknown instruction set {isa!r}; expected one of {ISA_NAMES}")
    code = ISA_NAMES.index(isa)
    if not fr_isa_supported(<fr_isa>code):
        raise ValueError(f"instruction set {isa!r} is not available on this CPU/build; "
                         f"available: {available_isas()}")
    return <fr_isa><int>code


cdef int _check(fr_status status, str what) except -1:
    if status != FR_OK:
        raise RuntimeError(f"{what} failed: {fr_status_string(status).decode()}")
    return 0


def available_isas():
    """Instruction sets built in and supported by this CPU, narrowest first."""
    return [name for code, name in enumerate(ISA_NAMES) if fr_isa_supported(<fr_isa>code)]


def available_precisions(str isa):
    """Weight precisions the kernels of `isa` support here."""
    code = _isa_code(isa)
    return [name for index, name in enumerate(PRECISIONS)
            if fr_precision_supported(code, <fr_precision><int>index)]


def best_isa():
    return ISA_NAMES[<int>fr_isa_best()]


def build_info():
    return {
        "compiler": fr_build_compiler().decode(),
        "flags": fr_build_flags().decode(),
        "openmp": bool(fr_build_openmp()),
    }


def activate(str isa, str activation, const float[::1] x):
    """Elementwise activation with one instruction set's kernels (for tests)."""
    if activation not in ACTIVATIONS[:5]:
        raise ValueError(f"expected one of {ACTIVATIONS[:5]}, got {activation!r}")
    cdef fr_isa code = _isa_code(isa)
    cdef fr_activation act = <fr_activation><int>ACTIVATIONS.index(activation)
    out = np.empty(x.shape[0], dtype=np.float32)
    cdef float[::1] y = out
    cdef size_t n = x.shape[0]
    cdef fr_status status
    if n == 0:
        return out
    with nogil:
        status = fr_activate(code, act, &x[0], &y[0], n)
    _check(status, "activate")
    return out


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


cdef const unsigned char *_mask(object mask, Py_ssize_t rows) except? NULL:
    """The data of a contiguous bool/uint8 (rows,) mask, or NULL for None."""
    if mask is None:
        return NULL
    cdef cnp.ndarray array = mask
    if (array.dtype not in (np.bool_, np.uint8) or array.ndim != 1
            or array.shape[0] != rows or not cnp.PyArray_IS_C_CONTIGUOUS(array)):
        raise ValueError(f"mask: expected a contiguous bool array of shape ({rows},), got "
                         f"{array.dtype} {(<object>array).shape}")
    return <const unsigned char *>cnp.PyArray_DATA(array)


cdef Py_ssize_t _gate_rows(cnp.ndarray gates, int gate_count) except -1:
    """The batch of a (B, gate_count * H) gates array, checked (H from its width)."""
    if (gates.ndim != 2 or gates.shape[0] < 1 or gates.shape[1] < gate_count
            or gates.shape[1] % gate_count or gates.shape[0] > _INT_MAX
            or gates.shape[1] > _INT_MAX):
        raise ValueError(f"gates: expected shape (B, {gate_count} * H) with B, H >= 1, got "
                         f"{(<object>gates).shape}")
    return gates.shape[0]


def lstm_train_forward(str isa, cnp.ndarray gates, cnp.ndarray c_prev, cnp.ndarray h_prev,
                       cnp.ndarray c, cnp.ndarray tanh_c, cnp.ndarray h, cnp.ndarray out,
                       mask=None):
    """The pointwise part of one LSTM training step forward (csrc/train.c):
    gates (B, 4H) pre-activations -> gate values, in place; c, tanh_c, h, out
    (B, H) written; mask (B,) bool or None."""
    cdef fr_isa code = _isa_code(isa)
    cdef Py_ssize_t batch = _gate_rows(gates, 4)
    cdef Py_ssize_t hidden = gates.shape[1] // 4
    cdef float *g = _rows(gates, "gates", batch, 4 * hidden, True)
    cdef const float *cp = _rows(c_prev, "c_prev", batch, hidden)
    cdef const float *hp = _rows(h_prev, "h_prev", batch, hidden)
    cdef float *cn = _rows(c, "c", batch, hidden, True)
    cdef float *tc = _rows(tanh_c, "tanh_c", batch, hidden, True)
    cdef float *hn = _rows(h, "h", batch, hidden, True)
    cdef float *o = _rows(out, "out", batch, hidden, True)
    cdef const unsigned char *m = _mask(mask, batch)
    cdef fr_status status
    with nogil:
        status = fr_lstm_train_forward(code, <int>batch, <int>hidden, g, cp, hp, cn, tc, hn, o, m)
    _check(status, "lstm_train_forward")


def lstm_train_backward(str isa, cnp.ndarray gates, cnp.ndarray c_prev, cnp.ndarray tanh_c,
                        cnp.ndarray dh, d_out, cnp.ndarray dc, cnp.ndarray da, mask=None):
    """The pointwise part of one LSTM training step backward (csrc/train.c):
    da (B, 4H) written, dc (B, H) updated in place; d_out (B, H) or None."""
    cdef fr_isa code = _isa_code(isa)
    cdef Py_ssize_t batch = _gate_rows(gates, 4)
    cdef Py_ssize_t hidden = gates.shape[1] // 4
    cdef const float *g = _rows(gates, "gates", batch, 4 * hidden)
    cdef const float *cp = _rows(c_prev, "c_prev", batch, hidden)
    cdef const float *tc = _rows(tanh_c, "tanh_c", batch, hidden)
    cdef const float *dhp = _rows(dh, "dh", batch, hidden)
    cdef const float *dop = NULL if d_out is None else _rows(d_out, "d_out", batch, hidden)
    cdef float *dcp = _rows(dc, "dc", batch, hidden, True)
    cdef float *dap = _rows(da, "da", batch, 4 * hidden, True)
    cdef const unsigned char *m = _mask(mask, batch)
    cdef fr_status status
    with nogil:
        status = fr_lstm_train_backward(code, <int>batch, <int>hidden, g, cp, tc, dhp, dop, dcp,
                                        dap, m)
    _check(status, "lstm_train_backward")


def gru_train_forward(str isa, cnp.ndarray gates, cnp.ndarray hidden_proj, cnp.ndarray h_prev,
                      cnp.ndarray h, cnp.ndarray out, mask=None):
    """The pointwise part of one GRU (reset_after) training step forward
    (csrc/train.c): gates (B, 3H) input projections -> r, z, n, in place;
    hidden_proj (B, 3H) = W_hh h_prev + b_hh; h, out (B, H) written."""
    cdef fr_isa code = _isa_code(isa)
    cdef Py_ssize_t batch = _gate_rows(gates, 3)
    cdef Py_ssize_t hidden = gates.shape[1] // 3
    cdef float *g = _rows(gates, "gates", batch, 3 * hidden, True)
    cdef const float *p = _rows(hidden_proj, "hidden_proj", batch, 3 * hidden)
    cdef const float *hp = _rows(h_prev, "h_prev", batch, hidden)
    cdef float *hn = _rows(h, "h", batch, hidden, True)
    cdef float *o = _rows(out, "out", batch, hidden, True)
    cdef const unsigned char *m = _mask(mask, batch)
    cdef fr_status status
    with nogil:
        status = fr_gru_train_forward(code, <int>batch, <int>hidden, g, p, hp, hn, o, m)
    _check(status, "gru_train_forward")


def gru_train_backward(str isa, cnp.ndarray gates, cnp.ndarray hidden_proj, cnp.ndarray h_prev,
                       cnp.ndarray dh, d_out, cnp.ndarray da, cnp.ndarray d_hidden,
                       cnp.ndarray dh_direct, mask=None):
    """The pointwise part of one GRU (reset_after) training step backward
    (csrc/train.c): da, d_hidden (B, 3H) and dh_direct (B, H) written."""
    cdef fr_isa code = _isa_code(isa)
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
    cdef const unsigned char *m = _mask(mask, batch)
    cdef fr_status status
    with nogil:
        status = fr_gru_train_backward(code, <int>batch, <int>hidden, g, p, hp, dhp, dop, dap,
                                       dhid, direct, m)
    _check(status, "gru_train_backward")


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


cdef class Model:
    """A packed layer stack (fr_model). Owns its packed weights."""

    cdef fr_model *ptr
    cdef readonly str isa, precision

    def __cinit__(self, str isa, str precision, int input_size):
        if input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        if precision not in available_precisions(isa):
            raise ValueError(f"precision: expected one of {available_precisions(isa)} with "
                             f"isa {isa!r}, got {precision!r}")
        self.ptr = fr_model_create(_isa_code(isa), <fr_precision><int>PRECISIONS.index(precision),
                                   input_size)
        if self.ptr is NULL:
            raise MemoryError("fr_model_create failed")
        self.isa = isa
        self.precision = precision

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

    def add_lstm(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                 const float[::1] b_ih, const float[::1] b_hh, bint return_sequences):
        cdef int hidden = w_hh.shape[1], inputs = self.output_size
        _check_matrix(w_ih, 4 * hidden, inputs, "LSTM weight_ih")
        _check_matrix(w_hh, 4 * hidden, hidden, "LSTM weight_hh")
        cdef const float *bi = _optional(b_ih, 4 * hidden, "LSTM bias_ih")
        cdef const float *bh = _optional(b_hh, 4 * hidden, "LSTM bias_hh")
        _check(fr_model_add_lstm(self.ptr, hidden, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                 return_sequences), "adding an LSTM layer")

    def add_gru(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                const float[::1] b_ih, const float[::1] b_hh, bint reset_after,
                bint return_sequences):
        cdef int hidden = w_hh.shape[1], inputs = self.output_size
        _check_matrix(w_ih, 3 * hidden, inputs, "GRU weight_ih")
        _check_matrix(w_hh, 3 * hidden, hidden, "GRU weight_hh")
        cdef const float *bi = _optional(b_ih, 3 * hidden, "GRU bias_ih")
        cdef const float *bh = _optional(b_hh, 3 * hidden, "GRU bias_hh")
        _check(fr_model_add_gru(self.ptr, hidden, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                reset_after, return_sequences), "adding a GRU layer")

    def add_rnn(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                const float[::1] b_ih, const float[::1] b_hh, str activation,
                bint return_sequences):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN activation: expected 'tanh' or 'relu', got {activation!r}")
        cdef int hidden = w_hh.shape[1], inputs = self.output_size
        _check_matrix(w_ih, hidden, inputs, "SimpleRNN weight_ih")
        _check_matrix(w_hh, hidden, hidden, "SimpleRNN weight_hh")
        cdef const float *bi = _optional(b_ih, hidden, "SimpleRNN bias_ih")
        cdef const float *bh = _optional(b_hh, hidden, "SimpleRNN bias_hh")
        _check(fr_model_add_rnn(self.ptr, hidden, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                <fr_activation><int>ACTIVATIONS.index(activation),
                                return_sequences), "adding a SimpleRNN layer")

    def make_bidirectional(self, const float[:, ::1] w_ih, const float[:, ::1] w_hh,
                           const float[::1] b_ih, const float[::1] b_hh, str merge_mode):
        """The last layer's backward direction: weights of the same shapes."""
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {MERGE_MODES}, got {merge_mode!r}")
        cdef int last = fr_model_num_layers(self.ptr) - 1
        cdef int gates = fr_model_layer_gates(self.ptr, last)
        cdef int hidden = fr_model_layer_units(self.ptr, last)
        cdef int inputs = w_ih.shape[1]
        if last < 0 or fr_model_layer_state_parts(self.ptr, last) == 0:
            raise ValueError("make_bidirectional: the last layer must be recurrent")
        _check_matrix(w_hh, gates * hidden, hidden, "backward weight_hh")
        _check_matrix(w_ih, gates * hidden, inputs, "backward weight_ih")
        cdef const float *bi = _optional(b_ih, gates * hidden, "backward bias_ih")
        cdef const float *bh = _optional(b_hh, gates * hidden, "backward bias_hh")
        _check(fr_model_make_bidirectional(self.ptr, &w_ih[0, 0], &w_hh[0, 0], bi, bh,
                                           <fr_merge><int>MERGE_MODES.index(merge_mode)),
               "making the layer bidirectional")

    def add_dense(self, const float[:, ::1] w, const float[::1] b, str activation):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        cdef int outputs = w.shape[0]
        _check_matrix(w, outputs, self.output_size, "Dense weight")
        cdef const float *bias = _optional(b, outputs, "Dense bias")
        _check(fr_model_add_dense(self.ptr, outputs, &w[0, 0], bias,
                                  <fr_activation><int>ACTIVATIONS.index(activation)),
               "adding a Dense layer")

    def state_size(self, int batch):
        return fr_model_state_size(self.ptr, batch)

    def run(self, const float[:, :, ::1] x, float[::1] state, int num_threads):
        """y = model(x) from `state`, which is updated to the state after the last step.

        x (batch, steps, input_size) -> y (batch, steps, output_size), or
        (batch, output_size) when the model does not return sequences.
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
        shape = (batch, steps, self.output_size) if self.returns_sequences else (batch, self.output_size)
        out = np.empty(shape, dtype=np.float32)
        workspace_array = np.empty(fr_model_workspace_size(self.ptr, batch, steps), dtype=np.float32)
        cdef float[::1] workspace = workspace_array
        cdef float[::1] y = out.reshape(-1)
        cdef float *state_ptr = &state[0] if state_size > 0 else &workspace[0]
        cdef fr_status status
        with nogil:
            status = fr_model_run(self.ptr, <int>batch, <int>steps, &x[0, 0, 0], &y[0],
                                  state_ptr, &workspace[0], 0, num_threads)
        _check(status, "running the model")
        return out


NAN_POLICIES = ("raise", "propagate")
_STATE_PARTS = ("h", "c")


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
    cdef list state_names

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
        self.state_names = [(layer, part)
                            for layer in range(fr_model_num_layers(engine.ptr))
                            for part in range(fr_model_layer_state_parts(engine.ptr, layer))]
        self.ptr = fr_stream_create(engine.ptr, self.batch, nan_policy == "raise")
        if self.ptr is NULL:
            raise MemoryError(f"could not allocate a stream of {self.batch} sequences")

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
        _check(status, "running the stream")
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
            _check(status, "reset")
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
        _check(status, "reset")

    def get_state(self):
        """A copy of the state: ``{"layer<i>.h": array, "layer<i>.c": array}`` for
        each recurrent layer i (c for LSTMs), shape (H,) or (N, H)."""
        state = {}
        cdef float[:, ::1] buffer
        self._claim()              # a stream running in another thread would tear the copy
        try:
            for layer, part in self.state_names:
                array = np.empty((self.batch, fr_model_layer_units(self.engine.ptr, layer)),
                                 dtype=np.float32)
                buffer = array
                _check(fr_stream_get_state(self.ptr, layer, part, &buffer[0, 0]), "get_state")
                state[f"layer{layer}.{_STATE_PARTS[part]}"] = array[0] if self.single else array
        finally:
            self.busy = False
        return state

    def set_state(self, state):
        """Replace the state with `state`, a mapping as returned by get_state().
        Everything is checked before anything is written."""
        expected = {f"layer{layer}.{_STATE_PARTS[part]}": (layer, part)
                    for layer, part in self.state_names}
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ValueError(f"state: expected keys {sorted(expected)}; missing {missing}, "
                             f"unexpected {unexpected}")
        arrays = {}
        cdef tuple shape
        for name, (layer, part) in expected.items():
            units = fr_model_layer_units(self.engine.ptr, layer)
            value = np.asarray(state[name])
            shape = (self.batch, units)
            if self.single:
                shape = (units,)
            if value.dtype.kind != "f":
                raise TypeError(f"state[{name!r}]: expected floats, got dtype {value.dtype}")
            if value.shape != shape:
                raise ValueError(f"state[{name!r}]: expected shape {shape}, got {value.shape}")
            if self.nan_policy == "raise" and not np.all(np.isfinite(value)):
                raise ValueError(f"state[{name!r}]: contains NaN or infinity")
            arrays[name] = np.ascontiguousarray(value, dtype=np.float32).reshape(self.batch, units)
        cdef float[:, ::1] buffer
        self._claim()
        try:
            for name, (layer, part) in expected.items():
                buffer = arrays[name]
                _check(fr_stream_set_state(self.ptr, layer, part, &buffer[0, 0]), "set_state")
        finally:
            self.busy = False


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
    cdef public int num_threads
    cdef int batch, n_fft, delta_width, num_base, max_threads
    cdef bint single, busy
    cdef cnp.ndarray counts        # int (batch,): frames of the push being made

    def __cinit__(self, front_end, FrontEndEngine engine, batch_size, int num_threads):
        if batch_size is not None:
            try:
                count = None if isinstance(batch_size, bool) else operator.index(batch_size)
            except TypeError:
                count = None
            if count is None or count < 1 or count > _INT_MAX:
                raise ValueError(f"batch_size: expected None or an integer >= 1, got "
                                 f"{batch_size!r}")
            batch_size = count
        if num_threads < 1:
            raise ValueError(f"num_threads: expected >= 1, got {num_threads}")
        self.front_end = front_end
        self.engine = engine
        self.batch_size = batch_size
        self.single = batch_size is None
        self.batch = 1 if self.single else batch_size
        self.max_threads = 1 if self.single else num_threads
        self.num_threads = num_threads
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
        return np.ascontiguousarray(array, dtype=np.float32)

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
        cdef cnp.ndarray array = <cnp.ndarray>out
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
        cdef int threads = min(self.num_threads, self.max_threads)
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
