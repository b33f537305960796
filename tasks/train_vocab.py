"""Trains the shipped SentencePiece model on text rendered from the embedded suite.

    python -m tasks.train_vocab            # writes tasks/data/instruct_suite.spm.model

The corpus is every train example of every task type in the zero-shot, no-options and
chain-of-thought formats under a few seeds (so the varied option headers and template
texts are all seen), plus the shipped word lists. Ids follow the T5 convention seqio
expects: 0 pad, 1 eos, 2 unk, no bos. Newlines are kept as a piece of their own, since
templates and option lists use them; digits are split so numbers tokenize uniformly.
"""
import argparse
import io
import pathlib

import sentencepiece as spm

from tasks import formats
from tasks import render
from tasks import suite
from tasks.suite import words

MODEL_PATH = pathlib.Path(__file__).resolve().parent / "data" / "instruct_suite.spm.model"
VOCAB_SIZE = 2048
CORPUS_SEEDS = (0, 1, 2)


def corpus_lines():
  for task in suite.TASK_TYPES:
    fmts = [formats.ZERO_SHOT, formats.ZERO_SHOT_NO_OPTIONS, formats.NO_INSTRUCTIONS]
    if task.has_cot:
      fmts.append(formats.COT)
    for fmt in fmts:
      for seed in CORPUS_SEEDS:
        for i in range(len(task.examples("train"))):
          example = render.render_example(task, "train", i, seed, fmt)
          yield example["inputs"]
          yield example["targets"]
  for path in sorted(words.WORDS_DIR.iterdir()):
    yield path.read_text(encoding="utf-8")


def train(model_path: pathlib.Path, vocab_size: int) -> None:
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(corpus_lines()), model_writer=model, vocab_size=vocab_size,
      model_type="unigram", character_coverage=1.0, byte_fallback=True, split_digits=True,
      normalization_rule_name="identity", remove_extra_whitespaces=False,
      user_defined_symbols=["\n"], pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
      input_sentence_size=2_000_000, shuffle_input_sentence=True, max_sentence_length=8192,
      num_threads=2, minloglevel=1)
  model_path.parent.mkdir(parents=True, exist_ok=True)
  model_path.write_bytes(model.getvalue())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", type=pathlib.Path, default=MODEL_PATH)
  parser.add_argument("--vocab_size", type=int, default=VOCAB_SIZE)
  args = parser.parse_args()
  train(args.out, args.vocab_size)
  print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {args.vocab_size} pieces)")


if __name__ == "__main__":
  main()
