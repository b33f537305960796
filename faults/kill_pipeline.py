"""A train.py run SIGKILLed in each of its steps, then started again until it finishes;
its results compared with an uninterrupted run's.

  python train.py --gin_file=gin/runs/instructgpt_tiny.gin --gin.MODEL_DIR="'/tmp/straight'"
  python -m faults.kill_pipeline --model_dir=/tmp/killed --reference=/tmp/straight \\
      --gin_file=gin/runs/instructgpt_tiny.gin

Each kill waits for a file of MODEL_DIR to appear (a checkpoint, a step's first file) and
checks that a later one has not, so the kill lands inside the step it is meant for. The
two runs may go side by side: where a kill lands depends on files, not on time.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (the file whose appearance triggers the kill, the one that must not exist yet) for
# gin/runs/instructgpt_tiny.gin: SFT and PPO after a checkpoint, between the comparisons'
# two files and while the reward model trains (it saves only at its end).
INSTRUCTGPT_TINY_KILLS = (
    ("sft/checkpoints/100", "comparisons"), ("comparisons/train.jsonl", "comparisons/DONE"),
    ("reward", "reward/results.json"), ("ppo/checkpoints/10", "ppo_ptx"),
    ("ppo_ptx/checkpoints/10", "pipeline_results.json"))


def start(model_dir: str, train_flags: list[str], log, env=None) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, "train.py", *train_flags, f"--gin_bindings=MODEL_DIR = '{model_dir}'"],
      cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT, env=env)


def kill_when_written(model_dir: str, train_flags: list[str], trigger: str, not_yet: str,
                      log_path: str, env=None, timeout: float = 3600):
  """Starts the run, SIGKILLs it once MODEL_DIR/`trigger` exists, and raises unless
  MODEL_DIR/`not_yet` is still absent then (or the run ended first)."""
  with open(log_path, "wb") as log:
    process = start(model_dir, train_flags, log, env)
  deadline = time.monotonic() + timeout
  while not os.path.exists(os.path.join(model_dir, trigger)):
    if process.poll() is not None:
      raise RuntimeError(f"the run ended (exit {process.returncode}) before {trigger}; "
                         f"see {log_path}")
    if time.monotonic() > deadline:
      process.kill()
      raise RuntimeError(f"no {trigger} within {timeout:.0f} s; see {log_path}")
    time.sleep(0.005)
  process.send_signal(signal.SIGKILL)
  process.wait()
  if os.path.exists(os.path.join(model_dir, not_yet)):
    raise RuntimeError(f"the kill after {trigger} came too late: {not_yet} exists")


def run_killed(model_dir: str, train_flags: list[str], kills, log_dir: str, env=None
               ) -> list[str]:
  """Kills the run at each of `kills`, then runs it to the end; returns the runs' logs."""
  os.makedirs(log_dir, exist_ok=True)
  logs = [os.path.join(log_dir, f"run{i}.log") for i in range(len(kills) + 1)]
  for (trigger, not_yet), log_path in zip(kills, logs):
    started = time.perf_counter()
    kill_when_written(model_dir, train_flags, trigger, not_yet, log_path, env)
    print(f"killed after {trigger} ({time.perf_counter() - started:.0f} s)", flush=True)
  with open(logs[-1], "wb") as log:
    if start(model_dir, train_flags, log, env).wait() != 0:
      raise RuntimeError(f"the run after the last kill failed; see {logs[-1]}")
  return logs


def differing_results(killed_dir: str, reference_dir: str) -> list[str]:
  """The entries of pipeline_results.json that differ, but for the wall times."""
  def read(directory):
    with open(os.path.join(directory, "pipeline_results.json")) as f:
      return json.load(f)
  killed, reference = read(killed_dir), read(reference_dir)
  return [key for key in sorted(set(killed) | set(reference))
          if key != "stage_seconds" and killed.get(key) != reference.get(key)]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--reference", help="an uninterrupted run's MODEL_DIR to compare with")
  args, train_flags = parser.parse_known_args()
  logs = run_killed(args.model_dir, train_flags, INSTRUCTGPT_TINY_KILLS,
                    os.path.join(args.model_dir, "kill_logs"))
  print(f"finished after {len(logs) - 1} kills; logs in {os.path.dirname(logs[0])}")
  if args.reference:
    differing = differing_results(args.model_dir, args.reference)
    print(f"pipeline_results.json differs from {args.reference} in: {differing}"
          if differing else f"pipeline_results.json equals {args.reference}'s (wall times "
          "aside)")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
  main()
