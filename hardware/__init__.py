"""What the code runs on: the accelerator table (peak FLOPs, memory) the product and the
benchmarks read."""
