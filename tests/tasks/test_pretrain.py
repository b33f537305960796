"""Pretraining objectives over the plain-text corpora: span corruption's statistics and
exact reconstruction, prefix-LM and causal-LM chunks, the corpora, the sentinel
vocabulary, registration and the CLI."""
import collections
import functools

import numpy as np
import pytest
import seqio
import tensorflow as tf

import tasks
from tasks import __main__ as cli
from tasks import pretrain_tasks
from tasks import vocab
from tasks.pretrain import chunking
from tasks.pretrain import corpora
from tasks.pretrain import prefix_lm
from tasks.pretrain import span_corruption

LENGTHS = {"inputs": 128, "targets": 32}
SENTINEL_VOCAB = vocab.sentinel_vocabulary()
SENTINELS = vocab.sentinel_ids(SENTINEL_VOCAB)


def examples(name: str, lengths=LENGTHS, split="train", seed=0, shuffle=False, n=-1):
  dataset = seqio.get_mixture_or_task(name).get_dataset(
      lengths, split=split, shuffle=shuffle, seed=seed, num_epochs=1)
  return list(dataset.take(n).as_numpy_iterator())


def corpus_tokens(corpus_name: str, vocabulary, split="train", chunk_length=None,
                  min_length=1) -> list[int]:
  """The corpus's tokens in order; with chunk_length, less each group's tail chunk that is
  shorter than min_length (which the pipeline drops and counts)."""
  docs = corpora.corpus(corpus_name).documents(split)
  out = []
  for start in range(0, len(docs), chunking.DOCS_PER_CONCAT):
    group = [t for d in docs[start:start + chunking.DOCS_PER_CONCAT]
             for t in vocabulary.encode(d)]
    tail = len(group) % chunk_length if chunk_length else 0
    out += group[:len(group) - tail] if 0 < tail < min_length else group
  return out


def split_at_sentinels(ids) -> list[list[int]]:
  """[span before the first sentinel, span after it, ...]; sentinels dropped."""
  spans = [[]]
  for i in ids:
    if i in SENTINELS:
      spans.append([])
    else:
      spans[-1].append(int(i))
  return spans


def uncorrupt(inputs, targets) -> list[int]:
  """The chunk back from a span-corrupted pair (EOS stripped)."""
  kept, noise = split_at_sentinels(inputs[:-1]), split_at_sentinels(targets[:-1])
  assert noise[0] == []  # targets start with a sentinel
  out = []
  for i, span in enumerate(kept):
    out += span + (noise[i + 1] if i + 1 < len(noise) else [])
  return out


@functools.cache
def noise_masks(length: int, count: int) -> np.ndarray:
  seeds = tf.random.experimental.stateless_split(tf.constant([7, 11]), count)
  masks = tf.data.Dataset.from_tensor_slices(seeds).map(
      lambda s: span_corruption.noise_mask(length, s)).batch(count)
  return next(iter(masks)).numpy()


def span_lengths(mask) -> list[int]:
  runs, current = [], 0
  for m in list(mask) + [False]:
    if m:
      current += 1
    elif current:
      runs.append(current)
      current = 0
  return runs


# --- span corruption: the T5 paper's statistics ----------------------------------------

def test_noise_density_and_mean_span_length_match_their_targets():
  masks = noise_masks(141, 2000)
  spans = [s for m in masks for s in span_lengths(m)]
  assert abs(masks.mean() - 0.15) < 0.005
  assert abs(np.mean(spans) - 3.0) < 0.05
  # Spans are random, not all of the mean length: a uniformly random composition of 21
  # noise tokens into 7 spans has each span's length 1 + a spread-out count.
  assert 0.8 < np.std(spans) < 3.0 and min(spans) == 1 and max(spans) >= 10


