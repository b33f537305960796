"""The KL coefficient controller against its formula."""
import numpy as np
import pytest

from trainer.rlhf.ppo.kl_controller import KLController


def test_fixed_controller_keeps_the_coefficient():
  assert float(KLController(0.02).update(0.02, kl=50.0, num_episodes=512)) == 0.02


@pytest.mark.parametrize("kl,expected_error", [(6.6, 0.1), (60.0, 0.2), (0.0, -0.2)])
def test_adaptive_controller_formula(kl, expected_error):
  controller = KLController(init_coef=0.1, target=6.0, horizon=10_000)
  new = float(controller.update(0.1, kl=kl, num_episodes=512))
  np.testing.assert_allclose(new, 0.1 * (1 + expected_error * 512 / 10_000), rtol=1e-5)


def test_bad_settings_are_named():
  with pytest.raises(ValueError, match="horizon"):
    KLController(0.1, target=6.0, horizon=0)
  with pytest.raises(ValueError, match="init_coef"):
    KLController(-1.0)
