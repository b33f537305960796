"""Jit a step with shardings derived from the mesh rules, compiled ahead of time.

The same function serves a training run (concrete arrays), and AOT sizing for a pod
topology (abstract arrays over simulated devices): both go through `lower(...).compile()`.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from trainer import partitioning
from trainer.sft_step import sft_step


def train_batch_shapes(model, task_feature_lengths: dict, batch_size: int) -> dict:
  """{feature: ShapeDtypeStruct} of a packed training batch, from the task's feature lengths
  through the model kind's feature converter, without reading any data."""
  lengths = model.train_feature_converter().get_model_feature_lengths(task_feature_lengths)
  return {k: jax.ShapeDtypeStruct((batch_size, v), jnp.int32) for k, v in lengths.items()}


def batch_shardings(abstract_batch, mesh, rules):
  return {k: partitioning.batch_sharding(mesh, rules, v.ndim) for k, v in abstract_batch.items()}


def abstract_batch_from_shapes(batch_shapes, mesh, rules):
  """{name: ShapeDtypeStruct} with the batch sharding attached."""
  shardings = batch_shardings(batch_shapes, mesh, rules)
  return {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=shardings[k])
          for k, v in batch_shapes.items()}


def compile_sft_step(model, optimizer, learning_rate_fn, abstract_state, state_shardings,
                     abstract_batch, mesh, rules, abstract_frozen=None, **step_options):
  """Returns the compiled executable: (state, batch) -> (state, metrics); state donated.
  `model` is a models.model_kinds.ModelKind.

  abstract_frozen: a parameter-efficient run's frozen base (ShapeDtypeStructs carrying
  their shardings); the executable is then (state, batch, frozen) -> (state, metrics),
  the frozen weights an argument that is neither donated nor returned.
  """
  step = functools.partial(sft_step, loss_sums_fn=model.loss_sums, optimizer=optimizer,
                           learning_rate_fn=learning_rate_fn, **step_options)
  in_shardings = (state_shardings, batch_shardings(abstract_batch, mesh, rules))
  args = (abstract_state, abstract_batch)
  if abstract_frozen is not None:
    in_shardings += (jax.tree.map(lambda leaf: leaf.sharding, abstract_frozen),)
    args += (abstract_frozen,)
  jitted = jax.jit(step, in_shardings=in_shardings,
                   out_shardings=(state_shardings, partitioning.replicated(mesh)),
                   donate_argnums=(0,))
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return jitted.lower(*args).compile()
