"""The compiled DPO step on 8 simulated devices, a (2, 2, 2) mesh with the data, fsdp and
model axes all in use, computes what it computes on one device."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.model_configs import TINY_LLAMA, model_for
from trainer import partitioning, restore, train_state
from trainer.rlhf.dpo import loop
from trainer.rlhf.dpo.losses import DPOConfig

CONFIG = dataclasses.replace(TINY_LLAMA, num_decoder_layers=1)
RULES = partitioning.logical_axis_rules()


def one_step(mesh_shape, batch):
  mesh = partitioning.make_mesh(*mesh_shape, devices=jax.devices()[:int(np.prod(mesh_shape))])
  model = model_for(CONFIG)
  optimizer = optax.adam(1e-2)
  example, _ = model.sequence_batch(jnp.asarray(batch["prompts"]),
                                    jnp.asarray(batch["chosen"]), 1)
  _, shardings = train_state.state_shardings(model.module, optimizer, example, mesh, RULES)
  reference = restore.init_params(model.module, example, shardings.params, mesh, RULES, 0)
  policy = restore.init_params(model.module, example, shardings.params, mesh, RULES, 1)
  state = jax.jit(lambda p: train_state.TrainState(jnp.zeros((), jnp.int32), p,
                                                   optimizer.init(p)),
                  out_shardings=shardings)(policy)
  step = loop.compile_dpo_step(model, optimizer, optax.constant_schedule(1e-2),
                               DPOConfig(beta=0.5, reference="online"), shardings, mesh,
                               RULES, eos_id=1)
  state, metrics = step(state, reference, batch)
  return state, jax.device_get(metrics)


@pytest.mark.slow
def test_sharded_dpo_step_matches_single_device():
  rng = np.random.default_rng(0)
  batch = {name: rng.integers(2, CONFIG.vocab_size, size=(4, length)).astype(np.int32)
           for name, length in (("prompts", 6), ("chosen", 5), ("rejected", 5))}
  batch["rejected"][:, 3:] = 0  # padding: responses of different lengths
  single_state, single = one_step((1, 1, 1), batch)
  state, sharded = one_step((2, 2, 2), batch)
  assert state.params["token_embedder"]["embedding"].sharding.mesh.devices.size == 8
  for name in ("loss", "reward_margin", "reward_accuracy", "grad_norm"):
    np.testing.assert_allclose(sharded[name], single[name], rtol=1e-5, atol=1e-6)
  # As in the SFT sharding test: Adam's first update is ~lr * sign(grad), so reduction-
  # order noise moves a near-zero gradient's update by a few 1e-6, a sharding bug by ~lr.
  for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(single_state.params)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=2e-5)
