"""`netrepl export`: every script in scripts/ as a Python program that behaves the same.

Each script runs in netrepl (in-process: the exact bytes each step received),
is exported, and the program runs against lab servers of the same kinds that
this test starts (its options get their ports): same data on standard output,
same exit status. The programs also pass py_compile and ruff's E/F checks and
import nothing outside the standard library.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, run_cli
from test_scripts import script_vars  # noqa: F401 (a fixture: -D values for socketerrors.nrs)
from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor
from netrepl.export import export_file
from netrepl.core.unix import parse_name
from netrepl.lab.replay import ReplayServer
from netrepl.lab.server import LabServer, LabServerError
from netrepl.lab.unixserver import UnixLabServer
from netrepl.render.escape import escape_bytes
from netrepl.render.text import data_text, line_text, unix_name
from netrepl.language.nrs import load

SCRIPTS = sorted((ROOT / "scripts").glob("*.nrs"))




def netrepl_run(path, variables, cwd) -> tuple[str, int]:
    """Run a script in netrepl in `cwd` (where `recv all > FILE` writes): the print lines and
    received data, in order, as netrepl writes them (render/text.py), and its exit status."""
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        return _netrepl_run(path, variables)
    finally:
        os.chdir(saved)


def _netrepl_run(path, variables) -> tuple[str, int]:
    ex = Executor(REGISTRY, variables=dict(variables), cwd=str(path.parent))
    script = load(str(path), ex.parser, ex.variables)
    assert not script.problems, script.problems
    out, status, ended = [], 0, False
    try:
        for number, parsed in script.commands:
            for step in ex.run_parsed(parsed, str(path), number):
                if step.text.split(" ", 1)[0] == "print":  # netrepl's words, as it writes them
                    out.append(line_text(step.result.lines[0]) + "\n")
                elif step.result.data:  # netrepl's view of the data (render/text.py), as it writes it
                    out.append(data_text(step.result.data, ex.session.display, step.result.data_offset))
                status = status or int(not step.result.ok)
                ended = ended or step.result.exit
            if status or ended:
                break
    finally:
        ex.finish()
    return "".join(out), status


def check_code(path) -> None:
    """py_compile, ruff E/F (with E501: long data literals are fine), standard library only."""
    compiled = subprocess.run([sys.executable, "-m", "py_compile", str(path)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    linted = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F",
                             "--ignore", "E501", str(path)], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in sys.stdlib_module_names for a in node.names)
        assert not isinstance(node, ast.ImportFrom)
    assert "netrepl" not in {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}


def _lab_server(expected) -> LabServer:
    """The lab server a program expects: on a port, on a Unix socket (a name the kernel picks
    unless the script named one), or replaying a recording."""
    if expected.proto == "unix":
        name = parse_name(expected.path or "@", allow_autobind=True)
        return UnixLabServer(expected.kind, name)
    if expected.kind == "replay":
        return ReplayServer(str(ROOT / "scripts" / expected.file), "127.0.0.1", expected.port)
    return LabServer(expected.kind, "127.0.0.1", expected.port, expected.proto)


def run_program(program, path, extra=(), cwd=None, timeout=60) -> tuple[str, str, int]:
    """Start the lab servers the program expects, run it; a `serve stop` note stops them."""
    servers, args = [], list(extra)
    for expected in program.servers:
        try:
            server = _lab_server(expected).start()
        except LabServerError as exc:  # a fixed port (socketerrors.nrs: a service's) taken meanwhile
            for started in servers:
                started.stop()
            pytest.skip(f"the program's lab server cannot start: {exc}")
        servers.append(server)
        if expected.option is not None:
            args += [expected.option.flag, unix_name(server.name) if expected.proto == "unix" else str(server.port)]
    proc = subprocess.Popen([sys.executable, "-I", "-X", "utf8", str(path), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd or path.parent)
    err: list[str] = []
    out: list[bytes] = []

    def read_err():
        for line in proc.stderr:
            text = line.decode("utf-8", "backslashreplace")
            err.append(text)
            if text.startswith("serve stop:"):
                for server in servers:
                    server.stop()

    threads = [threading.Thread(target=read_err), threading.Thread(target=lambda: out.append(proc.stdout.read()))]
    for thread in threads:
        thread.start()
    try:
        status = proc.wait(timeout)
    finally:
        for thread in threads:
            thread.join(10)
        for server in servers:
            server.stop()
    return b"".join(out).decode("utf-8"), "".join(err), status


def export_and_compare(path, variables, tmp_path, extra=()):
    (tmp_path / "netrepl").mkdir(exist_ok=True)
    expected, status = netrepl_run(path, variables, tmp_path / "netrepl")
    program = export_file(str(path), dict(variables))
    target = tmp_path / (path.stem + ".py")
    target.write_text(program.text_of())
    check_code(target)
    out, err, got = run_program(program, target, extra, cwd=path.parent)
    assert (out, got) == (expected, status), err
    assert "Traceback" not in err
    return program, out, err


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_script_exports_to_a_program_that_behaves_the_same(path, script_vars, tmp_path):  # noqa: F811
    program, out, err = export_and_compare(path, script_vars, tmp_path,
                                           ["--pause", "1"] if path.name == "shutdown.nrs" else [])
    assert out  # each script prints its steps at least
    if path.name == "socketerrors.nrs":
        assert "HTTP/1.0 404 Not Found" in out and "failed as expected (address)" in err
    if path.name == "shutdown.nrs":
        assert "failed as expected (lost)" in err


SCENARIOS = {
    "udp": """serve echo 0 udp
