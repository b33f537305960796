"""Model FLOPs per training step (the MFU numerator) and a measured matmul peak.

Counts follow the usual convention (PaLM appendix B, MaxText): 2 FLOPs per multiply-add,
the backward pass twice the forward, so training = 3 x forward. Attention scores and the
weighted sum count 4 * heads * head_dim FLOPs per (query, key) pair in the forward pass;
causal attention counts half the pairs.
"""
import time

import jax
import jax.numpy as jnp

from models.config import ModelConfig


def _attention_projection_params(cfg: ModelConfig) -> tuple[int, int]:
  """(query + output params, key + value params) of one attention block."""
  q_and_out = 2 * cfg.emb_dim * cfg.num_heads * cfg.head_dim
  k_and_v = 2 * cfg.emb_dim * cfg.kv_heads * cfg.head_dim
  return q_and_out, k_and_v


def _mlp_params(cfg: ModelConfig) -> int:
  return (len(cfg.mlp_activations) + 1) * cfg.emb_dim * cfg.mlp_dim


def forward_flops(cfg: ModelConfig, batch_size: int, inputs_length: int,
                  targets_length: int) -> float:
  """Forward-pass model FLOPs. Decoder-only models see inputs + targets as one sequence."""
  q_and_out, k_and_v = _attention_projection_params(cfg)
  attention_pair_flops = 4 * cfg.num_heads * cfg.head_dim
  logits_params = cfg.emb_dim * cfg.vocab_size
  layer_params = q_and_out + k_and_v + _mlp_params(cfg)
  if not cfg.is_encoder_decoder:
    length = inputs_length + targets_length
    matmul = (cfg.num_decoder_layers * layer_params + logits_params) * length
    attention = cfg.num_decoder_layers * attention_pair_flops * length * length / 2
    return batch_size * (2 * matmul + attention)
  encoder = cfg.num_encoder_layers * (
      2 * layer_params * inputs_length + attention_pair_flops * inputs_length ** 2)
  cross = (2 * (q_and_out * targets_length + k_and_v * inputs_length)
           + attention_pair_flops * targets_length * inputs_length)
  decoder = cfg.num_decoder_layers * (
      2 * layer_params * targets_length + cross
      + attention_pair_flops * targets_length ** 2 / 2)
  return batch_size * (encoder + decoder + 2 * logits_params * targets_length)


def train_flops(cfg: ModelConfig, batch_size: int, inputs_length: int,
                targets_length: int) -> float:
  return 3 * forward_flops(cfg, batch_size, inputs_length, targets_length)


def measure_matmul_peak(dtype=jnp.float32, size: int = 2048, repeats: int = 5) -> float:
  """Best-of FLOP/s of one square matmul per device: the machine's achievable peak."""
  a = jnp.ones((size, size), dtype)
  matmul = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
  matmul(a, a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * size ** 3 / best
