"""The PEFT train step: the state holds only the delta, the frozen base is an argument that
comes out bit-identical, every trainable leaf moves, 8 devices equal 1."""
import functools

import jax
import numpy as np
import pytest

from models import make_model, peft
from models.peft import param_trees
from tests.model_configs import TINY_LLAMA, TINY_T5, random_batch
from trainer import frozen_base, optimizers, partitioning, train_state
from trainer.compile_step import abstract_batch_from_shapes, compile_sft_step

RULES = partitioning.logical_axis_rules()
METHODS = {"lora": lambda: peft.LoRA(rank=4), "houlsby": lambda: peft.Adapters(bottleneck_dim=8),
           "prefix_tuning": lambda: peft.PrefixTuning(length=3, hidden_dim=8),
           "p_tuning": lambda: peft.PTuning(length=3, hidden_dim=8),
           "p_tuning_v2": lambda: peft.PTuningV2(length=3)}
CONFIGS = {"t5": TINY_T5, "llama": TINY_LLAMA}


@functools.cache
def run_steps(config, method, mesh_shape, steps=2):
  mesh = partitioning.make_mesh(*mesh_shape, devices=jax.devices()[:int(np.prod(mesh_shape))])
  # Unpacked: T5 refuses packing with positions in front of the encoder input.
  model = make_model(config, pack=False, peft=METHODS[method]())
  lr = optimizers.constant_schedule(1e-2)
  optimizer = optimizers.adamw(lr)
  batch = random_batch(config)
  base = frozen_base.load(model, mesh, RULES, seed=0)
  frozen_copy = jax.tree.map(np.array, base.frozen)
  base_copy = model.join_params(frozen_copy, jax.tree.map(np.array, base.trained))
  trainable = lambda params: model.split_params(params)[1]
  abstract, shardings = train_state.state_shardings(model.module, optimizer, batch, mesh, RULES,
                                                    trainable)
  state = train_state.create_train_state(model.module, optimizer, batch, shardings, mesh,
                                         RULES, 0, trainable)
  state = state.replace(params=model.join_params(state.params, base.trained))
  initial = jax.tree.map(np.array, state.params)
  shapes = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
  step = compile_sft_step(model, optimizer, lr, abstract, shardings,
                          abstract_batch_from_shapes(shapes, mesh, RULES), mesh, RULES,
                          abstract_frozen=base.abstract_frozen)
  losses = []
  for _ in range(steps):
    state, metrics = step(state, batch, base.frozen)
    losses.append(float(metrics["loss"]))
  return base, frozen_copy, base_copy, initial, state, losses


@pytest.mark.parametrize("config_name,method", [
    ("t5", "lora"), pytest.param("t5", "houlsby", marks=pytest.mark.slow),
    ("t5", "prefix_tuning"), ("llama", "p_tuning_v2"), ("llama", "p_tuning"),
    pytest.param("llama", "prefix_tuning", marks=pytest.mark.slow),
    pytest.param("t5", "p_tuning_v2", marks=pytest.mark.slow)])
def test_only_the_delta_trains_and_the_base_stays_bit_identical(config_name, method):
  base, frozen_copy, base_copy, initial, state, losses = run_steps(CONFIGS[config_name], method,
                                                                   (1, 1, 1))
  # The frozen arrays were neither donated nor changed.
  for got, want in zip(jax.tree.leaves(base.frozen), jax.tree.leaves(frozen_copy)):
    np.testing.assert_array_equal(np.asarray(got), want)
  assert base.identity["fingerprint"] == frozen_base.fingerprint(base_copy)
  # State, gradients and optimizer state cover exactly the method's leaves, all of which
  # moved (LoRA's A moves from the second step, once B is no longer zero).
  names = set(param_trees.flat(state.params))
  assert names == set(param_trees.flat(initial))
  assert not names & set(param_trees.flat(base.frozen))
  adam_mu = state.opt_state[1][0].mu
  assert set(param_trees.flat(adam_mu)) == names
  for path, leaf in param_trees.flat(state.params).items():
    assert not np.array_equal(np.asarray(leaf), param_trees.flat(initial)[path]), path
  assert losses[1] < losses[0]


# A leaf of each method: its path under layers_0's self-attention, its shape and its shards'.
SHARDED_LEAVES = {"lora": (("query", "lora", "a"), (32, 4), (16, 4)),  # embed on fsdp
                  "p_tuning_v2": (("prefix", "key"), (3, 2, 8), (3, 1, 8))}  # kv_heads on model


@pytest.mark.slow  # four compilations
@pytest.mark.parametrize("method", sorted(SHARDED_LEAVES))
def test_sharded_peft_step_matches_single_device(method):
  *_, single_state, single_losses = run_steps(TINY_LLAMA, method, (1, 1, 1))
  *_, state, losses = run_steps(TINY_LLAMA, method, (2, 2, 2))
  np.testing.assert_allclose(losses, single_losses, rtol=1e-5)
  for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(single_state.params)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=2e-5)
  path, shape, shard_shape = SHARDED_LEAVES[method]
  leaf = state.params["decoder"]["layers"]["layers_0"]["self_attention"]
  for key in path:
    leaf = leaf[key]
  assert leaf.shape == shape
  assert {s.data.shape for s in leaf.addressable_shards} == {shard_shape}


def test_rlhf_stages_refuse_a_peft_model_by_name(tmp_path):
  from trainer.rlhf import comparison_sampling  # pylint: disable=import-outside-toplevel
  model = make_model(TINY_LLAMA, peft=peft.IA3())
  with pytest.raises(NotImplementedError, match=r"sample_comparisons: ia3\(.*\) is set"):
    comparison_sampling.sample_comparisons(str(tmp_path / "out"), str(tmp_path), model=model,
                                           clusters=["x"])
  assert not list(tmp_path.iterdir())
