"""Ablation sweeps: a YAML file of gin-binding axes (product, zip), run arm by arm (or N at
a time) into one MODEL_DIR per arm, then one table and one plot of every arm's results.

Nothing here imports trainer/ or models/: arms run `python train.py ...` and
`python eval.py ...` as subprocesses, locally or through a launcher (launch/).
"""
