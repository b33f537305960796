"""Checkpoints restore into a different mesh, shard by shard."""
import functools

import jax
import numpy as np
import pytest

from tests.model_configs import TINY_LLAMA, module_for, random_batch
from trainer import checkpoints as checkpoints_lib, optimizers, partitioning, train_state

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
