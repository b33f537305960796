"""A HuggingFace directory's tokenizer.json as the run's vocabulary (interop.hf_tokenizer)."""
import dataclasses
import json

import pytest

transformers = pytest.importorskip("transformers")

from interop import hf_tokenizer  # pylint: disable=wrong-import-position
from interop.checkpoint_source import CheckpointError  # pylint: disable=wrong-import-position
from tests.model_configs import TINY_LLAMA  # pylint: disable=wrong-import-position

TEXT = ["the cat sat on the mat", "a dog ate the hat", "cats and dogs"] * 20


def save_tokenizer(directory, specials=("<pad>", "</s>", "<unk>"), eos="</s>"):
  """A BPE tokenizer trained here and saved the way transformers writes checkpoints."""
  from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # pylint: disable=import-outside-toplevel
  tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
  tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
  tokenizer.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=60,
                                                           special_tokens=list(specials)))
  fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=eos,
                                              pad_token=specials[0], unk_token="<unk>")
  fast.save_pretrained(str(directory))
  return fast


def test_hf_tokenizer_encodes_like_transformers(tmp_path):
  fast = save_tokenizer(tmp_path)
  vocab = hf_tokenizer.hf_vocabulary(str(tmp_path))
  for text in ("the cat ate the hat", "dogs sat"):
    assert list(vocab.encode(text)) == fast.encode(text, add_special_tokens=False)
  assert vocab.eos_id == fast.eos_token_id == 1 and vocab.pad_id == 0
  assert vocab.vocab_size == len(fast)
  fits = dataclasses.replace(TINY_LLAMA, vocab_size=128)  # rows padded to a multiple of 128
  assert hf_tokenizer.hf_vocabulary(str(tmp_path), config=fits).vocab_size == len(fast)


def test_tokenizer_that_does_not_fit_the_embedding_is_refused(tmp_path):
  save_tokenizer(tmp_path)
  small = dataclasses.replace(TINY_LLAMA, vocab_size=32)
  with pytest.raises(CheckpointError, match=r"tokenizer.json: the tokenizer has \d+ tokens but "
                                            r"the model's embedding has 32 rows"):
    hf_tokenizer.hf_vocabulary(str(tmp_path), config=small)


def test_id_0_must_be_a_special_token(tmp_path):
  save_tokenizer(tmp_path)
  path = tmp_path / "tokenizer.json"
  data = json.loads(path.read_text())
  data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] != 0]
  path.write_text(json.dumps(data))
  with pytest.raises(CheckpointError, match="token 0 is not a special token"):
    hf_tokenizer.hf_vocabulary(str(tmp_path))


def test_missing_tokenizer_file_and_eos_are_named(tmp_path):
  with pytest.raises(CheckpointError, match="no tokenizer.json"):
    hf_tokenizer.hf_vocabulary(str(tmp_path))
  save_tokenizer(tmp_path)
  (tmp_path / "tokenizer_config.json").unlink()
  with pytest.raises(CheckpointError, match="names no eos_token"):
    hf_tokenizer.hf_vocabulary(str(tmp_path))
  assert hf_tokenizer.hf_vocabulary(str(tmp_path), eos_token="</s>").eos_id == 1
