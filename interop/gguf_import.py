"""Llama-family GGUF files (llama.cpp's format) as a checkpoint source and a config.

Tensors are dequantized to fp32 with the `gguf` package and renamed to their HuggingFace
names with gguf's own name table, so the HuggingFace loader (shape checks, sharded
placement) does the rest. llama.cpp's converter permutes the rows of Q and K so RoPE can
rotate adjacent pairs; they are permuted back here to the rotate-half layout our model
(and transformers) uses, rather than giving the model a second RoPE path.
"""
import functools
import pathlib

import numpy as np

from interop import hf_config, hf_import, param_mapping
from interop.checkpoint_source import CheckpointError
from models.config import ModelConfig

_REQUIRED = {  # HuggingFace field <- GGUF metadata key ("{arch}." prefixed)
    "hidden_size": "embedding_length",
    "intermediate_size": "feed_forward_length",
    "num_hidden_layers": "block_count",
    "num_attention_heads": "attention.head_count",
    "rms_norm_eps": "attention.layer_norm_rms_epsilon",
}


def _gguf():
  try:
    import gguf  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise CheckpointError("reading GGUF files needs the `gguf` package "
                          "(pip install gguf==0.19.0)") from e
  return gguf


def supported_types():
  """Tensor types we dequantize: floats, the classic block quants and the k-quants."""
  t = _gguf().GGMLQuantizationType
  return frozenset({t.F32, t.F16, t.BF16, t.Q4_0, t.Q4_1, t.Q5_0, t.Q5_1, t.Q8_0,
                    t.Q2_K, t.Q3_K, t.Q4_K, t.Q5_K, t.Q6_K})


@functools.cache
def open_gguf(path: str):
  gguf = _gguf()
  if not pathlib.Path(path).exists():
    raise FileNotFoundError(f"{path}: no such GGUF file")
  try:
    return gguf.GGUFReader(path)
  except Exception as e:  # the reader raises ValueError/struct errors on bad files
    raise CheckpointError(f"{path}: not a readable GGUF file: {e}") from e


def metadata(reader, key: str, default=None):
  field = reader.fields.get(key)
  return default if field is None else field.contents()


def hf_config_dict(path: str) -> dict:
  """The HuggingFace-style config a Llama-family GGUF file describes."""
  reader = open_gguf(path)
  arch = metadata(reader, "general.architecture")
  if arch != "llama":
    raise CheckpointError(f"{path}: general.architecture={arch!r}; only 'llama' is supported")
  hf = {"_source": path, "model_type": "llama", "hidden_act": "silu"}
  for hf_name, key in _REQUIRED.items():
    value = metadata(reader, f"{arch}.{key}")
    if value is None:
      raise CheckpointError(f"{path}: metadata field {arch}.{key!r} is missing")
    hf[hf_name] = value
  hf["num_key_value_heads"] = metadata(reader, f"{arch}.attention.head_count_kv",
                                       hf["num_attention_heads"])
  hf["head_dim"] = metadata(reader, f"{arch}.attention.key_length",
                            hf["hidden_size"] // hf["num_attention_heads"])
  # llama.cpp's default when a file does not say.
  hf["rope_theta"] = metadata(reader, f"{arch}.rope.freq_base", 10_000.0)
  scaling = metadata(reader, f"{arch}.rope.scaling.type", "none")
  if scaling not in ("none", None):
    hf["rope_scaling"] = {"rope_type": scaling}
  names = {t.name for t in reader.tensors}
  embedding = next((t for t in reader.tensors if t.name == "token_embd.weight"), None)
  if embedding is None:
    raise CheckpointError(f"{path}: tensor 'token_embd.weight' is missing")
  hf["vocab_size"] = metadata(reader, f"{arch}.vocab_size", int(embedding.shape[1]))
  hf["tie_word_embeddings"] = "output.weight" not in names
  return hf


def unpermute_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
  """Inverse of llama.cpp's Q/K row permutation (interleaved pairs -> rotate-half)."""
  rows = weight.shape[0]
  return (weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:])
          .swapaxes(1, 2).reshape(weight.shape))


class GGUFSource:
  """A Llama GGUF file's tensors under their HuggingFace names, dequantized to fp32."""

  def __init__(self, path: str, config: ModelConfig):
    gguf = _gguf()
    self.description = path
    self._reader = open_gguf(path)
    self._config = config
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_decoder_layers)
    hf_names = [link.hf_name for link in param_mapping.tensor_links(config)]
    if config.tie_embeddings:
      hf_names.append("lm_head.weight")  # reported as unexpected if the file has one
    to_hf = {name_map.get_name(n, try_suffixes=(".weight",)): n for n in hf_names}
    self._tensors = {}
    supported = supported_types()
    for tensor in self._reader.tensors:
      if tensor.tensor_type not in supported:
        raise CheckpointError(
            f"{path}: tensor {tensor.name!r} has type {tensor.tensor_type.name}, which is "
            f"not supported (supported: {sorted(t.name for t in supported)})")
      self._tensors[to_hf.get(tensor.name, tensor.name)] = tensor

  def shapes(self):
    # GGUF lists dimensions innermost first; numpy (and HuggingFace) outermost first.
    return {name: tuple(int(d) for d in reversed(t.shape)) for name, t in self._tensors.items()}

  def read(self, name):
    tensor = self._tensors[name]
    weight = _gguf().quants.dequantize(tensor.data, tensor.tensor_type)
    weight = np.asarray(weight, np.float32).reshape(self.shapes()[name])
    if name.endswith("self_attn.q_proj.weight"):
      weight = unpermute_rope_rows(weight, self._config.num_heads)
    elif name.endswith("self_attn.k_proj.weight"):
      weight = unpermute_rope_rows(weight, self._config.kv_heads)
    return weight


def gguf_params(path: str, config: ModelConfig, abstract, shardings):
  """Parameters for the chosen `config` (e.g. a run's), shaped like `abstract`."""
  described = hf_config.model_config(hf_config_dict(path), base=config)
  return hf_import.load_into(GGUFSource(path, config), path, described, config, abstract,
                             shardings)


def load_gguf(path: str | pathlib.Path, mesh, rules, config: ModelConfig | None = None,
              base: ModelConfig | None = None):
  """(ModelConfig, params) from a Llama-family GGUF file; see hf_import.load_hf_checkpoint."""
  path = str(path)
  described = hf_config.model_config(hf_config_dict(path), base=config or base)
  source = GGUFSource(path, config or described)
  return hf_import.load_checked(source, path, described, config, mesh, rules)
