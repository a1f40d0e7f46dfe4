"""The native model file: round trips of every layer type and option, graphs,
version 1 files, and damaged, foreign or hostile files (tests/test_io_native_fuzz.py
mutates files at random)."""

import json
import pathlib
import struct

import numpy as np
import pytest
from conftest import assert_close, dense_weights, recurrent_weights
from test_graph import ACTIVATIONS, noise_suppressor_model

import fastrnn
from fastrnn import FormatError
from fastrnn._engine import BINARY_OPS, REDUCTIONS
from fastrnn.io.native import MAX_JSON_CHARS, MAX_NODES, MAX_SIZE, layer_config
from fastrnn.layers import ACTIVATIONS as DENSE_ACTIVATIONS
from fastrnn.layers import MERGE_MODES

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")
safe_open = pytest.importorskip("safetensors").safe_open

DATA = pathlib.Path(__file__).parent / "data"


def weights(rng, *shape):
    return (rng.standard_normal(shape) * 0.4).astype(np.float32)


def one_layer(features, layer):
    """The model of `layer` on an input of `features`."""
    x = fastrnn.Input(features)
    return fastrnn.Model(x, layer(x))


def recurrent(rng, kind, inputs, hidden, bias=True, **options):
    gates = fastrnn.layers.RECURRENT_LAYERS[kind].gates
    return fastrnn.layers.RECURRENT_LAYERS[kind](
        *recurrent_weights(rng, gates, inputs, hidden, bias=bias), **options)


def two_inputs(rng):
    a, b = fastrnn.Input(6, name="left"), fastrnn.Input(6, name="right")
    total = fastrnn.Add()(a, b)
    return fastrnn.Model([a, b], [fastrnn.Dense(weights(rng, 3, 6))(total), total],
                         input_names=["left", "right"], output_names=["head", "sum"])


def elementwise(rng, op):
    x = fastrnn.Input(6)
    positive = fastrnn.Activation("sigmoid")(x)
    return fastrnn.Model(x, [fastrnn.Elementwise(op)(x, positive),
                             fastrnn.Elementwise(op)(x, fastrnn.Reduce("mean")(positive)),
                             fastrnn.Elementwise(op, rng.uniform(0.5, 2, 6))(x),
                             fastrnn.Elementwise(op, 1.5, constant_first=True)(x)])


def joined(rng):
    x = fastrnn.Input(6)
    parts = [fastrnn.Slice(0, 2)(x), fastrnn.Slice(3, 6)(x)]
    reduced = [fastrnn.Reduce(op)(x) for op in REDUCTIONS]
    return fastrnn.Model(x, fastrnn.Concatenate()(*parts, *reduced))


CONVS = [{"padding": "valid"}, {"padding": "causal", "dilation": 2}, {"padding": "same"},
         {"padding": "same", "stride": 2}, {"padding": (1, 2), "stride": 2}, {"groups": 2},
         {"groups": 6, "padding": 1}, {"padding": (0, 3), "bias": False}]
POOLS = [("max", 3, 2, (1, 1), {}), ("avg", 3, 2, (1, 1), {"count_padding": False}),
         ("avg", 4, 1, (1, 2), {"replicate_edges": True}), ("max", 3, 2, "same", {}),
         ("avg", 2, None, 0, {}),
         ("avg", 3, 2, "same", {"count_padding": False, "replicate_edges": "uneven"})]


