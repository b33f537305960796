"""Checkpoints restore into a different mesh, shard by shard; a save that fails for lack of
space or a file-size limit is reported, and the previous checkpoint resumes."""
import errno
import functools
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.model_configs import TINY_LLAMA, module_for, random_batch
from tests.trainer import test_stage_runner
from trainer import checkpoints as checkpoints_lib, optimizers, partitioning, restore
from trainer import stage_runner, train_state

RULES = partitioning.logical_axis_rules()


MODULE = module_for(TINY_LLAMA)
OPTIMIZER = optimizers.adafactor(optimizers.constant_schedule(1e-3))
BATCH = random_batch(TINY_LLAMA)


def abstract_state(mesh):
  return train_state.state_shardings(MODULE, OPTIMIZER, BATCH, mesh, RULES)


@functools.cache
def sharded_state(mesh_shape):
  mesh = partitioning.make_mesh(*mesh_shape)
  abstract, shardings = abstract_state(mesh)
  state = train_state.create_train_state(MODULE, OPTIMIZER, BATCH, shardings, mesh, RULES, 0)
  return state, abstract


def test_restore_into_a_different_mesh(tmp_path):
  saved_state, _ = sharded_state((8, 1, 1))
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path), save_every=1)
  checkpoints.save(3, saved_state)
  checkpoints.close()

  target_abstract, _ = abstract_state(partitioning.make_mesh(2, 2, 2))
  restored = checkpoints_lib.Checkpoints(str(tmp_path), save_every=1).restore(target_abstract)
  for got, want, target in zip(jax.tree.leaves(restored), jax.tree.leaves(saved_state),
                               jax.tree.leaves(target_abstract)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert got.sharding == target.sharding
  kernel = restored.params["decoder"]["layers"]["layers_0"]["mlp"]["wi_0"]["kernel"]
  assert {s.data.shape for s in kernel.addressable_shards} == {(16, 32)}


def test_missing_parameters_are_named(tmp_path):
  state, abstract = sharded_state((8, 1, 1))
  params = dict(state.params)
  params.pop("token_embedder")
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path), save_every=1)
  checkpoints.save(1, state.replace(params=params))
  checkpoints.close()
  with pytest.raises(checkpoints_lib.IncompatibleCheckpointError,
                     match="missing from the checkpoint: token_embedder/embedding"):
    checkpoints_lib.Checkpoints(str(tmp_path), save_every=1).restore(abstract)


# A failed save (a full disk, a file-size limit), with the checkpoints apart from MODEL_DIR
# so that only orbax's writes meet the fault: the message names the step directory and the
# operating system's reason, the previous checkpoint stays, and the same run once the space
# is back resumes from it.

def run_toy(model_dir, checkpoint_dir, steps):
  checkpoints = checkpoints_lib.Checkpoints(str(checkpoint_dir), save_every=2)
  return stage_runner.run(test_stage_runner.sum_stage(), steps, model_dir=str(model_dir),
                          checkpoints=checkpoints, log_every=1)


def check_resumes_from_step_2(model_dir, checkpoint_dir, capsys):
  capsys.readouterr()
  state, _ = run_toy(model_dir, checkpoint_dir, 4)
  assert f"resumed toy from {checkpoint_dir} at step 2" in capsys.readouterr().out
  assert float(state.params["total"]) == 10.0
  assert checkpoints_lib.Checkpoints(str(checkpoint_dir), 2).latest_step() == 4


@pytest.fixture
def small_filesystem(tmp_path):
  mount_point = tmp_path / "small_fs"
  mount_point.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                           capture_output=True, text=True, check=False)
  if mounted.returncode:
    pytest.skip(f"mounting a tmpfs needs root: {mounted.stderr.strip()}")
  yield mount_point
  subprocess.run(["umount", str(mount_point)], check=True)


def fill(filesystem):
  """Writes a file until the filesystem is full; returns its path."""
  filler = filesystem / "filler"
  with open(filler, "wb", buffering=0) as f:
    try:
      while True:
        f.write(b"\0" * 4096)
    except OSError as e:
      assert e.errno == errno.ENOSPC
  return filler


# tensorstore completes the failed save's other writes on orbax's closed event loop.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_full_disk_save_fails_naming_path_and_reason_and_resumes(tmp_path, small_filesystem,
                                                                 capsys):
  checkpoint_dir = small_filesystem / "checkpoints"
  run_toy(tmp_path, checkpoint_dir, 2)
  filler = fill(small_filesystem)
  with pytest.raises(checkpoints_lib.CheckpointSaveError,
                     match=rf"^saving checkpoint {checkpoint_dir}/4 failed: No space left on "
                           rf"device; the previous checkpoint {checkpoint_dir}/2 is intact"):
    run_toy(tmp_path, checkpoint_dir, 4)
  filler.unlink()
  check_resumes_from_step_2(tmp_path, checkpoint_dir, capsys)


# The file-size limit applies to a whole process, so the failing run is a child; it
# ignores SIGXFSZ as train.py does (the signal would otherwise kill it mid-write).
FILE_SIZE_LIMITED_RUN = """
import resource, signal, sys
from tests.trainer import test_checkpoints
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.RLIM_INFINITY))
test_checkpoints.run_toy(sys.argv[1], sys.argv[2], 4)
"""


def test_file_size_limit_save_fails_naming_path_and_reason_and_resumes(tmp_path, capsys):
  checkpoint_dir = tmp_path / "checkpoints"
  run_toy(tmp_path, checkpoint_dir, 2)
  child = subprocess.run(
      [sys.executable, "-c", FILE_SIZE_LIMITED_RUN, str(tmp_path), str(checkpoint_dir)],
      capture_output=True, text=True, check=False, timeout=300,
      cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
  assert child.returncode == 1, child.stderr
  assert (f"CheckpointSaveError: saving checkpoint {checkpoint_dir}/4 failed: File too large; "
          f"the previous checkpoint {checkpoint_dir}/2 is intact") in child.stderr
  check_resumes_from_step_2(tmp_path, checkpoint_dir, capsys)


def test_unreadable_checkpoint_for_its_params_is_named_and_an_older_step_reads(tmp_path):
  # Evaluation and the next stage read a checkpoint's params; they never fall back silently.
  checkpoint_dir = tmp_path / "checkpoints"
  run_toy(tmp_path, checkpoint_dir, 4)
  with open(checkpoint_dir / "4" / "default" / "_sharding", "r+b") as f:
    f.truncate(10)
  params = test_stage_runner.ABSTRACT.params
  with pytest.raises(checkpoints_lib.UnreadableCheckpointError,
                     match=rf"^checkpoint {checkpoint_dir}/4 cannot be read \(.*Invalid JSON"):
    restore.restore_params(str(tmp_path), params)
  restored, step = restore.restore_params(str(checkpoint_dir / "2"), params)
  assert step == 2 and float(restored["total"]) == 3.0
  assert sorted(os.listdir(checkpoint_dir)) == ["2", "4"]
