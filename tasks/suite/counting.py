"""Cluster `counting`: letters in a word, words in a phrase, members of a category."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot
from tasks.templates import inverted as _inverted


def _letter_count(rng: random.Random):
  word = rng.choice([w for w, _ in words.pairs("categories.tsv")])
  letter = rng.choice(word) if rng.random() < 0.8 else rng.choice("aeiourstln")
  hits = [i + 1 for i, c in enumerate(word) if c == letter]
  where = ", ".join(map(str, hits)) if hits else "no position"
  rationale = (f"Spelled out, {word} is {' '.join(word)}. The letter {letter} is at "
               f"{where}, which is {len(hits)} in all.")
  return {"word": word, "letter": letter, "answer": str(len(hits)), "rationale": rationale}


def _word_count(rng: random.Random):
  vocabulary = [w for w, _ in words.pairs("categories.tsv")]
  chosen = [rng.choice(vocabulary) for _ in range(rng.randint(2, 12))]
  return {"text": " ".join(chosen), "answer": str(len(chosen))}


def _category_count(rng: random.Random):
  groups = words.by_label("categories.tsv")
  category = rng.choice(sorted(groups))
  pool = [(w, c) for c, ws in groups.items() for w in ws]
  chosen = rng.sample(pool, rng.randint(3, 7))
  steps, total = [], 0
  for word, label in chosen:
    total += label == category
    steps.append(f"{word} is {'a' if label == category else 'not a'} {category}")
  rationale = "; ".join(steps) + f". That makes {total}."
  return {"items": ", ".join(w for w, _ in chosen), "category": category,
          "answer": str(total), "rationale": rationale}


TASK_TYPES = (
    TaskType("letter_count", "counting", _letter_count, (
        T("How many times does the letter {letter} occur in \"{word}\"?", "{answer}"),
        T("Count the letter {letter} in the word {word}.", "{answer}"),
        T("Word: {word}\nLetter: {letter}\nNumber of occurrences:", "{answer}"),
        _cot("How often is {letter} used in spelling {word}? Go letter by letter."),
        _cot("Count how many {letter}s the word {word} has, explaining as you go."),
        _inverted("Write a word from the lists that contains the letter {letter} exactly "
                  "{answer} times.", "{word}"),
    ), ("word", "letter"), split_sizes={"train": 600, "validation": 60, "test": 60}),
    TaskType("word_count", "counting", _word_count, (
        T("How many words are in this text? {text}", "{answer}"),
        T("Count the words: {text}", "{answer}"),
        T("Text: {text}\nWord count:", "{answer}"),
        T("Tell me the number of words in \"{text}\".", "{answer}"),
        T("How long is \"{text}\", measured in words?", "{answer}"),
        _inverted("Write a string of exactly {answer} words.", "{text}"),
    ), ("text",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("category_count", "counting", _category_count, (
        T("How many of these are a {category}: {items}?", "{answer}"),
        T("Items: {items}\nNumber of {category} items:", "{answer}"),
        _cot("Count the {category} words in this list: {items}. Check each word first."),
        _cot("Go through {items} one by one and count how many are a {category}."),
        T("In the list {items}, count the entries that are a {category}.", "{answer}"),
        _inverted("Make a list of words in which exactly {answer} are a {category}.",
                  "{items}"),
    ), ("items", "category"), split_sizes={"train": 2000, "validation": 100, "test": 100}),
)
