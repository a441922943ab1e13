"""Every read that meets the end of a TLS stream says how it ended: with close_notify, or
truncated (the TCP connection closed without it: a crash, or an attacker cutting it short).

`recv quiet` said only "until end of stream" (it computed the words and dropped them);
`recv all` said it, into memory as into a file. Each command runs against a real TLS peer
on loopback (tests/tlshelpers.py) that sends 100,000 bytes and closes, cleanly or not.
"""

from __future__ import annotations

import pytest

from conftest import run, text_of
from tlshelpers import Certs, TlsServer, send_then

SIZE = 100000

READS = ["recv quiet 2", "recv quiet 2 > {file}", "recv quiet 2 > /dev/null", "recv all", "recv all > {file}",
         "recv all > /dev/null", "recv exactly 200000"]


@pytest.fixture
def certs(tmp_path):
    return Certs(tmp_path)


@pytest.mark.parametrize("clean, words", [(True, "with close_notify"), (False, "without close_notify")],
                         ids=["close_notify", "truncated"])
@pytest.mark.parametrize("command", READS)
def test_a_read_at_the_end_of_a_tls_stream_says_whether_it_was_truncated(ex, certs, tmp_path, command, clean,
                                                                         words):
    server = TlsServer(certs.context(), send_then(b"x" * SIZE, clean))
    try:
        assert run(ex, f"set tls ca {certs.ca_file}").ok
        assert run(ex, f"connect localhost {server.port}").ok
        assert run(ex, "tls").ok
        file = tmp_path / "out.bin"
        result = run(ex, command.format(file=file))
        out = text_of(result)
        assert words in out, out
        if not clean:
            assert "the data may be truncated" in out, out
        if command == "recv exactly 200000":  # fewer bytes than asked: a failure, still saying how it ended
            assert result.error is not None and result.error.kind == "eof", out
        else:
            assert result.ok and f"received {SIZE} bytes" in out, out
        if "{file}" in command:
            assert file.read_bytes() == b"x" * SIZE
        assert "peer closed" in result.state
    finally:
        server.close()
