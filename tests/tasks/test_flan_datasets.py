"""FLAN/T0 datasets over TFDS: fixture records with the real TFDS feature schema go through
the registered pipeline; absent data gives an error naming the dataset and data_dir."""
import pytest
import seqio

import tasks
from tasks import flan_datasets
from tasks import stats
from tasks import templates
from tasks import tfds_source
from tests.tasks.tfds_fixtures import RECORDS, fixture_source

FLAN_2021_CLUSTERS = {"nli", "reading_comprehension", "closed_book_qa", "commonsense",
                      "coreference", "paraphrase", "sentiment", "struct_to_text",
                      "translation", "summarization", "misc"}


def test_one_dataset_per_flan_cluster_at_least():
  assert FLAN_2021_CLUSTERS <= set(flan_datasets.CLUSTERS)
  assert set(tasks.FLAN_TASKS) == {d.task_name for d in flan_datasets.DATASETS}


@pytest.mark.parametrize("dataset", flan_datasets.DATASETS, ids=lambda d: d.name)
def test_fixture_records_render_through_the_task_pipeline(dataset):
  name = flan_datasets.register(dataset, source=fixture_source(dataset.tfds_name,
                                                               RECORDS[dataset.name]),
                                name=f"fixture_{dataset.name}")
  rows = list(seqio.get_mixture_or_task(name).get_dataset(
      {"inputs": 256, "targets": 64}, split="train", shuffle=False).as_numpy_iterator())
  labelled = [r for r in RECORDS[dataset.name] if r.get("label", 0) >= 0]
  assert len(rows) == len(labelled)
  for row in rows:
    assert row["inputs_pretokenized"].strip() and row["targets_pretokenized"].strip()
    if len(row["choices"]):
      assert row["targets_pretokenized"] in row["choices"].tolist()
  skipped = len(RECORDS[dataset.name]) - len(labelled)
  assert sum(n for (_, reason), n in stats.counts(name).items() if "skipped" in reason) == skipped


@pytest.mark.parametrize("dataset", flan_datasets.DATASETS, ids=lambda d: d.name)
def test_every_template_renders_a_fixture_record(dataset):
  fields = dataset.to_fields(RECORDS[dataset.name][0])
  for template in dataset.templates:
    inputs, target = templates.render(template, fields, "OPTIONS:\n- x")
    assert inputs and target


def test_golden_flan_rendering_of_a_tfds_record():
  dataset = next(d for d in flan_datasets.DATASETS if d.name == "copa")
  record = {"premise": "The ground was wet.", "choice1": "It had rained.",
            "choice2": "The sun was out.", "question": "cause", "idx": 0, "label": 0}
  assert flan_datasets.render_record(dataset, record, 0) == {
      "inputs": "The ground was wet. What caused this?\nPossible answers:\n"
                "i. It had rained.\nii. The sun was out.",
      "targets": "It had rained.", "choices": ["It had rained.", "The sun was out."]}


def test_absent_data_names_the_tfds_dataset_and_data_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  task = seqio.get_mixture_or_task("flan_rte")
  with pytest.raises(tfds_source.TfdsDataMissingError) as error:
    task.get_dataset({"inputs": 128, "targets": 32}, split="validation")
  assert "'super_glue/rte:1.0.2'" in str(error.value) and str(tmp_path) in str(error.value)


@pytest.mark.parametrize("cluster", flan_datasets.CLUSTERS)
def test_flan_tfds_held_out_builders(cluster):
  excluded = {cluster} | set(flan_datasets.RELATED_CLUSTERS.get(cluster, ()))
  cluster_of = {d.task_name: d.cluster for d in flan_datasets.DATASETS}
  train = seqio.get_mixture_or_task(f"flan_tfds_without_{cluster}")
  assert not {cluster_of[t.name] for t in train.tasks} & excluded
  held_out = seqio.get_mixture_or_task(f"flan_tfds_heldout_{cluster}")
  assert {cluster_of[t.name] for t in held_out.tasks} == {cluster}
