"""Running compiled functions over many rows in fixed-size chunks (one compilation), and
turning sampled ids back into text for the labeler."""
import jax
import numpy as np


def map_in_chunks(fn, arrays: dict, chunk: int):
  """fn({name: [chunk, ...]}) over all rows; returns the outputs concatenated on axis 0
  (host numpy, trimmed to the row count). The last chunk is padded by repeating rows."""
  count = len(next(iter(arrays.values())))
  outputs = []
  for start in range(0, count, chunk):
    rows = np.arange(start, start + chunk) % count
    outputs.append(jax.device_get(fn({k: v[rows] for k, v in arrays.items()})))
  return jax.tree.map(lambda *parts: np.concatenate(parts)[:count], *outputs)


def sample_in_chunks(sample_fn, params, prompts_np, chunk: int, seed: int):
  """sample_fn(params, prompts [chunk, P], rng) -> (tokens, log-probs), over all prompts."""
  chunk_index = iter(range(1 << 30))
  return map_in_chunks(
      lambda b: sample_fn(params, b["prompts"],
                          jax.random.key(seed * 100_003 + next(chunk_index))),
      {"prompts": prompts_np}, chunk)


def response_texts(vocabulary, responses_nr):
  """(texts, finished flags): each row's ids before its first EOS/padding, decoded."""
  texts, finished = [], []
  for row in responses_nr:
    ids = []
    done = False
    for token in row.tolist():
      if token == vocabulary.eos_id:
        done = True
        break
      if token == 0:
        break
      ids.append(token)
    texts.append(vocabulary.decode(ids))
    finished.append(done)
  return texts, finished
