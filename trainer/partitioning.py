"""The device mesh, the one table of logical-axis rules, and shardings derived from them.

Models name every axis logically ("embed", "mlp", "heads", "batch", ...). The rules below
map those names onto mesh axes; changing a parallelism strategy means changing this table
(or overriding it in gin), never a model.
"""
from typing import Any, Sequence

import flax.linen as nn
import gin
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "model")

# Order matters: a mesh axis already used by an earlier name of the same array is skipped,
# so activations [batch, length, embed] keep "embed" unsharded while "batch" holds "fsdp".
LOGICAL_AXIS_RULES = (
    ("batch", ("data", "fsdp")),
    ("vocab", "model"),
    ("embed", "fsdp"),
    ("mlp", "model"),
    ("heads", "model"),
    ("kv_heads", "model"),
    ("joined_kv", "model"),
    ("kv", None),
    ("length", None),
    ("layers", None),
    ("relpos_buckets", None),
)


@gin.configurable
def make_mesh(data: int = -1, fsdp: int = 1, model: int = 1,
              devices: Sequence[Any] | None = None) -> Mesh:
  """A (data, fsdp, model) mesh; one axis may be -1, meaning all remaining devices."""
  devices = list(jax.devices() if devices is None else devices)
  sizes = [data, fsdp, model]
  if sizes.count(-1) > 1:
    raise ValueError(f"make_mesh: at most one axis may be -1, got data={data}, "
                     f"fsdp={fsdp}, model={model}")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"make_mesh: {len(devices)} devices do not divide into axes "
                       f"data={data}, fsdp={fsdp}, model={model}")
    sizes[sizes.index(-1)] = len(devices) // known
  if int(np.prod(sizes)) != len(devices):
    raise ValueError(f"make_mesh: data*fsdp*model = {int(np.prod(sizes))} but there are "
                     f"{len(devices)} devices")
  # Auto axes: the compiler propagates shardings between the constraints the rules place
  # (t5x/MaxText style); Explicit axes would turn every constraint into an assertion.
  return jax.make_mesh(tuple(sizes), MESH_AXES, devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * len(MESH_AXES))


@gin.configurable
def logical_axis_rules(rules=LOGICAL_AXIS_RULES):
  return tuple((name, tuple(axes) if isinstance(axes, list) else axes) for name, axes in rules)


def logical_to_sharding(logical_specs, mesh: Mesh, rules):
  """A tree of logical PartitionSpecs -> a tree of NamedShardings on `mesh`."""
  return nn.logical_to_mesh_sharding(logical_specs, mesh, rules)


def batch_sharding(mesh: Mesh, rules, ndim: int = 2) -> NamedSharding:
  """Batch arrays [batch, length, ...]: split over the batch rule's axes (the other axes
  stay whole: e.g. a KV cache [batch, kv_heads, length, head_dim])."""
  spec = nn.logical_to_mesh_axes(("batch",) + ("length",) * min(ndim - 1, 1)
                                 + (None,) * max(ndim - 2, 0), rules)
  return NamedSharding(mesh, spec)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def _path_key(path) -> tuple:
  return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def optimizer_state_logical_specs(abstract_opt_state, abstract_params, param_specs):
  """Logical specs for every optimizer-state leaf, from the parameter it belongs to.

  An optimizer-state leaf belongs to a parameter when its tree path contains that
  parameter's path: at the end for optax's params-shaped trees (mu, nu, ...), at the start
  for per-parameter states (trainer.optimizers.per_layer_in_scanned_stacks). Same shape:
  same spec. A factored second moment (Adafactor's row/column statistics) drops one axis:
  the spec drops that axis's name. Everything else (counts, placeholders) is replicated.
  """
  params_by_path = {}
  for (path, leaf), spec in zip(
      jax.tree_util.tree_flatten_with_path(abstract_params)[0],
      jax.tree_util.tree_leaves(param_specs, is_leaf=lambda x: isinstance(x, PartitionSpec))):
    params_by_path[_path_key(path)] = (leaf.shape, tuple(spec))

  def owner(key):
    for cut in range(len(key)):
      for candidate in (key[cut:], key[:len(key) - cut]):
        if candidate in params_by_path:
          return params_by_path[candidate]
    return None

  def spec_for(path, leaf):
    found = owner(_path_key(path))
    if found is None:
      return PartitionSpec()
    shape, names = found
    names = names + (None,) * (len(shape) - len(names))
    if tuple(leaf.shape) == tuple(shape):
      return PartitionSpec(*names)
    for dropped in range(len(shape)):
      if shape[:dropped] + shape[dropped + 1:] == tuple(leaf.shape):
        return PartitionSpec(*(names[:dropped] + names[dropped + 1:]))
    return PartitionSpec()

  return jax.tree_util.tree_map_with_path(spec_for, abstract_opt_state)
