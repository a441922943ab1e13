"""Regression tests for what a fresh review of the product found."""

from __future__ import annotations

from conftest import run, text_of


def test_expect_eof_without_a_socket_is_a_state_error_not_an_early_end_of_stream(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "close")
    r = run(ex, "expect eof")
    assert r.error is not None and r.error.kind == "state", text_of(r)
    assert "came first" not in text_of(r)
