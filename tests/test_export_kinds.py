"""`netrepl export`: the program fails where netrepl fails, with netrepl's kinds.

A file a step cannot use (a TLS setting, `send < PATH`, `recv ... > PATH`) is kind
file, never io or tls; netrepl's own refusals (a TLS name it cannot use, a socket a
failed handshake closed) are caught by `must-fail any` and end the run with status 1;
after a failed handshake there is no socket, in netrepl as in the program. Each
scenario runs in netrepl and as the exported program against the same servers
(tests/test_export.py's export_and_compare): the same output and exit status.
"""

from __future__ import annotations

import ast
import re
import shlex

import pytest

from conftest import ROOT, run_cli
from test_export import export_and_compare, netrepl_run
from netrepl.export import Refused, export_file


def compare(tmp_path, text, variables=None, expected=None):
    path = tmp_path / "kinds.nrs"
    path.write_text(text)
    program, out, err = export_and_compare(path, variables or {}, tmp_path)
    if expected is not None:
        assert out == expected, err
    return program, out, err


@pytest.fixture
def files(tmp_path):
    """A file that is no certificate, a path to no file, a path in no directory."""
    notcert = tmp_path / "notcert.pem"
    notcert.write_text("not a certificate\n")
    return {"notcert": notcert, "missing": tmp_path / "missing.pem", "nodir": tmp_path / "no" / "dir" / "out"}


# ----- a file a step cannot use is kind file ------------------------------------------------------

@pytest.mark.parametrize("setting, line, status", [
    ("ca {notcert}", "must-fail tls tls", 1),
    ("cert {notcert}", "must-fail tls tls -k", 1),
    ("ca {missing}", "must-fail io tls", 1),
    ("ca {notcert}", "must-fail file tls", 0),
    ("cert {notcert}", "must-fail any tls -k", 0),
    ("ca {missing}", "must-fail ENOENT tls", 0),
])
def test_tls_settings_that_cannot_be_used_are_kind_file(tmp_path, files, setting, line, status):
    # The connection is as it was after it (nothing was sent): `close` closes it.
    compare(tmp_path, f"serve https 0\nset tls {setting.format(**files)}\nconnect localhost $lab_port\n{line}\n"
                      "close\nprint passed\n", expected="passed\n" if status == 0 else "")


@pytest.mark.parametrize("line, status", [
    ("must-fail io send < {missing}", 1),
    ("must-fail file send < {missing}", 0),
    ("must-fail ENOENT send < {missing}", 0),
    ("must-fail io recv exactly 7 > {nodir}", 1),
    ("must-fail file recv exactly 7 > {nodir}", 0),
    ("must-fail io recv quiet 0.3 > {nodir}", 1),
    ("must-fail file recv quiet 0.3 > {nodir}", 0),
    ("must-fail io recv all > {nodir}", 1),
    ("must-fail any recv all > {nodir}", 0),
])
def test_files_send_and_recv_cannot_use_are_kind_file(tmp_path, files, line, status):
    # A file recv cannot write is opened before any read: the bytes wait for the next one.
    compare(tmp_path, f"serve echo 0\nconnect localhost $lab_port\nsend hello\n{line.format(**files)}\n"
                      "recv exactly 7\nclose\nprint passed\n", expected="hello\\r\npassed\n" if status == 0 else "")


@pytest.mark.parametrize("line, status", [
    ("must-fail io sendto localhost $lab_port < {missing}", 1),
    ("must-fail file sendto localhost $lab_port < {missing}", 0),
    ("must-fail io sendto localhost $lab_port < {big}", 1),
    ("must-fail EMSGSIZE sendto localhost $lab_port < {big}", 0),
])
def test_files_sendto_cannot_use_are_kind_file(tmp_path, files, line, status):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 65508)  # one byte more than a UDP datagram carries
    compare(tmp_path, f"serve echo 0 udp\n{line.format(big=big, **files)}\nsendto localhost $lab_port hi\n"
                      "recvfrom\nprint passed\n", expected="hi\npassed\n" if status == 0 else "")


# ----- after a failed handshake there is no socket --------------------------------------------------

@pytest.mark.parametrize("after, expected", [
    ("close", ""),  # netrepl: close: no socket (it was closed)
    ("close all", ""),
    ("listen 127.0.0.1 0\nclose all", "again\\r\npassed\n"),  # the listener (and no socket)
    ("send hi", ""),
    ("must-fail tls tls", ""),  # no socket: a state failure, not a tls one
    ("must-fail any send hi", "again\\r\npassed\n"),
    ("info", "again\\r\npassed\n"),
    ("timeout 2", "again\\r\npassed\n"),
])
def test_a_failed_handshake_leaves_no_socket(tmp_path, after, expected):
    compare(tmp_path, f"serve echo 0\nconnect 127.0.0.1 $lab_port\nmust-fail tls tls\n{after}\n"
                      "connect 127.0.0.1 $lab_port\nsend again\nexpect again\\r\\n\nprint passed\n",
            expected=expected)


