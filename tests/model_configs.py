"""Tiny configurations of both model kinds, shared by the tests."""
import dataclasses

import numpy as np

from models import ModelConfig, make_model

TINY_T5 = ModelConfig(vocab_size=128, emb_dim=32, num_heads=4, head_dim=8, mlp_dim=64,
                      num_encoder_layers=2, num_decoder_layers=2)
TINY_LLAMA = ModelConfig(vocab_size=128, emb_dim=32, num_heads=4, num_kv_heads=2, head_dim=8,
                         mlp_dim=64, num_decoder_layers=2, position_encoding="rope",
                         scale_attention_logits=True, tie_embeddings=True,
                         mlp_activations=("silu", "linear"), embedding_init_stddev=0.02,
                         norm_epsilon=1e-5)


def model_for(config: ModelConfig, *, pack: bool = True, prefix_lm: bool | None = None,
              **overrides):
  """The model kind of `config` with `overrides`; prefix_lm only for decoder-only."""
  config = dataclasses.replace(config, **overrides)
  options = {"pack": pack} if prefix_lm is None else {"pack": pack, "prefix_lm": prefix_lm}
  return make_model(config, **options)


def module_for(config: ModelConfig, **overrides):
  return model_for(config, **overrides).module


def random_batch(config: ModelConfig, batch_size=8, inputs_len=12, targets_len=8, seed=0):
  """A feature-converter-shaped batch with padding at the ends of some rows."""
  rng = np.random.default_rng(seed)
  def tokens(length):
    ids = rng.integers(1, config.vocab_size, size=(batch_size, length)).astype(np.int32)
    lengths = rng.integers(length // 2, length + 1, size=batch_size)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0
    return ids
  if config.is_encoder_decoder:
    targets = tokens(targets_len)
    batch = {"encoder_input_tokens": tokens(inputs_len)}
  else:
    targets = tokens(inputs_len + targets_len)
    batch = {}
  inputs = np.zeros_like(targets)
  inputs[:, 1:] = targets[:, :-1]
  batch.update(decoder_target_tokens=targets, decoder_input_tokens=inputs,
               decoder_loss_weights=(targets > 0).astype(np.float32))
  return batch
