"""HuggingFace `config.json` <-> ModelConfig, for T5 v1.1 / Flan-T5 and Llama-family models.

Only the published architectures our model code implements are accepted; anything else
(original T5 with a tied, rescaled head, biases, RoPE scaling, another activation) is
refused by name rather than loaded into a model that would compute something different.
"""
import dataclasses
import json
import math
import pathlib
from typing import Any

from models.config import ModelConfig

T5_ARCHITECTURE = "T5ForConditionalGeneration"
LLAMA_ARCHITECTURE = "LlamaForCausalLM"


class HFConfigError(ValueError):
  """A config.json this code cannot translate faithfully."""


def read_config_json(checkpoint_dir: str | pathlib.Path) -> dict[str, Any]:
  path = pathlib.Path(checkpoint_dir) / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path} is missing: a HuggingFace checkpoint directory needs "
                            "its config.json beside the weights")
  with open(path, encoding="utf-8") as f:
    config = json.load(f)
  config["_source"] = str(path)
  return config


def _field(hf: dict, name: str, *fallbacks: str):
  for key in (name,) + fallbacks:
    if hf.get(key) is not None:
      return hf[key]
  raise HFConfigError(f"{hf.get('_source', 'config.json')}: required field {name!r} is "
                      "missing")


def _refuse(hf: dict, field: str, value, why: str):
  raise HFConfigError(f"{hf.get('_source', 'config.json')}: {field}={value!r} is not "
                      f"supported ({why})")


def model_kind(hf: dict) -> str:
  """'t5' or 'llama', from model_type (or the architectures list)."""
  kind = hf.get("model_type")
  if kind is None:
    architectures = hf.get("architectures") or []
    kind = {T5_ARCHITECTURE: "t5", LLAMA_ARCHITECTURE: "llama"}.get(
        architectures[0] if architectures else None)
  if kind not in ("t5", "llama"):
    raise HFConfigError(f"{hf.get('_source', 'config.json')}: model_type={kind!r}; "
                        "supported: 't5' (T5 v1.1 / Flan-T5) and 'llama'")
  return kind


def _t5_fields(hf: dict) -> dict:
  act = _field(hf, "feed_forward_proj")
  if act != "gated-gelu":
    _refuse(hf, "feed_forward_proj", act, "T5 v1.1 / Flan-T5 use 'gated-gelu'")
  # Original T5 ties its head to the embedding and scales the decoder output by
  # d_model**-0.5; v1.1 / Flan-T5 do neither. transformers 5 writes the scaling as
  # `scale_decoder_outputs`; older files say `tie_word_embeddings: false` (HF's default
  # being true).
  if "scale_decoder_outputs" in hf:
    scaled, field = hf["scale_decoder_outputs"], "scale_decoder_outputs"
  else:
    scaled, field = hf.get("tie_word_embeddings", True) is not False, "tie_word_embeddings"
  if scaled:
    _refuse(hf, field, hf.get(field, True),
            "original T5's tied, rescaled head; only T5 v1.1 / Flan-T5 are implemented")
  layers = _field(hf, "num_layers")
  return dict(
      vocab_size=_field(hf, "vocab_size"), emb_dim=_field(hf, "d_model"),
      num_heads=_field(hf, "num_heads"), num_kv_heads=None, head_dim=_field(hf, "d_kv"),
      mlp_dim=_field(hf, "d_ff"), num_encoder_layers=layers,
      num_decoder_layers=hf.get("num_decoder_layers") or layers,
      mlp_activations=("gelu", "linear"), position_encoding="relative_bias",
      relative_attention_num_buckets=_field(hf, "relative_attention_num_buckets"),
      relative_attention_max_distance=_field(hf, "relative_attention_max_distance"),
      scale_attention_logits=False, tie_embeddings=False,
      norm_epsilon=_field(hf, "layer_norm_epsilon"))


def _rope_theta(hf: dict) -> float:
  """transformers 5 writes `rope_parameters`; older files a top-level `rope_theta`."""
  params = hf.get("rope_parameters") or {}
  scaling = hf.get("rope_scaling") or {}
  kind = params.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
  if kind != "default":
    _refuse(hf, "rope_type", kind, "only unscaled RoPE is implemented")
  if params.get("rope_theta") is not None:
    return float(params["rope_theta"])
  return float(_field(hf, "rope_theta"))


