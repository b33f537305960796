"""The byte-level BPE tokenizer stored in a GGUF file's metadata, as a seqio Vocabulary.

The tokens, merges and control tokens are rebuilt into a HuggingFace `tokenizers`
tokenizer (written once to a cache file, since tasks.vocab.TokenizersVocabulary reads
tokenizer files), so tasks, feature converters and decoding use it like any vocabulary.
"""
import hashlib
import os
import pathlib
import tempfile

from interop.checkpoint_source import CheckpointError
from interop.gguf_import import metadata, open_gguf
from models.config import ModelConfig
from tasks.vocab import TokenizersVocabulary

CONTROL_TOKEN = 3  # llama.cpp's token types: 1 normal, 3 control, 4 user-defined
USER_DEFINED_TOKEN = 4


def _pre_tokenizer(kind: str, path: str):
  """llama.cpp's named pre-tokenizers, as `tokenizers` components."""
  from tokenizers import pre_tokenizers  # pylint: disable=import-outside-toplevel
  byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  if kind in ("gpt2", "default"):
    return byte_level
  if kind == "smollm":  # every digit on its own, then GPT-2's split
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
  raise CheckpointError(f"{path}: tokenizer.ggml.pre={kind!r} is not supported "
                        "(supported: 'gpt2', 'smollm')")


def build_tokenizer(path: str):
  """A `tokenizers.Tokenizer` equal to the one the GGUF file describes."""
  from tokenizers import AddedToken, Tokenizer, decoders, models  # pylint: disable=import-outside-toplevel
  reader = open_gguf(path)
  kind = metadata(reader, "tokenizer.ggml.model")
  if kind != "gpt2":
    raise CheckpointError(f"{path}: tokenizer.ggml.model={kind!r}; only byte-level BPE "
                          "('gpt2') is supported")
  tokens = metadata(reader, "tokenizer.ggml.tokens")
  merges = metadata(reader, "tokenizer.ggml.merges")
  if not tokens or not merges:
    raise CheckpointError(f"{path}: tokenizer.ggml.tokens / tokenizer.ggml.merges missing")
  types = metadata(reader, "tokenizer.ggml.token_type") or [1] * len(tokens)
  tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                   merges=[tuple(m.split(" ", 1)) for m in merges]))
  tokenizer.pre_tokenizer = _pre_tokenizer(metadata(reader, "tokenizer.ggml.pre", "gpt2"), path)
  tokenizer.decoder = decoders.ByteLevel()
  tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, kind in zip(tokens, types) if kind == CONTROL_TOKEN])
  tokenizer.add_tokens([AddedToken(t, normalized=False)
                        for t, kind in zip(tokens, types) if kind == USER_DEFINED_TOKEN])
  return tokenizer


def _cache_file(path: str) -> pathlib.Path:
  stat = os.stat(path)
  key = hashlib.sha256(f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
  # Not "<tmp>/instructax": run from <tmp>, that folder would be imported as the package.
  cache = pathlib.Path(os.environ.get("INSTRUCTAX_CACHE",
                                      pathlib.Path(tempfile.gettempdir()) / "instructax-cache"))
  return cache / "gguf_tokenizers" / f"{pathlib.Path(path).stem}-{key.hexdigest()[:16]}.json"


def token_string(path: str, key: str) -> str:
  """The token a metadata id field (e.g. tokenizer.ggml.eos_token_id) points at."""
  reader = open_gguf(path)
  token_id = metadata(reader, key)
  if token_id is None:
    raise CheckpointError(f"{path}: metadata field {key!r} is missing")
  return metadata(reader, "tokenizer.ggml.tokens")[token_id]


def gguf_vocabulary(path: str | pathlib.Path):
  """The file's tokenizer as a seqio Vocabulary (tasks.vocab.TokenizersVocabulary).

  EOS is the file's eos token (`<|im_end|>` for ChatML models: the end of a turn). seqio's
  feature converters pad with id 0 and shift decoder inputs right with id 0; id 0 must
  therefore be a control token that no text encodes to (`<|endoftext|>` in SmolLM2), and it
  is the vocabulary's pad id. A file where it is not is refused.
  """
  path = str(path)
  reader = open_gguf(path)
  types = metadata(reader, "tokenizer.ggml.token_type") or []
  if not types or types[0] != CONTROL_TOKEN:
    raise CheckpointError(f"{path}: token 0 is not a control token, so it cannot serve as "
                          "seqio's padding id")
  cache_file = _cache_file(path)
  if not cache_file.exists():
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
    build_tokenizer(path).save(str(partial))
    partial.replace(cache_file)  # atomic: concurrent processes never read half a file
  tokens = metadata(reader, "tokenizer.ggml.tokens")
  return TokenizersVocabulary(cache_file, eos_token=token_string(path, "tokenizer.ggml.eos_token_id"),
                              pad_token=tokens[0])


def check_vocabulary_fits(vocabulary, config: ModelConfig, what: str, row_multiple: int = 1):
  """A tokenizer must have one embedding row per token, the rows rounded up to a multiple
  of `row_multiple` (a GGUF file stores exactly its tokenizer's size)."""
  rows = -(-vocabulary.vocab_size // row_multiple) * row_multiple
  if rows != config.vocab_size:
    raise CheckpointError(f"{what}: the tokenizer has {vocabulary.vocab_size} tokens but the "
                          f"model's embedding has {config.vocab_size} rows")
