"""A LoRA run out as a HuggingFace PEFT adapter (what `peft.PeftModel.from_pretrained` and
TRL load on top of the base model exported by interop.hf_export): adapter_config.json and
adapter_model.safetensors for the Llama family.

PEFT names each matrix after the torch Linear it adapts, under `base_model.model.`:
`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` [r, in] and
`....lora_B.weight` [out, r]; its update is (lora_alpha / r) B A, ours (alpha / r) A B on
kernels laid out inputs first, so A and B are our matrices transposed, reshaped by the same
table (interop.param_mapping) as the merged export.
"""
import json
import pathlib

import jax
import numpy as np

from interop import param_mapping
from interop.hf_export import host_array
from models.config import ModelConfig
from models.peft import LoRA, param_trees

PEFT_PREFIX = "base_model.model."


def _lora_leaves(params) -> dict[tuple[str, ...], tuple]:
  """{kernel path (unscanned or scanned): (A, B)} of every adapted projection."""
  flat = param_trees.flat(params)
  return {owner + ("kernel",): (a, flat[owner + ("lora", "b")])
          for owner, a in param_trees.owners_of(flat, ("lora", "a"))}


def adapter_tensors(config: ModelConfig, params) -> dict[str, np.ndarray]:
  """PEFT-named fp32 lora_A / lora_B weights of the LoRA leaves in `params` (the trained
  delta, or the whole tree)."""
  if config.is_encoder_decoder:
    raise ValueError("HF PEFT adapter export: only the Llama family is supported; export a "
                     "T5 LoRA run merged (interop.hf_export with ModelKind.merged_params)")
  pairs = _lora_leaves(params)
  if not pairs:
    raise ValueError("HF PEFT adapter export: the parameters hold no LoRA leaves "
                     "(.../lora/a, .../lora/b); is the model configured with PEFT = @lora()?")
  tensors, used = {}, set()
  for link in param_mapping.tensor_links(config):
    path = link.path if link.path in pairs else link.scanned_path()
    if link.in_axes == param_mapping.COPY or path not in pairs:
      continue
    used.add(path)
    a, b = (host_array(x) for x in pairs[path])
    if path != link.path:  # scanned: the layer is the leading axis
      a, b = a[link.layer], b[link.layer]
    rank = a.shape[-1]
    module = PEFT_PREFIX + link.hf_name.removesuffix(".weight")
    tensors[f"{module}.lora_A.weight"] = np.ascontiguousarray(a.reshape(-1, rank).T)
    tensors[f"{module}.lora_B.weight"] = np.ascontiguousarray(b.reshape(rank, -1).T)
  unmapped = sorted(param_trees.path_name(p) for p in set(pairs) - used)
  if unmapped:
    raise ValueError(f"HF PEFT adapter export: no HuggingFace Linear for the adapted "
                     f"kernels {', '.join(unmapped)}")
  return tensors


def _target_modules(tensors: dict, config: ModelConfig) -> list[str]:
  """PEFT's target_modules: the Linear names (q_proj, ...) when every layer's module of
  that name is adapted, else the adapted modules' full names."""
  adapted = sorted({name[len(PEFT_PREFIX):].removesuffix(".lora_A.weight")
                    for name in tensors if name.endswith(".lora_A.weight")})
  every = {}
  for link in param_mapping.tensor_links(config):
    if link.in_axes != param_mapping.COPY:
      module = link.hf_name.removesuffix(".weight")
      every.setdefault(module.rsplit(".", 1)[-1], set()).add(module)
  leaves = sorted({module.rsplit(".", 1)[-1] for module in adapted})
  if all(every[leaf] <= set(adapted) for leaf in leaves):
    return leaves
  return adapted


def adapter_config(lora: LoRA, target_modules: list[str],
                   base_model_name_or_path: str | None = None) -> dict:
  """adapter_config.json's fields as PEFT's LoraConfig writes them."""
  return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": lora.rank,
          "lora_alpha": lora.alpha, "lora_dropout": lora.dropout_rate,
          "target_modules": target_modules, "bias": "none", "fan_in_fan_out": False,
          "inference_mode": True, "init_lora_weights": True, "use_rslora": False,
          "use_dora": False, "modules_to_save": None,
          "base_model_name_or_path": base_model_name_or_path, "revision": None}


def save_hf_peft_adapter(directory: str | pathlib.Path, config: ModelConfig, lora: LoRA,
                         params, base_model_name_or_path: str | None = None) -> pathlib.Path:
  """Writes directory/adapter_config.json and directory/adapter_model.safetensors; returns
  the directory. base_model_name_or_path: where the base lives (e.g. the directory
  interop.hf_export.save_hf_checkpoint wrote it to), recorded for PEFT."""
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel
  if not isinstance(lora, LoRA):
    raise ValueError(f"HF PEFT adapter export: {lora!r} is not LoRA; only LoRA adapters "
                     "have a HuggingFace PEFT format here")
  tensors = adapter_tensors(config, params)  # every process joins the gathers
  fields = adapter_config(lora, _target_modules(tensors, config), base_model_name_or_path)
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  if jax.process_index() == 0:
    save_file(tensors, str(directory / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    with open(directory / "adapter_config.json", "w", encoding="utf-8") as f:
      json.dump(fields, f, indent=2, sort_keys=True)
  return directory
