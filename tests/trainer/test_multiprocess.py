"""train.py --multiprocess: two processes of two CPU devices each train one sharded run,
the run one process trains on the same global mesh from the same batches."""
import json
import os
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from trainer import checkpoints as checkpoints_lib

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


MODEL_FLAGS = ["--gin.ModelConfig.emb_dim=32", "--gin.ModelConfig.mlp_dim=64",
               "--gin.ModelConfig.num_encoder_layers=1", "--gin.ModelConfig.num_decoder_layers=1",
               "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 8}",
               "--gin.make_mesh.data=2", "--gin.make_mesh.fsdp=2"]


def devices_env(count: int) -> dict:
  return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count} "
              "--xla_backend_optimization_level=0", JAX_PLATFORMS="cpu")


def run_two_processes(script: str, flags: list[str]) -> list[str]:
  """Both processes' output; fails showing the output of any process that failed."""
  port = free_port()
  env = devices_env(2)
  command = [sys.executable, script, *flags, *MODEL_FLAGS, "--multiprocess",
             f"--coordinator_address=localhost:{port}", "--num_processes=2"]
  processes = [subprocess.Popen(command + [f"--process_id={i}"], cwd=REPO_DIR, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for i in range(2)]
  try:
    outputs = [p.communicate(timeout=400)[0] for p in processes]
  finally:
    for p in processes:
      p.kill()
  for i, (p, output) in enumerate(zip(processes, outputs)):
    assert p.returncode == 0, f"{script} process {i} failed:\n{output[-3000:]}"
  return outputs


TRAIN_FLAGS = ["--gin_file=gin/runs/sft_tiny.gin", "--gin.BATCH_SIZE=8",
               "--gin.MIXTURE_OR_TASK_NAME='suite_addition'", "--gin.train.checkpoint_every=2",
               "--gin.train.log_every=1"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """(MODEL_DIR, outputs) of a two-process training run of two steps."""
  model_dir = tmp_path_factory.mktemp("run")
  # make_mesh spreads the data axis over both processes' devices; FSDP puts a parameter's
  # shards on both hosts, so every step needs cross-process collectives.
  outputs = run_two_processes("train.py", [
      *TRAIN_FLAGS, f"--gin.MODEL_DIR='{model_dir}'", "--gin.TRAIN_STEPS=2"])
  return model_dir, outputs


def run_one_process(command: list[str], devices: int) -> str:
  done = subprocess.run([sys.executable, *command], cwd=REPO_DIR, env=devices_env(devices),
                        capture_output=True, text=True, timeout=400)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  return done.stdout


def logged(model_dir) -> list[dict]:
  with open(model_dir / "metrics.jsonl") as f:
    return [json.loads(line) for line in f]


def saved_arrays(model_dir, step: int) -> dict:
  """A checkpoint's arrays on this process's first device, whatever mesh saved them."""
  manager = checkpoints_lib.Checkpoints(str(model_dir / "checkpoints"), save_every=1).manager
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                          manager.item_metadata(step).tree)
  restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
  return jax.tree.map(np.asarray, restored)


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains_on_the_same_mesh(trained_run, tmp_path):
  two_processes, _ = trained_run
  one_process = tmp_path / "run"
  run_one_process(["-m", "tests.trainer.two_processes_in_one", *TRAIN_FLAGS, *MODEL_FLAGS,
                   f"--gin.MODEL_DIR='{one_process}'", "--gin.TRAIN_STEPS=2"], devices=4)
  want, got = logged(one_process), logged(two_processes)
  assert [r["step"] for r in got] == [r["step"] for r in want] == [1, 2]
  # Equal up to float32 rounding: across processes a sum's partial results meet in
  # another order than on one host.
  for key in ("loss", "grad_norm"):
    np.testing.assert_allclose([r[key] for r in got], [r[key] for r in want], rtol=1e-6,
                               err_msg=key)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8),
               saved_arrays(two_processes, 2), saved_arrays(one_process, 2))


@pytest.mark.slow
def test_two_processes_train_one_run(trained_run):
  tmp_path, outputs = trained_run
  records = logged(tmp_path)
  assert [r["step"] for r in records] == [1, 2]  # written once, by process 0
  assert all(r["loss"] > 0 for r in records)
  assert os.listdir(tmp_path / "checkpoints") == ["2"]
  assert "step 2/2" in outputs[0] and "step 2/2" not in outputs[1]
  # Each process saves its own input position.
  assert sorted(os.listdir(tmp_path / "input_state" / "2")) == [
      f"process_{i}.{ext}" for i in range(2) for ext in ("data-00000-of-00001", "index", "json")]


@pytest.mark.slow
def test_one_process_resumes_a_two_process_run_saying_what_changed(trained_run, tmp_path):
  model_dir = tmp_path / "run"
  shutil.copytree(trained_run[0], model_dir)
  output = run_one_process(["train.py", *TRAIN_FLAGS, *MODEL_FLAGS,
                            f"--gin.MODEL_DIR='{model_dir}'", "--gin.TRAIN_STEPS=3"], devices=4)
  assert ("the input state was saved by 2 processes and this run has 1" in output
          and "replaying 2 batches" in output), output[-3000:]
  assert "step 3/3" in output


@pytest.mark.slow
def test_two_processes_evaluate_one_run(trained_run):
  model_dir, _ = trained_run
  run_two_processes("eval.py", [
      "--gin_file=gin/models/t5_1_1_tiny.gin", "--gin_file=gin/mixtures/instruct_suite.gin",
      "--gin_file=gin/runs/eval.gin", f"--gin.MODEL_DIR='{model_dir}'",
      "--gin.Evaluation.mixture_or_task_name='suite_addition'",
      "--gin.Evaluation.num_examples=8", "--gin.Evaluation.batch_size=8"])
  with open(model_dir / "eval" / "eval" / "results.json") as f:
    written = json.load(f)
  assert written["step"] == 2
  assert set(written["tasks"]) == {"suite_addition"}
