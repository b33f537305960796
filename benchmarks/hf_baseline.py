"""The stack a user would otherwise pick: HuggingFace transformers on PyTorch (CPU).

Same shapes as our side (benchmarks/configs.py), random weights, random int batches, fp32,
AdamW, dropout off, the thread count XLA uses (all cores). Needs the `bench` extra
(torch, transformers).

  python -m benchmarks.hf_baseline --train t5_v1_1_small --steps 5
  python -m benchmarks.hf_baseline --decode smollm2_135m --steps 3
"""
from __future__ import annotations

import json
import os

from benchmarks import configs
from benchmarks import timing


def hf_config(shape):
  """The transformers config of a benchmark shape, dropout off."""
  import transformers

  if isinstance(shape, configs.EncoderDecoderShape):
    return transformers.T5Config(
        vocab_size=shape.vocab_size, d_model=shape.d_model, d_kv=shape.head_dim,
        d_ff=shape.mlp_dim, num_layers=shape.num_encoder_layers,
        num_decoder_layers=shape.num_decoder_layers, num_heads=shape.num_heads,
        relative_attention_num_buckets=shape.relative_attention_num_buckets,
        relative_attention_max_distance=shape.relative_attention_max_distance,
        dropout_rate=0.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
  return transformers.LlamaConfig(
      vocab_size=shape.vocab_size, hidden_size=shape.d_model,
      intermediate_size=shape.mlp_dim, num_hidden_layers=shape.num_layers,
      num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads,
      head_dim=shape.head_dim, rms_norm_eps=1e-5, tie_word_embeddings=shape.tie_embeddings,
      rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
      max_position_embeddings=8192, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def hf_model(shape, seed: int = 0):
  import torch
  import transformers

  torch.manual_seed(seed)
  config = hf_config(shape)
  if not isinstance(shape, configs.EncoderDecoderShape):
    return transformers.LlamaForCausalLM(config).to(torch.float32)
  model = transformers.T5ForConditionalGeneration(config).to(torch.float32)
  # transformers 5 always ties T5's output projection to the input embedding (its config
  # forces tie_word_embeddings=True); T5 v1.1, and our model, keep them apart.
  model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())
  return model


def parameter_count(model) -> int:
  return sum(p.numel() for p in model.parameters())


def _random_ids(generator, vocab_size: int, *shape):
  import torch

  # Ids from 3 up keep pad/bos/eos out, so no position is masked or ends a sequence.
  return torch.randint(3, vocab_size, shape, generator=generator)


def train_batch(case: configs.TrainCase, seed: int = 0) -> dict:
  import torch

  generator = torch.Generator().manual_seed(seed)
  b = case.batch
  if isinstance(case.shape, configs.EncoderDecoderShape):
    return {"input_ids": _random_ids(generator, case.shape.vocab_size, b.batch_size,
                                     b.input_length),
            "labels": _random_ids(generator, case.shape.vocab_size, b.batch_size,
                                  b.target_length)}
  ids = _random_ids(generator, case.shape.vocab_size, b.batch_size, b.input_length)
  return {"input_ids": ids, "labels": ids}


def compute_context(dtype: str):
  """bf16: autocast (bf16 matmuls, fp32 parameters and reductions), what HF's Trainer does
  with `bf16=True` on CPU."""
  import contextlib

  import torch

  if dtype == "fp32":
    return contextlib.nullcontext()
  return torch.autocast("cpu", dtype=torch.bfloat16)


def train(case: configs.TrainCase, steps: int, warmup: int = 2,
          phases: bool = False, dtype: str = "fp32") -> dict:
  """Tokens/s of full AdamW steps (forward, backward, update) on one fixed batch; with
  `phases`, also the median seconds of the forward pass alone and of forward + backward."""
  import torch

  model = hf_model(case.shape)
  model.train()
  optimizer = torch.optim.AdamW(model.parameters(), lr=configs.LEARNING_RATE,
                                weight_decay=configs.WEIGHT_DECAY)
  batch = train_batch(case)
  losses = []

  def loss():
    with compute_context(dtype):
      return model(**batch).loss

  def step():
    optimizer.zero_grad(set_to_none=True)
    value = loss()
    value.backward()
    optimizer.step()
    losses.append(value.item())

  timings = timing.time_calls(step, repeats=steps, warmup=warmup)
  result = timing.train_report(case, "hf", timings, losses,
                               parameters=parameter_count(model), dtype=dtype)
  if phases:
    def forward():
      with torch.no_grad():
        loss().item()

    def forward_backward():
      optimizer.zero_grad(set_to_none=True)
      loss().backward()

    result["phase_seconds"] = timing.phase_medians(
        {"forward": forward, "forward_backward": forward_backward}, timings, steps)
  return result


def decode(shape, repeats: int) -> list[dict]:
  """Greedy `generate` with the KV cache at each batch size configs.DECODE_CASES lists for
  `shape`; new tokens/s over the whole call, prefill included."""
  import torch

  model = hf_model(shape)
  model.eval()
  results = []
  for case in configs.decode_cases(shape.name):
    b = case.batch
    generator = torch.Generator().manual_seed(0)
    prompt = _random_ids(generator, shape.vocab_size, b.batch_size, b.prompt_length)
    mask = torch.ones_like(prompt)
    generated = []

    def generate(new_tokens: int):
      with torch.inference_mode():
        out = model.generate(input_ids=prompt, attention_mask=mask, do_sample=False,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             use_cache=True)
      generated.append(out.shape[1])

    generate(4)  # warm-up: allocators and one-time setup, not worth a full-length call
    timings = timing.time_calls(lambda: generate(b.new_tokens), repeats=repeats, warmup=0)
    new_per_row = generated[-1] - (0 if model.config.is_encoder_decoder else b.prompt_length)
    if new_per_row < b.new_tokens:  # the decoder start token makes T5's output one longer
      raise RuntimeError(f"{case.name}: generate stopped after {new_per_row} of "
                         f"{b.new_tokens} new tokens")
    results.append({"case": case.name, "side": "hf", "call_seconds": list(timings.seconds),
                    "tokens_per_second": timings.rate(b.batch_size * b.new_tokens)})
  return results


def main(argv=None) -> None:
  parser = configs.side_parser(__doc__.splitlines()[0])
  parser.add_argument("--threads", type=int, default=os.cpu_count())
  args = parser.parse_args(argv)

  import torch

  torch.set_num_threads(args.threads)
  if args.train:
    case = next(c for c in configs.TRAIN_CASES if c.name == args.train)
    result = train(case, steps=args.steps, warmup=args.warmup, phases=args.phases,
                   dtype=args.dtype)
  else:
    result = {"cases": decode(configs.SHAPES[args.decode], repeats=args.steps)}
  result.update(threads=torch.get_num_threads(), torch=torch.__version__,
                transformers=__import__("transformers").__version__)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
