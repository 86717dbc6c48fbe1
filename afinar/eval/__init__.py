"""Evaluation stage: generation and domain metrics, base vs tuned."""
