"""train.py --dry_run as a user runs it: a fresh process, its devices simulated by the flag."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_sft_tiny_dry_run_on_8_devices_prints_sizes_and_writes_nothing(tmp_path):
  model_dir = tmp_path / "sft"
  # The flag alone must create the devices: the session's device count is not passed on.
  env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS="--xla_backend_optimization_level=0")
  env.pop("JAX_PLATFORMS", None)
  out = subprocess.run(
      [sys.executable, "train.py", "--gin_file=gin/runs/sft_tiny.gin",
       f"--gin.MODEL_DIR='{model_dir}'", "--dry_run", "--dry_run_devices=8"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "SFT dry run on 8 devices (data=8 x fsdp=1 x model=1)" in out.stdout, out.stdout
  for figure in ("arguments", "outputs", "temporaries", "total", "XLA FLOPs",
                 "model FLOPs per step"):
    assert figure in out.stdout, figure
  assert not model_dir.exists()


def test_dry_run_devices_without_dry_run_is_refused():
  out = subprocess.run([sys.executable, "train.py", "--gin_file=gin/runs/sft_tiny.gin",
                        "--dry_run_devices=8"], cwd=REPO, capture_output=True, text=True,
                       timeout=300, check=False,
                       env=dict(os.environ, PYTHONPATH=REPO))
  assert out.returncode != 0
  assert "--dry_run_devices needs --dry_run" in out.stderr
