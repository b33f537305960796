"""From a sweep file's arms to the programs each arm runs, checked with gin first."""
import os

from sweeps import gin_check, runner, spec


def model_dir_of(sweep_dir: str, arm: spec.Arm) -> str:
  """SWEEP_DIR/<arm name>; local directories are made absolute, gs:// ones kept."""
  base = sweep_dir if "://" in sweep_dir else os.path.abspath(sweep_dir)
  return f"{base.rstrip('/')}/{arm.name}"


def _configs(sweep: spec.Sweep, arm: spec.Arm, model_dir: str) -> list[tuple[str, dict]]:
  """(script, {"what", "gin_files", "bindings"}) for each program of the arm, in order."""
  stages = ([("train.py", sweep.train, arm.train_bindings)] if arm.train else []) + (
      [("eval.py", sweep.eval, arm.eval_bindings)] if sweep.eval else [])
  return [(script, {"what": f"arm {arm.name!r} ({script})",
                    "gin_files": [*stage.gin_files, *arm.gin_files],
                    "bindings": [f"{n}={v}" for n, v in bindings]
                    + [f"MODEL_DIR={model_dir!r}"]})
          for script, stage, bindings in stages]


def program(script: str, config: dict) -> tuple[str, ...]:
  return (script, *(f"--gin_file={f}" for f in config["gin_files"]),
          *(f"--gin.{b}" for b in config["bindings"]))


def planned_arms(sweep: spec.Sweep, sweep_dir: str, check_gin: bool = True
                 ) -> list[runner.PlannedArm]:
  """Every arm's train.py / eval.py command lines; with `check_gin`, each config is first
  parsed as train.py parses it (unknown configurables, parameters and unused macros fail,
  all of them named at once)."""
  per_arm = [(arm, _configs(sweep, arm, model_dir_of(sweep_dir, arm))) for arm in sweep.arms]
  if check_gin:
    errors = gin_check.check([config for _, configs in per_arm for _, config in configs])
    if errors:
      raise spec.SweepError("the sweep's gin bindings do not parse (nothing was run):\n"
                            + "\n".join(errors))
  return [runner.PlannedArm(arm.name, arm.labels,
                            tuple(program(script, config) for script, config in configs))
          for arm, configs in per_arm]