def _llama_fields(hf: dict) -> dict:
  act = _field(hf, "hidden_act")
  if act != "silu":
    _refuse(hf, "hidden_act", act, "Llama uses SwiGLU ('silu')")
  for bias in ("attention_bias", "mlp_bias"):
    if hf.get(bias):
      _refuse(hf, bias, hf[bias], "the model has no dense biases")
  heads = _field(hf, "num_attention_heads")
  return dict(
      vocab_size=_field(hf, "vocab_size"), emb_dim=_field(hf, "hidden_size"),
      num_heads=heads, num_kv_heads=hf.get("num_key_value_heads") or heads,
      head_dim=hf.get("head_dim") or _field(hf, "hidden_size") // heads,
      mlp_dim=_field(hf, "intermediate_size"), num_encoder_layers=0,
      num_decoder_layers=_field(hf, "num_hidden_layers"), mlp_activations=("silu", "linear"),
      position_encoding="rope", rope_theta=_rope_theta(hf), scale_attention_logits=True,
      tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
      norm_epsilon=_field(hf, "rms_norm_eps"))


def model_config(hf: dict, base: ModelConfig | None = None) -> ModelConfig:
  """The ModelConfig a HuggingFace config describes.

  `base` supplies what config.json does not say (compute dtype, scan_layers, remat policy);
  every architectural field comes from the file.
  """
  fields = _t5_fields(hf) if model_kind(hf) == "t5" else _llama_fields(hf)
  if base is None:
    return ModelConfig(**fields)
  return dataclasses.replace(base, **fields)


def architecture_mismatches(chosen: ModelConfig, from_checkpoint: ModelConfig) -> list[str]:
  """Architectural fields (not run-time options) on which two configs disagree."""
  runtime = {"dtype", "param_dtype", "scan_layers", "remat_policy", "dropout_rate",
             "embedding_init_stddev", "num_kv_heads"}
  names = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in runtime]
  def same(a, b):  # files store fp32 numbers (1e-5 reads back as 9.99999974e-06)
    if isinstance(a, float) or isinstance(b, float):
      return math.isclose(a, b, rel_tol=1e-6)
    return a == b
  return [f"{name}: chosen {getattr(chosen, name)!r}, checkpoint "
          f"{getattr(from_checkpoint, name)!r}"
          for name in names + ["kv_heads"]
          if not same(getattr(chosen, name), getattr(from_checkpoint, name))]


def hf_config(config: ModelConfig, **token_ids) -> dict[str, Any]:
  """The config.json transformers needs to rebuild `config` (token ids passed through)."""
  if config.is_encoder_decoder:
    if config.tie_embeddings or config.position_encoding != "relative_bias":
      raise HFConfigError("export: an encoder-decoder must be T5 v1.1 shaped (untied head, "
                          "relative position bias)")
    out = dict(
        architectures=[T5_ARCHITECTURE], model_type="t5", vocab_size=config.vocab_size,
        d_model=config.emb_dim, d_kv=config.head_dim, d_ff=config.mlp_dim,
        num_layers=config.num_encoder_layers, num_decoder_layers=config.num_decoder_layers,
        num_heads=config.num_heads, feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=config.relative_attention_num_buckets,
        relative_attention_max_distance=config.relative_attention_max_distance,
        layer_norm_epsilon=config.norm_epsilon, dropout_rate=config.dropout_rate,
        tie_word_embeddings=False, is_encoder_decoder=True, decoder_start_token_id=0,
        pad_token_id=0, eos_token_id=1)
  else:
    if config.position_encoding != "rope" or tuple(config.mlp_activations) != ("silu", "linear"):
      raise HFConfigError("export: a decoder-only model must be Llama shaped (RoPE, SwiGLU)")
    out = dict(
        architectures=[LLAMA_ARCHITECTURE], model_type="llama", vocab_size=config.vocab_size,
        hidden_size=config.emb_dim, intermediate_size=config.mlp_dim,
        num_hidden_layers=config.num_decoder_layers, num_attention_heads=config.num_heads,
        num_key_value_heads=config.kv_heads, head_dim=config.head_dim, hidden_act="silu",
        rms_norm_eps=config.norm_epsilon,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        tie_word_embeddings=config.tie_embeddings, attention_bias=False, mlp_bias=False)
  out["torch_dtype"] = "float32"
  out.update({k: v for k, v in token_ids.items() if v is not None})
  return out
