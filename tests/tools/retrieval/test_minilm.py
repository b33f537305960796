"""The JAX MiniLM port against transformers (torch) on the same weights: mean-pooled,
normalised embeddings agree to float32 rounding, truncation at 256 tokens included."""
import numpy as np
import pytest

from tools.retrieval import bert
from tools.retrieval import minilm

SHORT_TEXTS = [
    "The Velmora Institute was founded in 1873 by the glassmaker Quenna Tarrow.",
    "A cat sat on the mat.",
    "Zorblax!",
    "How many years older is the founder of Brindlecourt than the founder of Osterhal?",
]
LONG_TEXT = "salt " * 300  # longer than 256 tokens: truncated the same way by both


def _reference_embeddings(texts):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  directory = str(minilm.model_dir())
  tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
  model = transformers.AutoModel.from_pretrained(directory).eval()
  batch = tokenizer(texts, padding=True, truncation=True, max_length=minilm.MAX_TOKENS,
                    return_tensors="pt")
  with torch.no_grad():
    hidden = model(**batch).last_hidden_state
  mask = batch["attention_mask"][..., None].float()
  pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
  return torch.nn.functional.normalize(pooled, dim=-1).numpy(), batch["input_ids"].numpy()


# Importing torch and transformers and running both encoders over a 256-token batch at
# -O0 on the CPU takes longer than the fast suite allows.
@pytest.mark.slow
def test_embeddings_match_transformers(minilm_encoder):
  texts = SHORT_TEXTS + [LONG_TEXT]
  expected, expected_ids = _reference_embeddings(texts)
  ids, mask = minilm_encoder.tokenize(texts)
  for row, want in zip(ids, expected_ids):
    assert list(row[row != 0]) == list(want[want != 0])
  assert ids.shape[1] == minilm.MAX_TOKENS and mask[-1].all()
  got = minilm_encoder.encode(texts)
  assert got.shape == (len(texts), 384)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
  np.testing.assert_allclose(got, expected, atol=1e-5)


def test_batches_of_any_size_give_the_same_vectors(minilm_encoder):
  one_by_one = np.concatenate([minilm_encoder.encode([t]) for t in SHORT_TEXTS])
  np.testing.assert_allclose(minilm_encoder.encode(SHORT_TEXTS), one_by_one, atol=1e-6)


def test_unsupported_config_and_missing_tensor_fail(tmp_path):
  path = tmp_path / "config.json"
  path.write_text('{"model_type": "bert", "hidden_act": "relu"}')
  with pytest.raises(ValueError, match="does not implement {'hidden_act': 'relu'}"):
    bert.BertConfig.from_json(path)
  config = bert.BertConfig.from_json(minilm.model_dir() / "config.json")
  with pytest.raises(KeyError, match="empty.safetensors: no tensor 'embeddings[.]"):
    bert.params_from_hf(config, {}, "empty.safetensors")
