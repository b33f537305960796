"""A sharded SFT step computes what the single-device step computes, with real shards."""
import dataclasses
import functools

import jax
import numpy as np
import pytest

from models import stack
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for, random_batch
from trainer import optimizers, partitioning, train_state
from trainer.compile_step import abstract_batch_from_shapes, compile_sft_step

RULES = partitioning.logical_axis_rules()


def compiled_step(config, mesh_shape, num_microbatches=1, optimizer="adamw", **overrides):
  """The fresh train state and the compiled SFT step; overrides: ModelConfig fields."""
  devices = jax.devices()[:int(np.prod(mesh_shape))]
  mesh = partitioning.make_mesh(*mesh_shape, devices=devices)
  model = model_for(config, dropout_rate=0.0, **overrides)
  module = model.module
  lr = optimizers.constant_schedule(1e-2)
  optimizer = getattr(optimizers, optimizer)(lr)
  batch = random_batch(config)
  abstract, shardings = train_state.state_shardings(module, optimizer, batch, mesh, RULES)
  state = train_state.create_train_state(module, optimizer, batch, shardings, mesh, RULES, 0)
  shapes = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
  step = compile_sft_step(model, optimizer, lr, abstract, shardings,
                          abstract_batch_from_shapes(shapes, mesh, RULES), mesh, RULES,
                          num_microbatches=num_microbatches)
  return state, step, shardings


@functools.cache  # single-device references and the (2, 2, 2) Llama run serve several tests
def run_step(config, mesh_shape, num_microbatches=1, scan_layers=False, optimizer="adamw"):
  state, step, _ = compiled_step(config, mesh_shape, num_microbatches, optimizer,
                                 scan_layers=scan_layers)
  state, metrics = step(state, random_batch(config))
  return state, jax.device_get(metrics)


@functools.cache  # the unrolled runs also give the scanned runs their initial weights
def train_single_device(config, scan_layers, remat_policy, steps=3):
  """Unrolled and scanned runs start from the same weights (the unrolled initialisation,
  stacked for scan: scan's own initialiser splits the rng differently); returns the final
  parameters in the unrolled layout."""
  state, step, shardings = compiled_step(config, (1, 1, 1), scan_layers=scan_layers,
                                         remat_policy=remat_policy)
  if scan_layers:
    initial = train_single_device(config, False, remat_policy, steps=0)
    state = state.replace(params=jax.device_put(stack.stack_layers(initial), shardings.params))
  for seed in range(steps):
    state, _ = step(state, random_batch(config, seed=seed))
  params = jax.device_get(state.params)
  return stack.unstack_layers(params) if scan_layers else params


@pytest.mark.parametrize("config", [TINY_T5, TINY_LLAMA], ids=["t5", "llama"])
def test_sharded_step_matches_single_device(config):
  single_state, single_metrics = run_step(config, (1, 1, 1))
  state, metrics = run_step(config, (2, 2, 2))  # data, fsdp and model axes all in use
  np.testing.assert_allclose(metrics["loss"], single_metrics["loss"], rtol=1e-5)
  # Adam's first update is about lr * sign(grad): fp32 reduction-order noise in a near-zero
  # gradient moves it by a few 1e-6; a sharding bug moves it by ~lr (1e-2).
  for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(single_state.params)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=2e-5)


def test_parameters_are_really_sharded():
  state, _ = run_step(TINY_LLAMA, (2, 2, 2))
  mlp_in = state.params["decoder"]["layers"]["layers_0"]["mlp"]["wi_0"]["kernel"]
  assert mlp_in.shape == (32, 64)  # [embed, mlp]: embed on fsdp (2), mlp on model (2)
  assert {s.data.shape for s in mlp_in.addressable_shards} == {(16, 32)}
  embedding = state.params["token_embedder"]["embedding"]  # [vocab, embed]
  assert {s.data.shape for s in embedding.addressable_shards} == {(64, 16)}
  # Adam's moments follow their parameters.
  adam_state = state.opt_state[1][0]
  mu = adam_state.mu["decoder"]["layers"]["layers_0"]["mlp"]["wi_0"]["kernel"]
  assert mu.sharding == mlp_in.sharding


def assert_same_params(got, want, rtol, atol):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


def test_microbatching_matches_one_batch():
  whole_state, whole = run_step(TINY_T5, (1, 1, 1))
  micro_state, micro = run_step(TINY_T5, (4, 1, 2), num_microbatches=2)
  np.testing.assert_allclose(micro["loss"], whole["loss"], rtol=1e-5)
  np.testing.assert_allclose(micro["grad_norm"], whole["grad_norm"], rtol=1e-4)
  # Near-zero gradients: reduction-order noise moves Adam's ~lr * sign(grad) update by up to
  # ~1e-5; splitting the batch wrongly moves it by ~lr (1e-2).
  assert_same_params(micro_state.params, whole_state.params, rtol=1e-5, atol=2e-5)


SLOW = pytest.mark.slow


@pytest.mark.parametrize("remat_policy", [pytest.param("none", marks=SLOW), "full",
                                          pytest.param("dots", marks=SLOW),
                                          pytest.param("dots_no_batch", marks=SLOW)])
@pytest.mark.parametrize("config", [TINY_T5, TINY_LLAMA], ids=["t5", "llama"])
def test_scanned_layers_train_like_unrolled_layers(config, remat_policy):
  assert sorted(stack.REMAT_POLICIES) == ["dots", "dots_no_batch", "full", "none"]
  unrolled = train_single_device(config, False, remat_policy)
  scanned = train_single_device(config, True, remat_policy)
  # As in the microbatching test: noise of ~1e-5 in Adam's sign-like updates, a layer
  # mixed up or a wrong gradient moves them by ~lr (1e-2).
  assert_same_params(scanned, unrolled, rtol=1e-5, atol=2e-5)


def test_scanned_adafactor_state_is_sharded_and_exact():
  config = dataclasses.replace(TINY_LLAMA, emb_dim=256, mlp_dim=512)  # big enough to factor
  single_state, single_metrics = run_step(config, (1, 1, 1), scan_layers=True,
                                          optimizer="adafactor")
  state, metrics = run_step(config, (2, 2, 2), scan_layers=True, optimizer="adafactor")
  np.testing.assert_allclose(metrics["loss"], single_metrics["loss"], rtol=1e-5)
  for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(single_state)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6)
  wi_state = state.opt_state["decoder"]["layers"]["layers"]["mlp"]["wi_0"]["kernel"]
  row_stats = wi_state[0].v_row  # [layers, embed]: the mlp axis was factored away
  assert row_stats.shape == (2, 256)
  assert {s.data.shape for s in row_stats.addressable_shards} == {(2, 128)}  # embed on fsdp