def test_noise_positions_are_uniform_away_from_the_ends():
  masks = noise_masks(141, 2000)
  by_position = masks.mean(axis=0)
  assert not masks[:, 0].any()  # a chunk starts with kept tokens (as T5's code does)
  assert masks[:, -1].all()     # and ends with a noise span
  assert np.abs(by_position[20:-20] - 0.15).max() < 0.05


def test_span_lengths_are_a_uniformly_random_composition():
  """5 tokens into 3 non-empty spans: each of the C(4, 2) = 6 compositions equally often."""
  seeds = tf.random.experimental.stateless_split(tf.constant([3, 5]), 3000)
  parts = tf.data.Dataset.from_tensor_slices(seeds).map(
      lambda s: span_corruption.random_composition(5, 3, s)).batch(3000)
  counts = collections.Counter(tuple(p) for p in next(iter(parts)).numpy())
  assert len(counts) == 6 and all(sum(c) == 5 and min(c) >= 1 for c in counts)
  assert all(abs(n - 500) < 90 for n in counts.values())  # ~4.5 standard deviations


@pytest.mark.parametrize("length", [2, 3, 10, 57, 141, 500])
def test_noise_counts_at_every_length(length):
  mask = span_corruption.noise_mask(length, tf.constant([1, 2])).numpy()
  noise, spans = (int(t) for t in span_corruption.span_counts(tf.constant(length)))
  assert mask.shape == (length,) and mask.sum() == noise and len(span_lengths(mask)) == spans
  assert 1 <= noise < length


def test_corrupted_pairs_give_back_any_chunk():
  """Chunks of 2-399 random text ids: inputs and targets interleaved at their sentinels are
  the chunk again."""
  rng = np.random.default_rng(0)
  chunks = [rng.integers(3, 2048, size=int(n)).astype(np.int32)
            for n in rng.integers(2, 400, size=200)]

  def corrupt(tokens, seed):
    mask = span_corruption.noise_mask(tf.size(tokens), seed)
    return (span_corruption.replace_spans(tokens, mask, SENTINELS[0]),
            span_corruption.replace_spans(tokens, ~mask, SENTINELS[0]))

  pairs = tf.data.Dataset.from_generator(
      lambda: ((c, [i, 1]) for i, c in enumerate(chunks)),
      output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([2], tf.int32))
  ).map(corrupt)
  eos = [SENTINEL_VOCAB.eos_id]
  for chunk, (inputs, targets) in zip(chunks, pairs.as_numpy_iterator()):
    assert uncorrupt(list(inputs) + eos, list(targets) + eos) == chunk.tolist()


def test_chunk_length_is_the_longest_that_fits():
  length = span_corruption.chunk_length(127, 31, 100)
  for candidate, fits in ((length, True), (length + 1, False)):
    noise, spans = (int(t) for t in span_corruption.span_counts(tf.constant(candidate)))
    assert (candidate - noise + spans <= 127 and noise + spans <= 31) == fits
  with pytest.raises(ValueError, match="no chunk fits"):
    span_corruption.chunk_length(127, 1, 100)


# --- span corruption: the task's examples ------------------------------------------------

@pytest.fixture(scope="module")
def lee_span_corruption():
  return examples("pretrain_span_corruption_lee_news")


def test_span_corruption_reconstructs_the_corpus_exactly(lee_span_corruption):
  chunks = [uncorrupt(e["inputs"], e["targets"]) for e in lee_span_corruption]
  stream = [t for c in chunks for t in c]
  # No group of Lee articles leaves a one-token tail, so nothing is dropped here.
  assert stream == corpus_tokens("lee_news", SENTINEL_VOCAB)
  docs = corpora.corpus("lee_news").documents("train")
  assert SENTINEL_VOCAB.decode(stream) == " ".join(docs)


