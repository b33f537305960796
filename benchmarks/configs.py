"""Model and batch shapes that every benchmark reads, ours and HuggingFace's alike.

A side-by-side figure is only honest when both stacks run the same architecture on the same
batch, so the shapes live here once and each side translates them into its own config.
"""
from __future__ import annotations

import argparse
import dataclasses


@dataclasses.dataclass(frozen=True)
class EncoderDecoderShape:
  """A T5 v1.1 model: gated-GELU MLP, relative position buckets, untied unembedding."""

  name: str
  vocab_size: int
  d_model: int
  num_heads: int
  head_dim: int
  mlp_dim: int
  num_encoder_layers: int
  num_decoder_layers: int
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  # Our side's model file (gin/models/); its dimensions must equal the fields above.
  gin_file: str = "gin/models/t5_1_1.gin"
  is_encoder_decoder = True


@dataclasses.dataclass(frozen=True)
class DecoderShape:
  """A Llama-family decoder: SwiGLU MLP, RoPE, RMSNorm, grouped-query attention."""

  name: str
  vocab_size: int
  d_model: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  num_layers: int
  rope_theta: float
  tie_embeddings: bool
  gin_file: str = "gin/models/llama.gin"
  is_encoder_decoder = False


@dataclasses.dataclass(frozen=True)
class TrainBatch:
  """Per-step batch: `target_length` is 0 for a decoder (inputs and targets share one sequence)."""

  batch_size: int
  input_length: int
  target_length: int = 0

  @property
  def tokens_per_step(self) -> int:
    return self.batch_size * (self.input_length + self.target_length)


@dataclasses.dataclass(frozen=True)
class DecodeBatch:
  batch_size: int
  prompt_length: int
  new_tokens: int


T5_V1_1_SMALL = EncoderDecoderShape(
  name="t5_v1_1_small", vocab_size=32128, d_model=512, num_heads=6, head_dim=64, mlp_dim=1024,
  num_encoder_layers=8, num_decoder_layers=8, gin_file="gin/models/t5_1_1_small.gin")
T5_V1_1_BASE = EncoderDecoderShape(
  name="t5_v1_1_base", vocab_size=32128, d_model=768, num_heads=12, head_dim=64, mlp_dim=2048,
  num_encoder_layers=12, num_decoder_layers=12, gin_file="gin/models/t5_1_1_base.gin")
# Wider than gin/models/llama_tiny.gin (the CPU test model), so it measures matmuls
# rather than overhead; built from the Llama family file with these dimensions.
LLAMA_TINY = DecoderShape(
  name="llama_tiny", vocab_size=8192, d_model=256, num_heads=4, num_kv_heads=4, head_dim=64,
  mlp_dim=688, num_layers=4, rope_theta=1e4, tie_embeddings=True)
SMOLLM2_135M = DecoderShape(
  name="smollm2_135m", vocab_size=49152, d_model=576, num_heads=9, num_kv_heads=3, head_dim=64,
  mlp_dim=1536, num_layers=30, rope_theta=1e5, tie_embeddings=True,
  gin_file="gin/models/smollm2_135m.gin")

SHAPES = {s.name: s for s in (
  T5_V1_1_SMALL, T5_V1_1_BASE, LLAMA_TINY, SMOLLM2_135M)}


@dataclasses.dataclass(frozen=True)
class TrainCase:
  shape: EncoderDecoderShape | DecoderShape
  batch: TrainBatch

  @property
  def name(self) -> str:
    return self.shape.name


@dataclasses.dataclass(frozen=True)
class DecodeCase:
  shape: EncoderDecoderShape | DecoderShape
  batch: DecodeBatch

  @property
  def name(self) -> str:
    return f"{self.shape.name}_b{self.batch.batch_size}"


TRAIN_CASES = (
  TrainCase(T5_V1_1_SMALL, TrainBatch(batch_size=8, input_length=128, target_length=32)),
  TrainCase(T5_V1_1_BASE, TrainBatch(batch_size=4, input_length=128, target_length=32)),
  TrainCase(LLAMA_TINY, TrainBatch(batch_size=16, input_length=128)),
  TrainCase(SMOLLM2_135M, TrainBatch(batch_size=4, input_length=256)),
)

DECODE_CASES = tuple(
  DecodeCase(shape, DecodeBatch(batch_size=b, prompt_length=64, new_tokens=64))
  for shape in (T5_V1_1_SMALL, SMOLLM2_135M) for b in (1, 16))

# Optimizer settings shared by both sides; a constant rate keeps schedules out of the timing.
LEARNING_RATE = 1e-4
WEIGHT_DECAY = 0.0


def decode_cases(shape_name: str) -> tuple[DecodeCase, ...]:
  cases = tuple(c for c in DECODE_CASES if c.shape.name == shape_name)
  if not cases:
    raise ValueError(f"no decode cases for shape {shape_name!r}; shapes with some: "
                     f"{sorted({c.shape.name for c in DECODE_CASES})}")
  return cases


def side_parser(description: str) -> argparse.ArgumentParser:
  """The command line both sides (benchmarks/ours.py, benchmarks/hf_baseline.py) share."""
  parser = argparse.ArgumentParser(description=description)
  what = parser.add_mutually_exclusive_group(required=True)
  what.add_argument("--train", choices=[c.name for c in TRAIN_CASES])
  what.add_argument("--decode", choices=sorted({c.shape.name for c in DECODE_CASES}),
                    help="a model shape: every decode batch size of it")
  parser.add_argument("--warmup", type=int, default=2, help="train: untimed steps first")
  parser.add_argument("--steps", type=int, default=5, help="timed steps (decode: calls)")
  parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                      help="train compute dtype; parameters and accumulation stay fp32")
  parser.add_argument("--phases", action="store_true",
                      help="train: also time forward and forward+backward alone")
  return parser
