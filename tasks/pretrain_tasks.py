"""Registers the pretraining objectives over the plain-text corpora, apart from the
instruction tasks (whose tasks, mixtures and vocabulary they leave as they are).

Tasks `pretrain_<objective>_<corpus>` for objective in span_corruption (T5), prefix_lm
(LM adaptation of T5) and lm (decoders; targets only), corpus in tasks.pretrain.corpora;
mixtures `pretrain_<objective>` over the corpora, rate = tokens of a corpus's train split
(so mixing follows the amount of text, as pretraining on their union would).
Span corruption uses `vocab.sentinel_vocabulary()`; the others the default vocabulary, so
their checkpoints can go on to instruction tuning unchanged.
"""
import dataclasses
import functools
from typing import Callable

import seqio

from tasks import catalog
from tasks import vocab
from tasks.pretrain import causal_lm
from tasks.pretrain import corpora
from tasks.pretrain import prefix_lm
from tasks.pretrain import span_corruption

PREFIX = "pretrain_"
CLUSTER = "pretraining"


@dataclasses.dataclass(frozen=True)
class Objective:
  name: str
  preprocess: Callable
  features: tuple[str, ...]
  vocabulary: Callable[[], seqio.Vocabulary]
  needs_sentinels: bool = False


OBJECTIVES = (
    Objective("span_corruption", span_corruption.preprocess, ("inputs", "targets"),
              vocab.sentinel_vocabulary, needs_sentinels=True),
    Objective("prefix_lm", prefix_lm.preprocess, ("inputs", "targets"),
              vocab.default_vocabulary),
    Objective("lm", causal_lm.preprocess, ("targets",), vocab.default_vocabulary),
)


def objective(name: str) -> Objective:
  for o in OBJECTIVES:
    if o.name == name:
      return o
  raise KeyError(f"no pretraining objective {name!r}; known: {[o.name for o in OBJECTIVES]}")


def task_name(objective_name: str, corpus_name: str) -> str:
  return f"{PREFIX}{objective_name}_{corpus_name}"


def mixture_name(objective_name: str) -> str:
  return f"{PREFIX}{objective_name}"


def register_task(objective_: Objective, corpus: corpora.Corpus,
                  vocabulary: seqio.Vocabulary | None = None, name: str | None = None) -> str:
  """Registers one (objective, corpus) task; span corruption refuses a vocabulary without
  sentinels here, before any data is read."""
  vocabulary = vocabulary or objective_.vocabulary()
  name = name or task_name(objective_.name, corpus.name)
  if objective_.needs_sentinels:
    vocab.sentinel_ids(vocabulary)
  seqio.TaskRegistry.add(
      name, source=corpora.source(corpus),
      output_features={f: seqio.Feature(vocabulary, add_eos=True) for f in objective_.features},
      preprocessors=[functools.partial(objective_.preprocess, task_name=name)],
      metric_fns=[])
  catalog.add(catalog.Entry(name, CLUSTER, templates=0, inverted_templates=0,
                            split_sizes=lambda: {s: len(corpus.documents(s))
                                                 for s in corpora.SPLITS}))
  return name


@functools.cache
def train_tokens(corpus: corpora.Corpus) -> int:
  """Tokens of a corpus's train split (default vocabulary; the sentinel vocabulary
  tokenizes text the same): the mixing rate of the corpus's tasks."""
  encode = vocab.default_vocabulary().tokenizer.EncodeAsIds
  return sum(len(encode(d)) for d in corpus.documents("train"))


def register_all() -> tuple[list[str], list[str]]:
  """Returns the task names and the mixture names."""
  task_names, mixture_names = [], []
  for objective_ in OBJECTIVES:
    # seqio calls a rate with the task; the rate depends on the corpus only.
    rates = [(register_task(objective_, corpus), lambda _, c=corpus: float(train_tokens(c)))
             for corpus in corpora.CORPORA]
    task_names += [name for name, _ in rates]
    mixture_names.append(mixture_name(objective_.name))
    seqio.MixtureRegistry.add(mixture_names[-1], rates)
  return task_names, mixture_names
