"""GKE through xpk: `xpk workload create` runs the command in a container on every node of
the workload's slices; jax.distributed finds its coordinator from the environment GKE sets.

Flags as xpk 1.16's own parser (xpk/parser/workload.py) defines them: --cluster,
--workload, --tpu-type or --device-type, --num-slices, --project, --zone,
--docker-image or --base-docker-image with --script-dir, --command. Without
--docker_image, xpk builds an image from --script_dir on its default base image, so the
command installs instructax with jax[tpu] before training (TPU types; a
--device_type needs an image of its own).
"""
import argparse
import dataclasses
import hashlib
import re

from launch import job as job_lib

# xpk's own rule for workload names (xpk/parser/validators.py: name_type).
_WORKLOAD_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_WORKLOAD_NAME_MAX = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--cluster", help="the GKE cluster xpk created")
  parser.add_argument("--workload", help="workload name (a sweep appends each arm's)")
  parser.add_argument("--tpu_type", help="e.g. v5litepod-16 (or give --device_type)")
  parser.add_argument("--device_type", help="e.g. h100-80gb-8 (or give --tpu_type)")
  parser.add_argument("--num_slices", type=int, default=1)
  parser.add_argument("--zone", help="the cluster's zone")
  parser.add_argument("--project", help="the cluster's Google Cloud project")
  parser.add_argument("--docker_image", help="an image with instructax installed")
  parser.add_argument("--base_docker_image",
                      help="base image xpk adds --script_dir to (default: xpk's)")
  parser.add_argument("--script_dir", default=".", help="copied into the image (default: .)")
  parser.add_argument("--python", default="python", help="the container's Python")


def workload_name(base: str, suffix: str | None) -> str:
  """`base-suffix` in xpk's alphabet; long names keep a hash of the full name."""
  name = base if suffix is None else f"{base}-{suffix}"
  name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
  if len(name) > _WORKLOAD_NAME_MAX:
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    name = f"{name[:_WORKLOAD_NAME_MAX - 9].rstrip('-')}-{digest}"
  if not _WORKLOAD_NAME.fullmatch(name):
    raise job_lib.LaunchSettingsError(
        f"xpk workload name {name!r} (from --workload {base!r}) must start with a letter "
        f"and use only a-z, 0-9 and '-'")
  return name


@dataclasses.dataclass(frozen=True)
class Xpk:
  cluster: str
  workload: str
  accelerator_flag: str  # "--tpu-type=v5litepod-16" or "--device-type=..."
  num_slices: int
  zone: str
  project: str
  image_flags: tuple[str, ...]
  python: str = "python"
  install_first: bool = True

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> "Xpk":
    job_lib.require("xpk", {"cluster": args.cluster, "workload": args.workload,
                            "zone": args.zone, "project": args.project})
    if bool(args.tpu_type) == bool(args.device_type):
      raise job_lib.LaunchSettingsError("the xpk launcher needs exactly one of --tpu_type "
                                        "and --device_type")
    if args.num_slices < 1:
      raise job_lib.LaunchSettingsError(f"--num_slices must be >= 1, got {args.num_slices}")
    if args.docker_image and args.base_docker_image:
      raise job_lib.LaunchSettingsError("give --docker_image or --base_docker_image, not "
                                        "both (xpk treats them as exclusive)")
    if args.device_type and not args.docker_image:
      raise job_lib.LaunchSettingsError("the xpk launcher's --device_type needs "
                                        "--docker_image: an image with instructax and the "
                                        "device's JAX installed (jax[tpu] is installed "
                                        "only for --tpu_type)")
    accelerator = (f"--tpu-type={args.tpu_type}" if args.tpu_type
                   else f"--device-type={args.device_type}")
    if args.docker_image:
      image = (f"--docker-image={args.docker_image}",)
    else:
      image = ((f"--base-docker-image={args.base_docker_image}",) if args.base_docker_image
               else ()) + (f"--script-dir={args.script_dir}",)
    return cls(args.cluster, args.workload, accelerator, args.num_slices, args.zone,
               args.project, image, args.python, install_first=not args.docker_image)

  def invocations(self, job: job_lib.Job) -> list[job_lib.Invocation]:
    setup = [job_lib.tpu_install_line(job_lib.pinned_jax_version())] if self.install_first \
        else []
    return [job_lib.Invocation((
        "xpk", "workload", "create", f"--cluster={self.cluster}",
        f"--workload={workload_name(self.workload, job.name)}", self.accelerator_flag,
        f"--num-slices={self.num_slices}", f"--project={self.project}", f"--zone={self.zone}",
        *self.image_flags, f"--command={job_lib.shell_line(job, self.python, setup)}"))]
