"""ONNX Runtime's interface over fastrnn: ``fastrnn.onnx.InferenceSession``.

``InferenceSession(path_or_bytes)`` is a drop-in for
``onnxruntime.InferenceSession``: ``run(output_names, input_feed)``,
``get_inputs()`` / ``get_outputs()`` (names, shapes, types), and
``io_binding()`` / ``run_with_iobinding()`` for outputs written into arrays
the caller allocated once.

At creation the model is read into fastrnn's IR (``fastrnn.io.onnx.
load_graph``: checked, constant-folded, shapes inferred, sizes bounded) and
compiled (``fastrnn.io.onnx.compile``): the nodes the engine computes run
as fastrnn models, one C call per segment (a graph that is one segment is
what ``fastrnn.from_onnx`` returns as a Model). A recurrent node outside a
segment that uses only what fastrnn's kernels compute (default activations
or a Relu RNN, no peepholes, clip or input_forget, constant weights) runs
as a one-layer fastrnn model built once; every other node runs the
operator table's NumPy implementation (``fastrnn.io.onnx.OPERATORS``); an
If node evaluates its condition and runs the branch it picks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import runtime
from ._engine import FeedCheck, GraphCall
from .io.onnx import RecurrentNode, load_graph
from .io.onnx.compile import CompiledGraph, compile_plan
from .io.onnx.fold import run_operator
from .io.onnx.ir import Graph, Node, Value
from .io.onnx.proto import file_errors, ort_type
from .io.onnx.recurrent import fastrnn_refusal
from .model import Sequential

__all__ = ["InferenceSession", "IOBinding", "NodeArg"]


def _reverse_within(batch: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Each sequence of `batch` (B, T, ...) with its first `lengths[b]` steps
    reversed (all T without lengths); steps past a length stay where they are."""
    if lengths is None:
        return batch[:, ::-1]
    steps = np.arange(batch.shape[1])
    index = np.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return np.take_along_axis(batch, index.reshape(index.shape + (1,) * (batch.ndim - 2)),
                              axis=1)


class _RecurrentStep:
    """A recurrent node run by a one-layer fastrnn model, built once."""

    def __init__(self, node: RecurrentNode):
        self.node = node
        self.model = Sequential([node.layer])
        self.parts = ("h", "c") if node.op == "LSTM" else ("h",)
        names = self.model.state_names()
        # The model's state names: each direction's parts, forward first.
        self.state_name = {(d, p): names[d * len(self.parts) + p]
                           for d in range(node.directions) for p in range(len(self.parts))}

    def run(self, values: dict) -> list:
        node = self.node
        x = np.asarray(values[node.x_name], dtype=np.float32)
        if node.layout == 0:
            x = x.transpose(1, 0, 2)                    # (T, B, I) -> (B, T, I)
        batch = x.shape[0]
        lengths = None
        if node.lengths_name:
            lengths = np.asarray(values[node.lengths_name]).astype(np.int64)
        initial = {}
        for name, part in zip((node.h0_name, node.c0_name), self.parts):
            if name:
                value = np.asarray(values[name], dtype=np.float32)
                initial[part] = value if node.layout == 0 else value.transpose(1, 0, 2)
        state = None
        if initial:
            zeros = np.zeros((node.directions, batch, node.hidden), np.float32)
            state = {self.state_name[d, p]: initial.get(part, zeros)[d]
                     for d in range(node.directions) for p, part in enumerate(self.parts)}
        reverse = node.direction == "reverse"
        if reverse:
            x = _reverse_within(x, lengths)
        y, final = self.model.predict(x, lengths=lengths, initial_state=state, return_state=True)
        if reverse:
            y = _reverse_within(y, lengths)
        y = y.reshape(y.shape[:2] + (node.directions, node.hidden))          # (B, T, D, H)
        outputs = [y.transpose(1, 2, 0, 3) if node.layout == 0 else y]
        for p in range(len(self.parts)):
            last = np.stack([final[self.state_name[d, p]] for d in range(node.directions)])
            if lengths is not None:
                last[:, lengths == 0] = 0       # as the operator table (ONNX Runtime's rule)
            outputs.append(last if node.layout == 0 else last.transpose(1, 0, 2))
        return outputs