sendto localhost $lab_port hello\\x00udp
recvfrom
sendto -l localhost $lab_port line
recv line
close
""",
    "lines_and_regex": """serve http 0
connect localhost $lab_port
send GET /hello.txt HTTP/1.0\\r\\n
recv line
expect /Content-Type: [a-z]+/
recv 5
recv all > body.out
close
""",
    "timeouts": """serve silent 0
connect localhost ${port:-$lab_port}
timeout 0.3
must-fail timeout recv
must-fail expect expect never
must-fail any recv line
timeout none
timeout 5
close
""",
    "refused": """must-fail refused connect localhost $closed
must-fail ECONNREFUSED connect 127.0.0.1 $closed
must-fail io connect localhost $closed
lookup 80
lookup ${svc:-http} tcp
must-fail service lookup nosuchservice
""",
    "eol_vars_and_eof": """set var who world
set eol lf
serve echo 0
connect localhost $lab_port
send hello $who, ${greeting:-hi} \\x24$$
send -n no newline\\n
expect world
recv line
shutdown 1
expect eof
print done with ${who}
set display hex
exit
print never
""",
    "expect_fails": """serve echo 0
connect localhost $lab_port
timeout 0.3
send hello
expect goodbye
print not reached
""",
    "must_fail_succeeds": """serve echo 0
