"""Soft prompts: `length` learned vectors in the embedding space that the network reads
before its input; only what makes them trains. Prompt tuning (Lester et al. 2021, here)
learns the vectors themselves, P-tuning (p_tuning.py) a prompt encoder that outputs them.

Where the prompt goes (the networks pass these arguments positionally):
- encoder-decoder: prepended to the encoder input. The encoder is bidirectional: every
  position attends to the prompt and the prompt attends to the whole input; the decoder's
  cross-attention sees the prompt positions too. In a packed row the prompt would carry
  one example's tokens to another, so the kind refuses packing with a soft prompt.
- decoder-only: before the sequence, at positions 0 .. length-1 (the sequence's positions
  move up by `length`). Every position sees the whole prompt; the prompt sees only earlier
  prompt positions, so its keys and values are the same in every row and packing is safe.
  The outputs at the prompt positions are dropped: the loss and the scores read the real
  positions only. Cached decoding (models.decoding) writes the prompt into the first
  `length` cache slots: the embeddings fed at those slots are replaced by the prompt.

Prompt tuning's initialisation (Lester et al. section 3.2): the embeddings of vocabulary tokens sampled
from `sample_range` (ids of the most frequent pieces), or of given class-label words (a
word of several pieces gets their mean), the remaining positions sampled.
"""
import abc

import flax.linen as nn
import gin
import jax.numpy as jnp
import numpy as np

from models.decoder import Decoder
from models.encoder_decoder import Encoder, EncoderDecoder
from models.layers import Embed
from models.peft import param_trees
from models.peft.method import PeftMethod

PROMPT_AXIS = "prompt"  # unsharded: no rule names it
PROMPT_NAME = "soft_prompt"  # the prompt's module, a child of the Encoder / Decoder
EMBEDDING_PATH = ("token_embedder", "embedding")


def _mean_rows(table, token_groups):
  """[len(token_groups), embed]: row i is the mean embedding of the ids in group i."""
  return jnp.stack([table[jnp.asarray(group)].mean(axis=0) for group in token_groups])


class SoftPrompt(nn.Module):
  """The prompt itself, [length, embed], initialised from rows of the token embedding."""
  token_groups: tuple[tuple[int, ...], ...]
  param_dtype: object

  @nn.compact
  def __call__(self, embedder: Embed):
    init = lambda key, shape, dtype: _mean_rows(embedder.embedding, self.token_groups
                                                ).astype(dtype)
    return self.param("embedding", nn.with_logical_partitioning(init, (PROMPT_AXIS, "embed")),
                      (len(self.token_groups), embedder.features), self.param_dtype)


def _with_prompt_embeddings(prompt, slots):
  """An interceptor: the token embeddings at sequence slots < length are the prompt's
  (slots [b|1, t]: the slot of each embedded token)."""
  length = prompt.shape[0]

  def interceptor(next_fun, args, kwargs, context):
    x = next_fun(*args, **kwargs)
    if not (isinstance(context.module, Embed) and context.method_name == "__call__"):
      return x
    rows = prompt[jnp.clip(slots, 0, length - 1)].astype(x.dtype)
    return jnp.where((slots < length)[..., None], rows, x)
  return interceptor


def _prepended(mask, prompt_sees_prompt, prompt_sees_sequence):
  """A self-attention mask [b, 1, t, t] grown to [b, 1, p + t, p + t] for a prompt in front:
  every position sees the prompt; what the prompt sees is given ([p, p] and [b|1, 1, 1|p, t])."""
  b, _, t, _ = mask.shape
  p = prompt_sees_prompt.shape[-1]
  top = jnp.concatenate([jnp.broadcast_to(prompt_sees_prompt, (b, 1, p, p)),
                         jnp.broadcast_to(prompt_sees_sequence, (b, 1, p, t))], axis=3)
  bottom = jnp.concatenate([jnp.ones((b, 1, t, p), bool), mask], axis=3)
  return jnp.concatenate([top, bottom], axis=2)


def _sampled_groups(length, label_token_ids, sample_range, vocab_size, seed):
  """The ids each prompt position starts from: the class labels', then sampled ones."""
  labels = tuple(tuple(np.atleast_1d(ids).tolist()) for ids in label_token_ids)[:length]
  for ids in labels:
    if not ids or min(ids) < 0 or max(ids) >= vocab_size:
      raise ValueError(f"prompt_tuning: label_token_ids entry {ids} is not a nonempty list of "
                       f"ids in the vocabulary of {vocab_size}")
  first, end = sample_range[0], min(sample_range[1], vocab_size)
  if first >= end:
    raise ValueError(f"prompt_tuning: sample_range {tuple(sample_range)} holds no id of the "
                     f"vocabulary of {vocab_size}")
  count = length - len(labels)
  sampled = np.random.default_rng(seed).choice(np.arange(first, end), size=count,
                                               replace=count > end - first)
  return labels + tuple((int(i),) for i in sampled)


