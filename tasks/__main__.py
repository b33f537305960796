"""Inspect the registered data.

    python -m tasks list [--json] [--tasks-only|--mixtures-only]
    python -m tasks show NAME [-n 3] [--split validation] [--seed 0] [--lengths 128,32]
"""
import argparse
import json
import sys

import seqio

import tasks
from tasks import catalog
from tasks import stats


def _names(kind: str) -> list[str]:
  task_names = sorted(n for n in seqio.TaskRegistry.names() if catalog.entry(n))
  mixture_names = sorted(n for n in seqio.MixtureRegistry.names() if n in tasks.MIXTURES)
  return {"tasks": task_names, "mixtures": mixture_names,
          "all": task_names + mixture_names}[kind]


def cmd_list(args) -> int:
  rows = [catalog.describe(n) for n in _names(args.kind)]
  if args.json:
    json.dump(rows, sys.stdout, indent=1)
    print()
    return 0
  print(f"{'name':48s} {'kind':8s} {'cluster':24s} {'tmpl':>4s} {'inv':>3s}  splits")
  for r in rows:
    splits = " ".join(f"{k}={v}" for k, v in r["splits"].items())
    cluster = r["cluster"] if len(r["cluster"]) <= 24 else f"{r['cluster'].count(',') + 1} clusters"
    print(f"{r['name']:48s} {r['kind']:8s} {cluster:24s} {r['templates']:4d} "
          f"{r['inverted_templates']:3d}  {splits}")
  return 0


def cmd_show(args) -> int:
  lengths = dict(zip(("inputs", "targets"), args.lengths))
  source = seqio.get_mixture_or_task(args.name)
  kwargs = dict(sequence_length=lengths, split=args.split, shuffle=True, seed=args.seed,
                num_epochs=1)
  if isinstance(source, seqio.Mixture):
    kwargs.update(copy_pretokenized=True, passthrough_features=["choices"])
  dataset = source.get_dataset(**kwargs)
  vocabulary = source.output_features["targets"].vocabulary
  # Causal-LM tasks have targets only.
  features = [f for f in ("inputs", "targets") if f in source.output_features]
  for i, ex in enumerate(dataset.take(args.n).as_numpy_iterator()):
    sizes = ", ".join(f"{f} {len(ex[f])} tokens" for f in features)
    print(f"=== {args.name} [{args.split}] example {i}  ({sizes}, incl. EOS; limits {lengths})")
    for feature in features:
      print(f"--- {feature}:")
      print(ex[f"{feature}_pretokenized"].decode())
    if len(ex.get("choices", [])):
      print("--- choices:", [c.decode() for c in ex["choices"]])
    if args.tokens:
      print(f"--- {features[0][:-1]} pieces:",
            vocabulary.tokenizer.IdToPiece(ex[features[0]].tolist()))
  counted = {f"{t}: {reason}": n for (t, reason), n in sorted(stats.counts().items())
             if reason != stats.SEEN}
  if counted:
    print("=== dropped or cut while reading:", json.dumps(counted, indent=1))
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m tasks", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True)
  p_list = sub.add_parser("list", help="tasks and mixtures with cluster, templates, splits")
  p_list.add_argument("--json", action="store_true")
  group = p_list.add_mutually_exclusive_group()
  group.add_argument("--tasks-only", dest="kind", action="store_const", const="tasks")
  group.add_argument("--mixtures-only", dest="kind", action="store_const", const="mixtures")
  p_list.set_defaults(kind="all", fn=cmd_list)
  p_show = sub.add_parser("show", help="rendered examples with token lengths")
  p_show.add_argument("name")
  p_show.add_argument("-n", type=int, default=3)
  p_show.add_argument("--split", default="validation")
  p_show.add_argument("--seed", type=int, default=0)
  p_show.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")],
                      default=[128, 32], help="inputs,targets token limits")
  p_show.add_argument("--tokens", action="store_true", help="also print the pieces")
  p_show.set_defaults(fn=cmd_show)
  args = parser.parse_args(argv)
  try:
    return args.fn(args)
  except (KeyError, ValueError, FileNotFoundError) as e:  # unknown names, absent data
    print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
