"""Training: the DeepCluster loop, one epoch of pseudo-label training, checkpoints and run logs."""
