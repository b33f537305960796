"""The sandbox under attack: every attack is contained and reported, and the next program runs.

Small limits keep each run to a second or two; the wall limit is generous so a loaded machine
(two cores shared) does not turn a CPU-limit kill into a wall-limit one.
"""
import ast
import dataclasses
import os
import pathlib
import socket
import subprocess
import sys
import uuid

import pytest

from tests.tools.sandbox_marks import needs_bwrap
from tools.sandbox import Limits, Sandbox
from tools.sandbox import result as results

pytestmark = needs_bwrap

LIMITS = Limits(cpu_seconds=1, wall_seconds=30.0, memory_bytes=256 << 20, max_processes=16,
                max_output_bytes=4096, max_file_bytes=1 << 20)
REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox():
  return Sandbox(LIMITS)


def run_then_check_next(sandbox, source):
  """Runs `source`, then shows the sandbox still serves the next program."""
  result = sandbox.run(source)
  following = sandbox.run("print(6 * 7)")
  assert following.status == results.OK and following.answer == "42", following
  return result


def test_printed_output_is_the_answer(sandbox):
  result = sandbox.run("print(9283 * 31231.231)")
  assert result.status == results.OK and result.answer == str(9283 * 31231.231)
  assert result.detail == "" and result.exit_code == 0


def test_solution_value_is_the_answer_over_printed_output(sandbox):
  result = sandbox.run("print('working')\ndef solution():\n  return 12 ** 30\n")
  assert result.status == results.OK
  assert result.answer == str(12 ** 30) and result.stdout == "working\n"


def test_program_error_is_reported_with_its_traceback(sandbox):
  result = run_then_check_next(sandbox, "def solution():\n  return 1 / 0\n")
  assert result.status == results.ERROR and result.answer is None
  assert result.detail.startswith("ZeroDivisionError")
  assert "ZeroDivisionError" in result.stderr_tail


