"""The recorded peers here are data for `serve replay` (tests/test_replay.py runs them), not tests of
their own: `pytest scripts/` collects the worksheet scripts only."""

collect_ignore_glob = ["*.nrs"]
