"""Mixing rates follow min(n, cap) ** (1/T); held-out builders keep the held-out cluster
(and its related clusters) out of training."""
import collections
import math

import pytest
import seqio

import tasks
from tasks import mixtures
from tasks import suite


def _cluster_of(task_name: str) -> str:
  stem = task_name.removeprefix("suite_")
  for t in suite.TASK_TYPES:
    if stem == t.name or stem.startswith(t.name + "_"):
      return t.cluster
  raise KeyError(task_name)


def test_default_mixture_rates_follow_the_formula():
  mixture = seqio.get_mixture_or_task(tasks.DEFAULT_MIXTURE)
  assert len(mixture.tasks) == len(suite.TASK_TYPES)
  for task in mixture.tasks:
    n = task.num_input_examples("train")
    assert mixture.get_rate(task) == pytest.approx(min(n, mixtures.EXAMPLES_CAP))
  assert any(t.num_input_examples("train") > mixtures.EXAMPLES_CAP for t in mixture.tasks)


@pytest.mark.parametrize("cap,temperature", [(100, 1.0), (1000, 2.0), (3000, 3.0)])
def test_rate_function_cap_and_temperature(cap, temperature):
  rate_fn = mixtures.examples_proportional_rate(cap, temperature)
  for name in ("suite_addition", "suite_antonym", "suite_multiplication"):
    task = seqio.get_mixture_or_task(name)
    n = task.num_input_examples("train")
    assert rate_fn(task) == pytest.approx(min(n, cap) ** (1 / temperature))
    assert mixtures.expected_rate(n, cap, temperature) == pytest.approx(rate_fn(task))


def test_sampled_proportions_match_rates():
  """A mixture of no-instruction tasks (whose inputs start with the task name, so the
  sampled share of each can be read off the stream), with a cap that binds for two."""
  names = ["suite_addition_noinstr", "suite_antonym_noinstr", "suite_multiplication_noinstr",
           "suite_word_count_noinstr"]
  seqio.MixtureRegistry.add("test_capped_mixture", names,
                            default_rate=mixtures.examples_proportional_rate(cap=1000))
  mixture = seqio.get_mixture_or_task("test_capped_mixture")
  sizes = {t.name: t.num_input_examples("train") for t in mixture.tasks}
  assert sizes == {"suite_addition_noinstr": 5000, "suite_antonym_noinstr": 109,
                   "suite_multiplication_noinstr": 700, "suite_word_count_noinstr": 2000}
  expected = {n.removeprefix("suite_").removesuffix("_noinstr"): min(size, 1000) / 2809
              for n, size in sizes.items()}
  ds = mixture.get_dataset(None, split="train", shuffle=False, seed=5, copy_pretokenized=True)
  n = 2000
  seen = collections.Counter(
      ex["inputs_pretokenized"].decode().split(":\n", 1)[0]
      for ex in ds.take(n).as_numpy_iterator())
  assert set(seen) == set(expected)
  for name, p in expected.items():
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(seen[name] - n * p) <= 4 * sigma, (name, seen[name], n * p)


@pytest.mark.parametrize("cluster", suite.CLUSTERS)
def test_held_out_builders(cluster):
  excluded = {cluster} | set(suite.RELATED_CLUSTERS.get(cluster, ()))
  for prefix in ("instruct_suite", "instruct_suite_noinstr"):
    train = seqio.get_mixture_or_task(f"{prefix}_without_{cluster}")
    train_clusters = {_cluster_of(t.name) for t in train.tasks}
    assert not train_clusters & excluded
    assert train_clusters == set(suite.CLUSTERS) - excluded
  held_out = seqio.get_mixture_or_task(f"instruct_suite_heldout_{cluster}")
  assert {t.name for t in held_out.tasks} == {f"suite_{t.name}" for t in suite.by_cluster(cluster)}
  classification = [t for t in suite.by_cluster(cluster) if t.is_classification]
  rank_name = f"instruct_suite_heldout_{cluster}_rank"
  if classification:
    rank = seqio.get_mixture_or_task(rank_name)
    assert {t.name for t in rank.tasks} == {f"suite_{t.name}_rank" for t in classification}
  else:
    assert rank_name not in seqio.MixtureRegistry.names()


