"""Mixtures of the embedded suite: examples-proportional mixing, FLAN-2022-style format
sub-mixtures, held-out-cluster pairs and FLAN's ablations (no instructions, one template,
1..N training clusters).

Rate of a task = min(num_train_examples, cap) ** (1 / temperature)  (FLAN 2021 mixing;
seqio normalizes rates into sampling probabilities).
"""
import functools
from typing import Iterable, Mapping, Sequence

import seqio

from tasks import flan_datasets
from tasks import formats as formats_lib
from tasks import suite
from tasks import suite_tasks

# FLAN 2021's code caps each dataset at 3,000 examples.
EXAMPLES_CAP = 3000
TEMPERATURE = 1.0

DEFAULT_MIXTURE = "instruct_suite"
FLAN_TFDS_MIXTURE = "flan_tfds"  # the TFDS datasets of tasks/flan_datasets.py
NOINSTR_MIXTURE = "instruct_suite_noinstr"
ONE_TEMPLATE_MIXTURE = "instruct_suite_1tmpl"
FLAN2022_MIXTURE = "instruct_suite_flan2022"
# FLAN 2022 weights its four formats equally; CoT gets its 5% top-level share.
FLAN2022_FORMAT_RATES = {
    "zsopt": (formats_lib.ZERO_SHOT, 0.2375),
    "zsnoopt": (formats_lib.ZERO_SHOT_NO_OPTIONS, 0.2375),
    "fsopt": (formats_lib.FEW_SHOT, 0.2375),
    "fsnoopt": (formats_lib.FEW_SHOT_NO_OPTIONS, 0.2375),
    "cot": (formats_lib.COT, 0.05),
}


def examples_proportional_rate(cap: int = EXAMPLES_CAP, temperature: float = TEMPERATURE):
  return functools.partial(seqio.mixing_rate_num_examples, maximum=cap,
                           temperature=temperature)


def expected_rate(num_examples: int, cap: int = EXAMPLES_CAP,
                  temperature: float = TEMPERATURE) -> float:
  """The formula the mixtures follow, for tests and for reading off mixing weights."""
  return float(min(num_examples, cap)) ** (1.0 / temperature)


def training_clusters(held_out: str, clusters: Sequence[str] = suite.CLUSTERS,
                      related: Mapping[str, frozenset[str]] = suite.RELATED_CLUSTERS
                      ) -> tuple[str, ...]:
  """Every cluster except `held_out` and the clusters related to it (FLAN's rule)."""
  if held_out not in clusters:
    raise KeyError(f"no cluster {held_out!r}; known: {list(clusters)}")
  excluded = {held_out} | set(related.get(held_out, ()))
  return tuple(c for c in clusters if c not in excluded)


def largest_first(clusters: Sequence[str]) -> tuple[str, ...]:
  """The order FLAN-style cluster-count ablations add clusters in: most task types first,
  ties by name."""
  return tuple(sorted(clusters, key=lambda c: (-len(suite.by_cluster(c)), c)))


def clusters_mixture_name(num_clusters: int, held_out: str) -> str:
  """Training on the first `num_clusters` of largest_first(training_clusters(held_out))."""
  return f"{DEFAULT_MIXTURE}_{num_clusters}_clusters_without_{held_out}"


def _task_names(clusters: Iterable[str], fmt: formats_lib.Format) -> list[str]:
  """The format's task for each type; a type that lacks the format (no options, no CoT)
  contributes its nearest one (the no-options variant of a non-classification task is its
  zero-shot task) or nothing (CoT, rank classification)."""
  names = []
  for cluster in clusters:
    for task in suite.by_cluster(cluster):
      available = suite_tasks.formats_of(task)
      if fmt in available:
        names.append(suite_tasks.task_name(task, fmt))
      elif not fmt.cot and fmt != formats_lib.RANK_CLASSIFICATION:
        fallback = formats_lib.FEW_SHOT if fmt.few_shot else formats_lib.ZERO_SHOT
        names.append(suite_tasks.task_name(task, fallback))
  return names


def _add(name: str, tasks_or_rates: Sequence, default_rate=None) -> str:
  seqio.MixtureRegistry.add(name, tasks_or_rates, default_rate=default_rate)
  return name


def register_all() -> list[str]:
  rate = examples_proportional_rate()
  names = [
      _add(DEFAULT_MIXTURE, _task_names(suite.CLUSTERS, formats_lib.ZERO_SHOT), rate),
      _add(NOINSTR_MIXTURE, _task_names(suite.CLUSTERS, formats_lib.NO_INSTRUCTIONS), rate),
      _add(ONE_TEMPLATE_MIXTURE, _task_names(suite.CLUSTERS, formats_lib.ONE_TEMPLATE), rate),
  ]
  for cluster in suite.CLUSTERS:
    train = training_clusters(cluster)
    names.append(_add(f"{DEFAULT_MIXTURE}_without_{cluster}",
                      _task_names(train, formats_lib.ZERO_SHOT), rate))
    names.append(_add(f"{DEFAULT_MIXTURE}_heldout_{cluster}",
                      _task_names([cluster], formats_lib.ZERO_SHOT), rate))
    names.append(_add(f"{NOINSTR_MIXTURE}_without_{cluster}",
                      _task_names(train, formats_lib.NO_INSTRUCTIONS), rate))
    names.append(_add(f"{ONE_TEMPLATE_MIXTURE}_without_{cluster}",
                      _task_names(train, formats_lib.ONE_TEMPLATE), rate))
    for n in range(1, len(train) + 1):
      names.append(_add(clusters_mixture_name(n, cluster),
                        _task_names(largest_first(train)[:n], formats_lib.ZERO_SHOT), rate))
    rank_tasks = _task_names([cluster], formats_lib.RANK_CLASSIFICATION)
    if rank_tasks:  # zero-shot rank classification of the held-out cluster (T0 style)
      names.append(_add(f"{DEFAULT_MIXTURE}_heldout_{cluster}_rank", rank_tasks, rate))
  sub_mixtures = []
  for label, (fmt, share) in FLAN2022_FORMAT_RATES.items():
    sub = _add(f"{DEFAULT_MIXTURE}_{label}", _task_names(suite.CLUSTERS, fmt), rate)
    names.append(sub)
    sub_mixtures.append((sub, share))
  names.append(_add(FLAN2022_MIXTURE, sub_mixtures))
  # Rates come from published split sizes, so registering reads no TFDS data.
  names.append(_add(FLAN_TFDS_MIXTURE, [d.task_name for d in flan_datasets.DATASETS], rate))
  for cluster in flan_datasets.CLUSTERS:
    train = training_clusters(cluster, flan_datasets.CLUSTERS, flan_datasets.RELATED_CLUSTERS)
    names.append(_add(f"{FLAN_TFDS_MIXTURE}_without_{cluster}",
                      [d.task_name for d in flan_datasets.DATASETS if d.cluster in train], rate))
    names.append(_add(f"{FLAN_TFDS_MIXTURE}_heldout_{cluster}",
                      [d.task_name for d in flan_datasets.DATASETS if d.cluster == cluster],
                      rate))
  return names
