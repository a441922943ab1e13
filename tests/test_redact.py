"""`set redact on|off`: `record` (and its `#>` peer lines), `--cast` and `export` write each secret as a
variable ($secret1 ...) whose value is not stored, with a note saying which; running the recording
asks for it with -D, an exported program with --secretN. Real sockets: the lab echo server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import run_cli
from test_export import export_and_compare

PLAIN = "AGFsaWNlAHNlY3JldA=="  # what each test sends as the SMTP AUTH PLAIN secret
PROXY_PASS = "hunter2hunter2"

# (what the command sends, the secret in it, what it is): one of each kind the finder knows
KINDS = [
    ("send AUTH PLAIN " + PLAIN, PLAIN, "SMTP AUTH"),
    ("send Authorization: Bearer tok3n-XYZ", "Bearer tok3n-XYZ", "HTTP Authorization"),
    ("send -n Cookie: sid=c00kie77\\r\\n", "sid=c00kie77", "HTTP Cookie"),
    ("send a1 LOGIN alice imap-pw-42", "imap-pw-42", "IMAP LOGIN"),
    ("send PASS pop-pw-42", "pop-pw-42", "POP3/FTP PASS"),
    ("send -n *2\\r\\n$4\\r\\nAUTH\\r\\n$8\\r\\nredis-pw\\r\\n", "redis-pw", "redis AUTH"),
]


def _record(tmp_path, commands: str, name="r.nrs"):
    path = tmp_path / name
    p = run_cli("-q", "-c", f"serve echo 0; record -p {path}; {commands}; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    return path, path.read_text()


@pytest.mark.parametrize("line, secret, what", KINDS, ids=[k[2] for k in KINDS])
def test_record_writes_each_kind_of_secret_as_a_variable_and_replays_with_it_given(tmp_path, line, secret, what):
    path, text = _record(tmp_path, f"set redact on; connect localhost $lab_port; {line}; recv exactly 4; close")
    assert secret not in text.split("#< ")[0] and "${secret1}" in text, text  # (the echo's #< lines are the server's)
    assert f"# redacted above: $secret1 ({what})" in text and "# Redacted: each secret" in text
    assert "#> " in text and all(secret not in t for t in text.splitlines() if t.startswith(("#>", "send")))
    refused = run_cli(str(path), cwd=tmp_path)
    assert refused.returncode == 2 and "undefined variable $secret1" in refused.stderr
    ran = run_cli("-D", f"secret1={secret}", str(path), cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_proxy_password_is_a_variable_and_redact_off_writes_as_typed(tmp_path):
    path, text = _record(tmp_path, f"set redact on; set proxy socks5 localhost 1080 lab {PROXY_PASS}; "
                                   "set proxy none; connect localhost $lab_port; send PASS one-secret; "
                                   "send PASS one-secret; set redact off; send PASS plain-now; recv exactly 36")
    assert PROXY_PASS not in text and "set proxy socks5 localhost 1080 lab ${secret1}" in text
    assert "$secret1 (proxy password)" in text
    assert text.count("${secret2}") == 4 and "one-secret" not in text.split("#< ")[0]  # the same secret, the same name
    assert "send PASS plain-now" in text


def test_record_started_with_redact_on_says_so_first(tmp_path):
    path = tmp_path / "r.nrs"
    p = run_cli("-q", "-c", f"serve echo 0; set redact on; record {path}; connect localhost $lab_port; "
                            f"send AUTH PLAIN {PLAIN}; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = path.read_text()
    assert PLAIN not in text and text.index("# Redacted:") < text.index("set redact on") < text.index("${secret1}")


def _cast(tmp_path, *args):
    path = tmp_path / "c.cast"
    p = run_cli("--stable", "--cast", str(path), *args, cwd=tmp_path)
    events = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    return p, "".join(e[2] for e in events if e[1] == "o"), [e[2] for e in events if e[1] == "m"]


@pytest.mark.parametrize("quiet", [[], ["-q"]], ids=["echoed", "quiet"])
def test_a_cast_shows_secrets_as_variables_and_says_which(tmp_path, quiet):
    p, shown, markers = _cast(tmp_path, *quiet, "-c", f"serve echo 0; set redact on; connect localhost $lab_port; "
                                                      f"send AUTH PLAIN {PLAIN}; recv line; "
                                                      f"set proxy socks5 localhost 1080 lab {PROXY_PASS}")
    assert p.returncode == 0, p.stderr
    assert PLAIN not in shown and PROXY_PASS not in shown and "AUTH PLAIN $secret1" in shown  # the echo too
    assert PLAIN in p.stdout  # the terminal's transcript is the user's own: only the cast is redacted
    assert markers[-1] == "redacted: $secret1 (SMTP AUTH), $secret2 (proxy password); not in this cast"
    if not quiet:
        assert "send -n AUTH PLAIN\\x20${secret1}\\r\\n" in shown


def test_a_cast_without_redact_is_unchanged(tmp_path):
    p, shown, markers = _cast(tmp_path, "-c", f"serve echo 0; connect localhost $lab_port; send AUTH PLAIN {PLAIN}")
    assert f"send AUTH PLAIN {PLAIN}" in shown and not any("redacted" in m for m in markers)


SCRIPT = f"""serve echo 0
set redact on
connect localhost $lab_port
send AUTH PLAIN {PLAIN}
recv line
set redact off
send hello
recv line
close
"""


def test_export_makes_each_secret_a_required_option_and_behaves_the_same(tmp_path):
    path = tmp_path / "auth.nrs"
    path.write_text(SCRIPT)
    program, out, err = export_and_compare(path, {}, tmp_path, ["--secret1", PLAIN])
    assert out == f"AUTH PLAIN {PLAIN}\\r\nhello\\r\n"
    source = (tmp_path / "auth.py").read_text()
    assert PLAIN not in source and "required=True" in source and "the redacted SMTP AUTH ($secret1)" in source
    p = subprocess.run([sys.executable, "-I", str(tmp_path / "auth.py"), "--lab-port", "9"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "the following arguments are required: --secret1" in p.stderr


def test_export_in_a_session_with_redact_on_keeps_the_secret_out(tmp_path):
    target = tmp_path / "s.py"
    p = run_cli("-c", f"serve echo 0; set redact on; connect localhost $lab_port; send PASS {PROXY_PASS}; "
                      f"recv line; export {target}", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    source = target.read_text()
    assert PROXY_PASS not in source and "args.secret1" in source


def test_a_redacted_recording_exports_with_its_secrets_as_options(tmp_path):
    path, text = _record(tmp_path, f"set redact on; connect localhost $lab_port; send AUTH PLAIN {PLAIN}; "
                                   "recv line; close")
    out = tmp_path / "r.py"
    p = run_cli("export", str(path), "-o", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert PLAIN not in out.read_text().split("#< ")[0] and "'--secret1', dest='secret1', required=True" in out.read_text()


@pytest.mark.parametrize("redact", ["on", "off"])
def test_a_record_started_after_set_proxy_writes_the_settings_and_replays(tmp_path, redact):
    # Without the settings, the recording's connects went directly: another path, no PROXY header.
    path = tmp_path / "s.nrs"
    p = run_cli("-q", "-c", f"serve echo 0; serve socks5 0; set redact {redact}; "
                            f"set proxy socks5 127.0.0.1 $lab_socks5_port lab lab; "
                            f"set proxy-protocol v1 203.0.113.7 5555; record {path}; connect 127.0.0.1 $lab_echo_port; "
                            "recv line; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = path.read_text()
    password = "${secret1}" if redact == "on" else "lab"
    assert f"set proxy socks5 127.0.0.1 $lab_port lab {password}\nset proxy-protocol v1 203.0.113.7 5555\n" in text
    ran = run_cli("-D", "secret1=lab", str(path), cwd=tmp_path)
    assert ran.returncode == 0 and "through the socks5 proxy" in ran.stdout and "PROXY TCP4 203.0.113.7" in ran.stdout
