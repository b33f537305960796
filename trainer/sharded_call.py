"""Jitting an inference function of (params, batch, *replicated) the way training is sharded:
parameters keep their training shardings, batch rows split over the data axes by the same
logical rules. One compilation per set of batch ranks/shapes, reused across calls."""
import functools

import flax.linen as nn
import jax
from jax.experimental import multihost_utils

from trainer import partitioning


def sharded_call(fn, mesh, rules, param_shardings, out_ndims):
  """fn(params, batch, *replicated_args) -> outputs whose leaves have ranks `out_ndims`
  (a pytree of ints like the outputs). Returns a callable with the same signature."""
  rows = lambda ndim: partitioning.batch_sharding(mesh, rules, ndim)

  @functools.lru_cache(maxsize=None)
  def jitted_for(batch_ndims, num_replicated):
    in_shardings = (param_shardings, {k: rows(n) for k, n in batch_ndims}) + (
        partitioning.replicated(mesh),) * num_replicated
    return jax.jit(fn, in_shardings=in_shardings,
                   out_shardings=jax.tree.map(rows, out_ndims))

  def run(params, batch, *replicated_args):
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      jitted = jitted_for(tuple(sorted((k, v.ndim) for k, v in batch.items())),
                          len(replicated_args))
      if jax.process_count() == 1:
        return jitted(params, batch, *replicated_args)
      # Every process holds the whole (identical) host batch: each places its rows on its
      # own devices and gets every row back, as a single process would.
      batch = jax.device_put(batch, {k: rows(v.ndim) for k, v in batch.items()})
      return multihost_utils.process_allgather(jitted(params, batch, *replicated_args),
                                               tiled=True)

  return run
