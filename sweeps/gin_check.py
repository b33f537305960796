"""Parses every arm's gin config the way train.py / eval.py will, before anything runs.

Run as `python -m sweeps.gin_check` (a subprocess, so gin's global registry and the
imports the gin files make stay out of the sweep's own process): reads a JSON list of
{"what", "gin_files", "bindings"} on stdin, writes a JSON list of error messages.
"""
import json
import os
import subprocess
import sys

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(configs: list[dict], repo_dir: str = REPO_DIR) -> list[str]:
  """Error messages ('' none) for each config, from a fresh interpreter at the repo root."""
  result = subprocess.run([sys.executable, "-m", "sweeps.gin_check"], cwd=repo_dir,
                          input=json.dumps(configs), capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  if result.returncode != 0:
    raise RuntimeError(f"the gin check itself failed (exit {result.returncode}):\n"
                       f"{result.stderr[-3000:]}")
  return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
  import gin  # pylint: disable=import-outside-toplevel
  import train  # pylint: disable=import-outside-toplevel  (run_stage, macro check)
  configs = json.load(sys.stdin)
  errors = []
  for config in configs:
    gin.clear_config()
    try:
      # train.py's own parse: skip_unknown=False, then its unused-macro check.
      train.parse_gin(config["gin_files"], config["bindings"])
    except Exception as e:  # pylint: disable=broad-except  (reported, not raised)
      errors.append(f"{config['what']}: {type(e).__name__}: {e}")
  print(json.dumps(errors))


if __name__ == "__main__":
  main()
