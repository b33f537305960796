"""Vocabularies: the shipped SentencePiece model (default), the same model with T5
sentinels (opt-in, for span corruption), bytes, and HF `tokenizers` BPE.

All three are `seqio.Vocabulary` objects, so tasks, feature converters and decoding use
them the same way.
"""
import functools
import pathlib

import numpy as np
import seqio
import tensorflow as tf

DEFAULT_SPM_PATH = pathlib.Path(__file__).resolve().parent / "data" / "instruct_suite.spm.model"


@functools.cache
def default_vocabulary() -> seqio.SentencePieceVocabulary:
  """The SentencePiece model trained by `python -m tasks.train_vocab` (2,048 pieces)."""
  if not DEFAULT_SPM_PATH.exists():
    raise FileNotFoundError(f"{DEFAULT_SPM_PATH} is missing; run `python -m tasks.train_vocab`")
  return seqio.SentencePieceVocabulary(str(DEFAULT_SPM_PATH))


# T5's count: 100 sentinels, <extra_id_0> the top id, counting down.
SENTINEL_EXTRA_IDS = 100


@functools.cache
def sentinel_vocabulary(extra_ids: int = SENTINEL_EXTRA_IDS) -> seqio.SentencePieceVocabulary:
  """The default model's pieces at the same ids, then `extra_ids` sentinels above them.

  seqio appends the pieces `<extra_id_{extra_ids - 1}>` ... `<extra_id_0>` to the model, so
  `<extra_id_i>` is id `vocab_size - 1 - i` as in T5. A model trained with it needs an
  embedding of at least `vocab_size` rows (2,148; the run files pad to 2,176).
  """
  default_vocabulary()  # the same file, with the same error if it is missing
  return seqio.SentencePieceVocabulary(str(DEFAULT_SPM_PATH), extra_ids=extra_ids)


def sentinel_ids(vocabulary: seqio.Vocabulary) -> tuple[int, ...]:
  """Sentinel ids, first (`<extra_id_0>`, the top id) to last; a vocabulary without
  extra ids is refused, naming it."""
  if not vocabulary.extra_ids:
    raise ValueError(
        f"span corruption needs sentinel ids, and {type(vocabulary).__name__} "
        f"{getattr(vocabulary, 'sentencepiece_model_file', '')} has none (extra_ids=0); "
        "use tasks.vocab.sentinel_vocabulary()")
  top = vocabulary.vocab_size - 1
  return tuple(range(top, top - vocabulary.extra_ids, -1))


def byte_vocabulary() -> seqio.ByteVocabulary:
  """UTF-8 bytes (ByT5 style): no training, 259 ids (pad, eos, unk + 256 bytes)."""
  return seqio.ByteVocabulary()


@functools.lru_cache(maxsize=1 << 16)
def count_tokens(text: str) -> int:
  """Token count under the default vocabulary (used for few-shot budgets)."""
  return len(default_vocabulary().tokenizer.EncodeAsIds(text))


class TokenizersVocabulary(seqio.Vocabulary):
  """A HuggingFace `tokenizers` tokenizer file (e.g. a Llama-family BPE) as a seqio vocab.

  pad/eos/unk ids come from the tokenizer's special tokens, named by the caller because
  families spell them differently ("</s>", "<|endoftext|>", "<|im_end|>").
  """

  def __init__(self, tokenizer_file: str | pathlib.Path, eos_token: str, pad_token: str | None = None,
               unk_token: str | None = None, extra_ids: int = 0):
    from tokenizers import Tokenizer  # optional dependency; only this class needs it
    self._path = str(tokenizer_file)
    try:
      self._tokenizer = Tokenizer.from_file(self._path)
    except Exception as e:
      raise ValueError(f"{self._path}: not a readable tokenizers file: {e}") from e
    self._ids = {}
    for role, token in (("eos", eos_token), ("pad", pad_token), ("unk", unk_token)):
      if token is None:
        continue
      token_id = self._tokenizer.token_to_id(token)
      if token_id is None:
        raise ValueError(f"{self._path}: {role} token {token!r} is not in the vocabulary")
      self._ids[role] = token_id
    super().__init__(extra_ids=extra_ids)

  @property
  def eos_id(self):
    return self._ids["eos"]

  @property
  def pad_id(self):
    return self._ids.get("pad", 0)

  @property
  def unk_id(self):
    return self._ids.get("unk")

  @property
  def _base_vocab_size(self):
    return self._tokenizer.get_vocab_size(with_added_tokens=True)

  def _encode(self, s):
    return self._tokenizer.encode(s, add_special_tokens=False).ids

  def _decode(self, ids):
    return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

  def _encode_tf(self, s):
    # A numpy_function keeps one code path (the Rust tokenizer) for eager and graph use;
    # stateless, so tf.data can save the position of a pipeline that tokenizes with it.
    def encode_numpy(texts):
      ids = [self._encode(t.decode("utf-8")) for t in texts]
      dense = np.full((len(ids), max(map(len, ids), default=0)), -1, np.int32)
      for row, row_ids in zip(dense, ids):
        row[:len(row_ids)] = row_ids
      return dense
    scalar = s.shape.rank == 0
    batch = tf.reshape(s, [-1])
    dense = tf.numpy_function(encode_numpy, [batch], tf.int32, stateful=False)
    dense.set_shape([None, None])
    ragged = tf.RaggedTensor.from_tensor(dense, padding=-1)
    return ragged[0] if scalar else ragged

  def _decode_tf(self, ids):
    def decode_numpy(rows):
      return np.array([self._decode([i for i in row if i >= 0]).encode("utf-8")
                       for row in rows], dtype=object)
    rank = ids.shape.rank
    rows = tf.reshape(ids, [-1, tf.shape(ids)[-1]])
    texts = tf.numpy_function(decode_numpy, [rows], tf.string, stateful=False)
    return tf.reshape(texts, tf.shape(ids)[:-1]) if rank != 1 else tf.reshape(texts, [])

  def __eq__(self, other):
    return isinstance(other, TokenizersVocabulary) and other._path == self._path
