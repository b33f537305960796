"""FLAN / T0 datasets over their TFDS sources, one or two per FLAN cluster.

Each entry maps a TFDS record to template fields (`answer`, and `options` when the task
is classification) and carries templates written for instructax. Registered as
`flan_<name>`; listing them reads nothing (split sizes are the published ones). Without
prepared data, asking for a dataset raises `TfdsDataMissingError` naming the TFDS name
and data_dir.
"""
import dataclasses
import random
from typing import Any, Callable, Mapping

import seqio

from tasks import catalog
from tasks import features
from tasks import metrics
from tasks import options as options_lib
from tasks import records
from tasks import templates as templates_lib
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted
from tasks.tfds_source import TfdsSource

PREFIX = "flan_"
YES_NO = ["yes", "no"]
NLI3 = ["yes", "it is not possible to tell", "no"]


@dataclasses.dataclass(frozen=True)
class FlanDataset:
  name: str
  tfds_name: str
  cluster: str
  to_fields: Callable[[Mapping[str, Any]], dict[str, Any] | None]
  templates: tuple[templates_lib.Template, ...]
  split_sizes: Mapping[str, int]          # published sizes, by our split name
  tfds_splits: Mapping[str, str] | None = None
  metric: str = "exact_match"

  @property
  def task_name(self) -> str:
    return PREFIX + self.name


def _labelled(record, names):
  """None for unlabelled rows (GLUE test sets use -1)."""
  label = record["label"]
  return None if label < 0 else names[label]


def _rte(r):
  answer = _labelled(r, YES_NO)
  return answer and {"premise": r["premise"], "hypothesis": r["hypothesis"],
                     "answer": answer, "options": YES_NO}


def _anli(r):
  answer = _labelled(r, NLI3)
  return answer and {"premise": r["context"], "hypothesis": r["hypothesis"],
                     "answer": answer, "options": NLI3}


def _squad(r):
  texts = r["answers"]["text"]
  return texts and {"context": r["context"], "question": r["question"], "title": r["title"],
                    "answer": texts[0]}


def _boolq(r):
  answer = _labelled(r, ["no", "yes"])
  return answer and {"passage": r["passage"], "question": r["question"], "answer": answer,
                     "options": ["no", "yes"]}


def _nq_open(r):
  return r["answer"] and {"question": r["question"], "answer": r["answer"][0]}


def _piqa(r):
  options = [r["sol1"], r["sol2"]]
  answer = _labelled(r, options)
  return answer and {"goal": r["goal"], "answer": answer, "options": options}


def _wsc(r):
  answer = _labelled(r, ["no", "yes"])
  return answer and {"text": r["text"], "pronoun": r["span2_text"], "noun": r["span1_text"],
                     "answer": answer, "options": ["no", "yes"]}


def _paraphrase(first, second):
  def fields(r):
    answer = _labelled(r, ["no", "yes"])
    return answer and {"first": r[first], "second": r[second], "answer": answer,
                       "options": ["no", "yes"]}
  return fields


def _sentiment(text_field):
  def fields(r):
    answer = _labelled(r, ["negative", "positive"])
    return answer and {"text": r[text_field], "answer": answer,
                       "options": ["negative", "positive"]}
  return fields


def _e2e(r):
  table = r["input_text"]["table"]
  pairs = ", ".join(f"{h}[{c}]" for h, c in zip(table["column_header"], table["content"]))
  return {"meaning": pairs, "answer": r["target_text"]}


def _wmt(r):
  return {"german": r["de"], "answer": r["en"]}


def _xsum(r):
  return {"document": r["document"], "answer": r["summary"]}


def _copa(r):
  options = [r["choice1"], r["choice2"]]
  answer = _labelled(r, options)
  relation = "What caused this?" if r["question"] == "cause" else "What happened as a result?"
  return answer and {"premise": r["premise"], "relation": relation, "answer": answer,
                     "options": options}


def _wic(r):
  answer = _labelled(r, ["no", "yes"])
  return answer and {"word": r["word"], "first": r["sentence1"], "second": r["sentence2"],
                     "answer": answer, "options": ["no", "yes"]}


def _cola(r):
  answer = _labelled(r, ["unacceptable", "acceptable"])
  return answer and {"sentence": r["sentence"], "answer": answer,
                     "options": ["unacceptable", "acceptable"]}


