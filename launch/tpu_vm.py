"""A TPU VM pod slice: `gcloud compute tpus tpu-vm ssh NAME --worker=all --command=...` runs
the same command on every worker; jax.distributed reads the pod's topology from the TPU
metadata server, so the command names no coordinator.

`--setup` first clones the repository onto every worker and installs it with JAX's TPU
runtime (`pip install -e . 'jax[tpu]==<pinned jax>'`), for a freshly created slice.
"""
import argparse
import dataclasses

from launch import job as job_lib


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--tpu_name", help="the TPU VM (pod slice) name")
  parser.add_argument("--zone", help="its zone, e.g. us-central2-b")
  parser.add_argument("--project", help="its Google Cloud project")
  parser.add_argument("--worker", default="all", help="workers to run on (default: all)")
  parser.add_argument("--repo_dir", default="instructax",
                      help="the repository on every worker, relative to the ssh home")
  parser.add_argument("--python", default="python", help="the workers' Python")
  parser.add_argument("--setup", action="store_true",
                      help="clone --git_url and install instructax with jax[tpu] first")
  parser.add_argument("--git_url", help="repository to clone with --setup")
  parser.add_argument("--git_ref", default="main", help="branch or tag to clone with --setup")


@dataclasses.dataclass(frozen=True)
class TpuVm:
  tpu_name: str
  zone: str
  project: str
  worker: str = "all"
  repo_dir: str = "instructax"
  python: str = "python"
  git_url: str | None = None  # set: clone and install before the job
  git_ref: str = "main"

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> "TpuVm":
    job_lib.require("tpu", {"tpu_name": args.tpu_name, "zone": args.zone,
                            "project": args.project})
    if args.setup and not args.git_url:
      raise job_lib.LaunchSettingsError("the tpu launcher's --setup needs --git_url (the "
                                        "repository to clone onto every worker)")
    return cls(args.tpu_name, args.zone, args.project, args.worker, args.repo_dir,
               args.python, args.git_url if args.setup else None, args.git_ref)

  def _ssh(self, remote_command: str) -> job_lib.Invocation:
    return job_lib.Invocation((
        "gcloud", "compute", "tpus", "tpu-vm", "ssh", self.tpu_name, f"--zone={self.zone}",
        f"--project={self.project}", f"--worker={self.worker}",
        f"--command={remote_command}"))

  def invocations(self, job: job_lib.Job) -> list[job_lib.Invocation]:
    out = []
    if self.git_url:
      clone = job_lib.shell_join(["git", "clone", "--branch", self.git_ref, self.git_url,
                          self.repo_dir])
      install = job_lib.tpu_install_line(job_lib.pinned_jax_version())
      out.append(self._ssh(f"{clone} && cd {job_lib.quote(self.repo_dir)} && {install}"))
    out.append(self._ssh(job_lib.shell_line(
        job, self.python, setup=[f"cd {job_lib.quote(self.repo_dir)}"])))
    return out