def test_related_clusters_are_symmetric_and_exist():
  for cluster, related in suite.RELATED_CLUSTERS.items():
    assert cluster in suite.CLUSTERS and related <= set(suite.CLUSTERS)
    for other in related:
      assert cluster in suite.RELATED_CLUSTERS[other]
  assert mixtures.training_clusters("nli") == tuple(
      c for c in suite.CLUSTERS if c not in ("nli", "paraphrase"))


def test_flan2022_mixture_weights_formats():
  top = seqio.get_mixture_or_task(mixtures.FLAN2022_MIXTURE)
  shares = {label: share for label, (_, share) in mixtures.FLAN2022_FORMAT_RATES.items()}
  assert sum(shares.values()) == pytest.approx(1.0)
  four = [shares[k] for k in ("zsopt", "zsnoopt", "fsopt", "fsnoopt")]
  assert max(four) == min(four)
  few_shot = seqio.get_mixture_or_task("instruct_suite_fsopt")
  assert all(t.name.endswith("_fs") for t in few_shot.tasks)
  cot = seqio.get_mixture_or_task("instruct_suite_cot")
  assert all(t.name.endswith("_cot") for t in cot.tasks) and len(cot.tasks) >= 5
  assert len(top.tasks) > len(suite.TASK_TYPES)


def test_listing_and_rates_for_flan_tasks_do_not_touch_tfds(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  task = seqio.get_mixture_or_task("flan_sst2")
  assert task.num_input_examples("train") == 67349
  assert list(tmp_path.iterdir()) == []


def _first_inputs(seed, n=12):
  ds = seqio.get_dataset("instruct_suite_heldout_nli",
                         task_feature_lengths={"inputs": 128, "targets": 32},
                         dataset_split="train", shuffle=True, seed=seed,
                         feature_converter=seqio.EncDecFeatureConverter(pack=False))
  return [ex["encoder_input_tokens"].tolist() for ex in ds.take(n).as_numpy_iterator()]


def test_same_seed_same_stream_through_seqio():
  first = _first_inputs(3)
  assert first == _first_inputs(3)
  assert first != _first_inputs(4)


@pytest.mark.parametrize("held_out", ["sorting", "nli"])
def test_cluster_count_mixtures_grow_by_whole_clusters(held_out):
  """FLAN's cluster-count ablation: 1..N training clusters, each mixture the previous one
  plus the next cluster, never the held-out one or its related clusters."""
  train = mixtures.training_clusters(held_out)
  previous: set[str] = set()
  for n in range(1, len(train) + 1):
    mixture = seqio.get_mixture_or_task(mixtures.clusters_mixture_name(n, held_out))
    names = {t.name for t in mixture.tasks}
    clusters = {_cluster_of(t) for t in names}
    assert len(clusters) == n and previous < names
    assert held_out not in clusters and not clusters & set(suite.RELATED_CLUSTERS.get(held_out, ()))
    previous = names
  everything = seqio.get_mixture_or_task(f"instruct_suite_without_{held_out}")
  assert previous == {t.name for t in everything.tasks}
  sizes = [len(suite.by_cluster(c)) for c in mixtures.largest_first(train)]
  assert sizes == sorted(sizes, reverse=True)


def test_one_template_mixture_has_every_training_type_once():
  one = seqio.get_mixture_or_task("instruct_suite_1tmpl_without_nli")
  every = seqio.get_mixture_or_task("instruct_suite_without_nli")
  assert sorted(t.name.removesuffix("_1tmpl") for t in one.tasks) == sorted(
      t.name for t in every.tasks)
