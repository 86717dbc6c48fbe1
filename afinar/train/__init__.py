"""Training stage: the loop, its checkpoints and its progress display."""
