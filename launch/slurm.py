"""SLURM: an sbatch script whose `srun` starts one train.py process per node; each
process's jax.distributed.initialize() reads SLURM's variables (node list, task id) and
picks its coordinator by itself.

The script goes to sbatch on stdin, so nothing is written locally; the dry run prints it.
sbatch exports the submitting shell's environment (its virtualenv included) by default.
"""
import argparse
import dataclasses
import os
import re

from launch import job as job_lib


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--nodes", type=int, help="how many nodes (one process on each)")
  parser.add_argument("--gpus_per_node", type=int, help="GPUs per node, if any")
  parser.add_argument("--partition", help="SLURM partition")
  parser.add_argument("--account", help="SLURM account")
  parser.add_argument("--time", help="time limit, e.g. 24:00:00")
  parser.add_argument("--job_name", default="instructax",
                      help="job name (a sweep appends each arm's)")
  parser.add_argument("--chdir", default=os.getcwd(),
                      help="the repository on the cluster's shared filesystem")
  parser.add_argument("--python", default="python", help="the nodes' Python")


@dataclasses.dataclass(frozen=True)
class Slurm:
  nodes: int
  job_name: str
  chdir: str
  python: str = "python"
  gpus_per_node: int | None = None
  partition: str | None = None
  account: str | None = None
  time: str | None = None

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> "Slurm":
    job_lib.require("slurm", {"nodes": args.nodes})
    if args.nodes < 1:
      raise job_lib.LaunchSettingsError(f"--nodes must be >= 1, got {args.nodes}")
    return cls(args.nodes, args.job_name, args.chdir, args.python, args.gpus_per_node,
               args.partition, args.account, args.time)

  def script(self, job: job_lib.Job) -> str:
    name = self.job_name if job.name is None else f"{self.job_name}-{job.name}"
    name = re.sub(r"[^\w.-]+", "-", name)  # it also names the log file (%x)
    directives = {"job-name": name, "nodes": self.nodes, "ntasks-per-node": 1,
                  "chdir": self.chdir, "output": "%x-%j.out",
                  "gpus-per-node": self.gpus_per_node, "partition": self.partition,
                  "account": self.account, "time": self.time}
    lines = ["#!/bin/bash"] + [f"#SBATCH --{key}={value}" for key, value
                               in directives.items() if value is not None]
    lines += ["set -euo pipefail"]
    lines += [job_lib.shell_join(["srun", *job_lib.on_every_host(p, self.python)])
              for p in job.programs]
    return "\n".join(lines) + "\n"

  def invocations(self, job: job_lib.Job) -> list[job_lib.Invocation]:
    return [job_lib.Invocation(("sbatch",), stdin=self.script(job))]
