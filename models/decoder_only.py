"""Llama-family decoder-only model: RoPE, grouped-query attention, SwiGLU, RMSNorm.

Causal language model, or prefix-LM (bidirectional over the inputs) when the batch carries
seqio's `decoder_causal_attention`.
"""
import flax.linen as nn
import jax.numpy as jnp

from models.config import ModelConfig
from models.decoder import Decoder
from models.layers import Embed
from models.masks import attention_mask


class DecoderOnly(nn.Module):
  """Consumes the batches of seqio's LM / PrefixLM / Decoder feature converters."""
  config: ModelConfig

  def setup(self):
    cfg = self.config
    if cfg.is_encoder_decoder:
      raise ValueError("DecoderOnly needs ModelConfig.num_encoder_layers == 0")
    self.token_embedder = Embed(cfg.vocab_size, cfg.emb_dim, cfg.embedding_init_stddev,
                                cfg.dtype, cfg.param_dtype)
    self.decoder = Decoder(cfg, self.token_embedder)

  def decode(self, decoder_input_tokens, positions, key_positions, self_mask,
             cache_slot=None, enable_dropout=False, output_columns=None):
    """The decoder with explicit masks: training and cached decoding both call this."""
    return self.decoder(decoder_input_tokens, positions, key_positions, self_mask,
                        cache_slot=cache_slot, deterministic=not enable_dropout,
                        output_columns=output_columns)

  def __call__(self, batch, enable_dropout=False, output_columns=None):
    """output_columns: a static slice of the sequence, the only columns whose logits are
    computed (see Decoder)."""
    tokens = batch["decoder_input_tokens"]
    segments = batch.get("decoder_segment_ids")
    slots = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    positions = batch.get("decoder_positions", slots)
    prefix = batch.get("decoder_causal_attention")
    valid = batch["decoder_target_tokens"] > 0
    self_mask = attention_mask(
        valid, valid, query_segments=segments, key_segments=segments, query_slots=slots,
        key_slots=slots, bidirectional_prefix=None if prefix is None else prefix > 0)
    return self.decode(tokens, positions, slots[:1], self_mask, enable_dropout=enable_dropout,
                       output_columns=output_columns)
