# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The one place Python meets C: type and shape glue around csrc/fastrnn.h.

Every method checks the sizes of the arrays it is given against the model
before it releases the GIL, so that the C side may trust them. Arrays arrive
as C-contiguous float32 (the Python layer converts them once).
"""

import numpy as np

cdef extern from "fastrnn.h" nogil:
    ctypedef enum fr_status:
        FR_OK
    ctypedef enum fr_isa:
        pass
    ctypedef enum fr_activation:
        pass
    ctypedef struct fr_model:
        pass

    const char *fr_status_string(fr_status status)
    int fr_isa_supported(fr_isa isa)
    fr_isa fr_isa_best()
    int fr_isa_vector_width(fr_isa isa)
    fr_status fr_activate(fr_isa isa, fr_activation act, const float *x, float *y, size_t n)

    fr_model *fr_model_create(fr_isa isa, int input_size)
    void fr_model_destroy(fr_model *model)
    fr_status fr_model_add_lstm(fr_model *model, int hidden_size, const float *w_ih,
                                const float *w_hh, const float *b_ih, const float *b_hh,
                                int return_sequences)
    fr_status fr_model_add_gru(fr_model *model, int hidden_size, const float *w_ih,
                               const float *w_hh, const float *b_ih, const float *b_hh,
                               int reset_after, int return_sequences)
    fr_status fr_model_add_dense(fr_model *model, int output_size, const float *w,
                                 const float *b, fr_activation activation)
    int fr_model_input_size(const fr_model *model)
    int fr_model_output_size(const fr_model *model)
    int fr_model_returns_sequences(const fr_model *model)
    size_t fr_model_state_size(const fr_model *model, int batch)
    size_t fr_model_workspace_size(const fr_model *model, int batch, int steps)
    fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *x,
                           float *y, float *state, float *workspace, int num_threads)
    const char *fr_build_compiler()
    const char *fr_build_flags()
    int fr_build_openmp()


ISA_NAMES = ("generic", "avx2", "avx512")
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


def best_isa():
    return ISA_NAMES[<int>fr_isa_best()]


def vector_width(str isa):
    return fr_isa_vector_width(_isa_code(isa))


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
    cdef readonly str isa

    def __cinit__(self, str isa, int input_size):
        if input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        self.ptr = fr_model_create(_isa_code(isa), input_size)
        if self.ptr is NULL:
            raise MemoryError("fr_model_create failed")
        self.isa = isa

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
                                  state_ptr, &workspace[0], num_threads)
        _check(status, "running the model")
        return out
