"""Our models against HuggingFace transformers (PyTorch CPU): same weights, same logits.

Each test builds a tiny, randomly initialised transformers model, saves it as a real
checkpoint, loads that through interop.hf_import and compares fp32 logits within 1e-4:
unpadded, padded, and on seqio's packed batches (custom 4D masks on the torch side).
"""
import flax.linen as nn
import jax
import numpy as np
import pytest
import seqio

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from interop import hf_import  # pylint: disable=wrong-import-position
from models import ModelConfig, make_model  # pylint: disable=wrong-import-position
from tests.interop import hf_helpers  # pylint: disable=wrong-import-position
from tests.model_configs import random_batch  # pylint: disable=wrong-import-position
from trainer import compiled_inference  # pylint: disable=wrong-import-position

TOLERANCE = 1e-4

LLAMA_HF = dict(model_type="llama", vocab_size=128, hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                hidden_act="silu", rms_norm_eps=1e-5, max_position_embeddings=64,
                rope_parameters={"rope_type": "default", "rope_theta": 1000.0},
                tie_word_embeddings=True, attention_bias=False, mlp_bias=False)
# Few buckets and a short max distance, so the logarithmic buckets and the clamp are used.
T5_HF = dict(model_type="t5", vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2,
             num_decoder_layers=3, num_heads=4, relative_attention_num_buckets=8,
             relative_attention_max_distance=16, layer_norm_epsilon=1e-6,
             feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
             decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
CONFIGS = {"llama_tied": LLAMA_HF, "llama_untied": dict(LLAMA_HF, tie_word_embeddings=False),
           "t5": T5_HF}


def imported(hf_dict, tmp_path, scan_layers=False):
  """(torch model, our config, our params on a 2x2x2 mesh, mesh) for `hf_dict`."""
  model = hf_helpers.hf_model(hf_dict)
  model.save_pretrained(tmp_path)
  mesh = hf_helpers.mesh_2x2x2()
  base = ModelConfig(vocab_size=1, emb_dim=1, num_heads=1, head_dim=1, mlp_dim=1,
                     num_decoder_layers=1, scan_layers=scan_layers)
  config, params = hf_import.load_hf_checkpoint(tmp_path, mesh, hf_helpers.RULES, base=base)
  return model, config, params, mesh


def our_logits(config, params, mesh, batch):
  module = make_model(config).module
  with jax.set_mesh(mesh), nn.logical_axis_rules(hf_helpers.RULES):
    return hf_helpers.as_numpy(jax.jit(module.apply)({"params": params}, batch))


def torch_long(array):
  return torch.from_numpy(np.asarray(array, np.int64))


def hf_logits(model, batch, masks=None, position_ids=None):
  """transformers' logits for a converter batch; `masks` are 4D bool for packed batches."""
  with torch.no_grad():
    if "encoder_input_tokens" in batch:
      if masks is None:
        out = model(input_ids=torch_long(batch["encoder_input_tokens"]),
                    attention_mask=torch_long(batch["encoder_input_tokens"] > 0),
                    decoder_input_ids=torch_long(batch["decoder_input_tokens"]),
                    decoder_attention_mask=torch_long(batch["decoder_target_tokens"] > 0))
      else:
        encoded = model.encoder(input_ids=torch_long(batch["encoder_input_tokens"]),
                                attention_mask=hf_helpers.additive_mask(masks["encoder"]))
        out = model(encoder_outputs=encoded, attention_mask=hf_helpers.additive_mask(
                        masks["cross"]),
                    decoder_input_ids=torch_long(batch["decoder_input_tokens"]),
                    decoder_attention_mask=hf_helpers.additive_mask(masks["decoder"]))
    else:
      mask = (torch_long(batch["decoder_target_tokens"] > 0) if masks is None
              else hf_helpers.additive_mask(masks["decoder"]))
      out = model(input_ids=torch_long(batch["decoder_input_tokens"]), attention_mask=mask,
                  position_ids=None if position_ids is None else torch_long(position_ids))
  return hf_helpers.as_numpy(out.logits)


def assert_close_where_valid(ours, theirs, valid):
  assert ours.shape == theirs.shape
  np.testing.assert_allclose(ours[valid], theirs[valid], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name,scan_layers", [
    ("llama_tied", False), ("llama_untied", True), ("t5", False), ("t5", True)])
def test_padded_logits_match(name, scan_layers, tmp_path):
  model, config, params, mesh = imported(CONFIGS[name], tmp_path, scan_layers)
  assert config.scan_layers == scan_layers
  batch = random_batch(config, batch_size=4, inputs_len=20, targets_len=12, seed=1)
  valid = batch["decoder_target_tokens"] > 0
  assert not valid.all()  # some rows are padded
  assert_close_where_valid(our_logits(config, params, mesh, batch), hf_logits(model, batch),
                           valid)


def _block_mask(query_segments, key_segments, causal, prefix=None):
  """bool [b, 1, q, k]: same packed example, not padding, causal (with an optional
  bidirectional prefix, seqio's decoder_causal_attention)."""
  allowed = (query_segments[:, :, None] == key_segments[:, None, :]) & (
      query_segments[:, :, None] > 0) & (key_segments[:, None, :] > 0)
  if causal:
    q, k = query_segments.shape[1], key_segments.shape[1]
    order = np.arange(q)[:, None] >= np.arange(k)[None, :]
    if prefix is not None:
      order = order | (prefix[:, :, None] > 0) & (prefix[:, None, :] > 0)
    allowed &= order
  # Padding rows attend to themselves so transformers' softmax stays finite there.
  if query_segments.shape == key_segments.shape:
    allowed |= np.eye(query_segments.shape[1], dtype=bool)[None]
  return allowed[:, None]


