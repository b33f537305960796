"""Over-long examples are cut and counted; empty targets and non-UTF-8 text are skipped and
counted; nothing disappears silently."""
import seqio
import tensorflow as tf

from tasks import features
from tasks import records
from tasks import stats


def _register(name, rows):
  seqio.TaskRegistry.add(
      name, source=seqio.FunctionDataSource(
          lambda split, shuffle_files: tf.data.Dataset.from_tensor_slices(
              {k: tf.constant([r[k] for r in rows]) for k in ("inputs", "targets")}),
          splits=("train",)),
      output_features=features.output_features(),
      preprocessors=[lambda ds: records.render_records(
          ds, lambda r, i: {"inputs": r["inputs"], "targets": r["targets"]}, name),
          *features.preprocessors(name)])
  return seqio.get_mixture_or_task(name)


def test_truncation_is_counted_per_feature():
  task = _register("bad_input_long", [
      {"inputs": "word " * 300, "targets": "ok"},
      {"inputs": "short", "targets": "a much longer target " * 10},
      {"inputs": "short", "targets": "ok"}])
  rows = list(task.get_dataset({"inputs": 16, "targets": 8}, split="train",
                               shuffle=False).as_numpy_iterator())
  assert len(rows) == 3
  assert max(len(r["inputs"]) for r in rows) == 16 and rows[0]["inputs"][-1] == 1  # EOS kept
  counts = stats.counts("bad_input_long")
  assert counts[("bad_input_long", "truncated inputs")] == 1
  assert counts[("bad_input_long", "truncated targets")] == 1
  assert counts[("bad_input_long", stats.SEEN)] == 3


def test_empty_targets_and_non_utf8_are_skipped_and_counted():
  task = _register("bad_input_text", [
      {"inputs": "fine", "targets": "yes"},
      {"inputs": "no target", "targets": "   "},
      {"inputs": b"caf\xe9 latin-1", "targets": "x"}])
  rows = list(task.get_dataset(None, split="train", shuffle=False).as_numpy_iterator())
  assert [r["inputs_pretokenized"] for r in rows] == [b"fine"]
  counts = stats.counts("bad_input_text")
  assert counts[("bad_input_text", stats.SKIP_EMPTY_TARGET)] == 1
  assert sum(n for (_, reason), n in counts.items() if "UTF-8" in reason) == 1
