"""Methods that add `length` sequence positions in front of the input (soft prompts,
key/value prefixes), and what they do to the networks' masks and positions. What fills the
added positions is the subclass's: an interceptor around the calls inside the network.

Where the positions go (the networks pass these arguments positionally):
- encoder-decoder: in front of the encoder input. The encoder is bidirectional: every
  position attends to the added ones and they attend to the whole input; the decoder's
  cross-attention sees them too. The kind refuses packing with such a method (a soft
  prompt attends to its whole row and would carry one example's tokens to another).
- decoder-only: before the sequence, at positions 0 .. length-1 (the sequence's positions
  move up by `length`). Every position sees all of them; they see only earlier added
  positions, so what they hold is the same in every row and packing is safe. The outputs
  at the added positions are never projected (the Decoder's `output_columns`): the loss
  and the scores read the real positions only. Cached decoding (models.decoding) gives
  them the first `length` cache slots, written before the prompt.
"""
import abc

import flax.linen as nn
import jax.numpy as jnp

from models.decoder import Decoder
from models.encoder_decoder import Encoder, EncoderDecoder
from models.peft.method import PeftMethod


def _prepended(mask, front_sees_front, front_sees_sequence):
  """A self-attention mask [b, 1, t, t] grown to [b, 1, p + t, p + t] for p positions in
  front: every position sees them; what they see is given ([p, p] and [b|1, 1, 1|p, t])."""
  b, _, t, _ = mask.shape
  p = front_sees_front.shape[-1]
  top = jnp.concatenate([jnp.broadcast_to(front_sees_front, (b, 1, p, p)),
                         jnp.broadcast_to(front_sees_sequence, (b, 1, p, t))], axis=3)
  bottom = jnp.concatenate([jnp.ones((b, 1, t, p), bool), mask], axis=3)
  return jnp.concatenate([top, bottom], axis=2)


class FrontPositionsMethod(PeftMethod):
  """A method adding `length` positions in front, as the module docstring says."""

  name: str  # the gin name, for error messages

  def __init__(self, length: int):
    if not isinstance(length, int) or length < 1:
      raise ValueError(f"{self.name}: length must be a whole number >= 1, got {length!r}")
    self.length = length

  @property
  def extra_positions(self):
    return self.length

  @abc.abstractmethod
  def at_front(self, module, slots):
    """The interceptor for the calls inside `module` (the Encoder, or a decoder-only's
    Decoder) that fills the added positions; slots [b|1, t]: each position's sequence slot
    (the added ones are < length). Parameters it needs are created as children of
    `module` or of the modules it intercepts."""

  def in_cross_attention(self, module):
    """The interceptor for the calls inside an encoder-decoder's Decoder `module`, whose
    cross-attention reads the encoder's added positions first; None: none is needed."""
    del module

  def intercept(self, next_fun, args, kwargs, context):
    module, method = context.module, context.method_name
    if isinstance(module, Encoder) and method == "__call__":
      return self._encoder_with_front(module, next_fun, args, kwargs)
    if isinstance(module, EncoderDecoder) and method == "decode":
      # The encoder outputs start with the added positions: the cross-attention sees them.
      *head, cross_mask = args[:6]
      cross_mask = jnp.pad(cross_mask, ((0, 0),) * 3 + ((self.length, 0),),
                           constant_values=True)
      return next_fun(*head, cross_mask, *args[6:], **kwargs)
    if isinstance(module, Decoder) and method == "__call__":
      if not module.config.is_encoder_decoder:
        return self._decoder_with_front(module, next_fun, args, kwargs)
      inside = self.in_cross_attention(module)
      if inside is not None:
        with nn.intercept_methods(inside):
          return next_fun(*args, **kwargs)
    return next_fun(*args, **kwargs)

  def _encoder_with_front(self, module, next_fun, args, kwargs):
    tokens, mask, *rest = args
    p = self.length
    mask = _prepended(mask, jnp.ones((p, p), bool), mask.any(axis=2, keepdims=True))
    slots = jnp.arange(p + tokens.shape[1])[None, :]
    with nn.intercept_methods(self.at_front(module, slots)):
      return next_fun(jnp.pad(tokens, ((0, 0), (p, 0))), mask, *rest, **kwargs)

  def _decoder_with_front(self, module, next_fun, args, kwargs):
    tokens, positions, key_positions, mask, *rest = args
    cache_slot = kwargs.get("cache_slot")
    if cache_slot is not None:  # the cache's first slots are the added positions
      slots = cache_slot + jnp.arange(tokens.shape[1])[None, :]
      with nn.intercept_methods(self.at_front(module, slots)):
        return next_fun(*args, **kwargs)
    p = self.length
    in_front = lambda pos: jnp.concatenate(
        [jnp.broadcast_to(jnp.arange(p), (pos.shape[0], p)), pos + p], axis=1)
    mask = _prepended(mask, jnp.tril(jnp.ones((p, p), bool)), jnp.zeros((1, 1, 1, 1), bool))
    slots = jnp.arange(p + tokens.shape[1])[None, :]
    # The outputs asked for (all by default) are of the real columns, p further on.
    start, stop, step = (kwargs.get("output_columns") or slice(None)).indices(tokens.shape[1])
    kwargs = dict(kwargs, output_columns=slice(p + start, p + stop, step))
    with nn.intercept_methods(self.at_front(module, slots)):
      return next_fun(jnp.pad(tokens, ((0, 0), (p, 0))), in_front(positions),
                      in_front(key_positions), mask, *rest, **kwargs)
