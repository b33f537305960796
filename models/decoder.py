"""The decoder stack shared by T5's decoder and Llama: embed -> layers -> norm -> logits."""
import flax.linen as nn
import jax.numpy as jnp

from models.config import ModelConfig
from models.layers import DenseGeneral, Embed, RMSNorm
from models.masks import mask_to_bias
from models.positions import RelativePositionBias
from models.stack import LayerStack


class Decoder(nn.Module):
  config: ModelConfig
  embedder: Embed

  @nn.compact
  def __call__(self, tokens, positions, key_positions, self_mask, encoded=None,
               cross_mask=None, cache_slot=None, deterministic=True, return_hidden=False):
    """tokens/positions int [b, t]; key_positions int [b|1, s]; self_mask bool [b, 1, t, s].

    Returns fp32 logits [b, t, vocab], or with `return_hidden` the final-norm hidden states
    [b, t, embed] (the trunk that scalar heads such as reward models sit on).
    """
    cfg = self.config
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(
        y, deterministic)
    x = dropout(self.embedder(tokens))
    x = nn.with_logical_constraint(x, ("batch", "length", "embed"))
    self_bias = mask_to_bias(self_mask)
    if cfg.position_encoding == "relative_bias":
      self_bias = self_bias + RelativePositionBias(
          cfg.num_heads, cfg.relative_attention_num_buckets,
          cfg.relative_attention_max_distance, bidirectional=False, dtype=cfg.dtype,
          param_dtype=cfg.param_dtype, name="relpos_bias")(positions, key_positions)
    cross_bias = None if cross_mask is None else mask_to_bias(cross_mask)
    x = LayerStack(cfg, cfg.num_decoder_layers, deterministic,
                   has_cross_attention=cfg.is_encoder_decoder, name="layers")(
                       x, self_bias, positions, encoded, cross_bias, cache_slot)
    x = RMSNorm(cfg.norm_epsilon, cfg.dtype, cfg.param_dtype, name="decoder_norm")(x)
    x = dropout(x)
    if return_hidden:
      return x
    logits = self.embedder.attend(x) if cfg.tie_embeddings else _logits_dense(cfg)(x)
    return nn.with_logical_constraint(logits, LOGITS_AXES)


LOGITS_AXES = ("batch", "length", "vocab")


def _logits_dense(cfg: ModelConfig) -> DenseGeneral:
  return DenseGeneral((cfg.vocab_size,), ("embed", "vocab"), dtype=cfg.dtype,
                      param_dtype=cfg.param_dtype, output_dtype=jnp.float32,
                      name="logits_dense")


def hidden_instead_of_logits(next_fun, args, kwargs, context):
  """An `nn.intercept_methods` interceptor: every Decoder called under it returns its
  final hidden states instead of logits (scalar heads, the chunked loss)."""
  if isinstance(context.module, Decoder) and context.method_name == "__call__":
    kwargs = dict(kwargs, return_hidden=True)
  return next_fun(*args, **kwargs)


def project_to_vocab(cfg: ModelConfig, lm_params, hidden):
  """The Decoder's own output projection, applied from outside the network: final hidden
  states [b, t, embed] -> fp32 logits [b, t, vocab], read from a whole language model's
  parameters (the tied token embedding, or `decoder/logits_dense`)."""
  if cfg.tie_embeddings:
    embedder = Embed(cfg.vocab_size, cfg.emb_dim, dtype=cfg.dtype, param_dtype=cfg.param_dtype)
    logits = embedder.apply({"params": lm_params["token_embedder"]}, hidden,
                            method=Embed.attend)
  else:
    logits = _logits_dense(cfg).apply({"params": lm_params["decoder"]["logits_dense"]},
                                      hidden)
  return nn.with_logical_constraint(logits, LOGITS_AXES)