def test_span_corruption_examples_fit_and_measure_their_targets(lee_span_corruption):
  noise = kept = spans = 0
  for e in lee_span_corruption:
    assert len(e["inputs"]) <= LENGTHS["inputs"] and len(e["targets"]) <= LENGTHS["targets"]
    assert e["inputs"][-1] == e["targets"][-1] == SENTINEL_VOCAB.eos_id
    used = [i for i in e["targets"] if i in SENTINELS]
    assert list(e["inputs"][np.isin(e["inputs"], SENTINELS)]) == used
    assert used == list(SENTINELS[:len(used)])  # <extra_id_0>, <extra_id_1>, ... in order
    spans += len(used)
    noise += len(e["targets"]) - 1 - len(used)
    kept += len(e["inputs"]) - 1 - len(used)
  assert abs(noise / (noise + kept) - 0.15) < 0.01
  assert abs(noise / spans - 3.0) < 0.1
  full = [e for e in lee_span_corruption if len(e["inputs"]) == LENGTHS["inputs"]]
  assert len(full) > 0.9 * len(lee_span_corruption)  # documents are concatenated


def test_span_corruption_is_deterministic_given_the_seed():
  first, again, other = (examples("pretrain_span_corruption_wordnet", seed=s, n=20)
                         for s in (3, 3, 4))
  same = lambda a, b: all((x["inputs"] == y["inputs"]).all() and len(x["targets"]) ==
                          len(y["targets"]) and (x["targets"] == y["targets"]).all()
                          for x, y in zip(a, b))
  assert same(first, again)
  assert not same(first, other)


def test_sentinels_are_distinct_top_of_vocabulary_ids():
  assert len(set(SENTINELS)) == len(SENTINELS) == 100
  assert SENTINELS[0] == SENTINEL_VOCAB.vocab_size - 1 and min(SENTINELS) == 2048
  assert list(SENTINELS) == sorted(SENTINELS, reverse=True)
  assert SENTINEL_VOCAB.tokenizer.IdToPiece(SENTINELS[0]) == "\u2581<extra_id_0>"
  assert SENTINEL_VOCAB.tokenizer.IdToPiece(SENTINELS[99]) == "\u2581<extra_id_99>"


def test_sentinel_vocabulary_keeps_the_default_pieces_and_encodings():
  default = vocab.default_vocabulary()
  assert default.vocab_size == 2048 and SENTINEL_VOCAB.vocab_size == 2148
  assert all(default.tokenizer.IdToPiece(i) == SENTINEL_VOCAB.tokenizer.IdToPiece(i)
             for i in range(default.vocab_size))
  for doc in corpora.corpus("lee_news").documents("validation"):
    assert SENTINEL_VOCAB.encode(doc) == default.encode(doc)
  # The instruction tasks keep the default vocabulary.
  feature = seqio.get_mixture_or_task("suite_largest_number").output_features["targets"]
  assert feature.vocabulary.vocab_size == 2048


def test_span_corruption_refuses_a_vocabulary_without_sentinels():
  objective = pretrain_tasks.objective("span_corruption")
  with pytest.raises(ValueError, match="span corruption needs sentinel ids"):
    pretrain_tasks.register_task(objective, corpora.corpus("suite"),
                                 vocabulary=vocab.default_vocabulary(), name="test_no_sentinels")
  assert "test_no_sentinels" not in seqio.TaskRegistry.names()


def test_objectives_need_feature_lengths():
  task = seqio.get_mixture_or_task("pretrain_prefix_lm_suite")
  with pytest.raises(ValueError, match="prefix LM needs a length for"):
    task.get_dataset(None, split="validation", shuffle=False)


# --- prefix LM and causal LM ------------------------------------------------------------

@pytest.mark.parametrize("lengths", [{"inputs": 128, "targets": 128},
                                     {"inputs": 128, "targets": 32}])