class NodeArg:
    """What get_inputs() / get_outputs() return: .name, .shape, .type (as
    ONNX Runtime's NodeArg: symbolic dims as str, unknown ones as None)."""

    def __init__(self, value: Value):
        self.name = value.name
        self.shape = list(value.shape) if value.shape is not None else None
        self.type = ort_type(value.elem_type) if value.elem_type else "tensor(unknown)"

    def __repr__(self) -> str:
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape})"


def _plan(graph: Graph, outer_constants: dict | None = None) -> list:
    """(step, how) per step: a compiled segment (CompiledGraph, None), or a
    node with a _RecurrentStep, {branch: (plan, engine call or None)} for If
    (_branch), or None (the operator table). `outer_constants`: the
    enclosing graphs' constants, which an If branch may read."""
    constants = {**(outer_constants or {}), **graph.constants}
    plan = []
    for step in compile_plan(graph, outer_constants):
        how = None
        if isinstance(step, CompiledGraph):
            pass
        elif step.op in ("LSTM", "GRU", "RNN") and fastrnn_refusal(step, constants) is None:
            how = _RecurrentStep(RecurrentNode(step, constants))
        elif step.op == "If":
            how = {key: _branch(branch, constants) for key, branch in step.branches.items()}
        plan.append((step, how))
    return plan


def _execute(graph: Graph, plan: list, values: dict) -> None:
    """Run `plan` over `values` ({name: array}, the enclosing scopes' values
    included), adding every output."""
    values.update(graph.constants)
    for step, how in plan:
        if isinstance(step, CompiledGraph):
            step.run(values)
            continue
        if isinstance(how, _RecurrentStep):
            results = how.run(values)
        elif step.op == "If":
            results = _run_if(step, how, values)
        else:
            results = run_operator(step, [values[name] if name else None
                                          for name in step.inputs])
        for name, value in zip(step.outputs, results):
            if name:
                values[name] = value


def _direct_call(graph: Graph, plan: list) -> GraphCall | None:
    """The engine call of the one compiled segment that is the whole plan
    and computes every graph output (then a run is the feed check and that
    call)."""
    if len(plan) != 1 or not isinstance(plan[0][0], CompiledGraph):
        return None
    segment = plan[0][0]
    if segment.size_checks or any(value.name not in segment.outputs for value in graph.outputs):
        return None
    return segment.call


def _branch(branch: Graph, outer_constants: dict) -> tuple:
    """An If branch's (plan, engine call): the call when one compiled
    segment is the whole branch and reads none of its constants (then the
    branch runs as that call alone, the constants not bound), else None."""
    plan = _plan(branch, outer_constants)
    call = _direct_call(branch, plan)
    if call is not None and plan[0][0].reads & set(branch.constants):
        call = None
    return plan, call


def _branch_key(node: Node, condition: Any) -> str:
    """The branch an If node's condition value picks."""
    condition = np.asarray(condition)
    if condition.size != 1:
        raise ValueError(f"ONNX node {node.name!r} (If): the condition has shape "
                         f"{condition.shape}, expected one element")
    return "then_branch" if bool(condition.reshape(-1)[0]) else "else_branch"


def _run_if(node: Node, branches: dict, values: dict) -> list:
    key = _branch_key(node, values[node.inputs[0]])
    branch = node.branches[key]
    plan, call = branches[key]
    if call is not None:
        call.run(values, runtime.get_num_threads())
    else:
        _execute(branch, plan, values)
    return [values[output.name] for output in branch.outputs]


class _Direct:
    """A graph that is one engine call computing every output: ``pick``
    gives that call and the names it gives the graph's outputs."""

    def __init__(self, call: GraphCall, names: tuple):
        self.call, self.names = call, names
        self.choice = (call, names)
        self.calls = (self.choice,)

    def pick(self, values: dict) -> tuple:
        return self.choice