_NLI_TEMPLATES = (
    T("{premise}\nDoes it follow that \"{hypothesis}\"?\n{options_}", "{answer}"),
    T("Premise: {premise}\nHypothesis: {hypothesis}\nIs the hypothesis supported?\n{options_}",
      "{answer}"),
    T("Assume this is true: {premise}\nThen is this true as well? {hypothesis}\n{options_}",
      "{answer}"),
    _inverted("Premise: {premise}\nWrite a hypothesis for which the answer to \"does the "
              "premise support it?\" is {answer}.", "{hypothesis}"),
)
_PARAPHRASE_TEMPLATES = (
    T("\"{first}\"\n\"{second}\"\nDo these two say the same thing?\n{options_}", "{answer}"),
    T("First: {first}\nSecond: {second}\nAre they paraphrases?\n{options_}", "{answer}"),
    T("Could \"{second}\" stand in for \"{first}\"?\n{options_}", "{answer}"),
    _inverted("Rewrite \"{first}\" so that the answer to \"same meaning?\" is {answer}.",
              "{second}"),
)
_SENTIMENT_TEMPLATES = (
    T("{text}\nIs the opinion above positive or negative?\n{options_}", "{answer}"),
    T("Review: {text}\nSentiment:\n{options_}", "{answer}"),
    T("How did the writer of this feel? {text}\n{options_}", "{answer}"),
    _inverted("Write a {answer} movie review.", "{text}"),
)

DATASETS: tuple[FlanDataset, ...] = (
    FlanDataset("rte", "super_glue/rte:1.0.2", "nli", _rte, _NLI_TEMPLATES,
                {"train": 2490, "validation": 277}),
    FlanDataset("anli_r1", "anli/r1:0.1.0", "nli", _anli, _NLI_TEMPLATES,
                {"train": 16946, "validation": 1000, "test": 1000}),
    FlanDataset("squad_v1", "squad/v1.1:3.0.0", "reading_comprehension", _squad, (
        T("{context}\n\nAnswer from the passage: {question}", "{answer}"),
        T("Passage about {title}: {context}\nQuestion: {question}", "{answer}"),
        T("Read this and answer the question.\n{context}\n{question}", "{answer}"),
        _inverted("{context}\nWrite a question about this passage whose answer is "
                  "\"{answer}\".", "{question}"),
    ), {"train": 87599, "validation": 10570}, metric="rouge"),
    FlanDataset("boolq", "super_glue/boolq:1.0.2", "reading_comprehension", _boolq, (
        T("{passage}\nBased on the text, {question}?\n{options_}", "{answer}"),
        T("Text: {passage}\nQuestion: {question}?\n{options_}", "{answer}"),
        T("Read and answer yes or no. {passage}\n{question}?\n{options_}", "{answer}"),
        _inverted("{passage}\nAsk a yes/no question about the text whose answer is {answer}.",
                  "{question}"),
    ), {"train": 9427, "validation": 3270}),
    FlanDataset("nq_open", "natural_questions_open:1.0.0", "closed_book_qa", _nq_open, (
        T("Answer this question: {question}?", "{answer}"),
        T("Q: {question}?\nA:", "{answer}"),
        T("What is the answer to: {question}", "{answer}"),
        _inverted("Write a trivia question whose answer is {answer}.", "{question}"),
    ), {"train": 87925, "validation": 3610}, metric="rouge"),
    FlanDataset("piqa", "piqa:1.0.0", "commonsense", _piqa, (
        T("Goal: {goal}\nWhich way works better?\n{options_}", "{answer}"),
        T("How would you {goal}?\n{options_}", "{answer}"),
        T("Pick the sensible solution for: {goal}\n{options_}", "{answer}"),
        _inverted("Here is a way to do something: {answer}\nWhat is it meant to achieve?",
                  "{goal}"),
    ), {"train": 16113, "validation": 1838}),
    FlanDataset("wsc", "super_glue/wsc.fixed:1.0.2", "coreference", _wsc, (
        T("{text}\nIn the sentence above, does \"{pronoun}\" mean {noun}?\n{options_}",
          "{answer}"),
        T("Sentence: {text}\nDoes {pronoun} refer to {noun}?\n{options_}", "{answer}"),
        T("{text}\nWho is \"{pronoun}\"? Is it {noun}?\n{options_}", "{answer}"),
    ), {"train": 554, "validation": 104}),
    FlanDataset("mrpc", "glue/mrpc:2.0.0", "paraphrase", _paraphrase("sentence1", "sentence2"),
                _PARAPHRASE_TEMPLATES, {"train": 3668, "validation": 408, "test": 1725}),
    FlanDataset("qqp", "glue/qqp:2.0.0", "paraphrase", _paraphrase("question1", "question2"),
                _PARAPHRASE_TEMPLATES, {"train": 363846, "validation": 40430}),
    FlanDataset("sst2", "glue/sst2:2.0.0", "sentiment", _sentiment("sentence"),
                _SENTIMENT_TEMPLATES, {"train": 67349, "validation": 872}),
    FlanDataset("imdb", "imdb_reviews/plain_text:1.0.0", "sentiment", _sentiment("text"),
                _SENTIMENT_TEMPLATES, {"train": 25000, "test": 25000}),
    FlanDataset("e2e_nlg", "e2e_cleaned:0.1.0", "struct_to_text", _e2e, (
        T("Describe this restaurant in a sentence: {meaning}", "{answer}"),
        T("Attributes: {meaning}\nWrite them up as text.", "{answer}"),
        T("Turn the data into a sentence. {meaning}", "{answer}"),
        _inverted("List the attributes mentioned in: {answer}", "{meaning}"),
    ), {"train": 33525, "validation": 4299, "test": 4693}, metric="rouge"),
    FlanDataset("wmt16_de_en", "wmt16_translate/de-en:1.0.0", "translation", _wmt, (
        T("Translate into English: {german}", "{answer}"),
        T("German: {german}\nEnglish:", "{answer}"),
        T("What does \"{german}\" say in English?", "{answer}"),
    ), {"train": 4548885, "validation": 2169, "test": 2999}, metric="rouge"),
    FlanDataset("xsum", "xsum:1.1.0", "summarization", _xsum, (
        T("{document}\n\nSum this up in one sentence.", "{answer}"),
        T("Article: {document}\nOne-line summary:", "{answer}"),
        T("Give the gist of the text below.\n{document}", "{answer}"),
        _inverted("Write a news article that this summary could belong to: {answer}",
                  "{document}"),
    ), {"train": 203577, "validation": 11305, "test": 11301}, metric="rouge"),
    FlanDataset("copa", "super_glue/copa:1.0.2", "commonsense", _copa, (
        T("{premise} {relation}\n{options_}", "{answer}"),
        T("Event: {premise}\n{relation}\n{options_}", "{answer}"),
        T("Choose the more likely option. {premise} {relation}\n{options_}", "{answer}"),
    ), {"train": 400, "validation": 100}),
    FlanDataset("wic", "super_glue/wic:1.0.2", "word_sense", _wic, (
        T("Is \"{word}\" used in the same sense here?\n1. {first}\n2. {second}\n{options_}",
          "{answer}"),
        T("Sentence A: {first}\nSentence B: {second}\nSame meaning of {word}?\n{options_}",
          "{answer}"),
        T("Does {word} mean the same thing in \"{first}\" and \"{second}\"?\n{options_}",
          "{answer}"),
    ), {"train": 5428, "validation": 638}),
    FlanDataset("cola", "glue/cola:2.0.0", "misc", _cola, (
        T("Is this sentence grammatical? {sentence}\n{options_}", "{answer}"),
        T("Sentence: {sentence}\nWould a careful English speaker accept it?\n{options_}",
          "{answer}"),
        T("Judge the grammar: \"{sentence}\"\n{options_}", "{answer}"),
        _inverted("Write an {answer} English sentence.", "{sentence}"),
    ), {"train": 8551, "validation": 1043}),
)

