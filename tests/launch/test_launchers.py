"""Dry runs of the three launchers, read back the way a shell on the hosts would read them."""
import argparse
import importlib.metadata
import os
import re
import subprocess

import hypothesis
from hypothesis import strategies as st
import pytest

from launch import __main__ as launch_cli
from launch import job as job_lib
from launch import slurm, xpk

TRAIN_FLAGS = ["--gin_file=gin/runs/sft_tiny.gin", "--gin.MODEL_DIR='gs://bucket/run 1'",
               "--gin.BATCH_SIZE=64"]
TPU = ["tpu", "--tpu_name=pod-1", "--zone=us-west4-a", "--project=proj", "--dry_run"]
XPK = ["xpk", "--cluster=c1", "--workload=sft", "--tpu_type=v5litepod-16", "--zone=z",
       "--project=p", "--dry_run"]


def bash(script: str, *stubs: str) -> list[list[str]]:
  """Runs `script` in bash with each stub command printing its arguments; returns them."""
  defs = "".join(f"{s}() {{ printf '%s\\0' {s} \"$@\"; printf '\\1'; }}; " for s in stubs)
  out = subprocess.run(["bash", "-c", defs + script], capture_output=True,
                       check=True).stdout.decode()
  return [record.split("\0")[:-1] for record in out.split("\1")[:-1]]


def dry_run(capsys, argv) -> list[str]:
  assert launch_cli.main(argv) == 0
  return capsys.readouterr().out.splitlines()


def pinned_jax() -> str:
  return importlib.metadata.version("jax")  # the environment installs the pinned one


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\0\1"),
                                   max_size=12), min_size=1, max_size=4))
def test_quoted_words_reach_the_program_unchanged(words):
  assert bash(job_lib.shell_join(["cmd", *words]), "cmd") == [["cmd", *words]]


def test_tpu_pod_runs_the_same_train_command_on_every_worker(capsys):
  (line,) = dry_run(capsys, TPU + ["--", *TRAIN_FLAGS])
  (argv,) = bash(line, "gcloud")
  assert argv[:10] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "pod-1",
                       "--zone=us-west4-a", "--project=proj", "--worker=all",
                       argv[9]] and len(argv) == 10
  remote = argv[9].removeprefix("--command=")
  assert bash(remote, "cd", "python") == [["cd", "instructax"],
                                          ["python", "train.py", "--multiprocess", *TRAIN_FLAGS]]


def test_tpu_setup_clones_and_installs_the_pinned_jax_with_libtpu(capsys):
  setup, _ = dry_run(capsys, TPU + ["--setup", "--git_url=https://example.org/ix.git", "--",
                                    *TRAIN_FLAGS])
  remote = bash(setup, "gcloud")[0][-1].removeprefix("--command=")
  assert bash(remote, "git", "cd", "pip") == [
      ["git", "clone", "--branch", "main", "https://example.org/ix.git", "instructax"],
      ["cd", "instructax"], ["pip", "install", "-e", ".", f"jax[tpu]=={pinned_jax()}"]]


def test_xpk_workload_create_flags(capsys):
  (line,) = dry_run(capsys, XPK + ["--", *TRAIN_FLAGS])
  (argv,) = bash(line, "xpk")
  assert argv[:3] == ["xpk", "workload", "create"]
  flags = dict(a.split("=", 1) for a in argv[3:])
  assert flags == {"--cluster": "c1", "--workload": "sft", "--tpu-type": "v5litepod-16",
                   "--num-slices": "1", "--project": "p", "--zone": "z", "--script-dir": ".",
                   "--command": flags["--command"]}
  assert bash(flags["--command"], "pip", "python") == [
      ["pip", "install", "-e", ".", f"jax[tpu]=={pinned_jax()}"],
      ["python", "train.py", "--multiprocess", *TRAIN_FLAGS]]