class _Choice:
    """A graph that is an If between two engine calls (each branch one
    compiled segment computing its outputs from the graph's inputs), its
    condition computed by NumPy nodes from scalar graph inputs only (a
    sample rate): ``pick(values)`` evaluates the condition once per value
    of those inputs (their bytes; the nodes are pure functions of them)
    and gives the branch's call and the names it gives the graph's outputs.
    """

    MAX_KEYS = 64          # distinct condition inputs remembered

    def __init__(self, graph: Graph, nodes: list, node: Node, branches: dict):
        self.nodes, self.node, self.constants = nodes, node, graph.constants
        produced = {name for step in nodes for name in step.outputs}
        self.inputs = tuple(sorted({name for step in nodes for name in step.inputs
                                    if name and name not in produced
                                    and name not in graph.constants}
                                   | ({node.inputs[0]} - produced)))
        position = {name: k for k, name in enumerate(node.outputs)}
        self.branches = {key: (call, tuple(node.branches[key].outputs[position[value.name]].name
                                           for value in graph.outputs))
                         for key, call in branches.items()}
        self.calls = tuple(self.branches.values())
        self.keys: dict[tuple, str] = {}

    def pick(self, values: dict) -> tuple:
        key = tuple([values[name].tobytes() for name in self.inputs])
        branch = self.keys.get(key)
        if branch is None:
            branch = self._evaluate(values)
            if len(self.keys) >= self.MAX_KEYS:
                self.keys.clear()
            self.keys[key] = branch
        return self.branches[branch]

    def _evaluate(self, values: dict) -> str:
        """The branch the condition picks on these inputs."""
        scope = {**self.constants, **{name: values[name] for name in self.inputs}}
        for step in self.nodes:
            results = run_operator(step, [scope[name] if name else None for name in step.inputs])
            scope.update((name, value) for name, value in zip(step.outputs, results) if name)
        return _branch_key(self.node, scope[self.node.inputs[0]])


def _route(graph: Graph, plan: list) -> _Direct | _Choice | None:
    """The run without the plan's interpreter where the graph allows one:
    one engine call (_Direct) or an If choosing between two (_Choice)."""
    call = _direct_call(graph, plan)
    if call is not None:
        return _Direct(call, tuple(value.name for value in graph.outputs))
    if not plan or isinstance(plan[-1][0], CompiledGraph) or plan[-1][0].op != "If":
        return None
    node, branches = plan[-1]
    nodes = [step for step, _ in plan[:-1]]
    inputs = {value.name: value for value in graph.inputs}
    if any(how is not None or isinstance(step, CompiledGraph) or step.op == "If"
           for step, how in plan[:-1]) or any(call is None for _, call in branches.values()):
        return None
    if any(value.name not in node.outputs for value in graph.outputs):
        return None
    choice = _Choice(graph, nodes, node, {key: call for key, (_, call) in branches.items()})
    for name in choice.inputs:          # scalars of one declared dtype: their bytes the key
        value = inputs.get(name)
        if value is None or value.dtype is None or value.shape is None or any(
                not isinstance(dim, int) or dim != 1 for dim in value.shape):
            return None
    for branch_plan, _ in branches.values():
        if not branch_plan[0][0].reads <= set(inputs):
            return None                 # a branch reading outer constants or the nodes' values
    return choice


