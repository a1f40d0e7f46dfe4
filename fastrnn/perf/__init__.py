"""fastrnn.perf: the benchmark harness behind ``fastrnn bench`` and the
pytest-benchmark suites in bench/.

peers (engine names, why a peer is skipped), models (weights and models in
every framework, FLOP counts), cases (one factory per kind of case: its
engines, checked to agree), machine (description, sgemm peak, threads),
timing (interleaved rounds), suites (timing a case into a result), report
(JSON, Markdown, plots), run (the command).
"""