def conv(rng, options):
    options = dict(options)
    groups = options.get("groups", 1)
    bias = weights(rng, 6) if options.pop("bias", True) else None
    return one_layer(6, fastrnn.Conv1d(weights(rng, 6, 6 // groups, 3), bias, **options))


CASES = {
    "LSTM": lambda rng: fastrnn.Sequential([recurrent(rng, "LSTM", 6, 5)]),
    "LSTM without biases, last step": lambda rng: fastrnn.Sequential([
        recurrent(rng, "LSTM", 6, 5, bias=False, return_sequences=False)]),
    "LSTM go_backwards": lambda rng: fastrnn.Sequential([
        recurrent(rng, "LSTM", 6, 5, go_backwards=True)]),
    "GRU reset_after": lambda rng: fastrnn.Sequential([recurrent(rng, "GRU", 6, 4)]),
    "GRU reset before": lambda rng: fastrnn.Sequential([
        recurrent(rng, "GRU", 6, 4, reset_after=False, go_backwards=True)]),
    "SimpleRNN relu": lambda rng: fastrnn.Sequential([
        recurrent(rng, "SimpleRNN", 6, 7, activation="relu", return_sequences=False)]),
    "SimpleRNN tanh": lambda rng: fastrnn.Sequential([recurrent(rng, "SimpleRNN", 6, 7)]),
    **{f"Bidirectional {kind} {merge}": (
        lambda rng, kind=kind, options=options, merge=merge: fastrnn.Sequential([
            fastrnn.Bidirectional(recurrent(rng, kind, 6, 3, **options),
                                  recurrent(rng, kind, 6, 3, **options), merge_mode=merge)]))
       for kind, options in [("LSTM", {}), ("GRU", {"reset_after": False}),
                             ("SimpleRNN", {"activation": "relu", "return_sequences": False})]
       for merge in MERGE_MODES},
    **{f"Dense {activation}": (
        lambda rng, activation=activation: fastrnn.Sequential([
            fastrnn.Dense(*dense_weights(rng, 6, 4), activation)]))
       for activation in DENSE_ACTIVATIONS},
    "Dense without bias": lambda rng: fastrnn.Sequential([fastrnn.Dense(weights(rng, 2, 6))]),
    **{f"Conv1d {options}": (lambda rng, options=options: conv(rng, options))
       for options in CONVS},
    **{f"Pool1d {pool} {kernel} {stride} {padding} {options}": (
        lambda rng, p=(pool, kernel, stride, padding, options): one_layer(
            6, fastrnn.Pool1d(*p[:4], **p[4])))
       for pool, kernel, stride, padding, options in POOLS},
    **{f"GlobalPool {pool}": (lambda rng, pool=pool: one_layer(6, fastrnn.GlobalPool(pool)))
       for pool in ("avg", "max")},
    **{f"Activation {name} {parameters}": (
        lambda rng, name=name, parameters=parameters: one_layer(
            6, fastrnn.Activation(name, **parameters)))
       for name, parameters, _ in ACTIVATIONS + [("sqrt", {}, None), ("log", {}, None),
                                                 ("reciprocal", {}, None),
                                                 ("clip", {"max": 0.5}, None)]},
    "Activation prelu one slope": lambda rng: one_layer(
        6, fastrnn.Activation("prelu", slopes=[0.2])),
    "Activation prelu per feature": lambda rng: one_layer(
        6, fastrnn.Activation("prelu", slopes=weights(rng, 6))),
    "Affine": lambda rng: one_layer(6, fastrnn.Affine(weights(rng, 6), weights(rng, 6))),
    "Affine scale": lambda rng: one_layer(6, fastrnn.Affine(scale=weights(rng, 6))),
    "Affine shift": lambda rng: one_layer(6, fastrnn.Affine(shift=weights(rng, 6))),
    "Affine identity": lambda rng: one_layer(6, fastrnn.Affine(features=6)),
    "BatchNorm alone": lambda rng: one_layer(6, fastrnn.BatchNorm(
        weights(rng, 6), rng.random(6) + 0.1, weights(rng, 6), weights(rng, 6), 1e-3)),
    "LayerNorm": lambda rng: one_layer(6, fastrnn.LayerNorm(6, weights(rng, 6),
                                                            weights(rng, 6), 1e-3)),
    "LayerNorm plain": lambda rng: one_layer(6, fastrnn.LayerNorm(6)),
    **{f"Elementwise {op}": (lambda rng, op=op: elementwise(rng, op)) for op in BINARY_OPS},
    "Concatenate, Slice, Reduce": joined,
    "two inputs, an input added as an output": two_inputs,
    "noise suppressor": noise_suppressor_model,
}


def predictions(model, x):
    y = model.predict(x)
    return y if isinstance(y, tuple) else (y,)


def streamed(model, x):
    """Every output of streaming `x` (a list of (T, F), one per input) in
    chunks of 3 frames, then flush."""
    stream = model.stream()
    steps = x[0].shape[0]
    chunks = [stream.process(x[0][t:t + 3] if len(x) == 1 else [a[t:t + 3] for a in x])
              for t in range(0, steps, 3)] + [stream.flush()]
    if len(model.outputs) == 1:
        chunks = [(chunk,) for chunk in chunks]
    return [np.concatenate([chunk[o] for chunk in chunks]) for o in range(len(model.outputs))]


def assert_same_model(loaded, model, x):
    """`loaded` is `model`: class, names, layers' configurations, timing, and
    predict and stream bit for bit."""
    assert type(loaded) is type(model)
    assert (loaded.input_names, loaded.layer_names, loaded.output_names) == (
        model.input_names, model.layer_names, model.output_names)
    assert [layer_config(layer) for layer in loaded.layers] == [
        layer_config(layer) for layer in model.layers]
    assert loaded.state_names() == model.state_names() and loaded.timing == model.timing
    assert loaded.mask_value == model.mask_value and loaded.metadata == model.metadata
    inputs = x if len(model.inputs) > 1 else x[0]
    for got, expected in zip(predictions(loaded, inputs), predictions(model, inputs)):
        assert np.array_equal(got, expected, equal_nan=True)
    if not model.needs_sequences:
        sequence = [a[0] for a in x]
        for got, expected in zip(streamed(loaded, sequence), streamed(model, sequence)):
            assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_is_exact(case, tmp_path, rng):
    model = CASES[case](rng)
    path = tmp_path / "model.fastrnn"
    model.save(path)
    x = [rng.standard_normal((2, 13, t.features)).astype(np.float32) * 2 for t in model.inputs]
    assert_same_model(fastrnn.load(path), model, x)


def test_every_layer_type_has_a_round_trip_case():
    covered = {layer_config(layer)["type"] for case in CASES.values()
               for layer in case(np.random.default_rng(0)).layers}
    assert covered == set(fastrnn.io.native._FORMATS)


def test_batch_norm_is_saved_as_built_and_folds_again(tmp_path, rng):
    conv_layer = fastrnn.Conv1d(weights(rng, 7, 4, 3), padding="same")
    norm = fastrnn.BatchNorm(weights(rng, 7), rng.random(7) + 0.1, weights(rng, 7),
                             weights(rng, 7), 1e-3)
    model = fastrnn.Sequential([conv_layer, norm])
    model.save(tmp_path / "folded.fastrnn")
    loaded = fastrnn.load(tmp_path / "folded.fastrnn")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Conv1d", "Affine"]
    assert np.array_equal(loaded.layers[0].weight, conv_layer.weight)     # unfolded
    assert loaded.weight_bytes == model.weight_bytes == fastrnn.Sequential(
        [conv_layer]).weight_bytes                                           # folded again
    x = [rng.standard_normal((2, 11, 4)).astype(np.float32)]
    assert_same_model(loaded, model, x)


def test_graph_file_contents(tmp_path, rng):
    model = noise_suppressor_model(rng)
    path = tmp_path / "graph.fastrnn"
    model.save(path)
    with safe_open(str(path), framework="np") as f:
        meta, keys = f.metadata(), set(f.keys())
    assert (meta["format"], meta["format_version"]) == ("fastrnn", "2")
    assert meta["fastrnn_version"] == fastrnn.__version__
    architecture = json.loads(meta["architecture"])
    assert architecture["inputs"] == [{"name": "features", "features": 12}]
    assert architecture["outputs"] == [{"name": "gains", "tensor": "gains"},
                                       {"name": "vad", "tensor": "vad"}]
    assert architecture["sequential"] is False and architecture["mask_value"] is None
    concat = architecture["nodes"][7]
    assert concat == {"name": "concat", "inputs": ["tanh2", "gru1", "gru2", "gru3"],
                      "layer": {"type": "Concatenate"}}
    assert {"nodes.0.weight", "nodes.0.bias", "nodes.2.weight", "nodes.4.weight_ih"} <= keys
    assert "nodes.2.bias" not in keys                     # conv2 has no bias


def test_sequential_loads_as_sequential_with_its_state_keys(tmp_path, rng):
    model = fastrnn.Sequential([recurrent(rng, "LSTM", 6, 5), recurrent(rng, "GRU", 5, 4),
                                fastrnn.Dense(*dense_weights(rng, 4, 3), "softmax")],
                               mask_value=0.0, metadata={"labels": ["a", "b", "c"]})
    path = tmp_path / "sequential.fastrnn"
    model.save(path)
    with safe_open(str(path), framework="np") as f:
        assert json.loads(f.metadata()["architecture"])["sequential"] is True
    loaded = fastrnn.load(path)
    assert isinstance(loaded, fastrnn.Sequential)
    assert loaded.state_names() == ["layer0.h", "layer0.c", "layer1.h"]
    x = [rng.standard_normal((2, 9, 6)).astype(np.float32)]
    x[0][:, 2] = 0.0                                      # a masked step
    assert_same_model(loaded, model, x)
    assert fastrnn.load(str(path), isa="generic").isa == "generic"


def test_a_graph_deeper_than_the_recursion_limit(tmp_path):
    x = fastrnn.Input(3)
    h = x
    for _ in range(1500):
        h = fastrnn.Activation("relu")(h)
    model = fastrnn.Model(x, h)
    model.save(tmp_path / "deep.fastrnn")
    loaded = fastrnn.load(tmp_path / "deep.fastrnn")
    assert len(loaded.layers) == 1500
    data = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    assert np.array_equal(loaded.predict(data), np.maximum(data, 0))


def test_version_1_file_loads():
    """tests/data/v1_sequential.fastrnn was written by the version 1 writer
    (commit da0c9f3): LSTM without biases, Bidirectional GRU (reset before,
    sum), SimpleRNN (relu, go_backwards, last step), Dense softmax without
    bias, mask_value 0, metadata; the .npz holds an input and that writer's
    outputs for it."""
    model = fastrnn.load(DATA / "v1_sequential.fastrnn")
    assert isinstance(model, fastrnn.Sequential)
    assert [type(layer).__name__ for layer in model.layers] == [
        "LSTM", "Bidirectional", "SimpleRNN", "Dense"]
    assert model.layers[2].go_backwards and model.layers[2].activation == "relu"
    assert model.layers[1].merge_mode == "sum" and not model.layers[1].forward.reset_after
    assert model.mask_value == 0.0 and model.metadata["labels"] == ["no", "yes"]
    assert model.state_names()[:3] == ["layer0.h", "layer0.c", "layer1.forward.h"]
    reference = np.load(DATA / "v1_sequential.npz")
    assert_close(model.predict(reference["x"]), reference["y"], "isa", "v1 file vs its writer")
    with safe_open(str(DATA / "v1_sequential.fastrnn"), framework="np") as f:
        t = {key: f.get_tensor(key) for key in f.keys()}

    def gru(prefix):
        return fastrnn.GRU(*(t[f"{prefix}.{name}"] for name in ("weight_ih", "weight_hh",
                                                               "bias_ih", "bias_hh")),
                           reset_after=False)
    rebuilt = fastrnn.Sequential([
        fastrnn.LSTM(t["layers.0.weight_ih"], t["layers.0.weight_hh"]),
        fastrnn.Bidirectional(gru("layers.1.forward"), gru("layers.1.backward"), "sum"),
        fastrnn.SimpleRNN(t["layers.2.weight_ih"], t["layers.2.weight_hh"], t["layers.2.bias_ih"],
                          t["layers.2.bias_hh"], activation="relu", return_sequences=False,
                          go_backwards=True),
        fastrnn.Dense(t["layers.3.weight"], None, "softmax")], mask_value=0.0)
    assert np.array_equal(model.predict(reference["x"]), rebuilt.predict(reference["x"]))


def rewrite(path, tensors=None, **metadata):
    """Re-save the file at `path` with changed tensors or metadata (None: removed)."""
    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata())
        arrays = {key: f.get_tensor(key) for key in f.keys()}
    arrays = tensors(arrays) if tensors else arrays
    meta.update(metadata)
    safetensors_numpy.save_file(arrays, str(path), metadata={k: v for k, v in meta.items()
                                                              if v is not None})


def edit_architecture(change):
    """A damage that rewrites the architecture JSON with `change(architecture)`."""
    def damage(path):
        with safe_open(str(path), framework="np") as f:
            architecture = json.loads(f.metadata()["architecture"])
        change(architecture)
        rewrite(path, architecture=json.dumps(architecture))
    return damage


def node(architecture, name):
    return next(entry for entry in architecture["nodes"] if entry["name"] == name)


def layer_of(name, **fields):
    """Change fields of node `name`'s layer."""
    return edit_architecture(lambda a: node(a, name)["layer"].update(fields))


def deep_list(depth):
    return "[" * depth + "]" * depth


def edit_text(old, new):
    """A damage that replaces `old` by `new` in the architecture's JSON text."""
    def damage(path):
        with safe_open(str(path), framework="np") as f:
            text = f.metadata()["architecture"]
        assert old in text
        rewrite(path, architecture=text.replace(old, new))
    return damage


def wide_untensored_graph(architecture):
    """Layers that pack to a size no tensor backs: 100 Affine layers of 2**20
    features (8 MiB of default scale and shift each)."""
    architecture["inputs"] = [{"name": "features", "features": MAX_SIZE}]
    reads = ["features"] + [f"affine{i}" for i in range(99)]
    architecture["nodes"] = [{"name": f"affine{i}", "inputs": [reads[i]],
                              "layer": {"type": "Affine", "features": MAX_SIZE}}
                             for i in range(100)]
    architecture["outputs"] = [{"name": "out", "tensor": "affine99"}]


def nested_bidirectional(architecture):
    gru = node(architecture, "gru1")["layer"]
    inner = {"type": "Bidirectional", "merge_mode": "sum", "forward": gru, "backward": gru}
    node(architecture, "gru1")["layer"] = {"type": "Bidirectional", "merge_mode": "sum",
                                           "forward": inner, "backward": inner}


# The file is the noise suppressor's (conv1 ... gru3, concat, gains, vad), format version 2.
DAMAGE = {
    "empty file": lambda p: p.write_bytes(b""),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
    "header claims a terabyte": lambda p: p.write_bytes(struct.pack("<Q", 10**12) + b"{}"),
    "truncated in the data": lambda p: p.write_bytes(p.read_bytes()[:-100]),
    "truncated in the header": lambda p: p.write_bytes(p.read_bytes()[:40]),
    "header bytes flipped": lambda p: p.write_bytes(p.read_bytes()[:20] + b"\xff\xfe"
                                                    + p.read_bytes()[22:]),
    "not a fastrnn file": lambda p: rewrite(p, format=None),
    "newer format version": lambda p: rewrite(p, format_version="99"),
    "format_version 0": lambda p: rewrite(p, format_version="0"),
    "format_version 01": lambda p: rewrite(p, format_version="01"),
    "format_version 2.0": lambda p: rewrite(p, format_version="2.0"),
    "format_version in Arabic-Indic digits": lambda p: rewrite(p, format_version="\u0662"),
    "format_version in full-width digits": lambda p: rewrite(p, format_version="\uff12"),
    "format_version missing": lambda p: rewrite(p, format_version=None),
    "architecture not JSON": lambda p: rewrite(p, architecture="{nodes: ["),
    "architecture missing": lambda p: rewrite(p, architecture=None),
    "architecture too long": lambda p: rewrite(p, architecture=" " * (MAX_JSON_CHARS + 1)),
    "architecture nested without end": lambda p: rewrite(p, architecture=deep_list(100_000)),
    "architecture repeats a key": lambda p: rewrite(p, architecture='{"nodes": 1, "nodes": 2}'),
    "architecture a list": lambda p: rewrite(p, architecture="[]"),
    "metadata not an object": lambda p: rewrite(p, metadata="[1, 2]"),
    "metadata with NaN": lambda p: rewrite(p, metadata='{"floor": NaN}'),
    "metadata nested without end": lambda p: rewrite(p, metadata=deep_list(50_000)),
    "unknown top-level field": edit_architecture(lambda a: a.update(layers=[])),
    "no nodes": edit_architecture(lambda a: a.update(nodes=[])),
    "too many nodes": edit_architecture(lambda a: a.update(nodes=[{}] * (MAX_NODES + 1))),
    "unknown layer type": layer_of("gru1", type="Transformer"),
    "layer type not a string": layer_of("gru1", type=["GRU"]),
    "unknown layer field": layer_of("gru1", dropout=0.5),
    "missing layer field": edit_architecture(lambda a: node(a, "gru1")["layer"].pop("reset_after")),
    "field of the wrong type": layer_of("gru1", hidden_size="6"),
    "size as a float": layer_of("gru1", hidden_size=6.0),
    "size as a bool": layer_of("conv1", stride=True),
    "size zero": layer_of("conv1", stride=0),
    "huge size": layer_of("gru1", hidden_size=MAX_SIZE + 1),
    "huge input features": edit_architecture(lambda a: a["inputs"][0].update(features=2**40)),
    "huge dilation": layer_of("conv1", dilation=2**31),
    "go_backwards not a bool": layer_of("gru1", go_backwards=1),
    "return_sequences not a bool": layer_of("gru1", return_sequences="true"),
    "reset_after null": layer_of("gru1", reset_after=None),
    "unknown activation": layer_of("gains", activation="swish2"),
    "padding of three": layer_of("conv1", padding=[0, 0, 0]),
    "negative padding": layer_of("conv1", padding=[-1, 0]),
    "padding 'same' where it is two numbers": layer_of("conv1", padding="same"),
    "groups that do not divide": layer_of("conv1", input_size=25, groups=2),
    "hidden_size disagrees with the tensors": layer_of("gru1", hidden_size=7),
    "layer reads a tensor of other features": edit_architecture(
        lambda a: node(a, "vad").update(inputs=["concat"])),
    "layer reads an unknown tensor": edit_architecture(
        lambda a: node(a, "gru2").update(inputs=["gru9"])),
    "layer reads a later node (a cycle)": edit_architecture(
        lambda a: node(a, "gru1").update(inputs=["gru3"])),
    "layer reads itself": edit_architecture(lambda a: node(a, "gru2").update(inputs=["gru2"])),
    "layer reads nothing": edit_architecture(lambda a: node(a, "gru2").update(inputs=[])),
    "layer reads a number": edit_architecture(lambda a: node(a, "gru2").update(inputs=[3])),
    "two nodes of one name": edit_architecture(lambda a: node(a, "gru2").update(name="gru1")),
    "node named like the input": edit_architecture(
        lambda a: node(a, "conv1").update(name="features")),
    "empty name": edit_architecture(lambda a: a["outputs"][0].update(name="")),
    "a node feeds no output": edit_architecture(lambda a: a["outputs"].pop()),
    "output of an unknown tensor": edit_architecture(lambda a: a["outputs"][0].update(
        tensor="nothing")),
    "two outputs of one name": edit_architecture(lambda a: a["outputs"][1].update(name="gains")),
    "marked sequential": edit_architecture(lambda a: a.update(sequential=True)),
    "sequential not a bool": edit_architecture(lambda a: a.update(sequential=0)),
    "mask_value NaN": edit_text('"mask_value": null', '"mask_value": NaN'),
    "mask_value overflowing to infinity": edit_text('"mask_value": null', '"mask_value": 1e999'),
    "mask_value true": edit_architecture(lambda a: a.update(mask_value=True)),
    "mask_value a string": edit_architecture(lambda a: a.update(mask_value="0")),
    "Bidirectional inside Bidirectional": edit_architecture(nested_bidirectional),
    "wide layers without tensors": edit_architecture(wide_untensored_graph),
    "missing tensor": lambda p: rewrite(p, tensors=lambda a: {k: v for k, v in a.items()
                                                              if k != "nodes.5.weight_hh"}),
    "extra tensor": lambda p: rewrite(p, tensors=lambda a: {**a,
                                                            "stowaway": np.zeros(3, np.float32)}),
    "float16 tensor": lambda p: rewrite(p, tensors=lambda a: {
        **a, "nodes.4.weight_ih": a["nodes.4.weight_ih"].astype(np.float16)}),
    "tensor of another shape": lambda p: rewrite(p, tensors=lambda a: {
        **a, "nodes.9.weight": np.zeros((1, 7), np.float32)}),
    "NaN weight": lambda p: rewrite(p, tensors=lambda a: {
        **a, "nodes.8.weight": np.full_like(a["nodes.8.weight"], np.nan)}),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_file_raises_format_error(tmp_path, rng, damage):
    path = tmp_path / "model.fastrnn"
    noise_suppressor_model(rng).save(path)
    DAMAGE[damage](path)
    with pytest.raises(FormatError) as error:
        fastrnn.load(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("damage, message", [
    ("hidden_size disagrees with the tensors", "expected F32 (21, 8)"),
    ("layer reads a tensor of other features", "takes 6 features per frame, got 26"),
    ("groups that do not divide", "the layer these tensors and fields make has input_size 24"),
    ("padding 'same' where it is two numbers", "has padding [1, 1]"),
    ("Bidirectional inside Bidirectional", "expected a LSTM / GRU / SimpleRNN layer"),
    ("mask_value overflowing to infinity", "mask_value: expected a finite float32 number, got inf"),
    ("mask_value NaN", "NaN is not a JSON number"),
    ("wide layers without tensors", "more than 4,194,304 features in all"),
    ("layer reads a later node (a cycle)", "'gru3', which is no input and no node before it"),
    ("go_backwards not a bool", "'go_backwards': expected true or false, got 1"),
    ("format_version 01", "'01' is not a version number"),
    ("mask_value true", "mask_value: expected a finite float32 number, got True"),
    ("a node feeds no output", "nodes ['vad'] feed no output"),
    ("architecture nested without end", "RecursionError"),
    ("huge dilation", f"'dilation': expected an integer in [1, {MAX_SIZE}]"),
])
def test_format_errors_name_the_problem(tmp_path, rng, damage, message):
    path = tmp_path / "model.fastrnn"
    noise_suppressor_model(rng).save(path)
    DAMAGE[damage](path)
    with pytest.raises(FormatError) as error:
        fastrnn.load(path)
    assert message in str(error.value)


def version_1_entry(change):
    def damage(path):
        with safe_open(str(path), framework="np") as f:
            architecture = json.loads(f.metadata()["architecture"])
        change(architecture["layers"])
        rewrite(path, architecture=json.dumps(architecture))
    return damage


@pytest.mark.parametrize("change, message", [
    (lambda layers: layers[2].update(go_backwards="yes"), "expected true or false"),
    (lambda layers: layers[0].update(return_sequences=1), "expected true or false"),
    (lambda layers: layers[0].update(type="Conv1d"), "unknown layer type 'Conv1d'"),
    (lambda layers: layers[0].update(return_sequences=False), "the layers do not form a model"),
    (lambda layers: layers[1]["forward"].update(activation="relu"), "unknown fields"),
    (lambda layers: layers[1]["forward"].update(type=["GRU"]), "expected a LSTM / GRU"),
], ids=["go_backwards", "return_sequences", "type", "chain", "unknown field", "type a list"])
def test_version_1_files_are_checked_field_by_field(tmp_path, change, message):
    path = tmp_path / "v1.fastrnn"
    path.write_bytes((DATA / "v1_sequential.fastrnn").read_bytes())
    version_1_entry(change)(path)
    with pytest.raises(FormatError, match="layer|model") as error:
        fastrnn.load(path)
    assert message in str(error.value)


def test_version_1_files_before_go_backwards(tmp_path):
    """Version 1 files written before go_backwards existed lack the field."""
    path = tmp_path / "v1.fastrnn"
    path.write_bytes((DATA / "v1_sequential.fastrnn").read_bytes())

    def drop(layers):
        for layer in (layers[0], layers[1]["forward"], layers[1]["backward"]):
            del layer["go_backwards"]
    version_1_entry(drop)(path)
    model = fastrnn.load(path)
    assert not model.layers[0].go_backwards and not model.layers[1].forward.go_backwards


def test_bidirectional_directions_must_match(tmp_path, rng):
    """Issue 14 item 8: directions of different activations are refused."""
    model = fastrnn.Sequential([fastrnn.Bidirectional(
        recurrent(rng, "SimpleRNN", 4, 3), recurrent(rng, "SimpleRNN", 4, 3))])
    path = tmp_path / "bidirectional.fastrnn"
    model.save(path)
    edit_architecture(lambda a: node(a, "layer0")["layer"]["backward"].update(
        activation="relu"))(path)
    with pytest.raises(FormatError, match="the two directions must match"):
        fastrnn.load(path)


def test_missing_file_and_bad_arguments(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="no fastrnn model file"):
        fastrnn.load(tmp_path / "absent.fastrnn")
    path = tmp_path / "model.fastrnn"
    fastrnn.Sequential([fastrnn.Dense(np.eye(3))]).save(path)
    with pytest.raises(ValueError, match="isa 'sse9'") as error:
        fastrnn.load(path, isa="sse9")
    assert not isinstance(error.value, FormatError)


def test_save_replaces_atomically(tmp_path, rng):
    path = tmp_path / "model.fastrnn"
    noise_suppressor_model(rng).save(path)
    noise_suppressor_model(rng).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.fastrnn"]


def test_what_save_refuses(tmp_path, rng):
    path = tmp_path / "model.fastrnn"
    x = fastrnn.Input(3, name="x")
    with pytest.raises(ValueError, match="layer name 'x' is also an input's name"):
        fastrnn.Model(x, fastrnn.Activation("tanh")(x), layer_names=["x"]).save(path)

    class Scaled(fastrnn.Dense):
        pass
    with pytest.raises(ValueError, match="a Scaled layer cannot be saved"):
        fastrnn.Sequential([Scaled(np.eye(3))]).save(path)
    with pytest.raises(ValueError, match="mask_value: expected a finite float32 number"):
        fastrnn.Sequential([fastrnn.Dense(np.eye(3))], mask_value=float("nan")).save(path)
    with pytest.raises(ValueError, match="layer 'layer1': Activation 'parameters': expected a "
                                         "finite float32 number, got 1e"):
        fastrnn.Sequential([fastrnn.Dense(np.eye(3)),
                            fastrnn.Activation("clip", max=1e300)]).save(path)
    assert not path.exists()


def test_metadata_round_trip_and_errors(tmp_path):
    dense = fastrnn.Dense(np.eye(3, dtype=np.float32))
    metadata = {"labels": ["zero", "one", "two"], "front_end": {"sample_rate": 8000,
                                                                "mean": [0.5, -1.0]}}
    path = tmp_path / "with-metadata.fastrnn"
    fastrnn.Sequential([dense], metadata=metadata).save(path)
    assert fastrnn.load(path).metadata == metadata
    fastrnn.Sequential([dense]).save(path)
    assert fastrnn.load(path).metadata == {}
    with pytest.raises(ValueError, match="model.metadata: expected JSON-serialisable data"):
        fastrnn.Sequential([dense], metadata={"mean": np.zeros(2)}).save(path)
    with pytest.raises(ValueError, match="model.metadata: expected JSON-serialisable data"):
        fastrnn.Sequential([dense], metadata={"floor": float("nan")}).save(path)
    with pytest.raises(ValueError, match="model.metadata: 1,048,5"):
        fastrnn.Sequential([dense], metadata={"text": "x" * MAX_JSON_CHARS}).save(path)
    with pytest.raises(TypeError, match="metadata: expected a dict, got list"):
        fastrnn.Sequential([dense], metadata=["labels"])