class InferenceSession:
    """Runs an ONNX graph with fastrnn, with ONNX Runtime's interface.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike, bytes (a serialized ModelProto) or a ModelProto
    sess_options, providers, provider_options : accepted for ONNX Runtime
        compatibility and ignored (fastrnn runs on the CPU).

    Raises NotImplementedError for an operator, domain or feature fastrnn
    does not run, fastrnn.FormatError (a ValueError) for bytes that are not
    a model, versions fastrnn does not read, an inconsistent or oversized
    graph (naming the node).
    """

    def __init__(self, path_or_bytes: Any, sess_options: Any = None, providers: Any = None,
                 provider_options: Any = None, **kwargs: Any):
        with file_errors():                      # what the graph holds is inconsistent
            self._graph = load_graph(path_or_bytes)
            self._plan = _plan(self._graph)
            self._inputs = [NodeArg(v) for v in self._graph.inputs]
            self._outputs = [NodeArg(v) for v in self._graph.outputs]
            self._output_names = [o.name for o in self._outputs]
            self._feed_check = FeedCheck(tuple((v.name, v.dtype, v.shape)
                                               for v in self._graph.inputs))
            self._route = _route(self._graph, self._plan)

    @property
    def graph(self) -> Graph:
        """The IR the session runs (read it, do not modify it)."""
        return self._graph

    def get_inputs(self) -> list:
        return list(self._inputs)

    def get_outputs(self) -> list:
        return list(self._outputs)

    def get_providers(self) -> list:
        return ["CPUExecutionProvider"]

    def _checked_feed(self, input_feed: dict) -> dict:
        """The feed as arrays, each checked against its declared type and
        shape (static dims equal, a symbolic dim the same size in every input
        that names it) before anything runs."""
        expected = [v.name for v in self._graph.inputs]
        missing = [name for name in expected if name not in input_feed]
        if missing:
            raise ValueError(f"input_feed: missing inputs {missing} (expected {expected})")
        unknown = sorted(set(input_feed) - set(expected))
        if unknown:
            raise ValueError(f"input_feed: unknown inputs {unknown} (expected {expected})")
        symbols: dict[str, tuple[int, str]] = {}
        feed = {}
        for value in self._graph.inputs:
            array = np.asarray(input_feed[value.name])
            if value.dtype is not None and array.dtype != value.dtype:
                raise TypeError(f"input {value.name!r}: expected {ort_type(value.elem_type)} "
                                f"({value.dtype}), got an array of {array.dtype}")
            if value.shape is not None:
                if array.ndim != len(value.shape):
                    raise ValueError(f"input {value.name!r}: expected shape {list(value.shape)}, "
                                     f"got {array.shape}")
                for axis, (dim, size) in enumerate(zip(value.shape, array.shape)):
                    if isinstance(dim, int) and dim != size:
                        raise ValueError(f"input {value.name!r}: expected shape "
                                         f"{list(value.shape)}, got {array.shape}")
                    if isinstance(dim, str):
                        seen = symbols.setdefault(dim, (size, value.name))
                        if seen[0] != size:
                            raise ValueError(f"input {value.name!r}: dimension {axis} ({dim!r}) "
                                             f"is {size}, but {dim!r} is {seen[0]} in input "
                                             f"{seen[1]!r}")
            feed[value.name] = array
        return feed

    def _values(self, input_feed: dict) -> dict:
        """Every value of a run on `input_feed`: the checked inputs, then
        what the plan computes."""
        values = self._feed_check.check(input_feed) if type(input_feed) is dict else None
        if values is None:
            values = self._checked_feed(input_feed)     # says what is wrong, or converts
        if self._route is not None:
            call, names = self._route.pick(values)
            call.run(values, runtime.get_num_threads())
            values.update(zip(self._output_names, [values[name] for name in names]))
        else:
            _execute(self._graph, self._plan, values)
        return values

    def run(self, output_names: list | None, input_feed: dict, run_options: Any = None) -> list:
        """The outputs named (all, in the graph's order, for None) on `input_feed`."""
        route = self._route
        if type(route) is _Direct and not output_names and type(input_feed) is dict:
            outputs = route.call.run_feed(self._feed_check, input_feed, route.names,
                                          runtime.get_num_threads())
            if outputs is not None:                 # the per-step fast path: one C call
                return outputs
        elif route is not None and not output_names and type(input_feed) is dict:
            values = self._feed_check.check(input_feed)
            if values is not None:                  # the per-step fast path
                call, names = self._route.pick(values)
                call.run(values, runtime.get_num_threads())
                return [values[name] for name in names]
        names = output_names or self._output_names
        if output_names:
            unknown = [n for n in names if n not in self._output_names]
            if unknown:
                raise ValueError(f"output_names: unknown outputs {unknown} (the graph has "
                                 f"{self._output_names})")
        values = self._values(input_feed)
        if self._route is not None:         # its outputs are new C-contiguous arrays
            return [values[name] for name in names]
        return [_owned(values[name]) for name in names]

    def io_binding(self) -> IOBinding:
        """A new IOBinding for ``run_with_iobinding``."""
        return IOBinding(self)

    def run_with_iobinding(self, iobinding: IOBinding, run_options: Any = None) -> None:
        """Run on the binding's inputs; outputs bound to arrays are written
        into them (no output allocated), the others kept for get_outputs().

        A binding whose every output is bound to an array runs, from its
        second run with no bind or clear between on, as engine calls
        prepared then (_BoundRun: the arrays' pointers checked once, no
        allocation, no copy) where the graph is one call or an If between
        two and the engine reads and writes the bound arrays as they are;
        else, or when a bound array was reshaped or retyped in place since,
        as the general path below (the run, then a copy into the bound
        arrays). A loop that rebinds an input every run takes the general
        path: bind once and write the new values into the bound array."""
        prepared = iobinding._prepared if iobinding._session is self else False
        if prepared is _RAN_ONCE:
            prepared = iobinding._prepare()
        elif prepared is None:              # changed since its last run: prepared if it stays
            iobinding._prepared = prepared = _RAN_ONCE
        if prepared is not False and prepared is not _RAN_ONCE:
            if prepared.run(runtime.get_num_threads()):
                iobinding._results = iobinding._bound_results
                return
            iobinding._prepared = None      # prepared again at the next run
        values = self._values(iobinding._inputs)
        outputs = {}
        for name in iobinding._output_names or self._output_names:
            result = np.asarray(values[name])
            target = iobinding._buffers.get(name)
            if target is None:
                outputs[name] = _owned(result)
                continue
            if target.shape != result.shape or target.dtype != result.dtype:
                raise ValueError(f"output {name!r}: the bound array is {target.dtype} "
                                 f"{target.shape}, the output is {result.dtype} {result.shape}")
            np.copyto(target, result)
            outputs[name] = target
        iobinding._results = outputs


