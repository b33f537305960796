"""Bad HuggingFace checkpoints fail before anything is placed on a device, naming the
problem: a tensor of the wrong shape, a missing config.json field, a missing or extra
tensor, an architecture we do not implement, a config.json that disagrees with the chosen
config."""
import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("safetensors")

from interop import hf_config, hf_import  # pylint: disable=wrong-import-position
from interop.checkpoint_source import CheckpointError  # pylint: disable=wrong-import-position
from models import ModelConfig, make_model  # pylint: disable=wrong-import-position
from tests.interop import hf_helpers  # pylint: disable=wrong-import-position
from tests.interop.test_hf_parity import LLAMA_HF  # pylint: disable=wrong-import-position


def write_checkpoint(directory, hf_dict, tensors):
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel
  save_file(tensors, str(directory / "model.safetensors"))
  with open(directory / "config.json", "w", encoding="utf-8") as f:
    json.dump(hf_dict, f)
  return directory


def llama_tensors(hf_dict):
  config = hf_config.model_config(dict(hf_dict))
  from interop import param_mapping  # pylint: disable=import-outside-toplevel
  abstract, _ = hf_import.abstract_params(make_model(config),
                                          hf_helpers.mesh_2x2x2(), hf_helpers.RULES)
  flat = hf_import._flat(abstract)  # pylint: disable=protected-access
  return {link.hf_name: np.ones(link.hf_shape(flat[link.path].shape), np.float32)
          for link in param_mapping.tensor_links(config)}


def load(directory, **kwargs):
  return hf_import.load_hf_checkpoint(directory, hf_helpers.mesh_2x2x2(), hf_helpers.RULES,
                                      **kwargs)


def test_a_well_formed_checkpoint_loads(tmp_path):
  config, params = load(write_checkpoint(tmp_path, LLAMA_HF, llama_tensors(LLAMA_HF)))
  assert config.num_decoder_layers == 2
  assert float(np.asarray(params["decoder"]["decoder_norm"]["scale"]).sum()) == 32.0


def test_shape_mismatch_names_the_first_tensor_and_both_shapes(tmp_path):
  tensors = llama_tensors(LLAMA_HF)
  tensors["model.layers.1.mlp.up_proj.weight"] = np.ones((48, 32), np.float32)
  tensors["model.layers.1.mlp.down_proj.weight"] = np.ones((32, 48), np.float32)
  with pytest.raises(CheckpointError, match=r"'model\.layers\.1\.mlp\.up_proj\.weight' has "
                     r"shape \(48, 32\) but the chosen config expects \(64, 32\)"):
    load(write_checkpoint(tmp_path, LLAMA_HF, tensors))


def test_checkpoint_for_another_size_than_the_chosen_config(tmp_path):
  tensors = llama_tensors(LLAMA_HF)
  chosen = hf_config.model_config(dict(LLAMA_HF, intermediate_size=96))
  with pytest.raises(CheckpointError, match=r"gate_proj\.weight' has shape \(64, 32\) but "
                     r"the chosen config expects \(96, 32\)"):
    load(write_checkpoint(tmp_path, LLAMA_HF, tensors), config=chosen)


def test_config_disagreeing_beyond_shapes_is_refused(tmp_path):
  chosen = dataclasses.replace(hf_config.model_config(dict(LLAMA_HF)), rope_theta=10_000.0)
  with pytest.raises(CheckpointError, match=r"rope_theta: chosen 10000\.0, checkpoint 1000\.0"):
    load(write_checkpoint(tmp_path, LLAMA_HF, llama_tensors(LLAMA_HF)), config=chosen)


def test_missing_config_field_is_named(tmp_path):
  hf_dict = {k: v for k, v in LLAMA_HF.items() if k != "intermediate_size"}
  with pytest.raises(hf_config.HFConfigError, match=r"config\.json: required field "
                     r"'intermediate_size' is missing"):
    load(write_checkpoint(tmp_path, hf_dict, llama_tensors(LLAMA_HF)))


def test_missing_config_json(tmp_path):
  with pytest.raises(FileNotFoundError, match="config.json is missing"):
    load(tmp_path)


def test_missing_and_unexpected_tensors(tmp_path):
  tensors = llama_tensors(LLAMA_HF)
  del tensors["model.norm.weight"]
  with pytest.raises(CheckpointError, match=r"'model\.norm\.weight' is missing"):
    load(write_checkpoint(tmp_path, LLAMA_HF, tensors))
  tensors = dict(llama_tensors(LLAMA_HF), **{"model.layers.0.self_attn.q_proj.bias":
                                             np.ones(32, np.float32)})
  with pytest.raises(CheckpointError, match=r"1 tensors the chosen config has no place for"):
    load(write_checkpoint(tmp_path, LLAMA_HF, tensors))


@pytest.mark.parametrize("field,value,match", [
    ("hidden_act", "gelu", "hidden_act='gelu' is not supported"),
    ("attention_bias", True, "attention_bias=True is not supported"),
    ("rope_parameters", {"rope_type": "llama3", "rope_theta": 5e5}, "rope_type='llama3'"),
    ("model_type", "mistral", "model_type='mistral'"),
])
def test_unsupported_architectures_are_refused(field, value, match, tmp_path):
  with pytest.raises(hf_config.HFConfigError, match=match):
    load(write_checkpoint(tmp_path, dict(LLAMA_HF, **{field: value}), llama_tensors(LLAMA_HF)))


def test_original_t5_head_is_refused():
  hf_dict = dict(model_type="t5", vocab_size=8, d_model=4, d_kv=2, d_ff=8, num_layers=1,
                 num_heads=2, relative_attention_num_buckets=4,
                 relative_attention_max_distance=8, layer_norm_epsilon=1e-6,
                 feed_forward_proj="gated-gelu")  # no tie_word_embeddings: HF's default ties
  with pytest.raises(hf_config.HFConfigError, match="original T5"):
    hf_config.model_config(hf_dict)
  assert hf_config.model_config(dict(hf_dict, tie_word_embeddings=False)).num_encoder_layers == 1
  assert isinstance(hf_config.model_config(dict(hf_dict, scale_decoder_outputs=False,
                                                tie_word_embeddings=True)), ModelConfig)