def test_a_settings_failure_leaves_the_connection_as_it_was(tmp_path, files):
    # `must-fail any tls`: a settings failure (kind file) closes nothing; a second connect closes that
    # connection and connects anew, in netrepl and in the program.
    compare(tmp_path, f"serve https 0\nset tls ca {files['missing']}\nconnect localhost $lab_port\n"
                      "must-fail any tls\ninfo\nprint between\nconnect localhost $lab_port\nprint after\n",
            expected="between\nafter\n")


# ----- netrepl's own refusals ---------------------------------------------------------------------------

@pytest.mark.parametrize("lines, expected", [
    ("tls -k .bad.name\nprint never", ""),  # kind usage: status 1 (not 2, the program's for a bad option)
    ("must-fail io tls -k .bad.name\nprint never", ""),
    # Nothing was sent: the connection takes a handshake after it.
    ("must-fail any tls -k .bad.name\ntls\nsend hi\nexpect hi\\r\\n\nclose\nprint passed", "hi\\r\npassed\n"),
])
def test_a_tls_name_that_cannot_be_used_is_refused_as_netrepl_refuses_it(tmp_path, lines, expected):
    compare(tmp_path, f"serve tls-echo 0\nset tls ca $lab_ca\nconnect localhost $lab_port\n{lines}\n",
            expected=expected)


def test_timing_after_a_unix_connect_shows_the_last_tcp_connection(tmp_path):
    sock = tmp_path / "echo.sock"
    path = tmp_path / "first.nrs"
    for lines in (f"connect {sock}", f"socket unix stream\nconnect {sock}"):  # a socket connect made or one open
        path.write_text(f"serve echo {sock}\n{lines}\ntiming\nprint never\n")
        assert netrepl_run(path, {}, tmp_path) == ("", 1)  # nothing timed yet
        with pytest.raises(Refused) as caught:
            export_file(str(path))
        assert caught.value.where == f"{path}:{lines.count(chr(10)) + 3}" and "`timing`" in caught.value.message
    # After a TCP connect, timing shows that one: a Unix connect after it times nothing.
    compare(tmp_path, f"serve echo {sock}\nserve echo 0\nconnect localhost $lab_port\nclose\nconnect {sock}\n"
                      "timing\nclose\nprint passed\n", expected="passed\n")


# ----- set tls ca system, cert none, key none from a variable -------------------------------------------

def test_set_tls_words_from_a_variable_mean_what_they_mean_in_netrepl(tmp_path, files):
    compare(tmp_path, "serve https 0\nset tls ca $lab_ca\nset tls ca $ca\nconnect localhost $lab_port\n"
                      f"must-fail verify tls\nset tls cert {files['notcert']}\nset tls cert $cert\n"
                      "set tls key $key\nconnect localhost $lab_port\ntls -k\nclose\nprint passed\n",
            {"ca": "system", "cert": "none", "key": "none"}, expected="passed\n")


# ----- what the header tells to run -----------------------------------------------------------------

def _header_commands(source: str) -> list[list[str]]:
    doc = ast.get_docstring(ast.parse(source), clean=False)
    servers = doc.split("lab servers", 1)[1]
    return [shlex.split(line) for line in servers.splitlines() if line.startswith("    netrepl ")]


