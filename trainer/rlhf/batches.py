"""One prompt + response layout for every RLHF forward pass (policy, reference, value, RM).

Prompts [b, P] and responses [b, R] are both right-padded (prompts end with EOS, as SFT
inputs do); a decoder-only layout left-aligns the prompts so every response starts at
column P (RoPE and relative biases only see relative positions). The layout appends one EOS after each response's last token and
builds the feature-converter batch the LM expects (decoder-only: prompt and response in one
causal sequence; encoder-decoder: prompt in the encoder, response in the decoder), so:
  - logits at response column t (offset + t) give the policy's distribution of token t;
  - the scalar-head score at response column t is the value of the state before token t;
  - the score at column `length` (the appended EOS) has seen the whole response, EOS or
    cut-off included: that is where the reward model's reward is read.
"""
import jax
import jax.numpy as jnp
import numpy as np

from models import decoding
from tasks import vocab as vocab_lib


def response_mask(responses_br):
  """1.0 for the response tokens before the first padding id, else 0.0."""
  return jnp.cumprod(responses_br > 0, axis=1).astype(jnp.float32)


def scoring_batch(prompts_bp, responses_br, eos_id: int, is_encoder_decoder: bool):
  """(feature-converter batch, response column offset) for prompts and responses."""
  batch_size = responses_br.shape[0]
  mask = response_mask(responses_br)
  lengths = jnp.sum(mask, axis=1).astype(jnp.int32)
  extended = jnp.where(mask > 0, responses_br, 0)
  extended = jnp.pad(extended, ((0, 0), (0, 1)))
  extended = extended.at[jnp.arange(batch_size), lengths].set(eos_id)
  if is_encoder_decoder:
    batch = {"encoder_input_tokens": prompts_bp, "decoder_target_tokens": extended}
    offset = 0
  else:
    prompt_lengths = jnp.sum(prompts_bp > 0, axis=1)
    aligned = decoding.left_align(prompts_bp, prompt_lengths)
    batch = {"decoder_target_tokens": jnp.concatenate([aligned, extended], axis=1)}
    offset = prompts_bp.shape[1]
  targets = batch["decoder_target_tokens"]
  batch["decoder_input_tokens"] = jnp.pad(targets[:, :-1], ((0, 0), (1, 0)))
  return batch, offset


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
