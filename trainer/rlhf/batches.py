"""Reading the RLHF forward passes (policy, reference, value, RM) off the one prompt +
response layout, which the model kind builds (`ModelKind.sequence_batch`).

Prompts [b, P] and responses [b, R] are both right-padded (prompts end with EOS, as SFT
inputs do). The layout appends one EOS after each response's last token, and the
response starts at a column offset the kind returns, so:
  - logits at response column t (offset + t) give the policy's distribution of token t;
  - the scalar-head score at response column t is the value of the state before token t;
  - the score at column `length` (the appended EOS) has seen the whole response, EOS or
    cut-off included: that is where the reward model's reward is read.
"""
import jax
import jax.numpy as jnp
import numpy as np

from tasks import vocab as vocab_lib


def response_mask(responses_br):
  """1.0 for the response tokens before the first padding id, else 0.0."""
  return jnp.cumprod(responses_br > 0, axis=1).astype(jnp.float32)


def response_columns(x_bt, offset: int, response_len: int):
  return jax.lax.dynamic_slice_in_dim(x_bt, offset, response_len, axis=1)


def reward_columns(scores_bt, responses_br, offset: int):
  """[b] scores at each row's appended EOS (see the module docstring)."""
  lengths = jnp.sum(response_mask(responses_br), axis=1).astype(jnp.int32)
  return jnp.take_along_axis(scores_bt, (offset + lengths)[:, None], axis=1)[:, 0]


def token_logprobs(logits_btv, tokens_bt):
  """log p(token) [b, t] and entropy [b, t] of the distribution, both fp32."""
  logp = jax.nn.log_softmax(logits_btv.astype(jnp.float32), axis=-1)
  chosen = jnp.take_along_axis(logp, tokens_bt[..., None], axis=-1)[..., 0]
  entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
  return chosen, entropy


def sequence_logprobs(model, params, batch, offset: int, responses_br):
  """(log p [b, R], entropy [b, R]) of the responses under `params`, read off the model
  kind's prompt + response layout `batch` (not masked)."""
  logits = model.module.apply({"params": params}, batch,
                              output_columns=slice(offset, offset + responses_br.shape[1]))
  return token_logprobs(logits, responses_br)


def iteration_prompts(num_prompts: int, batch_size: int, iteration: int, seed: int):
  """The indices of an iteration's prompts: a seeded pass over all prompts per epoch, so a
  resumed run draws what an uninterrupted one would."""
  per_epoch = num_prompts // batch_size
  if per_epoch == 0:
    raise ValueError(f"{num_prompts} prompts are fewer than one batch of {batch_size}")
  epoch, index = divmod(iteration, per_epoch)
  order = np.random.default_rng([seed, epoch]).permutation(num_prompts)
  return order[index * batch_size:(index + 1) * batch_size]


def pad_ids(rows: list[list[int]], length: int) -> np.ndarray:
  """Token id lists -> int32 [n, length], right-padded with 0 (rows cut to `length`)."""
  out = np.zeros((len(rows), length), np.int32)
  for i, ids in enumerate(rows):
    ids = list(ids)[:length]
    out[i, :len(ids)] = ids
  return out


def stage_vocabulary(vocabulary, config, stage: str):
  """`vocabulary` (default: the embedded SentencePiece model), refused when its ids do not
  fit `config`'s embedding."""
  vocabulary = vocabulary or vocab_lib.default_vocabulary()
  if vocabulary.vocab_size > config.vocab_size:
    raise ValueError(f"{stage}: the vocabulary has {vocabulary.vocab_size} tokens but the "
                     f"model's embedding has only {config.vocab_size} rows")
  return vocabulary


def encode_texts(vocabulary, texts, length: int, finished=None) -> np.ndarray:
  """Texts -> ids (cut to length - 1) + EOS, right-padded to `length`, as seqio's features do.

  finished: per text, False for a sampled response that was cut off before EOS (it gets
  no EOS, as in the rollout it came from).
  """
  finished = [True] * len(texts) if finished is None else finished
  rows = [list(vocabulary.encode(t))[:length - 1] + ([vocabulary.eos_id] if done else [])
          for t, done in zip(texts, finished)]
  return pad_ids(rows, length)
