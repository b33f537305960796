"""A HuggingFace checkpoint directory's own tokenizer (`tokenizer.json`) as a seqio Vocabulary.

The fast-tokenizer file holds the whole pipeline (normalizer, pre-tokenizer, model, added
tokens); `tokenizer_config.json` names the special tokens. In gin, e.g.

  VOCABULARY = @interop.hf_vocabulary()
  interop.hf_vocabulary.checkpoint_dir = '/ckpt/flan-t5-base'
  interop.hf_vocabulary.config = @ModelConfig()   # refuse a tokenizer the embedding cannot hold
"""
import json
import pathlib

import gin

from interop.checkpoint_source import CheckpointError
from interop.gguf_tokenizer import check_vocabulary_fits
from models.config import ModelConfig
from tasks.vocab import TokenizersVocabulary

# Embeddings are padded to a multiple of this many rows (T5: 32,100 tokens in 32,128 rows).
EMBEDDING_ROW_MULTIPLE = 128


def _special_token(config: dict, role: str) -> str | None:
  token = config.get(f"{role}_token")
  return token.get("content") if isinstance(token, dict) else token


@gin.configurable(module="interop")
def hf_vocabulary(checkpoint_dir: str = gin.REQUIRED, eos_token: str | None = None,
                  config: ModelConfig | None = None) -> TokenizersVocabulary:
  """The directory's tokenizer; EOS from `eos_token` or tokenizer_config.json.

  seqio's feature converters pad with id 0 and start decoder inputs with id 0, so id 0 must
  be a special token (T5's `<pad>`, Llama 2's `<unk>`, SmolLM2's `<|endoftext|>`); a
  tokenizer whose id 0 is ordinary text (Llama 3's "!") is refused rather than silently
  trained on. With `config`, the tokenizer must fit the model's embedding.
  """
  directory = pathlib.Path(checkpoint_dir)
  tokenizer_file = directory / "tokenizer.json"
  if not tokenizer_file.exists():
    raise CheckpointError(f"{directory}: no tokenizer.json (only HuggingFace fast-tokenizer "
                          "files are read; a slow tokenizer's files can be converted by "
                          "saving it with transformers' AutoTokenizer)")
  config_file = directory / "tokenizer_config.json"
  tokenizer_config = (json.loads(config_file.read_text(encoding="utf-8"))
                      if config_file.exists() else {})
  eos_token = eos_token or _special_token(tokenizer_config, "eos")
  if eos_token is None:
    raise CheckpointError(f"{directory}: tokenizer_config.json names no eos_token; give "
                          "hf_vocabulary.eos_token")
  added = json.loads(tokenizer_file.read_text(encoding="utf-8")).get("added_tokens", [])
  first = next((t for t in added if t["id"] == 0 and t.get("special")), None)
  if first is None:
    raise CheckpointError(f"{tokenizer_file}: token 0 is not a special token, so it cannot "
                          "serve as seqio's padding id")
  vocabulary = TokenizersVocabulary(tokenizer_file, eos_token=eos_token,
                                    pad_token=first["content"],
                                    unk_token=_special_token(tokenizer_config, "unk"))
  if config is not None:
    check_vocabulary_fits(vocabulary, config, str(tokenizer_file),
                          row_multiple=EMBEDDING_ROW_MULTIPLE)
  return vocabulary
