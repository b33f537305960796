"""Our parameters out as a HuggingFace checkpoint: model.safetensors + config.json.

The same table as the import (interop.param_mapping) gives every name and layout, so an
exported model loads in `transformers` (T5ForConditionalGeneration / LlamaForCausalLM).
"""
import json
import pathlib

import jax
import numpy as np
from jax.experimental import multihost_utils

from interop import hf_config, param_mapping
from models.config import ModelConfig


def host_array(leaf) -> np.ndarray:
  """A (possibly multi-host sharded) parameter as one fp32 numpy array on every host."""
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    leaf = multihost_utils.process_allgather(leaf, tiled=True)
  return np.asarray(jax.device_get(leaf), dtype=np.float32)


def hf_state_dict(config: ModelConfig, params) -> dict[str, np.ndarray]:
  """HuggingFace-named fp32 tensors (gathered to the host one parameter at a time)."""
  flat = {tuple(k.key for k in path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  host: dict[tuple[str, ...], np.ndarray] = {}
  tensors = {}
  for link in param_mapping.tensor_links(config):
    path = link.path if link.path in flat else link.scanned_path()
    if path not in flat:
      raise KeyError(f"export: parameter {'/'.join(link.path)} is missing from the tree")
    if path not in host:
      host[path] = host_array(flat[path])
    array = host[path] if path == link.path else host[path][link.layer]
    tensors[link.hf_name] = link.to_hf(array)
  return tensors


def save_hf_checkpoint(directory: str | pathlib.Path, config: ModelConfig, params,
                       **token_ids) -> pathlib.Path:
  """Writes directory/model.safetensors and directory/config.json; returns the directory.

  token_ids: e.g. bos_token_id=1, eos_token_id=2, pad_token_id=2, copied into config.json.
  """
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  config_json = hf_config.hf_config(config, **token_ids)  # refuses unexportable configs first
  tensors = hf_state_dict(config, params)  # every process joins the gathers
  if jax.process_index() == 0:
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    with open(directory / "config.json", "w", encoding="utf-8") as f:
      json.dump(config_json, f, indent=2, sort_keys=True)
  return directory
