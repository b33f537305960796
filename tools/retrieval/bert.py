"""A BERT encoder in Flax (post-LayerNorm, absolute positions, exact GELU), with its
weights read from a HuggingFace `BertModel` safetensors file, for sentence embeddings."""
import dataclasses
import json
import pathlib
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util


@dataclasses.dataclass(frozen=True)
class BertConfig:
  vocab_size: int
  hidden_size: int
  num_layers: int
  num_heads: int
  intermediate_size: int
  max_positions: int
  type_vocab_size: int
  layer_norm_eps: float

  @classmethod
  def from_json(cls, path: str | pathlib.Path) -> "BertConfig":
    """Reads a HuggingFace config.json; a variant this port does not implement fails."""
    raw = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    unsupported = {k: raw.get(k) for k, want in (
        ("model_type", "bert"), ("hidden_act", "gelu"),
        ("position_embedding_type", "absolute")) if raw.get(k, want) != want}
    if unsupported:
      raise ValueError(f"{path}: this BERT port does not implement {unsupported}")
    return cls(raw["vocab_size"], raw["hidden_size"], raw["num_hidden_layers"],
               raw["num_attention_heads"], raw["intermediate_size"],
               raw["max_position_embeddings"], raw["type_vocab_size"],
               raw["layer_norm_eps"])


class _Layer(nn.Module):
  config: BertConfig

  @nn.compact
  def __call__(self, x, attention_bias):
    c = self.config
    head_dim = c.hidden_size // c.num_heads

    def heads(name):
      y = nn.Dense(c.hidden_size, name=name)(x)
      return y.reshape(*x.shape[:-1], c.num_heads, head_dim)
    q, k, v = heads("query"), heads("key"), heads("value")
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(head_dim) + attention_bias
    context = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)
    attended = nn.Dense(c.hidden_size, name="attention_output")(
        context.reshape(x.shape))
    x = nn.LayerNorm(c.layer_norm_eps, name="attention_norm")(x + attended)
    hidden = jax.nn.gelu(nn.Dense(c.intermediate_size, name="intermediate")(x),
                         approximate=False)
    out = nn.Dense(c.hidden_size, name="output")(hidden)
    return nn.LayerNorm(c.layer_norm_eps, name="output_norm")(x + out)


class BertEncoder(nn.Module):
  """token ids [batch, length] and a 0/1 attention mask -> hidden states [b, l, hidden].

  Every sequence is segment 0, as in single-sentence encoding.
  """
  config: BertConfig

  @nn.compact
  def __call__(self, token_ids, attention_mask):
    c = self.config
    positions = jnp.arange(token_ids.shape[1])[None, :]
    x = (nn.Embed(c.vocab_size, c.hidden_size, name="word_embeddings")(token_ids)
         + nn.Embed(c.max_positions, c.hidden_size, name="position_embeddings")(positions)
         + nn.Embed(c.type_vocab_size, c.hidden_size, name="token_type_embeddings")(
             jnp.zeros_like(token_ids)))
    x = nn.LayerNorm(c.layer_norm_eps, name="embeddings_norm")(x)
    # Padding keys get the most negative float, as HuggingFace does, not -inf: a row of
    # padding alone then softmaxes to uniform instead of NaN.
    bias = jnp.where(attention_mask[:, None, None, :] > 0, 0.0,
                     jnp.finfo(jnp.float32).min)
    for i in range(c.num_layers):
      x = _Layer(c, name=f"layer_{i}")(x, bias)
    return x


def _hf_names(config: BertConfig) -> dict[tuple[str, ...], str]:
  """Flax parameter path -> HuggingFace tensor name."""
  names = {}
  for ours, theirs in (("word_embeddings", "word_embeddings"),
                       ("position_embeddings", "position_embeddings"),
                       ("token_type_embeddings", "token_type_embeddings")):
    names[(ours, "embedding")] = f"embeddings.{theirs}.weight"
  names[("embeddings_norm", "scale")] = "embeddings.LayerNorm.weight"
  names[("embeddings_norm", "bias")] = "embeddings.LayerNorm.bias"
  per_layer = {"query": "attention.self.query", "key": "attention.self.key",
               "value": "attention.self.value", "attention_output": "attention.output.dense",
               "attention_norm": "attention.output.LayerNorm",
               "intermediate": "intermediate.dense", "output": "output.dense",
               "output_norm": "output.LayerNorm"}
  for i in range(config.num_layers):
    for ours, theirs in per_layer.items():
      prefix = f"encoder.layer.{i}.{theirs}"
      if ours.endswith("norm"):
        names[(f"layer_{i}", ours, "scale")] = f"{prefix}.weight"
      else:
        names[(f"layer_{i}", ours, "kernel")] = f"{prefix}.weight"
      names[(f"layer_{i}", ours, "bias")] = f"{prefix}.bias"
  return names


def params_from_hf(config: BertConfig, tensors: Mapping[str, np.ndarray], source: str = ""
                   ) -> dict[str, Any]:
  """Flax params from HuggingFace BertModel tensors (Dense kernels transposed to in x out);
  a missing tensor or a shape that disagrees with `config` fails naming it."""
  shapes = jax.eval_shape(
      BertEncoder(config).init, jax.random.key(0), jnp.zeros((1, 2), jnp.int32),
      jnp.ones((1, 2), jnp.int32))["params"]
  hf_names, flat = _hf_names(config), {}
  for path, shape in traverse_util.flatten_dict(shapes).items():
    name = hf_names[path]
    if name not in tensors:
      raise KeyError(f"{source}: no tensor {name!r} for parameter {'/'.join(path)}")
    value = np.asarray(tensors[name], np.float32)
    if path[-1] == "kernel":
      value = value.T
    if value.shape != shape.shape:
      raise ValueError(f"{source}: {name} has shape {value.shape}, the config wants "
                       f"{shape.shape}")
    flat[path] = jnp.asarray(value)
  return {"params": traverse_util.unflatten_dict(flat)}
