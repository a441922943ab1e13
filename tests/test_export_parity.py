"""`netrepl export`: the cases where an exported program crashed or did what netrepl does not
(issue 20). Each runs the script in netrepl and the program against the same lab servers
(test_export.py's harness): same output, same exit status, no traceback.
"""

from __future__ import annotations

import errno
import time

import pytest

from conftest import ROOT, run_cli
from test_export import check_code, export_and_compare, run_program
from netrepl.export import Refused, export_file, write_program

NO_SOCKET_STEP = {
    # Only comments in main()'s try block: the program was an IndentationError.
    "serve_and_var": "serve echo 0\nset var x 1\n",
    "var_only": "set var x 1\n",
    "eol_and_display": "set eol lf\nset display text\nserve\n",
    "live": "set live on\nset live off\n",  # (i16-live's command: the shell's, no step of a script)
    "serve_and_export": "serve echo 0 udp\nexport never.py\n",
}


@pytest.mark.parametrize("name", NO_SOCKET_STEP)
def test_a_script_with_no_socket_step_exports_a_program_that_runs(name, tmp_path):
    path = tmp_path / f"{name}.nrs"
    path.write_text(NO_SOCKET_STEP[name])
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out == "" and err == ""


HEX_WITHOUT_READ = {
    # `View.hex = True` with no read after it: View was never defined (NameError).
    "alone": "set display hex\nprint hi\n",
    "after_connect": "serve echo 0\nconnect localhost $lab_port\nset display hex\nclose\nprint done\n",
    "before_connect": "serve echo 0\nset display hex\nconnect localhost $lab_port\nset display text\nclose\n",
}


@pytest.mark.parametrize("name", HEX_WITHOUT_READ)
def test_set_display_hex_with_no_read_after_it(name, tmp_path):
    path = tmp_path / f"{name}.nrs"
    path.write_text(HEX_WITHOUT_READ[name])
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert "NameError" not in err


UDP_AFTER_EXPECT = "serve echo 0 udp\nsendto localhost $lab_port hello world\nexpect hello\n"


@pytest.mark.parametrize("command", ["recv quiet 0.2", "recv exactly 3", "recv exactly 3 > out.bin"])
def test_reading_by_amount_on_udp_after_an_expect_is_refused_as_netrepl_refuses_it(command, tmp_path):
    # The bytes the expect left over made the export treat the socket as a stream: the program
    # read them and exited 0 where netrepl refuses the command (kind state) and exits 1.
    path = tmp_path / "udp.nrs"
    path.write_text(UDP_AFTER_EXPECT + command + "\n")
    with pytest.raises(Refused) as caught:
        export_file(str(path))
    assert caught.value.where == f"{path}:4" and "netrepl refuses it" in caught.value.message
    # Where the script says netrepl refuses it, the program says so too and goes on, as netrepl does.
    path.write_text(UDP_AFTER_EXPECT + f"must-fail state {command}\nrecv 100\nprint after\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert "failed as expected (state)" in err and out == "hello\n world\nafter\n"
    assert not (tmp_path / "out.bin").exists()


def test_a_backtracking_regex_in_expect_ends_at_the_timeout(tmp_path):
    # /(a|aa)+b/ against 44 a's backtracks for hours: netrepl's search ends at the deadline
    # (expect fails, exit 1); the program's searched on with no time limit.
    path = tmp_path / "bomb.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\ntimeout 1\nsend " + "a" * 44 + "\n"
                    "expect /(a|aa)+b/\nprint never\n")
    program = export_file(str(path))
    target = tmp_path / "bomb.py"
    target.write_text(program.text_of())
    check_code(target)
    out, err, status = run_program(program, target, timeout=30)  # (a hang here is the old program)
    assert status == 1 and "expected '/(a|aa)+b/'" in err and "Traceback" not in err
    program, out, err = export_and_compare(path, {}, tmp_path)  # and the same as netrepl
    assert "never" not in out


def test_a_regex_that_matches_is_still_found_with_the_deadline(tmp_path):
    path = tmp_path / "found.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\nsend xx aab yy\nexpect /(a|aa)+b/\n"
                    "timeout none\nsend abc\nexpect /b+/\nclose\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out == "xx aab yy\\r\nabc\\r\n"  # (each expect consumes through the end of its line)


# ----- the program's file: a FIFO cannot hold netrepl past its deadline (issue 20, 8) -------------

def _fifo(tmp_path):
    import os

    path = tmp_path / "program.fifo"
    os.mkfifo(path)
    return path


