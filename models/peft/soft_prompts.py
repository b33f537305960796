"""Soft prompts: `length` learned vectors in the embedding space that the network reads
before its input; only what makes them trains. Prompt tuning (Lester et al. 2021, here)
learns the vectors themselves, P-tuning (p_tuning.py) a prompt encoder that outputs them.

Where the prompt goes, and the masks and positions around it: models.peft.front_positions.
Its positions' token embeddings are replaced by the prompt; in cached decoding (models.decoding)
that is the embeddings fed at the first `length` cache slots.

Prompt tuning's initialisation (Lester et al. section 3.2): the embeddings of vocabulary tokens sampled
from `sample_range` (ids of the most frequent pieces), or of given class-label words (a
word of several pieces gets their mean), the remaining positions sampled.
"""
import abc

import flax.linen as nn
import gin
import jax.numpy as jnp
import numpy as np

from models.layers import Embed
from models.peft import param_trees
from models.peft.front_positions import FrontPositionsMethod

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


class SoftPromptMethod(FrontPositionsMethod):
  """A method whose parameters make a soft prompt of `length` positions (`prompt`), placed
  as models.peft.front_positions says."""

  def describe_targets(self) -> str:
    return f"a {self.length}-position soft prompt before the encoder or decoder input"

  @abc.abstractmethod
  def prompt(self, module) -> jnp.ndarray:
    """[length, embed], its parameters created as children of `module` (the Encoder or
    Decoder)."""

  def at_front(self, module, slots):
    return _with_prompt_embeddings(self.prompt(module), slots)


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