must-fail refused connect localhost $lab_port
print not reached
""",
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenarios_behave_the_same(name, tmp_path, closed_port):
    path = tmp_path / f"{name}.nrs"
    path.write_text(SCENARIOS[name])
    program, out, err = export_and_compare(path, {"closed": str(closed_port)}, tmp_path)
    if name == "lines_and_regex":
        body = (tmp_path / "body.out").read_bytes()  # the program's, in chunks
        assert body.endswith(b"hello from the netrepl lab server\n") and body == (tmp_path / "netrepl" / "body.out").read_bytes()
        assert "Content-Type: text" in out
    if name == "expect_fails":
        assert "expected 'goodbye'" in err


def test_the_program_exits_1_where_netrepl_does(tmp_path):
    path = tmp_path / "fails.nrs"
    path.write_text(SCENARIOS["must_fail_succeeds"])
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert "but it succeeded" in err


# ----- the generated code ---------------------------------------------------------------------------

# Quotes, backslashes, triple quotes, braces, an f-string-looking call, line breaks, NUL, a
# byte that is not UTF-8 and a terminal escape: as script text (escapes for send and expect).
TRIPLE = '"' * 3
HOSTILE = ("a " + TRIPLE + r""" b 'c' \\ {__import__("os").system("echo pwned")} \n\r\x00\xff\x1b[2J """
           r"""\x22\x22\x22 end""")
SCRIPT = "\n".join([
    "serve echo 0",
    "set var q x'''\"{y}\\\\",
    "connect localhost $lab_port",
    "send -n " + HOSTILE,
    "expect " + HOSTILE,
    "send -n $q",
    "expect {y}\\\\",
    "print {}" + TRIPLE + " ${p:-'\"\\} $q ${pct:-$q%}",
    "close",
    ""])


def _constants(tree) -> list:
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]


def test_hostile_bytes_end_up_as_exact_bytes_literals(tmp_path):
    from netrepl.language.escapes import decode_escapes

    data = decode_escapes(HOSTILE)
    assert b'"""' in data and b"\n" in data and b"{" in data and b"\\" in data
    path = tmp_path / 'evil"""\\\n\u202e%(prog)s%.nrs'  # a file name is text in the header, comments, help
    path.write_text(SCRIPT)
    program, out, err = export_and_compare(path, {}, tmp_path)
    source = (tmp_path / (path.stem + ".py")).read_text()
    tree = ast.parse(source)
    constants = _constants(tree)
    assert constants.count(data) == 2  # the send and the expect: one exact bytes literal each
    assert b"x'''\"{y}\\" in constants  # $q's value, escapes decoded as send does, where it is used
    assert '{}""" ' in constants and "'\"\\" in constants  # the print's text and $p's default
    calls = {getattr(node.func, "attr", getattr(node.func, "id", None)) for node in ast.walk(tree)
             if isinstance(node, ast.Call)}
    assert "system" not in calls and "__import__" not in calls
    assert not any(isinstance(node, ast.JoinedStr) and "pwned" in ast.dump(node) for node in ast.walk(tree))
    assert escape_bytes(data) in out and "\x1b" not in out  # received back as data, never run; shown escaped
    assert "\u202e" not in source and all(line.isascii() for line in source.splitlines())
    shown = subprocess.run([sys.executable, "-I", str(tmp_path / (path.stem + ".py")), "--help"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "%(prog)s%" in shown.stdout, shown.stderr


def test_a_variable_in_data_is_encoded_not_interpolated(tmp_path):
    path = tmp_path / "var.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\nsend GET /$page HTTP/1.0\nrecv\nclose\n")
    program = export_file(str(path), {"page": '{x}"""'})
    source = program.text_of()
    # The text is built from the option and decoded as netrepl decodes it (escapes after `$` expansion).
    assert "sock.sendall(decode_escapes('GET /' + args.page + ' HTTP/1.0') + b'\\r\\n')" in source
    assert "default='{x}\"\"\"'" in source
    target = tmp_path / "var.py"
    target.write_text(source)
    check_code(target)
    out, err, status = run_program(program, target, ["--page", "a'b\"{c}"])
    assert status == 0 and out == "GET /a'b\"{c} HTTP/1.0\\r\n", err


@pytest.mark.parametrize("names", [("class", "class_"), ("timeout", "var_timeout"), ("help", "var_help"),
                                   ("__class__", "__dict__"), ("_get_args", "var_var_x")])
def test_variables_whose_names_collide_in_python_keep_their_own_values(names, tmp_path):
    # Keywords, the program's own options, Namespace attributes and var_ names each get an option
    # of their own: before, $class and $class_ shared one (the program printed `a a`), and
    # timeout/var_timeout or __class__ ended the program in a traceback.
    first, second = names
    path = tmp_path / "names.nrs"
    path.write_text(f"print ${{{first}:-one}} ${{{second}:-two}}\n")
    program, out, _ = export_and_compare(path, {}, tmp_path)
    assert "one two" in out
    flags = [opt.flag for opt in program.values.options.values()]
    assert len(set(flags)) == len(flags) == 2


def test_help_shows_a_default_with_control_characters_escaped(tmp_path):
    path = tmp_path / "hv.nrs"
    path.write_text("print ${v:-x}\n")
    program = export_file(str(path), {"v": "\x1b]0;pwned\x07\x1b[2J"})
    target = tmp_path / "hv.py"
    target.write_text(program.text_of())
    check_code(target)
    shown = subprocess.run([sys.executable, str(target), "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "pwned" in shown.stdout  # the default is shown, escaped


# ----- refusals and the command line --------------------------------------------------------------------

def test_source_is_inlined_with_the_sourced_files_lines(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "greet.nrs").write_text("set var who ${who:-lib}\nsend hello $who\nsource more.nrs\n")
    (tmp_path / "lib" / "more.nrs").write_text("expect hello\nsend bye\\r\\n\nrecv line\n")
    path = tmp_path / "main.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\nsource lib/greet.nrs\nprint after $who\nclose\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    source = (tmp_path / "main.py").read_text()
    assert "lib/greet.nrs:2: send hello $who" in source.replace("\n        # ", " ")  # long paths wrap
    assert "lib/more.nrs:3: recv line" in source.replace("\n        # ", " ")
    assert out == "hello lib\\r\nbye\\r\nafter lib\n"  # expect took its whole line


def test_a_source_loop_is_refused_as_the_checker_refuses_it(tmp_path):
    path = tmp_path / "loop.nrs"
    path.write_text("print x\nsource loop.nrs\n")
    p = run_cli("export", str(path))
    assert p.returncode == 2 and "nested more than 8 deep" in p.stderr and p.stdout == ""


@pytest.mark.parametrize("line", ["help", "record x.nrs", "socket\nsocket", "send x"])
def test_commands_with_no_socket_equivalent_are_refused_with_file_and_line(line, tmp_path):
    path = tmp_path / "s.nrs"
    path.write_text("print first\n" + line + "\n")
    p = run_cli("export", str(path))
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"{path}:2: " in p.stderr or f"{path}:3: " in p.stderr
    assert p.stdout == "" and "Traceback" not in p.stderr


def test_a_script_that_does_not_check_is_not_exported(tmp_path):
    path = tmp_path / "bad.nrs"
    path.write_text("print ok\nsend \\q\n")
    p = run_cli("export", str(path))
    assert p.returncode == 2 and f"{path}:2:" in p.stderr and p.stdout == ""
    assert run_cli("export").returncode == 2
    assert run_cli("export", str(tmp_path / "missing.nrs")).returncode == 2


def test_export_writes_the_file_named_by_o_with_a_header(tmp_path):
    out = tmp_path / "connect.py"
    p = run_cli("export", "scripts/connect.nrs", "-o", str(out), "-D", "host=127.0.0.1")
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert text.startswith('"""scripts/connect.nrs, exported by netrepl')
    assert f"netrepl export scripts/connect.nrs -Dhost=127.0.0.1 -o {out}" in text
    assert "default='127.0.0.1'" in text and "'--lab-port'" in text
    # $lab_port is only the default of $port: --port alone is enough, and neither is an error (exit 2)
    p = subprocess.run([sys.executable, "-I", str(out)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no port given" in p.stderr and "Traceback" not in p.stderr
    assert 'if __name__ == "__main__":\n    sys.exit(main())' in text
    assert run_cli("export", "scripts/connect.nrs", "-o", str(tmp_path / "no" / "x.py")).returncode == 1


def test_export_in_a_session_writes_what_ran_so_far(tmp_path, closed_port):
    target = tmp_path / "session.py"
    p = run_cli("-k", "-c", f"serve echo 0; connect localhost $lab_port; send hi; expect hi; recv line; "
                            f"close; must-fail refused connect localhost {closed_port}; send nothing; "
                            f"help; export {target}; print after", cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr  # `send nothing` (no socket) failed
    assert f"exported 8 commands of this session to {target}" in p.stdout
    source = target.read_text()
    assert "# session:2: connect localhost $lab_port" in source and "after" not in source
    assert "# session:" in source and ": help" not in source
    check_code(target)


def test_the_readme_shows_the_program_export_writes(tmp_path):
    readme = (ROOT / "docs" / "recording.md").read_text()  # the README's export section moved there
    section = readme.split("## Export to Python", 1)[1].split("\n## ", 1)[0]
    script = section.split("```nrs\n", 1)[1].split("```", 1)[0]
    shown = section.split("```python\n", 1)[1].split("```\n", 1)[0]
    (tmp_path / "hello.nrs").write_text(script)
    p = run_cli("export", "hello.nrs", "-o", "hello.py", cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "netrepl export: wrote hello.py (python3 hello.py --help)\n"
    assert (tmp_path / "hello.py").read_text() == shown


def test_a_script_run_does_not_import_the_generator():
    code = ("import sys; from netrepl.cli import main; main(['-q', '-c', 'print hi']); "
            "print('netrepl.export' in sys.modules, 'netrepl.export.session' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip().splitlines()[-1] == "False False", p.stdout + p.stderr


def test_a_command_without_an_emitter_is_refused_with_its_line(tmp_path, monkeypatch):
    from netrepl.export import Refused, table

    monkeypatch.delitem(table.EMITTERS, "sleep")  # as a command added to netrepl but not to the table
    path = tmp_path / "s.nrs"
    path.write_text("print a\n\nsleep 0.1\n")
    with pytest.raises(Refused) as caught:
        export_file(str(path))
    assert caught.value.where == f"{path}:3" and "`sleep` has no socket equivalent" in caught.value.message


def test_every_command_has_an_emitter_or_a_reason(tmp_path):
    from netrepl.export.table import EMITTERS, REFUSED

    names = {cmd.name for cmd in REGISTRY if not cmd.subcommands}
    names |= {sub.name for cmd in REGISTRY for sub in cmd.subcommands.values()}
    assert names - set(EMITTERS) == set(REFUSED), "a new command: add its emitter (or its reason) to the table"


def test_record_does_not_write_export_lines(tmp_path):
    rec, out = tmp_path / "r.nrs", tmp_path / "o.py"
    p = run_cli("-c", f"record {rec}; print hi; export {out}; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert rec.read_text() == "print hi\n"
    assert "print('hi', flush=True)" in out.read_text()


def test_a_lab_kind_with_a_hyphen_gets_a_valid_option(tmp_path):
    path = tmp_path / "hyphen.nrs"
    path.write_text("serve echo 0\nserve smtp-inject 0\nconnect localhost $lab_port\nexpect /^220 .*\\n/\nclose\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    source = (tmp_path / "hyphen.py").read_text()
    assert "'--lab-smtp-inject-port', dest='lab_smtp_inject_port'" in source
    assert "args.lab_smtp_inject_port" in source and out.startswith("220 ")


@pytest.mark.parametrize("name, catches", [
    ("HOST_NOT_FOUND", "except socket.herror as exc:\n            if exc.errno != 1:  # HOST_NOT_FOUND"),
    ("TRY_AGAIN", "if exc.errno != 2:  # TRY_AGAIN"),
    ("X509_V_ERR_CERT_HAS_EXPIRED", "except ssl.SSLCertVerificationError as exc:\n            "
                                    "if exc.verify_code not in (10,):"),
    ("self-signed", "if exc.verify_code not in (18,):"),
    ("WRONG_VERSION_NUMBER", "if exc.reason not in ('WRONG_VERSION_NUMBER',):"),
    ("plaintext", "if exc.reason not in ('HTTP_REQUEST', 'PACKET_LENGTH_TOO_LONG', 'RECORD_LAYER_FAILURE', "
                  "'WRONG_VERSION_NUMBER'):"),
    ("EAI_NONAME", "except socket.gaierror as exc:\n            if exc.errno != socket.EAI_NONAME:"),
])
def test_must_fail_names_that_are_not_errno_names_catch_their_own_exception(tmp_path, name, catches):
    path = tmp_path / "names.nrs"
    path.write_text(f"must-fail {name} connect nonexisting.invalid 80\nprint after\n")
    source = export_file(str(path)).text_of()
    assert catches in source
    assert f"errno.{name.upper()}" not in source  # (was: errno.HOST_NOT_FOUND, an AttributeError when it ran)
    target = tmp_path / "names.py"
    target.write_text(source)
    check_code(target)


def test_must_fail_host_not_found_behaves_the_same(tmp_path):
    path = tmp_path / "h.nrs"  # connect fails with socket.gaierror, which HOST_NOT_FOUND (an h_errno) does not match
    path.write_text("must-fail HOST_NOT_FOUND connect nonexisting.invalid 80\nprint never\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out == "" and "gaierror" in err
