"""FLAN/T0 datasets over TFDS: fixture records with the real TFDS feature schema go through
the registered pipeline; absent data gives an error naming the dataset and data_dir."""
import pytest
import seqio

import tasks
from tasks import flan_datasets
from tasks import records
from tasks import stats
from tasks import templates
from tasks import tfds_source
from tests.tasks.tfds_fixtures import RECORDS, as_tfds_dataset, features_of, fixture_source

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


def _with_label(dataset_name, label):
  return dict(RECORDS[dataset_name][0], label=label)


# Per classification dataset: TFDS's name of each label -> the answer we must train on
# (written from the datasets' documentation, not from flan_datasets).
LABEL_MEANINGS = {
    "rte": {"entailment": "yes", "not_entailment": "no"},
    "anli_r1": {"e": "yes", "n": "it is not possible to tell", "c": "no"},
    "boolq": {"False": "no", "True": "yes"},
    "piqa": {"0": "stuff them with newspaper", "1": "fill them with water"},
    "wsc": {"False": "no", "True": "yes"},
    "mrpc": {"not_equivalent": "no", "equivalent": "yes"},
    "qqp": {"not_duplicate": "no", "duplicate": "yes"},
    "sst2": {"negative": "negative", "positive": "positive"},
    "imdb": {"neg": "negative", "pos": "positive"},
    "copa": {"choice1": "It had rained.", "choice2": "The sun was out."},
    "wic": {"False": "no", "True": "yes"},
    "cola": {"unacceptable": "unacceptable", "acceptable": "acceptable"},
}
# Every dataset's fields for hand-written records (label 1 where there is one; the
# label-0 rows differ only in "answer", checked through LABEL_MEANINGS above).
EXPECTED_FIELDS = {
    "rte": ({"premise": "Sam sold his bike.", "hypothesis": "Sam bought a bike.", "idx": 1,
             "label": 1},
            {"premise": "Sam sold his bike.", "hypothesis": "Sam bought a bike.",
             "answer": "no", "options": ["yes", "no"]}),
    "anli_r1": (_with_label("anli_r1", 2),
                {"premise": "Ada wrote the first program.",
                 "hypothesis": "Ada was a writer of programs.", "answer": "no",
                 "options": ["yes", "it is not possible to tell", "no"]}),
    "squad_v1": (dict(RECORDS["squad_v1"][0], answers={"answer_start": [32, 29],
                                                       "text": ["at Lisbon", "Lisbon"]}),
                 {"context": "The Tagus flows into the Atlantic at Lisbon.",
                  "question": "Where does the Tagus meet the sea?", "title": "Rivers",
                  "answer": "at Lisbon"}),
    "boolq": (_with_label("boolq", 1),
              {"passage": "The Sun is the star at the centre of the Solar System.",
               "question": "is the sun a star", "answer": "yes", "options": ["no", "yes"]}),
    "nq_open": ({"question": "who wrote hamlet", "answer": ["Shakespeare", "W. Shakespeare"]},
                {"question": "who wrote hamlet", "answer": "Shakespeare"}),
    "piqa": (_with_label("piqa", 1),
             {"goal": "dry wet shoes", "answer": "fill them with water",
              "options": ["stuff them with newspaper", "fill them with water"]}),
    "wsc": (_with_label("wsc", 1),
            {"text": "The cup did not fit in the bag because it was too big.",
             "pronoun": "it", "noun": "The cup", "answer": "yes", "options": ["no", "yes"]}),
    "mrpc": (_with_label("mrpc", 1),
             {"first": "He left early.", "second": "He departed ahead of time.",
              "answer": "yes", "options": ["no", "yes"]}),
    "qqp": (_with_label("qqp", 1),
            {"first": "How do I learn Go?", "second": "What is a good way to learn Go?",
             "answer": "yes", "options": ["no", "yes"]}),
    "sst2": (_with_label("sst2", 1),
             {"text": "a warm , funny film", "answer": "positive",
              "options": ["negative", "positive"]}),
    "imdb": (_with_label("imdb", 1),
             {"text": "Two hours I will never get back.", "answer": "positive",
              "options": ["negative", "positive"]}),
    "e2e_nlg": (RECORDS["e2e_nlg"][0],
                {"meaning": "name[The Mill], food[Thai]",
                 "answer": "The Mill serves Thai food."}),
    "wmt16_de_en": (RECORDS["wmt16_de_en"][0], {"german": "Guten Morgen.",
                                                "answer": "Good morning."}),
    "xsum": (RECORDS["xsum"][0],
             {"document": "The council voted to close the bridge for repairs next month.",
              "answer": "A bridge will close for repairs."}),
    "copa": (dict(RECORDS["copa"][0], question="effect", label=1),
             {"premise": "The ground was wet.", "relation": "What happened as a result?",
              "answer": "The sun was out.", "options": ["It had rained.", "The sun was out."]}),
    "wic": (_with_label("wic", 1),
            {"word": "bank", "first": "He sat on the bank of the river.",
             "second": "She went to the bank to pay.", "answer": "yes",
             "options": ["no", "yes"]}),
    "cola": (_with_label("cola", 0),
             {"sentence": "The book was read by her.", "answer": "unacceptable",
              "options": ["unacceptable", "acceptable"]}),
}


def _through_tfds(dataset, rows):
  """The rows as the task's preprocessor sees them: TFDS-encoded, decoded, as Python."""
  return [records.to_python(decoded) for decoded in
          as_tfds_dataset(dataset.tfds_name, rows).as_numpy_iterator()]


def test_every_dataset_has_hand_written_expectations():
  assert set(EXPECTED_FIELDS) == {d.name for d in flan_datasets.DATASETS}
  assert set(LABEL_MEANINGS) == {d.name for d in flan_datasets.DATASETS
                                 if "label" in features_of(d.tfds_name)}


@pytest.mark.parametrize("dataset", flan_datasets.DATASETS, ids=lambda d: d.name)
def test_fields_of_a_hand_written_record(dataset):
  record, expected = EXPECTED_FIELDS[dataset.name]
  (decoded,) = _through_tfds(dataset, [record])
  assert dataset.to_fields(decoded) == expected


@pytest.mark.parametrize("name", sorted(LABEL_MEANINGS))
def test_every_label_maps_to_the_answer_its_tfds_name_means(name):
  dataset = next(d for d in flan_datasets.DATASETS if d.name == name)
  label_names = features_of(dataset.tfds_name)["label"].names
  assert sorted(label_names) == sorted(LABEL_MEANINGS[name])
  *labelled, unlabelled = _through_tfds(
      dataset, [_with_label(name, label) for label in range(len(label_names))]
      + [_with_label(name, -1)])
  for label_name, decoded in zip(label_names, labelled, strict=True):
    fields = dataset.to_fields(decoded)
    assert fields["answer"] == LABEL_MEANINGS[name][label_name], label_name
    assert fields["answer"] in fields["options"]
  # Unlabelled rows (GLUE/SuperGLUE test splits) are skipped, never given an answer.
  assert dataset.to_fields(unlabelled) is None
