"""End to end: audio in, prediction out through a StreamingPipeline (the
bundled digits model, one 10 ms block per stream per call), beside the
model's stream alone on the same frames (fastrnn.perf.cases.pipeline_case).

    python -m pytest bench/test_pipeline.py --benchmark-only
"""

import pytest

from fastrnn.perf import cases

BLOCKS_PER_ROUND = {1: 500, 16: 50, 256: 5, 1024: 2}


@pytest.mark.parametrize("engine", ["fastrnn", "model"])
@pytest.mark.parametrize("streams, threads", [(1, 1), (16, 1), (256, 1), (256, 2), (1024, 2)])
def test_end_to_end(measure, engine, streams, threads):
    measure(cases.pipeline_case, streams, engine=engine, threads=threads, rounds=15,
            warmup_rounds=2, calls_per_round=BLOCKS_PER_ROUND[streams])
