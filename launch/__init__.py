"""Launchers: start the same `train.py --multiprocess` command on every host of a TPU VM
pod (gcloud), a GKE cluster (xpk) or a SLURM allocation (sbatch + srun).

JAX's own multi-controller runtime does the rest: `jax.distributed.initialize()` finds its
coordinator from the TPU metadata, GKE's environment or SLURM's. Nothing here imports
trainer/ or models/; a launcher only builds and runs commands.
"""
