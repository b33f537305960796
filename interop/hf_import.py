"""HuggingFace checkpoints (T5 v1.1 / Flan-T5, Llama family) into our sharded parameters.

Every name and shape is checked before any data moves, so a bad checkpoint fails with the
first mismatched tensor named and nothing half-loaded. Then each parameter is built with
`jax.make_array_from_callback`: a device receives only its own shard, cut from one host
copy of that one tensor (all layers of it when layers are scanned).
"""
import functools
import pathlib

import flax.linen as nn
import jax
import numpy as np

from interop import hf_config, param_mapping
from interop.checkpoint_source import CheckpointError, TensorSource, hf_checkpoint_source
from models.config import ModelConfig
from models.model_kinds import ModelKind, make_model


def abstract_params(model: ModelKind, mesh, rules):
  """(parameter ShapeDtypeStructs, their NamedShardings) for `model` on `mesh`."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    boxed = jax.eval_shape(lambda: model.module.init(jax.random.key(0),
                                                     model.init_batch())["params"])
  shardings = nn.logical_to_mesh_sharding(nn.get_partition_spec(boxed), mesh, rules)
  return nn.unbox(boxed), shardings


def _flat(tree) -> dict[tuple[str, ...], object]:
  return {tuple(k.key for k in path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _check(source: TensorSource, config: ModelConfig, flat_abstract: dict):
  """Links grouped by our leaf, after every name and shape has been checked."""
  by_leaf: dict[tuple[str, ...], tuple[bool, list]] = {}
  expected = {}
  for link in param_mapping.tensor_links(config):
    path = link.path if link.path in flat_abstract else link.scanned_path()
    if path not in flat_abstract:
      raise CheckpointError(f"the model has no parameter {'/'.join(link.path)} for "
                            f"{link.hf_name}: is the config the checkpoint's?")
    scanned = path != link.path
    our_shape = flat_abstract[path].shape[1:] if scanned else flat_abstract[path].shape
    expected[link.hf_name] = link.hf_shape(tuple(our_shape))
    by_leaf.setdefault(path, (scanned, []))[1].append(link)
  missing_leaves = sorted(set(flat_abstract) - set(by_leaf))
  if missing_leaves:
    raise CheckpointError(f"no checkpoint tensor maps to {'/'.join(missing_leaves[0])}")

  shapes = source.shapes()
  for name, shape in expected.items():
    if name not in shapes:
      raise CheckpointError(f"{source.description}: tensor {name!r} is missing")
    if tuple(shapes[name]) != shape:
      raise CheckpointError(
          f"{source.description}: tensor {name!r} has shape {tuple(shapes[name])} but the "
          f"chosen config expects {shape}")
  unexpected = sorted(n for n in shapes
                      if n not in expected and not param_mapping.is_ignorable(n, config))
  if unexpected:
    raise CheckpointError(f"{source.description}: {len(unexpected)} tensors the chosen "
                          f"config has no place for, e.g. {unexpected[:3]}")
  return by_leaf


def _leaf_array(source: TensorSource, scanned: bool, links: list, abstract, sharding):
  """One parameter, built shard by shard; scanned leaves stack one tensor per layer."""
  layer_shape = tuple(abstract.shape[1:] if scanned else abstract.shape)

  @functools.cache  # the devices holding copies of a shard read the tensor once
  def ours(i: int) -> np.ndarray:
    return links[i].to_ours(source.read(links[i].hf_name), layer_shape).astype(abstract.dtype)

  def shard(index):
    if not scanned:
      return ours(0)[index]
    return np.stack([ours(i)[index[1:]] for i in range(len(links))[index[0]]])

  return jax.make_array_from_callback(abstract.shape, sharding, shard)


def _build(source: TensorSource, by_leaf: dict, abstract, shardings):
  flat_abstract = _flat(abstract)
  flat_shardings = _flat(shardings)
  loaded = {path: _leaf_array(source, scanned, links, flat_abstract[path], flat_shardings[path])
            for path, (scanned, links) in by_leaf.items()}
  treedef = jax.tree_util.tree_structure(abstract)
  return jax.tree_util.tree_unflatten(treedef, [loaded[p] for p in flat_abstract])


def load_hf_checkpoint(checkpoint_dir: str | pathlib.Path, mesh, rules,
                       config: ModelConfig | None = None, base: ModelConfig | None = None):
  """(ModelConfig, params) from a HuggingFace checkpoint directory.

  config: the chosen config (e.g. from gin); the checkpoint must match it tensor for tensor
    and in every architectural field of its config.json. Without it, the config is read
    from config.json, with run-time options (dtype, scan_layers, ...) from `base`.
  """
  hf = hf_config.read_config_json(checkpoint_dir)
  described = hf_config.model_config(hf, base=config or base)
  source = hf_checkpoint_source(checkpoint_dir)
  return load_checked(source, hf["_source"], described, config, mesh, rules)


def load_checked(source: TensorSource, config_source: str, described: ModelConfig,
                 chosen: ModelConfig | None, mesh, rules):
  """(config, params): the chosen config (else the described one) on `mesh`."""
  config = chosen or described
  abstract, shardings = abstract_params(make_model(config), mesh, rules)
  return config, load_into(source, config_source, described, config, abstract, shardings)


def load_into(source: TensorSource, config_source: str, described: ModelConfig,
              config: ModelConfig, abstract, shardings):
  """Parameters for `config` shaped like `abstract`, after checking the checkpoint: its
  tensors' shapes first (an error names the tensor), then its other architecture fields."""
  by_leaf = _check(source, config, _flat(abstract))
  mismatches = hf_config.architecture_mismatches(config, described)
  if mismatches:
    raise CheckpointError(f"{config_source} describes another model than the chosen "
                          f"config: {'; '.join(mismatches)}")
  return _build(source, by_leaf, abstract, shardings)