def test_export_to_a_fifo_nobody_reads_gives_up_at_the_timeout(tmp_path):
    fifo = _fifo(tmp_path)
    p = run_cli("-c", f"timeout 0.5; print x; export {fifo}; print after", cwd=tmp_path, timeout=30)
    assert p.returncode == 1 and "after" not in p.stdout, p.stdout + p.stderr
    assert "export: file error" in p.stdout and "no reader opened the FIFO within 0.5 s" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr


def test_a_reader_that_takes_only_part_of_the_program_ends_the_write_at_the_deadline(tmp_path):
    import os

    fifo = _fifo(tmp_path)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read: the pipe fills
    try:
        with pytest.raises(OSError) as caught:
            write_program(str(fifo), "#" * (1 << 20), 0.3)
        assert caught.value.errno == errno.ETIMEDOUT and "only in part within 0.3 s" in caught.value.strerror
        with pytest.raises(OSError) as caught:  # and no reader at all
            os.close(reader)
            reader = -1
            write_program(str(fifo), "x", 0.2)
        assert caught.value.errno == errno.ETIMEDOUT
    finally:
        if reader >= 0:
            os.close(reader)


def test_export_o_writes_to_a_fifo_that_has_a_reader_and_stops_on_ctrl_c(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import threading

    fifo = _fifo(tmp_path)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    p = run_cli("export", "scripts/connect3.nrs", "-o", str(fifo))
    reader.join(30)
    assert p.returncode == 0 and got and got[0].startswith(b'"""scripts/connect3.nrs'), p.stderr
    # With no reader it waits (at most 10 s): Ctrl-C ends it with 130, no traceback.
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "export", "scripts/connect3.nrs", "-o", str(fifo)],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        wchan = f"/proc/{proc.pid}/wchan"  # (past start-up, asleep between tries to open the FIFO)
        for _ in range(3000):
            if os.path.exists(wchan) and "nanosleep" in open(wchan).read():
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted while writing" in err and "Traceback" not in err, err
    assert os.path.exists(fifo)


# ----- programs that read like the worksheet ------------------------------------------------------

def test_main_comes_first_and_the_helpers_follow_under_a_comment(tmp_path):
    import ast

    source = export_file(str(ROOT / "scripts" / "connect3.nrs")).text_of()
    tree = ast.parse(source)
    first = tree.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)  # the docstring
    rest = tree.body[1:]
    imports = [node for node in rest if isinstance(node, ast.Import)]
    assert rest[:len(imports)] == imports and isinstance(rest[len(imports)], ast.FunctionDef)
    assert rest[len(imports)].name == "main" and rest[len(imports) + 1].name == "parse_args"
    head = source.index("\n# ----- The helpers main() calls")
    assert source.index("\ndef parse_args(") < head < source.index("\ndef port_of(")
    # The escaping patterns are built from the table in the program, not written out expanded.
    assert "_UNSAFE = re.compile(_char_class(_UNSAFE_RANGES))" in source
    assert all(len(node.value) < 100 for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\\U" in node.value)
    # Only the escaping it uses: notes (safe), no received data (escape_bytes) or stream (TextEscaper).
    assert "def safe(" in source and "def escape_bytes(" not in source and "class TextEscaper" not in source
    assert source.count("\n") < 250  # (it was 261 lines, main() after ~200 lines of helpers)


# ----- a regex nested hundreds deep (issue 20, 3): refused, never a traceback ---------------------

def test_a_regex_nested_400_deep_is_not_exported_and_no_traceback(tmp_path):
    path = tmp_path / "deep.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\nexpect /" + "(" * 400 + "a" + ")" * 400 + "/\n")
    p = run_cli("export", str(path))
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr, p.stderr
    assert "not exported" in p.stderr


def test_an_option_giving_a_regex_nested_2000_deep_stops_the_program_before_any_step(tmp_path, closed_port):
    path = tmp_path / "deepd.nrs"
    path.write_text(f"connect 127.0.0.1 {closed_port}\nexpect $D\n")
    program = export_file(str(path), {"D": "x"})
    target = tmp_path / "deepd.py"
    target.write_text(program.text_of())
    check_code(target)
    out, err, status = run_program(program, target, ["--D", "/" + "(" * 2000 + "a" + ")" * 2000 + "/"])
    assert status == 2 and "deepd.nrs:2: bad regular expression: nested too deep" in err, err
    assert "Traceback" not in err and "refused" not in err.lower()  # checked before the connect


# ----- `connect` on a connected stream socket replaces the connection (netrepl since i16-wire) ------

