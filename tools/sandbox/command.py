"""The bubblewrap command line of a sandboxed run, and the user it starts as.

Every namespace is new (`--unshare-all` and an explicit user namespace, so no network but a
loopback of its own, no view of host processes or IPC), every capability is dropped, nested
user namespaces are refused, and the file system is a fresh root holding only a read-only
/usr (with /bin, /lib, /lib64, /sbin as on the host: links into /usr on a merged-/usr
system), a minimal /dev and /proc of its own, and size-limited private tmpfs on /tmp (the
working directory) and /dev/shm; the root itself is then remounted read-only. No /etc, no
home, no project files. The environment is cleared to PATH and HOME. The sandbox dies with
its parent.

Why the host drops to uid 65534 before starting bwrap when it runs as root: a user namespace
maps the sandbox's uid onto the uid that started it, and the kernel exempts uid 0 from
RLIMIT_NPROC, so a sandbox started by root could fork without bound whatever uid it shows
inside. Started by an unprivileged uid, the process limit holds.
"""
import json
import os
import pathlib
import shutil

from tools.sandbox.limits import Limits

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
_RUNNER_SOURCE = (pathlib.Path(__file__).resolve().parent / "runner.py").read_text()


def unavailable_reason(bwrap: str, python: str) -> str | None:
  """Why a sandbox cannot start here, found without starting one; None if nothing is missing.
  (A kernel that refuses namespaces shows only when bwrap runs: the run reports it.)"""
  if shutil.which(bwrap) is None:
    return (f"bubblewrap ({bwrap!r}) is not installed or not on PATH: "
            "install Debian's package with `apt-get install -y bubblewrap`")
  if not python.startswith("/usr/"):
    return f"the sandbox's interpreter must live under /usr (the only tree it sees), got {python!r}"
  if not os.access(python, os.X_OK):
    return f"the sandbox's interpreter {python!r} does not exist: `apt-get install -y python3`"
  return None


def host_user() -> dict:
  """Popen keyword arguments that start bwrap unprivileged (see the module docstring)."""
  if os.geteuid() != 0:
    return {}
  return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def bwrap_argv(bwrap: str, python: str, limits: Limits, report_fd: int) -> list[str]:
  """bwrap's argv: the sandbox, then the runner under `python` with its report fd and limits."""
  file_system = ["--ro-bind", "/usr", "/usr"]
  for top in ("/bin", "/lib", "/lib64", "/sbin"):
    if os.path.islink(top):  # merged /usr (Debian 12 on): links into /usr
      file_system += ["--symlink", os.readlink(top), top]
    elif os.path.isdir(top):
      file_system += ["--ro-bind", top, top]
  file_system += ["--dev", "/dev", "--proc", "/proc"]
  # bwrap's /dev brings an unbounded /dev/shm: bound it like /tmp.
  for writable in ("/dev/shm", "/tmp"):
    file_system += ["--size", str(limits.max_file_bytes), "--tmpfs", writable]
  file_system += ["--remount-ro", "/", "--chdir", "/tmp"]
  runner_limits = {"cpu_seconds": limits.cpu_seconds, "memory_bytes": limits.memory_bytes,
                   "max_processes": limits.max_processes,
                   "max_file_bytes": limits.max_file_bytes}
  return [bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
          "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL",
          "--hostname", "sandbox", "--die-with-parent", "--new-session",
          *file_system,
          "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
          "--", python, "-I", "-c", _RUNNER_SOURCE, str(report_fd), json.dumps(runner_limits)]
