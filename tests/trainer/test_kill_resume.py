"""train.py killed with SIGKILL mid-run, while an async checkpoint save is in flight, then
rerun: the resumed run restores the newest finished checkpoint and the input pipeline's
saved position, and its losses are the uninterrupted run's."""
import json
import os
import re
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


def saves_in_flight(model_dir) -> list[str]:
  """Orbax's temporary directories of the checkpoints of steps 6 and 9 (renamed to their
  step once written): the saves in flight after a finished one, before the last step."""
  try:
    names = os.listdir(os.path.join(model_dir, "checkpoints"))
  except FileNotFoundError:
    return []
  return [n for n in names if re.fullmatch(r"[69]\.orbax-checkpoint-tmp.*", n)]


def kill_during_a_save(process: subprocess.Popen, model_dir) -> str:
  """SIGKILLs `process` while a save of step 6 or 9 is in flight; returns its directory.

  Stopped first, so that the save cannot finish between seeing it and killing: a save
  that finished meanwhile lets the process go on to the next one.
  """
  deadline = time.monotonic() + 600
  while process.poll() is None:
    assert time.monotonic() < deadline, "no save of step 6 or 9 seen in flight in 600 s"
    if saves_in_flight(model_dir):
      process.send_signal(signal.SIGSTOP)
      in_flight = saves_in_flight(model_dir)
      if in_flight:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return in_flight[0]
      process.send_signal(signal.SIGCONT)
    time.sleep(0.001)
  raise AssertionError("the run finished before a save of step 6 or 9 was caught in flight")


@pytest.mark.slow
def test_run_killed_during_an_async_save_resumes_the_uninterrupted_trajectory(tmp_path):
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  uninterrupted = start(straight)
  interrupted = start(killed)
  try:
    unfinished = kill_during_a_save(interrupted, killed)
  finally:
    interrupted.kill()
  finish(uninterrupted)
  assert logged_steps(killed) < STEPS, "the run finished before it could be killed"
  output = finish(start(killed))
  restored_at = 3 if unfinished.startswith("6") else 6
  assert f"input pipeline restored at step {restored_at}" in output, output[-3000:]
  assert "replaying" not in output
  want, got = losses_by_step(straight), losses_by_step(killed)
  assert sorted(got) == list(range(1, STEPS + 1))
  for step in want:
    assert abs(got[step] - want[step]) <= 1e-5 * abs(want[step]), (step, got, want)
