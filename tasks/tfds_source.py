"""A TFDS source that says which dataset and which data_dir it looked in when data is absent,
and reports published split sizes so mixing rates never touch the data."""
import os
from typing import Mapping

import seqio


class TfdsDataMissingError(FileNotFoundError):
  pass


def resolve_data_dir(data_dir: str | None) -> str:
  return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser(
      "~/tensorflow_datasets")


class TfdsSource(seqio.TfdsDataSource):

  def __init__(self, tfds_name: str, split_sizes: Mapping[str, int],
               splits: Mapping[str, str] | None = None, tfds_data_dir: str | None = None):
    super().__init__(tfds_name=tfds_name, tfds_data_dir=tfds_data_dir,
                     splits=splits or {s: s for s in split_sizes})
    self._published_sizes = dict(split_sizes)
    self._requested_data_dir = tfds_data_dir

  def num_input_examples(self, split: str) -> int:
    return self._published_sizes[split]

  def check_prepared(self) -> None:
    import tensorflow_datasets as tfds
    data_dir = resolve_data_dir(self._requested_data_dir)
    builder = tfds.builder(self.tfds_dataset.name, data_dir=data_dir)
    if not builder.is_prepared():
      raise TfdsDataMissingError(
          f"TFDS dataset {self.tfds_dataset.name!r} is not prepared in data_dir "
          f"{data_dir!r} (looked for {builder.data_dir}). Build it where the data can be "
          f"downloaded (`tfds build {self.tfds_dataset.name} --data_dir DIR`), then set "
          f"TFDS_DATA_DIR or pass tfds_data_dir.")

  def list_shards(self, split: str):
    self.check_prepared()
    return super().list_shards(split)

  def get_dataset(self, split: str = "train", *args, **kwargs):
    self.check_prepared()
    return super().get_dataset(split, *args, **kwargs)
