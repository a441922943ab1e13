"""`serve KIND 0` tells scripts its port ($lab_port, $lab_KIND_port), so scripts never hard-code
lab ports and run in parallel without colliding (netrepl/commands.py, language/nrs.py)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import run, run_cli, text_of


def served_ports(stdout: str) -> list[int]:
    return [int(port) for port in re.findall(r"serving \w+ on \w+ 127\.0\.0\.1:(\d+)", stdout)]


def test_serve_sets_lab_port_and_lab_kind_port(ex):
    assert run(ex, "serve echo 0").ok
    assert run(ex, "serve http").ok
    echo, http = [server.port for server in ex.servers.values()]
    assert ex.variables["lab_port"] == str(http)  # the last one started
    assert ex.variables["lab_echo_port"] == str(echo) and ex.variables["lab_http_port"] == str(http)
    assert run(ex, "connect localhost $lab_echo_port").ok
    assert "lab_port" in text_of(run(ex, "help serve"))


def test_a_script_uses_the_port_its_serve_got(tmp_path):
    """Checked whole before it runs, the script cannot know the port yet: its lines that use
    $lab_port are expanded when they run (the check saw a placeholder and accepted them)."""
    script = tmp_path / "uses.nrs"
    script.write_text("serve echo 0\nconnect localhost $lab_port\nsend hi\nexpect hi\nclose\n"
                      "serve daytime\nrecv $lab_port $lab_port\n"
                      "connect localhost ${nope:-$lab_daytime_port}\nexpect eof\nclose\n"
                      "serve stop $lab_echo_port\nmust-fail refused connect localhost $lab_echo_port\n")
    p = run_cli(str(script))
    assert p.returncode == 2, p.stdout  # an extra argument is still a script error, found before anything ran
    assert f"{script}:7:" in p.stderr and p.stdout == ""
    script.write_text(script.read_text().replace("recv $lab_port $lab_port\n", ""))
    p = run_cli(str(script))
    assert p.returncode == 0, p.stdout + p.stderr
    echo, daytime = served_ports(p.stdout)
    assert f"-> 127.0.0.1:{echo} (localhost)" in p.stdout and f"-> 127.0.0.1:{daytime} (localhost)" in p.stdout
    assert "expect eof" in p.stdout and "end of stream" in p.stdout
    assert f"stopped echo tcp server on 127.0.0.1:{echo}" in p.stdout


def test_a_default_can_name_another_variable():
    p = run_cli("-q", "-c", "set var b two; print [${a:-$b}] [${a:-x$${b}}] [${b:-$nope}]")
    assert p.returncode == 0, p.stderr
    assert "[two] [x${b}] [two]" in p.stdout
    p = run_cli("-q", "-D", "a=one", "-c", "print [${a:-$b}]")  # an unused default is not expanded
    assert p.returncode == 0 and "[one]" in p.stdout


def test_port_variables_keep_the_d_override(tmp_path):
    """scripts/*.nrs say `${port:-$lab_port}`: `-D port=...` still points them elsewhere."""
    script = tmp_path / "override.nrs"
    script.write_text("serve echo 0\nserve daytime 0\nconnect localhost ${port:-$lab_echo_port}\n"
                      "send x\nexpect x\nclose\n")
    assert run_cli(str(script)).returncode == 0
    with_daytime = run_cli("-D", "port=$lab_daytime_port", str(script))  # a -D value is text: not expanded
    assert with_daytime.returncode == 2 and "port" in with_daytime.stderr


def test_a_variable_set_from_a_lab_port_is_expanded_when_it_runs(tmp_path):
    script = tmp_path / "kept.nrs"
    script.write_text("serve echo 0\nset var web $lab_port\nserve daytime 0\nprint [$web]\n"
                      "connect localhost ${port:-$web}\nsend hi\nexpect hi\n")
    p = run_cli("-q", str(script))
    assert p.returncode == 0, p.stdout + p.stderr
    echo, _ = served_ports(p.stdout)
    assert f"[{echo}]" in p.stdout


SCRIPT = """\
# {n}: its own lab servers, on ports the OS chooses
serve echo 0
serve http 0
connect localhost $lab_echo_port
send script {n}
expect script {n}
close
connect localhost $lab_port
send GET / HTTP/1.0\\r\\n
expect HTTP/1.0 200 OK
recv all
close
"""


def test_scripts_on_os_chosen_ports_pass_under_pytest_xdist(tmp_path):
    """`pytest -n 4` over .nrs files: no two scripts fight over a port (they used to hard-code them)."""
    for n in range(8):
        (tmp_path / f"s{n}.nrs").write_text(SCRIPT.format(n=n))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "4", "-p", "netrepl",
                        "-p", "no:cacheprovider", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "8 passed" in p.stdout
    assert "bringing up nodes" in p.stdout  # xdist's workers ran them
