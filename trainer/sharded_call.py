"""Jitting an inference function of (params, batch, *replicated) the way training is sharded:
parameters keep their training shardings, batch rows split over the data axes by the same
logical rules. One compilation per set of batch ranks/shapes, reused across calls."""
import functools

import flax.linen as nn
import jax
from jax.experimental import multihost_utils

from trainer import partitioning


def sharded_call(fn, mesh, rules, param_shardings, out_ndims=None):
  """fn(params, batch, *replicated_args) -> outputs split by rows like the batch.

  batch: a pytree of arrays whose leading axis is the batch (e.g. a dict, or a dict holding
  a decoding state). out_ndims: the outputs' ranks as a pytree of ints like the outputs;
  None reads them off the traced outputs (for outputs whose structure depends on the model,
  such as a KV cache). Returns a callable with fn's signature; its `compile_for` takes the
  same arguments as abstract shapes and returns the compiled executable without running it."""
  rows = lambda ndim: partitioning.batch_sharding(mesh, rules, ndim)
  row_shardings = lambda tree: jax.tree.map(lambda leaf: rows(leaf.ndim), tree)
  compiled = {}

  def jitted_for(params, batch, replicated_args):
    key = (jax.tree.structure(batch), tuple(leaf.ndim for leaf in jax.tree.leaves(batch)),
           len(replicated_args))
    if key not in compiled:
      in_shardings = (param_shardings, row_shardings(batch)) + (
          partitioning.replicated(mesh),) * len(replicated_args)
      if out_ndims is None:
        out_shardings = row_shardings(jax.eval_shape(fn, params, batch, *replicated_args))
      else:
        out_shardings = jax.tree.map(rows, out_ndims)
      compiled[key] = jax.jit(fn, in_shardings=in_shardings, out_shardings=out_shardings)
    return compiled[key]

  def run(params, batch, *replicated_args):
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      jitted = jitted_for(params, batch, replicated_args)
      if jax.process_count() == 1:
        return jitted(params, batch, *replicated_args)
      # Every process holds the whole (identical) host batch: each places its rows on its
      # own devices and gets every row back, as a single process would.
      batch = jax.device_put(batch, row_shardings(batch))
      return multihost_utils.process_allgather(jitted(params, batch, *replicated_args),
                                               tiled=True)

  def compile_for(params, batch, *replicated_args):
    """The executable `run` would call, compiled from abstract arguments (a dry run's)."""
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      return jitted_for(params, batch, replicated_args).lower(
          params, batch, *replicated_args).compile()

  run.compile_for = compile_for
  return run