def test_prefix_lm_splits_reconstruct_the_text(lengths):
  got = examples("pretrain_prefix_lm_wordnet", lengths)
  prefix_lengths = []
  for e in got:
    assert 2 <= len(e["inputs"]) <= lengths["inputs"] and 2 <= len(e["targets"]) <= \
        lengths["targets"]
    prefix_lengths.append(len(e["inputs"]) - 1)
  default = vocab.default_vocabulary()
  stream = [int(t) for e in got for t in list(e["inputs"][:-1]) + list(e["targets"][:-1])]
  budget_i, budget_t = lengths["inputs"] - 1, lengths["targets"] - 1
  full = prefix_lm.chunk_length(budget_i, budget_t)
  assert stream == corpus_tokens("wordnet", default, chunk_length=full, min_length=2)
  low, high = max(1, full - budget_t), min(full - 1, budget_i)
  assert min(prefix_lengths) <= low + 2 and max(prefix_lengths) >= high - 2
  assert np.std(prefix_lengths) > (high - low) / 5  # the split point varies


def test_causal_lm_chunks_reconstruct_the_corpus():
  got = examples("pretrain_lm_suite", {"targets": 64}, split="validation")
  assert set(got[0]) == {"targets", "targets_pretokenized"}
  assert all(len(e["targets"]) <= 64 for e in got)
  stream = [int(t) for e in got for t in e["targets"][:-1]]
  assert stream == corpus_tokens("suite", vocab.default_vocabulary(), "validation")


def test_short_tail_chunks_are_counted_not_lost_silently():
  tokens = tf.data.Dataset.from_tensor_slices({"text": ["one two three", "four"]})
  chunks = list(chunking.tokenize_and_chunk(tokens, vocab.default_vocabulary(), 1000,
                                            "test_tail", min_length=100).as_numpy_iterator())
  assert chunks == []
  assert tasks.stats.counts("test_tail") == {("test_tail", chunking.SKIP_SHORT_CHUNK): 1}


# --- corpora, registration, CLI ----------------------------------------------------------

def test_corpora_load():
  sizes = {c.name: {s: len(c.documents(s)) for s in corpora.SPLITS} for c in corpora.CORPORA}
  assert sizes["lee_news"] == {"train": 278, "validation": 15}
  assert sizes["wordnet"] == {"train": 1900, "validation": 100}
  assert sizes["suite"]["train"] > 5000
  for c in corpora.CORPORA:
    train, validation = set(c.documents("train")), set(c.documents("validation"))
    assert len(train) + len(validation) == len(c.documents("train") + c.documents("validation"))
    assert all(d.strip() == d and d for d in train | validation)
    assert not train & validation
  with pytest.raises(ValueError, match="no split 'test'"):
    corpora.corpus("wordnet").documents("test")


def test_tasks_and_mixtures_register():
  for objective in ("span_corruption", "prefix_lm", "lm"):
    mixture = seqio.get_mixture_or_task(f"pretrain_{objective}")
    assert mixture.name in tasks.MIXTURES
    names = sorted(t.name for t in mixture.tasks)
    assert names == sorted(f"pretrain_{objective}_{c.name}" for c in corpora.CORPORA)
    lee = seqio.get_mixture_or_task(f"pretrain_{objective}_lee_news")
    assert mixture.get_rate(lee) == len(corpus_tokens("lee_news", vocab.default_vocabulary()))
  mixed = examples("pretrain_span_corruption", n=50)
  assert len(mixed) == 50


@pytest.mark.parametrize("name", ["pretrain_span_corruption_suite", "pretrain_prefix_lm_lee_news",
                                  "pretrain_lm_wordnet", "pretrain_prefix_lm"])
def test_show_renders_pretraining_tasks(name, capsys):
  assert cli.main(["show", name, "-n", "2", "--tokens"]) == 0
  out = capsys.readouterr().out
  assert out.count(f"=== {name} [validation] example") == 2
  assert "--- targets:" in out
  assert ("--- inputs:" in out) == (not name.startswith("pretrain_lm"))
  if "span_corruption" in name:
    assert "<extra_id_0>" in out
