"""fastrnn.perf: the benchmark harness behind ``fastrnn bench`` (and the
models the pytest-benchmark suites in bench/ share)."""
