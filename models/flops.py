"""Model FLOPs of a forward pass, for the MFU numerator, per model kind.

Counts follow the usual convention (PaLM appendix B, MaxText): 2 FLOPs per multiply-add.
Attention scores and the weighted sum count 4 * heads * head_dim FLOPs per (query, key)
pair; causal attention counts half the pairs.
"""
from models.config import ModelConfig


def _attention_projection_params(cfg: ModelConfig) -> tuple[int, int]:
  """(query + output params, key + value params) of one attention block."""
  q_and_out = 2 * cfg.emb_dim * cfg.num_heads * cfg.head_dim
  k_and_v = 2 * cfg.emb_dim * cfg.kv_heads * cfg.head_dim
  return q_and_out, k_and_v


def _mlp_params(cfg: ModelConfig) -> int:
  return (len(cfg.mlp_activations) + 1) * cfg.emb_dim * cfg.mlp_dim


def _attention_pair_flops(cfg: ModelConfig) -> int:
  return 4 * cfg.num_heads * cfg.head_dim


def _layer_params(cfg: ModelConfig) -> int:
  return sum(_attention_projection_params(cfg)) + _mlp_params(cfg)


def decoder_only_forward_flops(cfg: ModelConfig, batch_size: int, length: int) -> float:
  """One causal sequence of `length` tokens per row."""
  matmul = (cfg.num_decoder_layers * _layer_params(cfg) + cfg.emb_dim * cfg.vocab_size) * length
  attention = cfg.num_decoder_layers * _attention_pair_flops(cfg) * length * length / 2
  return batch_size * (2 * matmul + attention)


def encoder_decoder_forward_flops(cfg: ModelConfig, batch_size: int, inputs_length: int,
                                  targets_length: int) -> float:
  """Bidirectional encoder over the inputs, causal decoder over the targets + cross."""
  q_and_out, k_and_v = _attention_projection_params(cfg)
  attention_pair_flops = _attention_pair_flops(cfg)
  layer_params = _layer_params(cfg)
  encoder = cfg.num_encoder_layers * (
      2 * layer_params * inputs_length + attention_pair_flops * inputs_length ** 2)
  cross = (2 * (q_and_out * targets_length + k_and_v * inputs_length)
           + attention_pair_flops * targets_length * inputs_length)
  decoder = cfg.num_decoder_layers * (
      2 * layer_params * targets_length + cross
      + attention_pair_flops * targets_length ** 2 / 2)
  return batch_size * (encoder + decoder + 2 * cfg.emb_dim * cfg.vocab_size * targets_length)
