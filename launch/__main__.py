"""python -m launch tpu|xpk|slurm [--dry_run] [settings] -- <train.py flags>

  python -m launch tpu --tpu_name=my-v5e-16 --zone=us-west4-a --project=my-proj --dry_run \
      -- --gin_file=gin/runs/sft_tiny.gin --gin.MODEL_DIR="'gs://bucket/run'"

Everything after `--` goes to train.py on every host (with --multiprocess added). The
dry run prints exactly the commands it would execute, one per line, and executes nothing.
"""
import argparse
import sys

from launch import job as job_lib
from launch.registry import LAUNCHERS


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
  ours, train_flags = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) \
      if "--" in argv else (argv, [])
  parser = argparse.ArgumentParser(prog="python -m launch", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  subparsers = parser.add_subparsers(dest="launcher", required=True)
  for name, (add_arguments, _) in LAUNCHERS.items():
    sub = subparsers.add_parser(name)
    sub.add_argument("--dry_run", action="store_true",
                     help="print the commands, execute nothing")
    sub.add_argument("--program", default="train.py", help="the program to launch")
    add_arguments(sub)
  return parser.parse_args(ours), train_flags


def main(argv: list[str]) -> int:
  args, train_flags = parse(argv)
  try:
    launcher = LAUNCHERS[args.launcher][1](args)
    invocations = launcher.invocations(job_lib.Job(((args.program, *train_flags),)))
  except job_lib.LaunchSettingsError as e:
    print(f"python -m launch {args.launcher}: {e}", file=sys.stderr)
    return 2
  for invocation in invocations:
    print(invocation.shell(), flush=True)
    if not args.dry_run:
      invocation.run()
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