def _owned(value: Any) -> np.ndarray:
    """A writable C-contiguous array owning its data, as ONNX Runtime
    returns (constants, inputs and views are copied)."""
    array = np.asarray(value)
    if array.flags.writeable and array.flags.owndata and array.flags["C_CONTIGUOUS"]:
        return array
    return np.array(array, order="C")


_RAN_ONCE = object()        # an IOBinding run once since it changed (see run_with_iobinding)


class _BoundRun:
    """An IOBinding's run as prepared engine calls (see
    InferenceSession.run_with_iobinding): per branch of the session's
    route, its call bound to the binding's arrays (_engine.BoundCall), made
    at the first run that picks it (None when the engine cannot use the
    arrays as they are)."""

    def __init__(self, route: _Direct | _Choice, values: dict, targets: dict, outputs: list):
        self.route, self.values = route, values
        self.targets = targets          # {graph output name: bound array}
        self.outputs = outputs          # the graph's output names, in order
        self.bound: dict[int, Any] = {}

    @classmethod
    def of(cls, session: InferenceSession, binding: IOBinding) -> Any:
        """The prepared run of `binding` (a _BoundRun, or the BoundCall itself
        for a one-call graph), or None: no route, an output not bound to an
        array, inputs the feed check refuses, arrays the engine cannot use."""
        names = binding._output_names or session._output_names
        if session._route is None or any(name not in binding._buffers for name in names):
            return None
        values = session._feed_check.check(binding._inputs)
        if values is None:
            return None
        run = cls(session._route, values, {name: binding._buffers[name] for name in names},
                  session._output_names)
        if isinstance(session._route, _Direct):
            return run._bind(*session._route.choice)
        return run

    def _bind(self, call: GraphCall, names: tuple) -> Any:
        """`call` bound to the binding's arrays, each output under the name
        the call gives it (`names`, in the graph's output order)."""
        return call.bind(self.values, {name: self.targets[output]
                                       for output, name in zip(self.outputs, names)
                                       if output in self.targets})

    def run(self, num_threads: int) -> bool:
        """One run on the bound arrays' current contents; False when the
        prepared call cannot run (see _engine.BoundCall.run)."""
        call, names = self.route.pick(self.values)
        key = id(call)
        if key not in self.bound:
            self.bound[key] = self._bind(call, names)
        bound = self.bound[key]
        return bound is not None and bound.run(num_threads)


