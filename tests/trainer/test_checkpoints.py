"""Checkpoints restore into a different mesh, shard by shard."""
import jax
import numpy as np
import pytest

from tests.model_configs import TINY_LLAMA, module_for, random_batch
from trainer import checkpoints as checkpoints_lib, optimizers, partitioning, train_state

RULES = partitioning.logical_axis_rules()


def sharded_state(mesh_shape, seed=0):
  mesh = partitioning.make_mesh(*mesh_shape)
  module = module_for(TINY_LLAMA)
  optimizer = optimizers.adafactor(optimizers.constant_schedule(1e-3))
  batch = random_batch(TINY_LLAMA)
  abstract, shardings = train_state.state_shardings(module, optimizer, batch, mesh, RULES)
  state = train_state.create_train_state(module, optimizer, batch, shardings, mesh, RULES, seed)
  return state, abstract


def test_restore_into_a_different_mesh(tmp_path):
  saved_state, _ = sharded_state((8, 1, 1))
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path), save_every=1)
  checkpoints.save(3, saved_state)
  checkpoints.close()

  _, target_abstract = sharded_state((2, 2, 2), seed=1)
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
