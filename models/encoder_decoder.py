"""T5 v1.1 encoder-decoder (Raffel et al. 2020, the v1.1 checkpoints).

Gated-GELU MLPs, RMSNorm, no dense biases, relative position bias (bidirectional buckets
in the encoder, causal in the decoder, one table per stack), an input embedding shared by
both stacks and an untied output projection.
"""
import flax.linen as nn
import jax.numpy as jnp

from models.config import ModelConfig
from models.decoder import Decoder
from models.layers import Embed, RMSNorm
from models.masks import attention_mask, mask_to_bias
from models.positions import RelativePositionBias
from models.stack import LayerStack


class Encoder(nn.Module):
  config: ModelConfig
  embedder: Embed

  @nn.compact
  def __call__(self, tokens, mask, deterministic=True):
    cfg = self.config
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(y, deterministic)
    x = dropout(self.embedder(tokens))
    x = nn.with_logical_constraint(x, ("batch", "length", "embed"))
    positions = jnp.arange(tokens.shape[1])[None, :]
    bias = mask_to_bias(mask) + RelativePositionBias(
        cfg.num_heads, cfg.relative_attention_num_buckets,
        cfg.relative_attention_max_distance, bidirectional=True, dtype=cfg.dtype,
        param_dtype=cfg.param_dtype, name="relpos_bias")(positions, positions)
    x = LayerStack(cfg, cfg.num_encoder_layers, deterministic, name="layers")(x, bias)
    x = RMSNorm(cfg.norm_epsilon, cfg.dtype, cfg.param_dtype, name="encoder_norm")(x)
    return dropout(x)


class EncoderDecoder(nn.Module):
  """Consumes the batches of seqio's EncDecFeatureConverter (packed or not)."""
  config: ModelConfig

  def setup(self):
    cfg = self.config
    if not cfg.is_encoder_decoder:
      raise ValueError("EncoderDecoder needs ModelConfig.num_encoder_layers > 0")
    self.token_embedder = Embed(cfg.vocab_size, cfg.emb_dim, cfg.embedding_init_stddev,
                                cfg.dtype, cfg.param_dtype)
    self.encoder = Encoder(cfg, self.token_embedder)
    self.decoder = Decoder(cfg, self.token_embedder)

  def encode(self, encoder_input_tokens, encoder_segment_ids=None, enable_dropout=False):
    valid = encoder_input_tokens > 0
    mask = attention_mask(valid, valid, query_segments=encoder_segment_ids,
                          key_segments=encoder_segment_ids)
    return self.encoder(encoder_input_tokens, mask, deterministic=not enable_dropout)

  def decode(self, encoded, decoder_input_tokens, positions, key_positions, self_mask,
             cross_mask, cache_slot=None, enable_dropout=False, output_columns=None):
    """The decoder with explicit masks: training and cached decoding both call this."""
    return self.decoder(decoder_input_tokens, positions, key_positions, self_mask,
                        encoded=encoded, cross_mask=cross_mask, cache_slot=cache_slot,
                        deterministic=not enable_dropout, output_columns=output_columns)

  def __call__(self, batch, enable_dropout=False, output_columns=None):
    """output_columns: a static slice of the decoder's sequence, the only columns whose
    logits are computed (see Decoder)."""
    encoder_tokens = batch["encoder_input_tokens"]
    decoder_tokens = batch["decoder_input_tokens"]
    encoder_segments = batch.get("encoder_segment_ids")
    decoder_segments = batch.get("decoder_segment_ids")
    encoded = self.encode(encoder_tokens, encoder_segments, enable_dropout)
    # Decoder inputs start with id 0 (BOS == PAD in T5), so padding is read off the targets.
    decoder_valid = batch["decoder_target_tokens"] > 0
    slots = jnp.broadcast_to(jnp.arange(decoder_tokens.shape[1]), decoder_tokens.shape)
    self_mask = attention_mask(decoder_valid, decoder_valid, query_segments=decoder_segments,
                               key_segments=decoder_segments, query_slots=slots,
                               key_slots=slots)
    cross_mask = attention_mask(decoder_valid, encoder_tokens > 0,
                                query_segments=decoder_segments,
                                key_segments=encoder_segments)
    return self.decode(encoded, decoder_tokens, slots, slots[:1], self_mask, cross_mask,
                       enable_dropout=enable_dropout, output_columns=output_columns)