@pytest.mark.parametrize("prefix_lm", [False, True], ids=["causal", "prefix_lm"])
def test_packed_llama_logits_match(prefix_lm, tmp_path):
  model, config, params, mesh = imported(LLAMA_HF, tmp_path)
  rng = np.random.default_rng(2)
  examples = hf_helpers.random_examples(rng, config.vocab_size, 12, 8, 6)
  converter = seqio.DecoderFeatureConverter(pack=True, loss_on_targets_only=True)
  batch = hf_helpers.packed_batch(converter, examples, {"inputs": 8, "targets": 6}, 4)
  segments = batch["decoder_segment_ids"]
  assert segments.max() > 1  # really packed
  prefix = batch.pop("decoder_causal_attention")  # without it the model is causal
  if prefix_lm:
    batch["decoder_causal_attention"] = prefix
  masks = {"decoder": _block_mask(segments, segments, causal=True,
                                  prefix=prefix if prefix_lm else None)}
  theirs = hf_logits(model, batch, masks, position_ids=batch["decoder_positions"])
  assert_close_where_valid(our_logits(config, params, mesh, batch), theirs, segments > 0)


def test_packed_t5_logits_match(tmp_path):
  model, config, params, mesh = imported(T5_HF, tmp_path)
  rng = np.random.default_rng(3)
  examples = hf_helpers.random_examples(rng, config.vocab_size, 12, 10, 6)
  converter = seqio.EncDecFeatureConverter(pack=True)
  batch = hf_helpers.packed_batch(converter, examples, {"inputs": 20, "targets": 12}, 4)
  enc, dec = batch["encoder_segment_ids"], batch["decoder_segment_ids"]
  assert enc.max() > 1 and dec.max() > 1
  masks = {"encoder": _block_mask(enc, enc, causal=False),
           "decoder": _block_mask(dec, dec, causal=True),
           "cross": _block_mask(dec, enc, causal=False)}
  theirs = hf_logits(model, batch, masks)
  assert_close_where_valid(our_logits(config, params, mesh, batch), theirs, dec > 0)


def test_import_places_each_shard_on_its_device(tmp_path):
  _, config, params, _ = imported(dict(LLAMA_HF, tie_word_embeddings=False), tmp_path,
                                  scan_layers=True)
  gate = params["decoder"]["layers"]["layers"]["mlp"]["wi_0"]["kernel"]
  assert gate.shape == (config.num_decoder_layers, 32, 64)  # [layers, embed, mlp]
  # embed on fsdp (2), mlp on model (2): each device holds a quarter, never the whole.
  assert {s.data.shape for s in gate.addressable_shards} == {(2, 16, 32)}
  assert len(gate.addressable_shards) == 8



# transformers 5.23's T5 generate sizes its decoder cache by the encoder's layer count, so
# the generate comparison uses equal stack depths.
@pytest.mark.parametrize("hf_dict", [CONFIGS["llama_untied"], dict(T5_HF, num_decoder_layers=2)],
                         ids=["llama", "t5"])
def test_cached_greedy_decoding_matches_generate(hf_dict, tmp_path):
  """models.decoding (KV cache, one while_loop) against transformers' greedy generate."""
  model, config, params, mesh = imported(hf_dict, tmp_path)
  rng = np.random.default_rng(4)
  lengths = np.array([5, 9, 3, 7])
  prompts = rng.integers(2, config.vocab_size, (4, 9)).astype(np.int32)
  prompts[np.arange(9)[None, :] >= lengths[:, None]] = 0  # right-padded
  max_new = 8
  param_shardings = jax.tree.map(lambda x: x.sharding, params)
  generate = compiled_inference.compile_generate(make_model(config), mesh, hf_helpers.RULES,
                                                 param_shardings, max_new_tokens=max_new,
                                                 eos_id=1)
  options = dict(max_new_tokens=max_new, do_sample=False, eos_token_id=1, pad_token_id=0)
  if config.is_encoder_decoder:
    ours = generate(params, {"encoder_input_tokens": prompts}, jax.random.key(0))
    with torch.no_grad():
      theirs = model.generate(input_ids=torch_long(prompts),
                              attention_mask=torch_long(prompts > 0),
                              decoder_start_token_id=0, **options)[:, 1:]
  else:
    ours = generate(params, {"decoder_prompt_tokens": prompts,
                             "decoder_prompt_lengths": lengths.astype(np.int32)},
                    jax.random.key(0))
    left = np.stack([np.roll(row, 9 - n) for row, n in zip(prompts, lengths)])
    with torch.no_grad():
      theirs = model.generate(input_ids=torch_long(left), attention_mask=torch_long(left > 0),
                              **options)[:, 9:]
  ours_tokens = np.asarray(ours.tokens)
  theirs = theirs.numpy()
  assert int(np.sum(ours.lengths)) > 2 * 4  # not just EOS at once
  for row in range(4):
    n = int(ours.lengths[row])
    np.testing.assert_array_equal(ours_tokens[row, :n], theirs[row, :n], err_msg=f"row {row}")
