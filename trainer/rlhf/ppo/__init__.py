"""PPO and PPO-ptx (InstructGPT step 3): rollouts, advantages, KL control, the update, the loop."""
