"""Plain-text corpora for the pretraining objectives, as seqio sources of {"text": ...}.

| name | documents |
|---|---|
| `suite` | the embedded suite's own prose, train split only: reading passages and reviews |
| `lee_news` | gensim's Lee background corpus: 293 Australian news articles (LGPL-2.1) |
| `wordnet` | 2,000 WordNet 3.0 glosses, "lemmas (pos): gloss" (WordNet licence) |

Every `VALIDATION_EVERY`-th document (in file order) is the validation split, the rest
train. Nothing is read until a dataset is asked for.
"""
import dataclasses
import functools
import pathlib
from typing import Callable

import seqio
import tensorflow as tf

from tasks import suite

# Written by `python -m tasks.pretrain.extract_lee` / `extract_wordnet`.
CORPORA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "corpora"
LEE_FILE = CORPORA_DIR / "lee_background.txt"
WORDNET_FILE = CORPORA_DIR / "wordnet_glosses.txt"
SPLITS = ("train", "validation")
VALIDATION_EVERY = 20
TEXT_FEATURE = "text"
# (task type, field): the suite's free prose; train examples only, so no pretraining text
# repeats a validation or test example of the suite.
SUITE_PROSE_FIELDS = (("passage_where", "passage"), ("passage_count", "passage"),
                      ("passage_who", "passage"), ("review_sentiment", "review"))


@dataclasses.dataclass(frozen=True)
class Corpus:
  name: str
  description: str
  read_documents: Callable[[], tuple[str, ...]]

  def documents(self, split: str) -> tuple[str, ...]:
    if split not in SPLITS:
      raise ValueError(f"corpus {self.name!r} has no split {split!r}; splits: {SPLITS}")
    docs = _documents(self)
    is_validation = split == "validation"
    return tuple(d for i, d in enumerate(docs) if (i % VALIDATION_EVERY == 0) == is_validation)


@functools.cache
def _documents(corpus: Corpus) -> tuple[str, ...]:
  docs = corpus.read_documents()
  if not docs:
    raise ValueError(f"corpus {corpus.name!r} has no documents")
  return docs


def suite_prose() -> tuple[str, ...]:
  seen, out = set(), []
  for task_name, field in SUITE_PROSE_FIELDS:
    for example in suite.task_type(task_name).examples("train"):
      if example[field] not in seen:
        seen.add(example[field])
        out.append(example[field])
  return tuple(out)


def read_lines(path) -> tuple[str, ...]:
  """One document per non-blank line of a shipped UTF-8 file."""
  with open(path, encoding="utf-8") as f:
    return tuple(line.strip() for line in f if line.strip())


CORPORA: tuple[Corpus, ...] = (
    Corpus("suite", "the embedded suite's reading passages and reviews (train split)",
           suite_prose),
    Corpus("lee_news", "gensim's Lee background corpus, 293 news articles",
           functools.partial(read_lines, LEE_FILE)),
    Corpus("wordnet", "2,000 WordNet 3.0 glosses", functools.partial(read_lines, WORDNET_FILE)),
)


def corpus(name: str) -> Corpus:
  for c in CORPORA:
    if c.name == name:
      return c
  raise KeyError(f"no corpus {name!r}; known: {[c.name for c in CORPORA]}")


class _CorpusSource(seqio.FunctionDataSource):
  """Reports the real document counts."""

  def __init__(self, corpus_: Corpus):
    super().__init__(functools.partial(_dataset_fn, corpus_=corpus_), splits=SPLITS)
    self._corpus = corpus_

  def num_input_examples(self, split: str) -> int:
    return len(self._corpus.documents(split))


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None, *,
                corpus_: Corpus) -> tf.data.Dataset:
  docs = corpus_.documents(split)
  dataset = tf.data.Dataset.from_tensor_slices(
      {TEXT_FEATURE: tf.constant(docs, tf.string, shape=[len(docs)])})
  if shuffle_files:
    dataset = dataset.shuffle(len(docs), seed=seed, reshuffle_each_iteration=True)
  return dataset


def source(corpus_: Corpus) -> seqio.DataSource:
  return _CorpusSource(corpus_)
