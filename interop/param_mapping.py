"""The one table between HuggingFace tensor names and our parameter tree, both directions.

HuggingFace stores every projection as a torch Linear weight [out, in]; our kernels keep
structured shapes with the inputs first ([embed, heads, head_dim] for a query, [heads,
head_dim, embed] for an attention output). A rule therefore says only how many of our
leading axes are the matrix's inputs; the transpose and reshape follow from the shapes.
Importing and exporting both walk `tensor_links(config)`, so the two cannot drift apart.
"""
import dataclasses
import math
from typing import Iterator

import numpy as np

from models.config import ModelConfig

COPY = 0  # stored as is (embeddings, norm scales)


@dataclasses.dataclass(frozen=True)
class Rule:
  hf: str  # "{i}" stands for the layer index
  ours: str  # unscanned path, "/"-separated; "{i}" as above
  in_axes: int = COPY  # > 0: transposed matrix whose inputs are our first in_axes axes
  stack: str | None = None  # "encoder" / "decoder": one tensor per layer of that stack


def _attention(hf_prefix: str, ours_prefix: str, names: tuple[str, str, str, str],
               stack: str) -> list[Rule]:
  q, k, v, o = names
  return [Rule(f"{hf_prefix}.{q}.weight", f"{ours_prefix}/query/kernel", 1, stack),
          Rule(f"{hf_prefix}.{k}.weight", f"{ours_prefix}/key/kernel", 1, stack),
          Rule(f"{hf_prefix}.{v}.weight", f"{ours_prefix}/value/kernel", 1, stack),
          Rule(f"{hf_prefix}.{o}.weight", f"{ours_prefix}/out/kernel", 2, stack)]


def _gated_mlp(hf_prefix: str, ours_prefix: str, names: tuple[str, str, str],
               stack: str) -> list[Rule]:
  gate, up, down = names
  return [Rule(f"{hf_prefix}.{gate}.weight", f"{ours_prefix}/wi_0/kernel", 1, stack),
          Rule(f"{hf_prefix}.{up}.weight", f"{ours_prefix}/wi_1/kernel", 1, stack),
          Rule(f"{hf_prefix}.{down}.weight", f"{ours_prefix}/wo/kernel", 1, stack)]


def _t5_stack(stack: str) -> list[Rule]:
  hf, ours = f"{stack}.block.{{i}}.layer", f"{stack}/layers/layers_{{i}}"
  qkvo = ("q", "k", "v", "o")
  rules = [Rule(f"{hf}.0.layer_norm.weight", f"{ours}/pre_self_attention_norm/scale",
                stack=stack)]
  rules += _attention(f"{hf}.0.SelfAttention", f"{ours}/self_attention", qkvo, stack)
  mlp_block = 1
  if stack == "decoder":
    rules.append(Rule(f"{hf}.1.layer_norm.weight", f"{ours}/pre_cross_attention_norm/scale",
                      stack=stack))
    rules += _attention(f"{hf}.1.EncDecAttention", f"{ours}/encoder_decoder_attention",
                        qkvo, stack)
    mlp_block = 2
  rules.append(Rule(f"{hf}.{mlp_block}.layer_norm.weight", f"{ours}/pre_mlp_norm/scale",
                    stack=stack))
  rules += _gated_mlp(f"{hf}.{mlp_block}.DenseReluDense", f"{ours}/mlp",
                      ("wi_0", "wi_1", "wo"), stack)
  # One relative-position table per stack, stored with the first layer: [buckets, heads].
  rules.append(Rule(f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                    f"{stack}/relpos_bias/rel_embedding", 1))
  rules.append(Rule(f"{stack}.final_layer_norm.weight", f"{stack}/{stack}_norm/scale"))
  return rules


def _t5_rules() -> list[Rule]:
  return ([Rule("shared.weight", "token_embedder/embedding"),
           Rule("lm_head.weight", "decoder/logits_dense/kernel", 1)]
          + _t5_stack("encoder") + _t5_stack("decoder"))