CLUSTERS = tuple(sorted({d.cluster for d in DATASETS}))
# FLAN drops paraphrase from training when NLI is held out (and the other way round).
RELATED_CLUSTERS = {"nli": frozenset({"paraphrase"}), "paraphrase": frozenset({"nli"})}


def render_record(dataset: FlanDataset, record: Mapping[str, Any], index: int
                  ) -> dict[str, Any] | None:
  """One TFDS record through a template chosen by its index; None if it has no label."""
  fields = dataset.to_fields(record)
  if not fields:
    return None
  rng = random.Random(f"{dataset.name}/{index}")
  template_index = rng.randrange(len(dataset.templates))
  template = dataset.templates[template_index]
  uses_options = "options" in fields and not template.inverted
  options_text = options_lib.render_options(fields["options"], rng) if uses_options else ""
  inputs, targets = templates_lib.render(
      template, fields, options_text, where=f"task {dataset.task_name!r}, template "
      f"{template_index}")
  return {"inputs": inputs, "targets": targets,
          "choices": list(fields["options"]) if uses_options else []}


def register(dataset: FlanDataset, tfds_data_dir: str | None = None,
             source: seqio.DataSource | None = None, name: str | None = None) -> str:
  """Registers `flan_<name>` over TFDS; `source`/`name` let tests run the same pipeline
  over fixture records."""
  source = source or TfdsSource(dataset.tfds_name, dataset.split_sizes, dataset.tfds_splits,
                                tfds_data_dir=tfds_data_dir)
  name = name or dataset.task_name
  seqio.TaskRegistry.add(
      name, source=source, output_features=features.output_features(),
      preprocessors=[lambda ds, d=dataset, n=name: records.render_records(
          ds, lambda r, i: render_record(d, r, i), n), *features.preprocessors(name)],
      postprocess_fn=metrics.postprocess_for(cot=False),
      metric_fns=metrics.metric_fns_for(dataset.metric))
  catalog.add(catalog.Entry(name, dataset.cluster, templates=len(dataset.templates),
                            inverted_templates=sum(t.inverted for t in dataset.templates),
                            split_sizes=lambda d=dataset: dict(d.split_sizes)))
  return name


def register_all() -> list[str]:
  return [register(d) for d in DATASETS]
