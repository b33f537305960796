"""The launchers by the name the command line uses."""
from launch import slurm, tpu_vm, xpk

LAUNCHERS = {"tpu": (tpu_vm.add_arguments, tpu_vm.TpuVm.from_args),
             "xpk": (xpk.add_arguments, xpk.Xpk.from_args),
             "slurm": (slurm.add_arguments, slurm.Slurm.from_args)}
