"""Cluster `held_out_facts`: one-lookup questions about the made-up organisations and
founders of `entities.py`, with the id of the document that answers each.

A model can answer a validation or test question only from the collection (RAG): those
entities appear in no training example.
"""
import dataclasses
import random

from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.tool_suite import entities


def _questions(org: entities.Organisation):
  person = org.founder
  return (
      (f"In what year was the {org.name} founded?", str(org.founded), org.document()),
      (f"Who founded the {org.name}?", person.name, org.document()),
      (f"In which city is the {org.name} based?", org.city, org.document()),
      (f"In what year was {person.name} born?", str(person.born), person.document()),
      (f"Where was {person.name} born?", person.birthplace, person.document()),
      (f"What was the occupation of {person.name}?", person.occupation, person.document()),
  )


def make_example(rng: random.Random) -> dict:
  org = rng.choice(entities.organisations())
  question, answer, document = rng.choice(_questions(org))
  return {"question": question, "answer": answer, "gold_doc_ids": (document["id"],),
          "entity": org.name, "split": org.split,
          **entities.numbered_passages(rng, [document], org.split)}


TEMPLATES = (
    T("{question}", "{answer}"),
    T("Answer the question.\n{question}", "{answer}"),
    T("Q: {question}\nA:", "{answer}"),
    T("Question: {question}\nGive a short answer.", "{answer}"),
)

RAG_TEMPLATES = (
    T(f"{entities.RAG_INSTRUCTION}\n\n{{passages}}\n\nQuestion: {{question}}\nAnswer:",
      "{answer} {citations}"),
)

TASK = TaskType("entity_facts", "held_out_facts", make_example, TEMPLATES, ("question",),
                split_sizes={"train": 1000, "validation": 100, "test": 100},
                split_of=lambda example: example["split"])
RAG_TASK = dataclasses.replace(TASK, templates=RAG_TEMPLATES)
