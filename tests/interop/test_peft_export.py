"""A LoRA model exported merged: transformers loads it and gives the unmerged model's
logits."""
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# pylint: disable=wrong-import-position
from interop import hf_export
from models import make_model, peft
from tests.interop.test_hf_parity import assert_close_where_valid, hf_logits
from tests.model_configs import TINY_LLAMA, random_batch
from tests.models.peft.test_methods import init, logits, perturbed


@pytest.mark.slow  # transformers import and two compilations
def test_lora_merged_export_loads_in_transformers_with_our_logits(tmp_path):
  model = make_model(TINY_LLAMA, peft=peft.LoRA(targets=r".*(attention/.*|mlp/w.*)", rank=4))
  params = perturbed(init(model))  # LoRA's B away from zero, so the merge matters
  hf_export.save_hf_checkpoint(tmp_path, model.config, model.merged_params(params))
  loaded = transformers.LlamaForCausalLM.from_pretrained(
      tmp_path, attn_implementation="eager").float().eval()
  batch = random_batch(TINY_LLAMA, batch_size=4, inputs_len=16, targets_len=10, seed=3)
  assert_close_where_valid(logits(model, params, batch), hf_logits(loaded, batch),
                           batch["decoder_target_tokens"] > 0)
