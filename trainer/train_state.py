"""The train state and its shardings, derived from abstract shapes before anything exists.

`jax.eval_shape` gives every parameter's shape and logical axis names; the rules map those
onto the mesh; the initialiser is then compiled with those output shardings, so each
device only ever allocates its own shard.
"""
import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec

from trainer import partitioning


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def _init_boxed_params(module: nn.Module, example_batch, rng, trainable=None):
  params = module.init({"params": rng}, example_batch)["params"]
  return params if trainable is None else trainable(params)


def state_logical_specs(module: nn.Module, optimizer: optax.GradientTransformation,
                        example_batch, trainable=None):
  """(abstract TrainState, TrainState of logical PartitionSpecs).

  trainable: parameter tree -> the part that trains (a PEFT run's delta, see
  ModelKind.split_params); the state holds only that part and its optimizer state.
  """
  boxed = jax.eval_shape(functools.partial(_init_boxed_params, module, trainable=trainable),
                         example_batch, jax.random.key(0))
  param_specs = nn.get_partition_spec(boxed)
  abstract_params = nn.unbox(boxed)
  abstract_opt_state = jax.eval_shape(optimizer.init, abstract_params)
  opt_specs = partitioning.optimizer_state_logical_specs(
      abstract_opt_state, abstract_params, param_specs)
  abstract = TrainState(jax.ShapeDtypeStruct((), jnp.int32), abstract_params,
                        abstract_opt_state)
  return abstract, TrainState(PartitionSpec(), param_specs, opt_specs)


def state_shardings(module, optimizer, example_batch, mesh, rules, trainable=None):
  """(abstract TrainState with .sharding on every leaf, TrainState of NamedShardings)."""
  abstract, specs = state_logical_specs(module, optimizer, example_batch, trainable)
  shardings = partitioning.logical_to_sharding(specs, mesh, rules)
  abstract = jax.tree.map(
      lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding),
      abstract, shardings)
  return abstract, shardings


def create_train_state(module, optimizer, example_batch, shardings, mesh, rules, seed: int,
                       trainable=None):
  """Initialises parameters and optimizer state directly into their shards (only the
  `trainable` part's, when given: the rest is never computed)."""
  def init(rng):
    params = nn.unbox(_init_boxed_params(module, example_batch, rng, trainable))
    return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))

  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return jax.jit(init, out_shardings=shardings)(jax.random.key(seed))


def param_count(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))
