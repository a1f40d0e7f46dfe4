"""Every available instruction set against the reference and against each
other: the same float32 algorithm, differing only in vector width,
summation order and FMA contraction."""

import itertools
import os

import numpy as np
import pytest
from conftest import (GATES, ISAS, RECURRENT_KINDS, assert_close, dense_weights, inputs,
                      recurrent_layer, recurrent_spec, recurrent_weights)
from reference import dense, stack

import fastrnn
from fastrnn import _engine

PAIRS = list(itertools.combinations(ISAS, 2))
needs_two = pytest.mark.skipif(not PAIRS, reason=f"only one instruction set runs on this CPU "
                                                 f"({ISAS}): nothing to compare")
DENSE_ACTIVATIONS = [None, "linear", "relu", "tanh", "sigmoid", "elu", "softmax"]
# (input, hidden, batch, steps): a hidden size below one vector, one past a
# multiple of 16, and a large one; odd batches.
RECURRENT_SHAPES = [(5, 3, 7, 40), (20, 70, 5, 60), (100, 257, 3, 30), (64, 1024, 1, 20)]


def shape_id(shape):
    return "I{}-H{}-B{}-T{}".format(*shape)


def recurrent_models(rng, kind, shape):
    """One layer + a softmax head, packed for every ISA, and the reference spec."""
    input_size, hidden, batch, steps = shape
    weights = recurrent_weights(rng, GATES[kind], input_size, hidden)
    head = dense_weights(rng, hidden, 6)
    layers = [recurrent_layer(kind, weights), fastrnn.Dense(*head, "softmax")]
    specs = [recurrent_spec(kind, weights), ("dense", *head, "softmax")]
    models = {isa: fastrnn.Sequential(layers, isa=isa) for isa in ISAS}
    return models, specs, inputs(rng, (batch, steps, input_size))


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
@pytest.mark.parametrize("shape", RECURRENT_SHAPES, ids=shape_id)
def test_recurrent_every_isa_vs_reference_and_each_other(kind, shape, rng):
    models, specs, x = recurrent_models(rng, kind, shape)
    expected = stack(x, specs)
    outputs = {isa: model.predict(x) for isa, model in models.items()}
    for isa, y in outputs.items():
        assert_close(y, expected, "float32", f"{isa} vs reference")
    for first, second in PAIRS:
        assert_close(outputs[second], outputs[first], "isa", f"{second} vs {first}")


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
@pytest.mark.parametrize("input_size, output_size", [(1, 17), (33, 19), (512, 100)])
def test_dense_every_isa_vs_reference_and_each_other(activation, input_size, output_size, rng):
    weight, bias = dense_weights(rng, input_size, output_size)
    x = inputs(rng, (4, 25, input_size), scale=3)
    expected = dense(x, weight, bias, activation)
    layer = fastrnn.Dense(weight, bias, activation)
    outputs = {isa: fastrnn.Sequential([layer], isa=isa).predict(x) for isa in ISAS}
    for isa, y in outputs.items():
        assert_close(y, expected, "float32", f"{isa} vs reference")
    for first, second in PAIRS:
        assert_close(outputs[second], outputs[first], "isa", f"{second} vs {first}")


@needs_two
def test_the_isas_really_differ_in_code(rng):
    """The comparisons above would be vacuous if every ISA name ran the same
    kernels: the widest and the generic one round differently somewhere."""
    weight, bias = dense_weights(rng, 512, 256)
    x = inputs(rng, (8, 16, 512))
    layer = fastrnn.Dense(weight, bias)
    generic = fastrnn.Sequential([layer], isa=ISAS[0]).predict(x)
    widest = fastrnn.Sequential([layer], isa=ISAS[-1]).predict(x)
    assert not np.array_equal(generic, widest)


def test_models_remember_their_isa(rng):
    layer = fastrnn.Dense(*dense_weights(rng, 3, 2))
    for isa in ISAS:
        assert fastrnn.Sequential([layer], isa=isa).isa == isa


@pytest.mark.skipif("FASTRNN_ISA" in os.environ, reason="FASTRNN_ISA chooses the default here")
def test_default_is_the_widest_available(rng):
    assert fastrnn.info()["isa"] == ISAS[-1] == _engine.best_isa()
    layer = fastrnn.Dense(*dense_weights(rng, 3, 2))
    assert fastrnn.Sequential([layer]).isa == ISAS[-1]
