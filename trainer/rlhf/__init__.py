"""InstructGPT steps 2 and 3: comparisons, the reward model, PPO / PPO-ptx and the pipeline."""