class IOBinding:
    """ONNX Runtime's IOBinding for fastrnn's session: inputs bound once,
    outputs written into preallocated arrays on every
    ``session.run_with_iobinding(binding)``, so that a real-time loop
    allocates nothing for its outputs.

    ``bind_cpu_input(name, array)``; ``bind_output(name)`` (the session
    allocates, as ONNX Runtime does without a buffer);
    ``bind_ortvalue_output(name, array)``: fastrnn's form of ONNX
    Runtime's preallocated OrtValue, a C-contiguous writable NumPy array of
    the output's exact dtype and shape; ``get_outputs()`` /
    ``copy_outputs_to_cpu()``; ``clear_binding_inputs()`` /
    ``clear_binding_outputs()``.
    """

    def __init__(self, session: InferenceSession):
        self._session = session
        self._inputs: dict[str, np.ndarray] = {}
        self._output_names: list[str] = []
        self._buffers: dict[str, np.ndarray] = {}
        self._results: dict[str, np.ndarray] = {}
        self._prepared: Any = None        # None: changed since its last run, _RAN_ONCE: run
        # once unchanged (prepared at the next run), False: no prepared run, else the prepared run
        self._bound_results: dict[str, np.ndarray] = {}

    def _prepare(self) -> Any:
        """The binding's prepared run (_BoundRun.of), or False, kept until
        the binding changes."""
        prepared = _BoundRun.of(self._session, self)
        self._prepared = False if prepared is None else prepared
        self._bound_results = {name: self._buffers[name] for name in
                               self._output_names or self._session._output_names}  \
            if prepared is not None else {}
        return self._prepared

    def _check_output(self, name: str) -> None:
        known = [o.name for o in self._session.get_outputs()]
        if name not in known:
            raise ValueError(f"bind_output: unknown output {name!r} (the graph has {known})")

    def bind_cpu_input(self, name: str, array: np.ndarray) -> None:
        known = [i.name for i in self._session.get_inputs()]
        if name not in known:
            raise ValueError(f"bind_cpu_input: unknown input {name!r} (the graph has {known})")
        self._inputs[name] = array
        self._prepared = None

    def bind_output(self, name: str, device_type: str = "cpu", device_id: int = 0,
                    element_type: Any = None, shape: Any = None, buffer_ptr: Any = None) -> None:
        if device_type != "cpu" or buffer_ptr is not None:
            raise NotImplementedError("bind_output: fastrnn binds CPU outputs only; pass a "
                                      "preallocated array with bind_ortvalue_output(name, array)")
        self._check_output(name)
        if name not in self._output_names:
            self._output_names.append(name)
        self._buffers.pop(name, None)
        self._prepared = None

    def bind_ortvalue_output(self, name: str, array: np.ndarray) -> None:
        self._check_output(name)
        if not isinstance(array, np.ndarray) or not array.flags.writeable or not array.flags[
                "C_CONTIGUOUS"]:
            raise TypeError(f"bind_ortvalue_output({name!r}): expected a writable C-contiguous "
                            f"NumPy array, got {type(array).__name__}")
        if name not in self._output_names:
            self._output_names.append(name)
        self._buffers[name] = array
        self._prepared = None

    def get_outputs(self) -> list:
        """The outputs of the last run, in binding order (bound arrays themselves)."""
        return [self._results[name] for name in self._results]

    def copy_outputs_to_cpu(self) -> list:
        return [np.array(array) for array in self.get_outputs()]

    def clear_binding_inputs(self) -> None:
        self._inputs = {}
        self._prepared = None

    def clear_binding_outputs(self) -> None:
        self._output_names, self._buffers, self._results = [], {}, {}
        self._prepared = None

    def synchronize_inputs(self) -> None:
        """Nothing to synchronize on the CPU (ONNX Runtime's API)."""

    def synchronize_outputs(self) -> None:
        """Nothing to synchronize on the CPU (ONNX Runtime's API)."""

