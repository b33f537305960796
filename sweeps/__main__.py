"""python -m sweeps run SWEEP_FILE_OR_PRESET --dir SWEEP_DIR [--parallel N] [--print_commands]
                 [--launcher tpu|xpk|slurm LAUNCHER_SETTINGS]
python -m sweeps results SWEEP_DIR [--x AXIS] [--metric METRIC]

`run` checks every arm's gin config, then runs the arms not yet finished (train.py, then
eval.py if the file has an `eval` section), each with MODEL_DIR=SWEEP_DIR/<arm>.
`--print_commands` prints each arm's commands instead (with `--launcher`, the launcher's
commands, e.g. a TPU pod's gcloud ssh line per arm). `results` writes SWEEP_DIR/results.md
and results.png. Presets: sweeps/presets/*.yaml, by name (`run flan_clusters`).
"""
import argparse
import sys

from launch import job as job_lib
from launch.registry import LAUNCHERS
from sweeps import commands, gin_check, results, runner, spec


def _positive(text: str) -> int:
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
  return value


def _parser(launcher: str | None) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m sweeps", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  run = sub.add_parser("run", help="run (or print) every arm not yet finished")
  run.add_argument("sweep", help="a sweep file, or a preset's name")
  run.add_argument("--dir", required=True, help="SWEEP_DIR: one MODEL_DIR per arm in it")
  run.add_argument("--parallel", type=_positive, default=1, help="arms at a time (default 1)")
  run.add_argument("--print_commands", action="store_true",
                   help="print every arm's commands, run nothing")
  run.add_argument("--launcher", choices=sorted(LAUNCHERS),
                   help="with --print_commands: print each arm's launch through it")
  if launcher:
    LAUNCHERS[launcher][0](run)
  collect = sub.add_parser("results", help="table and plot of every arm's results")
  collect.add_argument("dir", help="SWEEP_DIR")
  collect.add_argument("--x", help="the swept axis on the plot's x axis (default: the "
                                   "first numeric one, else the first)")
  collect.add_argument("--metric", action="append",
                       help="column(s) to plot (default: every eval 'overall' metric)")
  return parser


def _print_commands(sweep_dir: str, arms: list[runner.PlannedArm], launcher) -> None:
  local = "://" not in sweep_dir
  for arm in arms:
    state = runner.status(sweep_dir, arm) if local else "on remote storage"
    print(f"# {arm.name} ({state})")
    if launcher is None:
      for program in arm.programs:
        print(job_lib.shell_join(["python", *program]))
    else:
      for invocation in launcher.invocations(job_lib.Job(arm.programs, arm.name)):
        print(invocation.shell())


def _run(args) -> int:
  if args.launcher and not args.print_commands:
    raise spec.SweepError("--launcher goes with --print_commands: a sweep runs its arms "
                          "locally, or prints each arm's launch command to submit")
  launcher = LAUNCHERS[args.launcher][1](args) if args.launcher else None
  sweep = spec.load(args.sweep)
  arms = commands.planned_arms(sweep, args.dir)
  if args.print_commands:
    if "://" not in args.dir:
      runner.plan(args.dir, arms)
    _print_commands(args.dir, arms, launcher)
    return 0
  outcomes = runner.run(args.dir, arms, args.parallel, cwd=gin_check.REPO_DIR)
  failed = [o for o in outcomes if o.state == "failed"]
  print(f"sweep {args.dir}: {len(outcomes) - len(failed)}/{len(outcomes)} arms done"
        + (f"; failed: {', '.join(o.name for o in failed)}" if failed else ""))
  return 1 if failed else 0


def main(argv: list[str]) -> int:
  known, _ = _parser(None).parse_known_args(argv)
  args = _parser(getattr(known, "launcher", None)).parse_args(argv)
  try:
    if args.command == "run":
      return _run(args)
    table_path, plot_path = results.write(args.dir, x_axis=args.x, metrics=args.metric)
    with open(table_path, encoding="utf-8") as f:
      print(f.read())
    print(f"wrote {table_path}" + (f" and {plot_path}" if plot_path else ""))
    return 0
  except (spec.SweepError, runner.SweepStateError, job_lib.LaunchSettingsError,
          results.ResultsError) as e:
    print(f"python -m sweeps {args.command}: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
