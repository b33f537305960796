"""The input pipeline's saved position: a resume restores it instead of replaying (the
batches equal the uninterrupted run's and the consumed examples are not preprocessed
again), another run's state is refused, and another process count or a Python source
replays the consumed batches, saying why."""
import json

import numpy as np
import pytest
import seqio
import tensorflow as tf

from tasks import features, jsonl_source, records, stats
from trainer import data, input_state

TENSOR_TASK = "input_state_test_numbers"
GENERATOR_TASK = "input_state_test_generated"
MIXTURE = "input_state_test_mixture"
LENGTHS = {"inputs": 16, "targets": 16}
BATCH = 4
ROWS = [f"number {i}" for i in range(400)]


def _tensor_source(split, shuffle_files, seed=None):
  del split
  dataset = tf.data.Dataset.from_tensor_slices({"inputs": ROWS, "targets": ROWS[::-1]})
  return dataset.shuffle(len(ROWS), seed=seed) if shuffle_files else dataset


def _generator_source(split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  signature = {"inputs": tf.TensorSpec([], tf.string), "targets": tf.TensorSpec([], tf.string)}
  return tf.data.Dataset.from_generator(lambda: ({"inputs": r, "targets": r} for r in ROWS),
                                        output_signature=signature)


if TENSOR_TASK not in seqio.TaskRegistry.names():
  _vocab = seqio.ByteVocabulary()
  for _name, _fn in ((TENSOR_TASK, _tensor_source), (GENERATOR_TASK, _generator_source)):
    seqio.TaskRegistry.add(
        _name, source=seqio.FunctionDataSource(_fn, splits=["train"]),
        preprocessors=features.preprocessors(_name),
        output_features={"inputs": seqio.Feature(_vocab), "targets": seqio.Feature(_vocab)},
        shuffle_buffer_size=16)
  seqio.MixtureRegistry.add(MIXTURE, [(TENSOR_TASK, 1.0), (GENERATOR_TASK, 1.0)])


def resumable(tmp_path, name=TENSOR_TASK, batch_size=BATCH, seed=0):
  dataset = data.training_dataset(name, LENGTHS, seqio.EncDecFeatureConverter(pack=False),
                                  batch_size, seed)
  return data.resumable_input(dataset, str(tmp_path), name, LENGTHS, batch_size, seed)


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def assert_same_batches(got, want):
  assert len(got) == len(want)
  for g, w in zip(got, want):
    assert g.keys() == w.keys()
    for key in g:
      np.testing.assert_array_equal(g[key], w[key], err_msg=key)


def straight_batches(tmp_path, n, name=TENSOR_TASK):
  return take(resumable(tmp_path / "straight", name).iterator(0), n)


def interrupted_at(tmp_path, step, name=TENSOR_TASK):
  """Runs `step` batches and saves the position as that step's."""
  inputs = resumable(tmp_path, name)
  take(inputs.iterator(0), step)
  inputs.save(step)
  return inputs


def test_resume_restores_the_position_without_replaying(tmp_path, capsys):
  want = straight_batches(tmp_path, 60)
  interrupted_at(tmp_path / "run", 50)
  stats.reset()
  resumed = resumable(tmp_path / "run").iterator(50)
  assert_same_batches(take(resumed, 10), want[50:])
  assert "input pipeline restored at step 50" in capsys.readouterr().out
  # Replaying would preprocess the 200 consumed examples again.
  assert stats.counts(TENSOR_TASK)[(TENSOR_TASK, stats.SEEN)] < 150


def test_each_save_writes_the_steps_state_and_drops_the_unkept(tmp_path):
  inputs = resumable(tmp_path)
  batches = inputs.iterator(0)
  for step in (2, 4, 6):
    take(batches, 2)
    inputs.save(step, kept_steps=[s for s in (2, 4) if s < step][-1:])
  assert sorted(p.name for p in (tmp_path / "input_state").iterdir()) == ["4", "6"]
  record = json.loads((tmp_path / "input_state" / "6" / "process_0.json").read_text())
  assert record == {"process_count": 1, "fingerprint": input_state.fingerprint(
      TENSOR_TASK, LENGTHS, BATCH, 0)}


@pytest.mark.parametrize("change, message", [
    ({"batch_size": 8}, "batch_size: saved 4, this run 8"),
    ({"seed": 3}, "seed: saved 0, this run 3"),
    ({"name": MIXTURE}, f"mixture_or_task_name: saved '{TENSOR_TASK}', this run '{MIXTURE}'"),
])
def test_another_runs_saved_state_is_refused(tmp_path, change, message):
  interrupted_at(tmp_path, 2)
  with pytest.raises(input_state.InputStateMismatchError, match=message):
    resumable(tmp_path, **change).check_saved()
  resumable(tmp_path).check_saved()  # the run's own config passes


def test_another_process_count_replays_and_says_what_changed(tmp_path, capsys):
  want = straight_batches(tmp_path, 8)
  interrupted_at(tmp_path / "run", 5)
  # As if saved by processes 1 and 2 of 3: this process, 0 of 1, finds no file of its own.
  step_dir = tmp_path / "run" / "input_state" / "5"
  record = json.loads((step_dir / "process_0.json").read_text())
  for path in step_dir.iterdir():
    path.unlink()
  for index in (1, 2):
    (step_dir / f"process_{index}.json").write_text(json.dumps(dict(record, process_count=3)))
  resumed = resumable(tmp_path / "run").iterator(5)
  assert "saved by 3 processes and this run has 1" in capsys.readouterr().out
  assert_same_batches(take(resumed, 3), want[5:])


def test_a_checkpoint_without_input_state_replays_saying_so(tmp_path, capsys):
  want = straight_batches(tmp_path, 8)
  interrupted_at(tmp_path / "run", 5)
  for path in (tmp_path / "run" / "input_state" / "5").iterdir():
    path.unlink()
  resumed = resumable(tmp_path / "run").iterator(5)
  assert "no saved input state at" in capsys.readouterr().out
  assert_same_batches(take(resumed, 3), want[5:])


def test_python_source_replays_with_a_warning_naming_it(tmp_path, capsys):
  want = straight_batches(tmp_path, 8, MIXTURE)
  inputs = interrupted_at(tmp_path / "run", 5, MIXTURE)
  assert not inputs.saveable
  assert not (tmp_path / "run" / "input_state").exists()  # nothing it could restore is written
  resumed = resumable(tmp_path / "run", MIXTURE).iterator(5)
  out = capsys.readouterr().out
  assert f"cannot save the position of {GENERATOR_TASK} " in out
  assert "replaying 5 batches" in out
  assert_same_batches(take(resumed, 3), want[5:])


def test_a_jsonl_record_source_resumes_from_its_saved_position(tmp_path, capsys):
  """JSONL rows rendered in Python (tasks.records), every third one unusable."""
  rows = tmp_path / "rows.jsonl"
  rows.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"a{i}" if i % 3 else ""})
                          + "\n" for i in range(90)))
  name = "input_state_test_jsonl_records"
  if name not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(
        name, source=jsonl_source.jsonl_source({"train": rows}),
        preprocessors=[lambda ds: records.render_records(
                           ds, lambda r, i: {"inputs": r["question"], "targets": r["answer"]},
                           name),
                       *features.preprocessors(name)],
        output_features={"inputs": seqio.Feature(seqio.ByteVocabulary()),
                         "targets": seqio.Feature(seqio.ByteVocabulary())},
        shuffle_buffer_size=16)
  want = straight_batches(tmp_path, 30, name)
  inputs = interrupted_at(tmp_path / "run", 25, name)
  assert inputs.saveable
  resumed = resumable(tmp_path / "run", name).iterator(25)
  assert "input pipeline restored at step 25" in capsys.readouterr().out
  assert_same_batches(take(resumed, 5), want[25:])


def test_the_default_mixture_is_saveable():
  import tasks  # noqa: F401  (registers the suite)
  dataset = seqio.get_mixture_or_task("instruct_suite").get_dataset(
      LENGTHS, "train", shuffle=True, seed=0, num_epochs=None)
  assert not input_state.python_ops(dataset)
