"""Export to HuggingFace format: transformers loads it and computes our logits; importing
the export gives back exactly the parameters that were exported."""
import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from interop import hf_export, hf_import
from models import make_model  # pylint: disable=wrong-import-position
from tests.interop import hf_helpers  # pylint: disable=wrong-import-position
from tests.interop.test_hf_parity import (assert_close_where_valid, hf_logits,  # pylint: disable=wrong-import-position
                                          our_logits)
from tests.model_configs import TINY_LLAMA, TINY_T5, random_batch  # pylint: disable=wrong-import-position

CONFIGS = {
    "llama_tied": TINY_LLAMA,
    "llama_untied_scanned": dataclasses.replace(TINY_LLAMA, tie_embeddings=False,
                                                scan_layers=True, rope_theta=500.0),
    "t5": dataclasses.replace(TINY_T5, num_decoder_layers=3,
                              relative_attention_num_buckets=8,
                              relative_attention_max_distance=16),
}


def trained_looking_params(config, mesh):
  """Our own initialisation, with norm scales moved off 1 so a swapped norm shows."""
  model = make_model(config)
  _, shardings = hf_import.abstract_params(model, mesh, hf_helpers.RULES)
  with jax.set_mesh(mesh), nn.logical_axis_rules(hf_helpers.RULES):
    params = jax.jit(lambda key: nn.unbox(model.module.init(key, model.init_batch())["params"]),
                     out_shardings=shardings)(jax.random.key(7))
  rng = np.random.default_rng(0)
  def perturb(path, leaf):
    if path[-1].key == "scale":
      return leaf + jax.numpy.asarray(rng.normal(0, 0.2, leaf.shape), leaf.dtype)
    return leaf
  return jax.tree_util.tree_map_with_path(perturb, params)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_export_loads_in_transformers_with_the_same_logits(name, tmp_path):
  config = CONFIGS[name]
  mesh = hf_helpers.mesh_2x2x2()
  params = trained_looking_params(config, mesh)
  hf_export.save_hf_checkpoint(tmp_path, config, params)
  kind = (transformers.T5ForConditionalGeneration if config.is_encoder_decoder
          else transformers.LlamaForCausalLM)
  model = kind.from_pretrained(tmp_path, attn_implementation="eager").float().eval()
  batch = random_batch(config, batch_size=4, inputs_len=16, targets_len=10, seed=3)
  assert_close_where_valid(our_logits(config, params, mesh, batch), hf_logits(model, batch),
                           batch["decoder_target_tokens"] > 0)

  # And back: the import of the export is the exported tree, bit for bit.
  reloaded_config, reloaded = hf_import.load_hf_checkpoint(tmp_path, mesh, hf_helpers.RULES,
                                                           config=config)
  assert reloaded_config == config
  for (path, got), want in zip(jax.tree_util.tree_leaves_with_path(reloaded),
                               jax.tree.leaves(params)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want),
                                  err_msg=jax.tree_util.keystr(path))
    assert got.sharding == want.sharding


def test_unexportable_config_is_refused(tmp_path):
  config = dataclasses.replace(TINY_T5, tie_embeddings=True)
  with pytest.raises(ValueError, match="T5 v1.1 shaped"):
    hf_export.save_hf_checkpoint(tmp_path, config, {})
  assert not list(tmp_path.iterdir())  # nothing written
