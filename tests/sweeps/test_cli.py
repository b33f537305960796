"""`python -m sweeps run`: bad input stops it before anything runs; printed commands."""
import os

import pytest

from sweeps import __main__ as sweeps_cli
from sweeps import commands, gin_check, spec

TPU = ["--launcher=tpu", "--tpu_name=pod", "--zone=z", "--project=p"]


def test_launcher_needs_print_commands_and_its_settings(tmp_path, capsys):
  sweep_dir = str(tmp_path / "s")
  assert sweeps_cli.main(["run", "smoke_tiny", f"--dir={sweep_dir}", *TPU]) == 2
  assert "--launcher goes with --print_commands" in capsys.readouterr().err
  assert sweeps_cli.main(["run", "smoke_tiny", f"--dir={sweep_dir}", "--print_commands",
                          "--launcher=slurm"]) == 2
  assert "the slurm launcher needs --nodes" in capsys.readouterr().err
  assert not os.path.exists(sweep_dir)


@pytest.mark.slow  # one gin parse of every preset's arms in a fresh interpreter (~20 s+)
def test_every_preset_parses_with_gin():
  configs = [config for name in ("flan_clusters", "flan_templates", "flan_instructions",
                                 "smoke_tiny", "peft_smollm2")
             for arm in spec.load(name).arms
             for _, config in commands._configs(spec.load(name), arm, "/tmp/x")]  # pylint: disable=protected-access
  assert gin_check.check(configs) == []


@pytest.mark.slow  # parses the arms with gin in a fresh interpreter (~20 s+)
def test_a_binding_no_configurable_uses_fails_before_anything_runs(tmp_path, capsys):
  sweep_file = tmp_path / "bad.yaml"
  sweep_file.write_text(
      "gin_files: [gin/runs/sft_tiny.gin]\n"
      "sweep: {axis: dropout, binding: ModelConfig.dropout_ratee, values: [0.0, 0.1]}\n"
      "arms: [{name: short, bindings: {TRAIN_STEP: 2}}]\n")
  sweep_dir = tmp_path / "sweep"
  assert sweeps_cli.main(["run", str(sweep_file), f"--dir={sweep_dir}"]) == 2
  err = capsys.readouterr().err
  assert "nothing was run" in err
  for arm, value in (("dropout=0.0", "0.0"), ("dropout=0.1", "0.1")):
    assert (f"arm '{arm}' (train.py): GinConfigError: gin binding "
            f"'ModelConfig.dropout_ratee={value}': Configurable 'ModelConfig' doesn't have "
            f"a parameter named 'dropout_ratee'") in err
  assert ("arm 'short' (train.py): GinConfigError: gin binding 'TRAIN_STEP=2': macro "
          "TRAIN_STEP is not used by any configurable; did you mean TRAIN_STEPS?") in err
  assert not sweep_dir.exists()


@pytest.mark.slow  # parses the arms with gin in a fresh interpreter (~20 s+)
def test_print_commands_through_a_launcher(tmp_path, capsys):
  assert sweeps_cli.main(["run", "flan_instructions", "--dir=gs://bucket/flan",
                          "--print_commands", *TPU]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[0::2] == ["# trained_on=instructions (on remote storage)",
                         "# trained_on=dataset_names (on remote storage)",
                         "# untrained (on remote storage)"]
  assert all(l.startswith("gcloud compute tpus tpu-vm ssh pod --zone=z --project=p "
                          "--worker=all --command=\"cd instructax && python train.py "
                          "--multiprocess --gin_file=gin/runs/sft_tiny.gin")
             for l in lines[1:4:2])
  assert "--gin.MODEL_DIR=\\\"'gs://bucket/flan/trained_on=dataset_names'\\\"" in lines[3]
  assert "python eval.py --multiprocess" in lines[3] and "train.py" not in lines[5]
