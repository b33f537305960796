"""train.py --multiprocess with a process that never starts: the ones that did exit 1
within --initialization_timeout, saying who is missing, instead of hanging."""
import os
import subprocess
import sys
import time

import pytest

from tests.trainer.test_multiprocess import REPO_DIR, free_port

TIMEOUT_S = 5


@pytest.mark.slow
@pytest.mark.parametrize("process_id, expected", [
    (0, "process 0 of 2 (the coordinator, at localhost:{port}): process 1 did not join "
        "within 5 s"),
    (1, "process 1 of 2: could not join the coordinator at localhost:{port} within 5 s"),
])
def test_a_process_alone_exits_naming_who_is_missing(process_id, expected):
  port = free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  started = time.monotonic()
  done = subprocess.run(
      [sys.executable, "train.py", "--gin_file=gin/runs/sft_tiny.gin", "--multiprocess",
       f"--coordinator_address=localhost:{port}", "--num_processes=2",
       f"--process_id={process_id}", f"--initialization_timeout={TIMEOUT_S}"],
      cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)
  elapsed = time.monotonic() - started
  assert done.returncode == 1, done.stderr[-3000:]
  assert f"error: {expected.format(port=port)}" in done.stderr, done.stderr[-3000:]
  assert "Traceback" not in done.stderr and "DEADLINE_EXCEEDED" not in done.stderr
  # Python and jax start within the rest; jax's own crash would come 30 s later.
  assert elapsed < TIMEOUT_S + 25, elapsed