def _llama_rules(tie_embeddings: bool) -> list[Rule]:
  hf, ours, stack = "model.layers.{i}", "decoder/layers/layers_{i}", "decoder"
  rules = [Rule("model.embed_tokens.weight", "token_embedder/embedding"),
           Rule(f"{hf}.input_layernorm.weight", f"{ours}/pre_self_attention_norm/scale",
                stack=stack)]
  rules += _attention(f"{hf}.self_attn", f"{ours}/self_attention",
                      ("q_proj", "k_proj", "v_proj", "o_proj"), stack)
  rules.append(Rule(f"{hf}.post_attention_layernorm.weight", f"{ours}/pre_mlp_norm/scale",
                    stack=stack))
  rules += _gated_mlp(f"{hf}.mlp", f"{ours}/mlp", ("gate_proj", "up_proj", "down_proj"), stack)
  rules.append(Rule("model.norm.weight", "decoder/decoder_norm/scale"))
  if not tie_embeddings:
    rules.append(Rule("lm_head.weight", "decoder/logits_dense/kernel", 1))
  return rules


# Tensors a checkpoint may carry that hold nothing the model needs: copies of tied
# embeddings, and buffers older transformers versions saved.
IGNORABLE_SUFFIXES = ("rotary_emb.inv_freq",)
IGNORABLE_NAMES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
                   # A tied model's head is the embedding; some files store it anyway.
                   "lm_head.weight")


@dataclasses.dataclass(frozen=True)
class TensorLink:
  """One HuggingFace tensor and where it lives in our (unscanned) parameter tree."""
  hf_name: str
  path: tuple[str, ...]  # unscanned path
  layer: int | None  # index within its stack, for scanned trees
  in_axes: int

  def scanned_path(self) -> tuple[str, ...]:
    """The path under scan_layers=True: .../layers/layers/<rest>, layer on axis 0."""
    if self.layer is None:
      return self.path
    at = self.path.index(f"layers_{self.layer}")
    return self.path[:at] + ("layers",) + self.path[at + 1:]

  def hf_shape(self, our_shape: tuple[int, ...]) -> tuple[int, ...]:
    if self.in_axes == COPY:
      return tuple(our_shape)
    return (math.prod(our_shape[self.in_axes:]), math.prod(our_shape[:self.in_axes]))

  def to_ours(self, hf_array: np.ndarray, our_shape: tuple[int, ...]) -> np.ndarray:
    if self.in_axes == COPY:
      return hf_array.reshape(our_shape)
    return np.ascontiguousarray(hf_array.T).reshape(our_shape)

  def to_hf(self, our_array: np.ndarray) -> np.ndarray:
    if self.in_axes == COPY:
      return our_array
    return np.ascontiguousarray(
        our_array.reshape(self.hf_shape(our_array.shape)[::-1]).T)


def tensor_links(config: ModelConfig) -> Iterator[TensorLink]:
  """Every tensor of `config`'s HuggingFace checkpoint, in a stable order."""
  if config.is_encoder_decoder:
    rules = _t5_rules()
    layers = {"encoder": config.num_encoder_layers, "decoder": config.num_decoder_layers}
  else:
    rules = _llama_rules(config.tie_embeddings)
    layers = {"decoder": config.num_decoder_layers}
  for rule in rules:
    indices = range(layers[rule.stack]) if rule.stack else [None]
    for i in indices:
      fill = (lambda s: s) if i is None else (lambda s, i=i: s.replace("{i}", str(i)))
      yield TensorLink(fill(rule.hf), tuple(fill(rule.ours).split("/")), i, rule.in_axes)


def is_ignorable(hf_name: str, config: ModelConfig) -> bool:
  if hf_name.endswith(IGNORABLE_SUFFIXES):
    return True
  if hf_name == "lm_head.weight":
    return config.tie_embeddings
  return hf_name in IGNORABLE_NAMES