def test_the_header_quotes_every_word_of_the_lab_server_commands(tmp_path):
    (tmp_path / "t").mkdir()
    sock = f"{tmp_path}/t/a'b; touch PWNED; '.sock"
    recording = tmp_path / "rec $(touch PWNED) 'x'.nrs"
    recording.write_text((ROOT / "scripts" / "peers" / "connect3.nrs").read_text())
    path = tmp_path / "h.nrs"
    path.write_text(f'serve echo "{sock}"\nserve replay "{recording}" 0\nprint x\n')
    unix, replay = _header_commands(export_file(str(path)).text_of())
    assert unix[:3] == ["netrepl", "-D", f"socket_path={sock}"]  # the exact path, one word
    assert replay[:6] == ["netrepl", "serve", "replay", str(recording), "--port", "PORT"]
    # What it runs (for a moment): a server on that path, and nothing else.
    done = run_cli(*unix[1:4], unix[4].replace("86400", "0.01"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "serving echo on unix" in done.stdout and "PWNED" in done.stdout
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "t" / "PWNED").exists()


# ----- TLS over a Unix socket --------------------------------------------------------------------------

@pytest.mark.parametrize("lines, expected", [
    ("tls\nprint never", ""),  # kind usage: a Unix socket has no host name, give one
    ("must-fail any tls\ntls localhost\nsend hi\nexpect hi\\r\\n\nclose\nprint passed", "hi\\r\npassed\n"),
])
def test_tls_over_a_unix_socket_needs_a_name_as_in_netrepl(tmp_path, lines, expected):
    from netrepl.lab.kinds import LAB_CA

    sock = tmp_path / "tls.sock"
    compare(tmp_path, f"serve tls-echo {sock}\nset tls ca {LAB_CA}\nconnect {sock}\n{lines}\n", expected=expected)


def test_tls_after_accepting_on_a_unix_socket_needs_a_name_as_in_netrepl(tmp_path):
    listening = tmp_path / "l.sock"
    compare(tmp_path, f"listen {listening}\nclient line {listening}\naccept\nmust-fail any tls\n"
                      "expect hello from the netrepl lab client\\r\\n\nclose all\nprint passed\n",
            expected="hello from the netrepl lab client\\r\npassed\n")


# ----- must-fail state and usage: netrepl's own checks ------------------------------------------------

@pytest.mark.parametrize("lines, expected", [
    # The TLS settings failed, not the handshake: the connection is open, the send goes out, and
    # the must-fail fails (status 1), in netrepl as in the program.
    ("set tls ca {missing}\nconnect localhost $lab_port\nmust-fail any tls\nmust-fail state send hi\nprint never", ""),
    ("set tls ca {missing}\nconnect localhost $lab_port\nmust-fail any tls\nmust-fail state info\nprint never", None),
    # The handshake failed and closed the socket: netrepl refuses the send itself.
    ("connect localhost $lab_port\nsend hi\nmust-fail tls tls\nmust-fail state send hi\nprint passed", "passed\n"),
    ("connect localhost $lab_port\nsend hi\nmust-fail tls tls\nmust-fail state close\nprint passed", "passed\n"),
    # No socket at all: the export knows netrepl refuses these.
    ("must-fail state send hi\nmust-fail state recv all\nmust-fail state accept\nprint passed", "passed\n"),
])
def test_must_fail_state_checks_what_netrepl_checks(tmp_path, files, lines, expected):
    text = "serve echo 0\n" + lines.format(**files) + "\n"
    if expected is None:  # `info` is never refused: the program cannot know, the line is not exported
        path = tmp_path / "kinds.nrs"
        path.write_text(text)
        with pytest.raises(Refused) as caught:
            export_file(str(path))
        assert caught.value.where == f"{path}:5" and "neither the export nor the program knows" in caught.value.message
        return
    program, out, err = compare(tmp_path, text, expected=expected)
    if expected:
        assert "failed as expected (state)" in err


@pytest.mark.parametrize("lines, where, reason", [
    ("serve echo 0\nconnect localhost $lab_port\nmust-fail state send hi", 3, "neither the export nor the program"),
    ("socket tcp\nmust-fail usage recv all", 2, "neither the export nor the program"),
    ("must-fail usage send hi", 1, "with kind state, so the must-fail itself fails"),
])
def test_must_fail_state_or_usage_the_program_cannot_know_is_refused_with_its_line(tmp_path, lines, where, reason):
    path = tmp_path / "own.nrs"
    path.write_text(lines + "\n")
    p = run_cli("export", str(path))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith(f"{path}:{where}: `must-fail ") and reason in p.stderr


@pytest.mark.parametrize("check, expected", [("usage", "hi\\r\npassed\n"), ("state", "")])
def test_must_fail_usage_of_tls_over_a_unix_socket_is_checked_when_the_program_runs(tmp_path, check, expected):
    from netrepl.lab.kinds import LAB_CA

    sock = tmp_path / "tls.sock"
    compare(tmp_path, f"serve tls-echo {sock}\nset tls ca {LAB_CA}\nconnect {sock}\nmust-fail {check} tls\n"
                      "tls localhost\nsend hi\nexpect hi\\r\\n\nclose\nprint passed\n", expected=expected)


def test_the_lab_port_option_of_a_server_the_script_never_uses_says_so(tmp_path):
    recording = ROOT / "scripts" / "peers" / "connect3.nrs"
    path = tmp_path / "unused.nrs"
    path.write_text(f"serve replay {recording} 0\nserve echo 0 udp\nprint hi\n")
    source = export_file(str(path)).text_of()
    helps = dict(re.findall(r"add_argument\('(--lab[\w-]*)'.*help=('[^']*')", source))
    assert "unless  is" not in source
    assert helps["--lab-port"] == (f"'the port of the replay server this program talks to (netrepl serve replay "
                                   f"{recording} --port PORT); the script never uses the port'")
    assert helps["--lab-echo-port"].startswith("'the port of the echo server this program talks to (netrepl "
                                               "serve echo --port PORT --udp)")