CONNECT_AGAIN = {
    "replaces": ("serve echo 0\nconnect localhost $lab_port\nsend one\nexpect one\nconnect 127.0.0.1 $lab_port\n"
                 "send two\nexpect two\nprint done\n", "one\\r\ntwo\\r\ndone\n"),
    # The old connection ends before the new connect fails: no socket after it.
    "refused": ("serve echo 0\nconnect localhost $lab_port\nmust-fail refused connect 127.0.0.1 $closed\n"
                "must-fail state send x\nprint done\n", "done\n"),
    # A name that does not resolve keeps the connection.
    "unresolved": ("serve echo 0\nconnect localhost $lab_port\nmust-fail address connect nonexisting.invalid 80\n"
                   "send kept\nexpect kept\nprint done\n", "kept\\r\ndone\n"),
    # Either: the program checks when it runs, as netrepl does.
    "any_then_send": ("serve echo 0\nconnect localhost $lab_port\nmust-fail any connect 127.0.0.1 $closed\n"
                      "send x\nprint never\n", ""),
    "after_accept": ("listen 127.0.0.1 0\nclient line $listen_port\naccept\nrecv line\nserve echo 0\n"
                     "connect localhost $lab_port\nsend hi\nexpect hi\nprint done\n",
                     "hello from the netrepl lab client\\r\nhi\\r\ndone\n"),
}


@pytest.mark.parametrize("name", CONNECT_AGAIN)
def test_connect_on_a_connected_socket_makes_a_new_connection_as_netrepl_does(name, tmp_path, closed_port):
    path = tmp_path / f"{name}.nrs"
    script, expected = CONNECT_AGAIN[name]
    path.write_text(script)
    program, out, err = export_and_compare(path, {"closed": str(closed_port)}, tmp_path)
    assert out == expected and "EISCONN" not in err and "connects once" not in err, err


def test_a_scripts_non_ascii_text_is_written_as_escapes_in_the_program(tmp_path):
    # repr() kept printable non-ASCII as it is: an expect's failure message held the emoji raw.
    path = tmp_path / "emoji.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\ntimeout 0.3\nsend caf\u00e9 \U0001F600\n"
                    "expect caf\u00e9 \U0001F600\nmust-fail expect expect /\U0001F600 never/\nprint caf\u00e9\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    source = (tmp_path / "emoji.py").read_text()
    assert source.isascii() and "\\U0001f600" in source
    assert out == "caf\u00e9 \U0001F600\\r\ncaf\u00e9\n"


def test_only_a_program_with_a_regex_expect_holds_the_deadline_search(tmp_path):
    path = tmp_path / "s.nrs"
    path.write_text("serve echo 0\nconnect localhost $lab_port\nsend hi\nexpect hi\nclose\n")
    text_only = export_file(str(path)).text_of()
    assert "import signal" not in text_only and "def search(" in text_only
    path.write_text("serve echo 0\nconnect localhost $lab_port\nsend hi\nexpect /h./\nclose\n")
    assert "signal.setitimer" in export_file(str(path)).text_of()
    path.write_text("serve echo 0\nconnect localhost $lab_port\nsend hi\nexpect $D\nclose\n")  # a value decides
    assert "signal.setitimer" in export_file(str(path), {"D": "hi"}).text_of()


@pytest.mark.parametrize("read", ["recv all > out.fifo", "recv exactly 2 > out.fifo", "recv quiet 0.2 > out.fifo"])
def test_a_program_writing_to_a_fifo_nobody_reads_gives_up_at_the_timeout_as_netrepl(read, tmp_path):
    # open(path, "wb") of a FIFO with no reader waited for ever; netrepl waits `timeout`, then kind file.
    import os

    for where in (tmp_path, tmp_path / "netrepl"):  # (the program runs in tmp_path, netrepl in netrepl/)
        where.mkdir(exist_ok=True)
        os.mkfifo(where / "out.fifo")
    path = tmp_path / "fifo.nrs"
    path.write_text(f"serve echo 0\nconnect localhost $lab_port\nsend hi\ntimeout 0.5\nmust-fail file {read}\n"
                    f"{read}\nprint never\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert "failed as expected (file)" in err and "no reader opened the FIFO within 0.5 s" in err, err
    assert "never" not in out


@pytest.mark.parametrize("send", ["send < {fifo}", "sendto localhost $lab_port < {fifo}"])
def test_a_program_sending_a_fifo_nobody_writes_gives_up_at_the_timeout_as_netrepl(send, tmp_path):
    # open(path, "rb") of a FIFO with no writer waited for ever; netrepl waits `timeout`, then kind file.
    import os

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    udp = send.startswith("sendto")
    path = tmp_path / "fifo.nrs"
    path.write_text(f"serve echo 0{' udp' if udp else ''}\n" + ("" if udp else "connect localhost $lab_port\n")
                    + f"timeout 0.5\nmust-fail file {send.format(fifo=fifo)}\n{send.format(fifo=fifo)}\nprint never\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert "failed as expected (file)" in err and "no data to read within 0.5 s" in err, err
    assert "never" not in out
