"""train.py killed with SIGKILL mid-run, then rerun: the resumed run restores the model and
the input pipeline's saved position and its losses are the uninterrupted run's."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 12
FLAGS = ["--gin_file=gin/runs/sft_tiny.gin", "--gin.MIXTURE_OR_TASK_NAME='suite_addition'",
         "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 8}", "--gin.BATCH_SIZE=8",
         "--gin.ModelConfig.emb_dim=32", "--gin.ModelConfig.mlp_dim=64",
         "--gin.ModelConfig.num_encoder_layers=1", "--gin.ModelConfig.num_decoder_layers=1",
         f"--gin.TRAIN_STEPS={STEPS}", "--gin.train.checkpoint_every=3",
         "--gin.train.log_every=1", "--gin.train.peak_flops_per_device=1e11"]
ENV = dict(os.environ, JAX_PLATFORMS="cpu",
           XLA_FLAGS="--xla_force_host_platform_device_count=1")


def start(model_dir) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "train.py", *FLAGS, f"--gin.MODEL_DIR='{model_dir}'"],
                          cwd=REPO_DIR, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> str:
  output = process.communicate(timeout=600)[0]
  assert process.returncode == 0, output[-3000:]
  return output


def losses_by_step(model_dir) -> dict[int, float]:
  """The last logged loss of each step (a killed run's steps after its newest checkpoint
  are logged again by the resumed run)."""
  with open(os.path.join(model_dir, "metrics.jsonl")) as f:
    return {r["step"]: r["loss"] for r in map(json.loads, f)}


def logged_steps(model_dir) -> int:
  try:
    return max(losses_by_step(model_dir), default=0)
  except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or mid-line
    return 0


@pytest.mark.slow
def test_sigkilled_run_resumes_the_uninterrupted_trajectory(tmp_path):
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  uninterrupted = start(straight)
  interrupted = start(killed)
  try:
    deadline = time.monotonic() + 600
    while logged_steps(killed) < 7 and interrupted.poll() is None:
      assert time.monotonic() < deadline, "the run to kill logged no 7th step in 600 s"
      time.sleep(0.2)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
  finally:
    interrupted.kill()
  finish(uninterrupted)
  assert logged_steps(killed) < STEPS, "the run finished before it could be killed"
  output = finish(start(killed))
  assert "input pipeline restored at step" in output, output[-3000:]
  assert "replaying" not in output
  want, got = losses_by_step(straight), losses_by_step(killed)
  assert sorted(got) == list(range(1, STEPS + 1))
  for step in want:
    assert abs(got[step] - want[step]) <= 1e-5 * abs(want[step]), (step, got, want)
