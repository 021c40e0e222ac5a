"""maforge's benchmarks: `python -m benchmarks [--quick]` measures everything side by side
in one run and reports ratios against targets and baselines, never pass/fail unit tests."""