# attack -> the status it must end in and a phrase of its detail.
ATTACKS = {
    "syntax_error": ("def solution(:\n", results.ERROR, "SyntaxError"),
    "nonzero_exit": ("import sys; print(3); sys.exit(2)", results.ERROR, "status 2"),
    "write_usr": ("open('/usr/pwned', 'w')", results.ERROR, "Read-only file system"),
    "write_root": ("open('/pwned', 'w')", results.ERROR, "Read-only file system"),
    "write_bin": ("open('/bin/pwned', 'w')", results.ERROR, "Read-only file system"),
    "fill_tmp": ("open('/tmp/big', 'wb').write(b'x' * (4 << 20))", results.ERROR,
                 "File too large"),
    "fill_shm": ("for i in range(4):\n  open(f'/dev/shm/{i}', 'wb').write(b'x' * (900 << 10))",
                 results.ERROR, "No space left"),
    "external_socket": ("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)",
                        results.ERROR, "Network is unreachable"),
    "fork_bomb": ("import os\nwhile True:\n  os.fork()\n", results.ERROR, "BlockingIOError"),
    "infinite_loop": ("while True:\n  pass\n", results.TIMEOUT, "cpu time limit"),
    "infinite_loop_catching_sigxcpu": (
        "import signal\nsignal.signal(signal.SIGXCPU, lambda *_: None)\nwhile True:\n  pass\n",
        results.TIMEOUT, "hard cpu time limit"),
    "ten_gigabytes": ("blob = bytearray(10 * 10**9)\n", results.MEMORY, "MemoryError"),
    "stderr_flood": ("import sys\nwhile True:\n  sys.stderr.write('e' * 99)\n",
                     results.OUTPUT_LIMIT, "stderr passed the output limit"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_contained_and_reported(sandbox, attack):
  source, status, evidence = ATTACKS[attack]
  result = run_then_check_next(sandbox, source)
  assert result.status == status and evidence in result.detail, result
  assert result.answer is None
  assert not any(os.path.exists(path) for path in ("/usr/pwned", "/pwned", "/bin/pwned"))


def test_os_system_runs_as_nobody_and_touches_only_its_own_tmp(sandbox, tmp_path):
  name = f"pwned-{uuid.uuid4().hex}"
  result = run_then_check_next(
      sandbox, f"import os\nprint(os.system('touch /tmp/{name}'), "
               f"os.system('touch {tmp_path}/{name} 2>/dev/null'), os.getuid())")
  assert result.status == results.OK
  in_private_tmp, in_host_dir, uid = result.answer.split()
  assert in_private_tmp == "0" and in_host_dir != "0" and uid == "65534"
  assert not (pathlib.Path("/tmp") / name).exists()
  assert not (tmp_path / name).exists()


def test_background_processes_end_with_the_program(sandbox):
  """They would hold the output pipes open past the wall limit if they outlived the program."""
  result = run_then_check_next(
      sandbox, "import os, subprocess\nsubprocess.Popen(['sleep', '100'])\n"
               "os.system('(sleep 100 &)')\nprint('bye')")
  assert result.status == results.OK and result.answer == "bye"


def test_host_files_are_not_visible(sandbox):
  for path in ("/etc/passwd", str(REPO / "setup.cfg"), "/root"):
    result = run_then_check_next(sandbox, f"print(open({path!r}).read())")
    assert result.status == results.ERROR, (path, result)
    assert "FileNotFoundError" in result.detail or "IsADirectoryError" in result.detail


def test_no_connection_to_host_loopback(sandbox):
  with socket.socket() as listener:
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    result = run_then_check_next(
        sandbox, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)")
    with pytest.raises(TimeoutError):
      listener.accept()
  assert result.status == results.ERROR and "ConnectionRefusedError" in result.detail


@pytest.mark.parametrize("source", [
    "import time\ntime.sleep(60)\n",
    # Seven processes at the limit share the CPU, so each takes long to spend its own second.
    "import os\nwhile True:\n  try:\n    os.fork()\n  except OSError:\n    pass\n",
], ids=["sleep", "fork_bomb_ignoring_errors"])
def test_program_that_does_not_end_hits_the_wall_limit(source):
  limits = dataclasses.replace(LIMITS, wall_seconds=1.5)
  result = run_then_check_next(Sandbox(limits), source)
  assert result.status == results.TIMEOUT and "time limit" in result.detail


def test_billion_lines_hit_the_output_limit(sandbox):
  result = run_then_check_next(sandbox, "for i in range(10**9):\n  print(i)\n")
  assert result.status == results.OUTPUT_LIMIT and "stdout" in result.detail
  assert len(result.stdout) == LIMITS.max_output_bytes


def test_environment_is_minimal_and_capabilities_dropped(sandbox):
  result = sandbox.run(
      "import os\nprint(sorted(os.environ))\n"
      "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1])")
  names, capabilities = result.answer.splitlines()
  # LC_CTYPE comes from Python's own C-locale coercion.
  assert ast.literal_eval(names) == ["HOME", "LC_CTYPE", "PATH", "PWD"]
  assert int(capabilities, 16) == 0


def test_missing_bwrap_is_reported_not_bypassed(tmp_path):
  marker = tmp_path / "ran"
  result = Sandbox(LIMITS, bwrap="/nonexistent/bwrap").run(f"open({str(marker)!r}, 'w')")
  assert result.status == results.SANDBOX_UNAVAILABLE and "apt-get install" in result.detail
  assert not marker.exists()


def test_missing_interpreter_is_reported():
  result = Sandbox(LIMITS, python="/usr/bin/no-such-python").run("print(1)")
  assert result.status == results.SANDBOX_UNAVAILABLE and "does not exist" in result.detail


@pytest.mark.parametrize("field,value", [("cpu_seconds", 0), ("cpu_seconds", 1.5),
                                         ("memory_bytes", -1), ("wall_seconds", "10")])
def test_bad_limits_are_refused_by_name(field, value):
  with pytest.raises(ValueError, match=f"Limits.{field}"):
    Limits(**{field: value})


def test_interpreter_outside_usr_is_refused():
  result = Sandbox(LIMITS, python=sys.executable).run("print(1)")
  assert result.status == results.SANDBOX_UNAVAILABLE and "/usr" in result.detail


def test_host_without_user_namespaces_reports_the_cause(tmp_path):
  """Runs the sandbox inside an outer bwrap that forbids further user namespaces."""
  marker = tmp_path / "ran"
  program = f"open({str(marker)!r}, 'w')"
  probe = ("from tools.sandbox import Sandbox, Limits\n"
           f"r = Sandbox(Limits(wall_seconds=3)).run({program!r})\n"
           "print(r.status); print(r.detail)")
  outer = subprocess.run(
      ["bwrap", "--unshare-user", "--disable-userns", "--uid", "1000", "--gid", "1000",
       "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
       "--bind", str(tmp_path), str(tmp_path), "--chdir", str(REPO),
       "--", sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
  assert outer.returncode == 0, outer.stderr
  status, detail = outer.stdout.splitlines()[:2]
  assert status == results.SANDBOX_UNAVAILABLE, outer
  assert "namespace" in detail
  assert not marker.exists()