class SoftPromptMethod(PeftMethod):
  """A method whose parameters make a soft prompt of `length` positions (`prompt`), placed
  as the module docstring says."""

  name: str  # the gin name, for error messages

  def __init__(self, length: int):
    if not isinstance(length, int) or length < 1:
      raise ValueError(f"{self.name}: length must be a whole number >= 1, got {length!r}")
    self.length = length

  @property
  def extra_positions(self):
    return self.length

  def describe_targets(self) -> str:
    return f"a {self.length}-position soft prompt before the encoder or decoder input"

  @abc.abstractmethod
  def prompt(self, module) -> jnp.ndarray:
    """[length, embed], its parameters created as children of `module` (the Encoder or
    Decoder)."""

  def intercept(self, next_fun, args, kwargs, context):
    module, method = context.module, context.method_name
    if isinstance(module, Encoder) and method == "__call__":
      return self._encoder_with_prompt(module, next_fun, args, kwargs)
    if isinstance(module, EncoderDecoder) and method == "decode":
      # The encoder outputs start with the prompt's: the cross-attention sees them all.
      *head, cross_mask = args[:6]
      cross_mask = jnp.pad(cross_mask, ((0, 0),) * 3 + ((self.length, 0),),
                           constant_values=True)
      return next_fun(*head, cross_mask, *args[6:], **kwargs)
    if (isinstance(module, Decoder) and method == "__call__"
        and not module.config.is_encoder_decoder):
      return self._decoder_with_prompt(module, next_fun, args, kwargs)
    return next_fun(*args, **kwargs)

  def _encoder_with_prompt(self, module, next_fun, args, kwargs):
    tokens, mask, *rest = args
    p = self.length
    prompt = self.prompt(module)
    mask = _prepended(mask, jnp.ones((p, p), bool), mask.any(axis=2, keepdims=True))
    slots = jnp.arange(p + tokens.shape[1])[None, :]
    with nn.intercept_methods(_with_prompt_embeddings(prompt, slots)):
      return next_fun(jnp.pad(tokens, ((0, 0), (p, 0))), mask, *rest, **kwargs)

  def _decoder_with_prompt(self, module, next_fun, args, kwargs):
    tokens, positions, key_positions, mask, *rest = args
    prompt = self.prompt(module)
    cache_slot = kwargs.get("cache_slot")
    if cache_slot is not None:  # the cache's first slots are the prompt's
      slots = cache_slot + jnp.arange(tokens.shape[1])[None, :]
      with nn.intercept_methods(_with_prompt_embeddings(prompt, slots)):
        return next_fun(*args, **kwargs)
    p = self.length
    in_front = lambda pos: jnp.concatenate(
        [jnp.broadcast_to(jnp.arange(p), (pos.shape[0], p)), pos + p], axis=1)
    mask = _prepended(mask, jnp.tril(jnp.ones((p, p), bool)), jnp.zeros((1, 1, 1, 1), bool))
    slots = jnp.arange(p + tokens.shape[1])[None, :]
    with nn.intercept_methods(_with_prompt_embeddings(prompt, slots)):
      out = next_fun(jnp.pad(tokens, ((0, 0), (p, 0))), in_front(positions),
                     in_front(key_positions), mask, *rest, **kwargs)
    return out[:, p:]


@gin.configurable("prompt_tuning", module="peft")
class PromptTuning(SoftPromptMethod):
  """length: prompt positions. label_token_ids: token ids of class-label words (one list
  per word) whose embeddings start the first positions; empty: all sampled.
  sample_range: [first, end) ids the other positions are sampled from (Lester et al.: the
  5,000 most common tokens; SentencePiece ids run roughly by frequency after the specials).
  seed: of that sampling."""

  name = "prompt_tuning"

  def __init__(self, length: int = 20, label_token_ids=(), sample_range=(3, 5000),
               seed: int = 0):
    super().__init__(length)
    self.label_token_ids, self.sample_range = tuple(label_token_ids), tuple(sample_range)
    self.seed = seed

  def __repr__(self):
    return (f"prompt_tuning(length={self.length}, label_token_ids={self.label_token_ids}, "
            f"sample_range={self.sample_range}, seed={self.seed})")

  def token_groups(self, vocab_size: int):
    return _sampled_groups(self.length, self.label_token_ids, self.sample_range, vocab_size,
                           self.seed)

  def prompt(self, module):
    cfg = module.config
    return SoftPrompt(self.token_groups(cfg.vocab_size), cfg.param_dtype,
                      name=PROMPT_NAME)(module.embedder)

  def initial_trainable(self, trainable, frozen):
    """The prompt from the base's token embedding (the random one it was built from is
    not the base's)."""
    table = param_trees.flat(frozen)[EMBEDDING_PATH]
    rows = _mean_rows(table, self.token_groups(table.shape[0]))
    return param_trees.nested({
        path: rows.astype(leaf.dtype) if path[-2:] == (PROMPT_NAME, "embedding") else leaf
        for path, leaf in param_trees.flat(trainable).items()})
