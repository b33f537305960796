"""Ask SmolLM2-135M-Instruct a question, offline, through our compiled cached decoding.

  python -m chat --prompt "What is the capital of France?"
  python -m chat --model_dir /tmp/sft_smollm2 --prompt "..."   # a fine-tuned run

The GGUF weights are dequantized to fp32 and loaded onto a mesh over every local device;
the prompt goes through the model's own chat template; generation is greedy by default
(models.decoding: KV cache, one while_loop) and stops at `<|im_end|>`.
"""
import argparse
import dataclasses
import sys
import time

import jax
import numpy as np

from interop import chat_template, gguf_import, hf_config, smollm2
from models import make_model, sampling
from trainer import compiled_inference, partitioning, restore


def generate_answers(config, params, vocab, template, prompts: list[str], mesh, rules, *,
                     max_new_tokens: int = 64, system: str | None = None,
                     temperature: float = 0.0, seed: int = 0) -> list[str]:
  """Replies of a loaded chat model to a batch of user prompts."""
  ids = [chat_template.prompt_ids(vocab, template, p, system) for p in prompts]
  tokens = np.zeros((len(ids), max(len(x) for x in ids)), np.int32)
  for row, x in enumerate(ids):
    tokens[row, :len(x)] = x
  lengths = np.array([len(x) for x in ids], np.int32)
  model = make_model(config)  # causal, as SmolLM2 was trained
  generate = compiled_inference.compile_generate(
      model, mesh, rules, jax.tree.map(lambda x: x.sharding, params),
      max_new_tokens=max_new_tokens, sampling=sampling.SamplingConfig(temperature=temperature),
      eos_id=vocab.eos_id)
  out = generate(params, {"decoder_prompt_tokens": tokens, "decoder_prompt_lengths": lengths},
                 jax.random.key(seed))
  return [vocab.decode([int(t) for t in row[:n] if t != vocab.eos_id])
          for row, n in zip(np.asarray(out.tokens), np.asarray(out.lengths))]


def load_finetuned(model_dir: str, mesh, rules, step: int | None = None):
  """(config, params, vocabulary) of a run fine-tuned from SmolLM2-135M-Instruct
  (gin/runs/sft_smollm2.gin): its architecture and tokenizer, the run's parameters."""
  saved = restore.saved_params_metadata(model_dir, step)
  config = dataclasses.replace(
      hf_config.model_config(gguf_import.hf_config_dict(smollm2.gguf_path())),
      scan_layers="layers" in saved.get("decoder", {}).get("layers", {}))
  model = make_model(config)
  abstract, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  params, _ = restore.restore_params(model_dir, abstract, step)
  return config, params, smollm2.vocabulary()


def answer(prompts: list[str], model_dir: str | None = None, step: int | None = None,
           **options):
  """(answers, timings): loads SmolLM2-135M-Instruct, or the run fine-tuned from it in
  `model_dir`, on one device and replies."""
  mesh = partitioning.make_mesh(data=1, devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  start = time.perf_counter()
  config, params, vocab = (smollm2.load(mesh, rules) if model_dir is None else
                           load_finetuned(model_dir, mesh, rules, step))
  loaded = time.perf_counter()
  answers = generate_answers(config, params, vocab, smollm2.chat_template(), prompts, mesh,
                             rules, **options)
  return answers, {"load_s": loaded - start, "generate_s": time.perf_counter() - loaded}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--prompt", action="append", required=True,
                      help="a user message (repeat for a batch)")
  parser.add_argument("--system", default=None, help="system message (default: the "
                      "template's own)")
  parser.add_argument("--max_new_tokens", type=int, default=64)
  parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--model_dir", default=None, help="a run fine-tuned from SmolLM2 "
                      "(gin/runs/sft_smollm2.gin); default: the GGUF model itself")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: "
                      "the newest)")
  args = parser.parse_args(argv)
  try:
    answers, timing = answer(args.prompt, model_dir=args.model_dir, step=args.step,
                             max_new_tokens=args.max_new_tokens,
                             system=args.system, temperature=args.temperature, seed=args.seed)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for prompt, text in zip(args.prompt, answers):
    print(f"> {prompt}\n{text}\n")
  print(f"[loaded in {timing['load_s']:.1f}s; answered in {timing['generate_s']:.1f}s "
        "including compilation]", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
