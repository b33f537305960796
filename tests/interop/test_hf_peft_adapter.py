"""A LoRA run exported as a HuggingFace PEFT adapter: PEFT's names, shapes and config
fields, B A equal to the merged export's change of each weight, and `peft` loading the
adapter onto the exported base with our logits."""
import dataclasses
import json

import numpy as np
import pytest

from interop import hf_export, hf_peft_adapter
from models import make_model, peft
from tests.model_configs import TINY_LLAMA, TINY_T5
from tests.models.peft.test_methods import init, logits, perturbed

TARGETS = r".*attention/(query|value)|.*mlp/wo"


def lora_llama(scan_layers=True):
  lora = peft.LoRA(targets=TARGETS, rank=4, alpha=8.0)
  config = dataclasses.replace(TINY_LLAMA, scan_layers=scan_layers)
  model = make_model(config, peft=lora)
  return model, lora, perturbed(init(model))  # B away from zero, so the adapter matters


@pytest.mark.parametrize("scan_layers", [pytest.param(True, marks=pytest.mark.slow), False],
                         ids=["scanned", "unscanned"])
def test_the_adapter_has_peft_names_shapes_and_the_merged_update(tmp_path, scan_layers):
  model, lora, params = lora_llama(scan_layers)
  cfg = model.config
  hf_peft_adapter.save_hf_peft_adapter(tmp_path, cfg, lora, model.split_params(params)[1],
                                       base_model_name_or_path="base")
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  tensors = load_file(tmp_path / "adapter_model.safetensors")
  outs = {"self_attn.q_proj": cfg.num_heads * cfg.head_dim,
          "self_attn.v_proj": cfg.num_kv_heads * cfg.head_dim, "mlp.down_proj": cfg.emb_dim}
  ins = {"self_attn.q_proj": cfg.emb_dim, "self_attn.v_proj": cfg.emb_dim,
         "mlp.down_proj": cfg.mlp_dim}
  expected = {}
  for i in range(cfg.num_decoder_layers):
    for module, out in outs.items():
      name = f"base_model.model.model.layers.{i}.{module}"
      expected[f"{name}.lora_A.weight"] = (4, ins[module])
      expected[f"{name}.lora_B.weight"] = (out, 4)
  assert {k: v.shape for k, v in tensors.items()} == expected
  with open(tmp_path / "adapter_config.json") as f:
    fields = json.load(f)
  assert fields["peft_type"] == "LORA" and fields["task_type"] == "CAUSAL_LM"
  assert (fields["r"], fields["lora_alpha"]) == (4, 8.0)
  assert fields["target_modules"] == ["down_proj", "q_proj", "v_proj"]
  assert fields["base_model_name_or_path"] == "base"
  # PEFT's update (lora_alpha / r) B A is what the merged export adds to each weight.
  merged = hf_export.hf_state_dict(cfg, model.merged_params(params))
  base = hf_export.hf_state_dict(cfg, model.base_params(params))
  for i in range(cfg.num_decoder_layers):
    for module in outs:
      name = f"model.layers.{i}.{module}"
      a = tensors[f"base_model.model.{name}.lora_A.weight"]
      b = tensors[f"base_model.model.{name}.lora_B.weight"]
      np.testing.assert_allclose(2.0 * b @ a, merged[f"{name}.weight"] - base[f"{name}.weight"],
                                 rtol=1e-4, atol=1e-5)


def test_targets_on_some_layers_are_named_in_full(tmp_path):
  lora = peft.LoRA(targets=r"decoder/layers/layers_1/self_attention/query", rank=2)
  config = dataclasses.replace(TINY_LLAMA, scan_layers=False)
  model = make_model(config, peft=lora)
  hf_peft_adapter.save_hf_peft_adapter(tmp_path, config, lora, init(model))
  with open(tmp_path / "adapter_config.json") as f:
    assert json.load(f)["target_modules"] == ["model.layers.1.self_attn.q_proj"]


def test_what_has_no_peft_format_is_refused(tmp_path):
  # Each refusal comes before any tensor is read.
  with pytest.raises(ValueError, match="only the Llama family"):
    hf_peft_adapter.save_hf_peft_adapter(tmp_path / "t5", TINY_T5, peft.LoRA(), {})
  with pytest.raises(ValueError, match="is not LoRA"):
    hf_peft_adapter.save_hf_peft_adapter(tmp_path / "ia3", TINY_LLAMA, peft.IA3(), {})
  plain = {"token_embedder": {"embedding": np.zeros((4, 2), np.float32)}}
  with pytest.raises(ValueError, match="no LoRA leaves"):
    hf_peft_adapter.save_hf_peft_adapter(tmp_path / "plain", TINY_LLAMA, peft.LoRA(), plain)
  assert not list(tmp_path.iterdir())


@pytest.mark.slow  # torch, transformers and peft imports
def test_peft_loads_the_adapter_onto_the_exported_base_with_our_logits(tmp_path):
  pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  peft_lib = pytest.importorskip("peft")
  # pylint: disable-next=import-outside-toplevel
  from tests.interop.test_hf_parity import assert_close_where_valid, hf_logits
  from tests.model_configs import random_batch  # pylint: disable=import-outside-toplevel
  model, lora, params = lora_llama()
  hf_export.save_hf_checkpoint(tmp_path / "base", model.config, model.base_params(params))
  hf_peft_adapter.save_hf_peft_adapter(tmp_path / "adapter", model.config, lora,
                                       model.split_params(params)[1],
                                       base_model_name_or_path=str(tmp_path / "base"))
  base = transformers.LlamaForCausalLM.from_pretrained(
      tmp_path / "base", attn_implementation="eager").float().eval()
  batch = random_batch(TINY_LLAMA, batch_size=4, inputs_len=16, targets_len=10, seed=3)
  valid = batch["decoder_target_tokens"] > 0
  base_logits = hf_logits(base, batch)
  adapted = peft_lib.PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
  ours = logits(model, params, batch)
  assert_close_where_valid(ours, hf_logits(adapted, batch), valid)
  # The adapter is what brings the base to our logits.
  assert np.max(np.abs(ours - np.asarray(base_logits))[valid]) > 1e-2