def test_xpk_with_an_image_installs_nothing(capsys):
  (line,) = dry_run(capsys, XPK + ["--docker_image=gcr.io/p/ix:1", "--", *TRAIN_FLAGS])
  (argv,) = bash(line, "xpk")
  assert "--docker-image=gcr.io/p/ix:1" in argv and not any("script-dir" in a for a in argv)
  assert bash(argv[-1].removeprefix("--command="), "python") == [
      ["python", "train.py", "--multiprocess", *TRAIN_FLAGS]]


def test_xpk_workload_names_follow_xpks_rule():
  long = xpk.workload_name("sweep", "trained_on=dataset_names,clusters=9,lr=0.001")
  assert len(long) <= 40 and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", long)
  assert long != xpk.workload_name("sweep", "trained_on=dataset_names,clusters=9,lr=0.003")
  with pytest.raises(job_lib.LaunchSettingsError, match="must start with a letter"):
    xpk.workload_name("9lives", None)


def test_slurm_script_runs_srun_once_per_program(capsys):
  lines = dry_run(capsys, ["slurm", "--nodes=4", "--gpus_per_node=8", "--chdir=/shared/ix",
                           "--dry_run", "--", *TRAIN_FLAGS])
  assert lines[0] == "sbatch <<'END_OF_SCRIPT'" and lines[-1] == "END_OF_SCRIPT"
  script = "\n".join(lines[1:-1]) + "\n"
  for directive in ("--nodes=4", "--ntasks-per-node=1", "--gpus-per-node=8",
                    "--chdir=/shared/ix"):
    assert f"#SBATCH {directive}" in script
  assert bash(script, "srun") == [["srun", "python", "train.py", "--multiprocess",
                                   *TRAIN_FLAGS]]


def test_slurm_job_names_of_sweep_arms_are_plain():
  args = argparse.Namespace(nodes=1, job_name="flan", chdir="/x", python="python",
                            gpus_per_node=None, partition=None, account=None, time=None)
  script = slurm.Slurm.from_args(args).script(
      job_lib.Job((("train.py", "--gin_file=a.gin"),), name="trained_on=names,lr=0.1"))
  assert "#SBATCH --job-name=flan-trained_on-names-lr-0.1\n" in script


def test_slurm_submits_exactly_the_printed_script(capsys, tmp_path, monkeypatch):
  fake = tmp_path / "sbatch"
  fake.write_text(f"#!/bin/sh\ncat > {tmp_path}/submitted\n")
  fake.chmod(0o755)
  monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
  assert launch_cli.main(["slurm", "--nodes=2", "--", *TRAIN_FLAGS]) == 0
  printed = capsys.readouterr().out.splitlines()
  assert (tmp_path / "submitted").read_text() == "\n".join(printed[1:-1]) + "\n"


@pytest.mark.parametrize("argv, message", [
    (["tpu", "--tpu_name=x", "--dry_run"], "needs --zone, --project"),
    (["tpu", "--tpu_name=x", "--zone=z", "--project=p", "--setup"], "--setup needs --git_url"),
    (["xpk", "--workload=w", "--tpu_type=v4-8", "--zone=z", "--project=p"], "needs --cluster"),
    (["xpk", "--cluster=c", "--workload=w", "--zone=z", "--project=p"], "exactly one of"),
    (["xpk", "--cluster=c", "--workload=w", "--zone=z", "--project=p",
      "--device_type=h100-80gb-8"], "--device_type needs --docker_image"),
    (["slurm", "--dry_run"], "needs --nodes"),
    (["slurm", "--nodes=0"], "--nodes must be >= 1"),
])
def test_missing_settings_fail_before_anything_runs(capsys, argv, message):
  assert launch_cli.main(argv + ["--", *TRAIN_FLAGS]) == 2
  captured = capsys.readouterr()
  assert captured.out == "" and message in captured.err


def test_nothing_to_launch(capsys):
  assert launch_cli.main(["slurm", "--nodes=1", "--dry_run"]) == 2
  assert "give the train.py flags after `--`" in capsys.readouterr().err
