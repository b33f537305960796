"""The default mixture renders, tokenizes and converts to model features."""
import seqio

import tasks
from tasks import suite


def test_instruct_suite_yields_encdec_batches_within_lengths():
  lengths = {"inputs": 128, "targets": 32}
  ds = seqio.get_dataset(tasks.DEFAULT_MIXTURE, task_feature_lengths=lengths,
                         dataset_split="validation", shuffle=False, num_epochs=1,
                         feature_converter=seqio.EncDecFeatureConverter(pack=False))
  vocab = tasks.default_vocabulary()
  n = 0
  for ex in ds.take(50).as_numpy_iterator():
    assert ex["encoder_input_tokens"].shape == (128,)
    assert ex["decoder_target_tokens"].shape == (32,)
    assert vocab.decode(ex["decoder_target_tokens"].tolist()).strip()
    n += 1
  assert n == 50


def test_default_mixture_covers_every_cluster():
  mixture = seqio.get_mixture_or_task(tasks.DEFAULT_MIXTURE)
  names = {t.name for t in mixture.tasks}
  assert {t.cluster for t in suite.TASK_TYPES if f"suite_{t.name}" in names} == set(
      suite.CLUSTERS)
