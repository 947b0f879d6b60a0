"""The benchmark is not part of the test suite: run it with scripts/bench."""

collect_ignore_glob = ["*.py"]
