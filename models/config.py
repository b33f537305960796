"""One configuration dataclass for both model kinds; gin files in gin/models/ fill it in.

The fields follow the published papers' hyperparameter tables (T5 v1.1, Llama), so a gin
file reads like the table it came from.
"""
import dataclasses
from typing import Any

import gin
import jax.numpy as jnp


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ModelConfig:
  vocab_size: int
  emb_dim: int
  num_heads: int
  head_dim: int
  mlp_dim: int
  num_decoder_layers: int
  num_encoder_layers: int = 0  # 0 = decoder-only
  num_kv_heads: int | None = None  # None = num_heads (no grouped-query attention)
  mlp_activations: tuple[str, ...] = ("gelu", "linear")  # gated: first is the gate
  dropout_rate: float = 0.0
  norm_epsilon: float = 1e-6
  # Positions: T5's bucketed relative bias ("relative_bias") or rotary embeddings ("rope").
  position_encoding: str = "relative_bias"
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  rope_theta: float = 10_000.0
  # T5 folds 1/sqrt(head_dim) into the query initialiser; Llama scales at run time.
  scale_attention_logits: bool = False
  tie_embeddings: bool = False
  embedding_init_stddev: float = 1.0
  # fp32 parameters with a separately chosen compute dtype (bf16 on accelerators).
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  scan_layers: bool = False
  remat_policy: str = "none"  # see models.stack.REMAT_POLICIES

  def __post_init__(self):
    if self.position_encoding not in ("relative_bias", "rope"):
      raise ValueError(
          f"ModelConfig.position_encoding={self.position_encoding!r}: expected "
          "'relative_bias' or 'rope'")
    if self.num_heads % self.kv_heads:
      raise ValueError(
          f"ModelConfig.num_heads={self.num_heads} is not a multiple of "
          f"num_kv_heads={self.kv_heads}")

  @property
  def kv_heads(self) -> int:
    return self.num_kv_heads or self.num_heads

  @property
  def is_encoder_decoder(self) -> bool:
    return self.num_encoder_layers > 0
