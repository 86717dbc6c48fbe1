"""Model stage: find and load a base model, attach and load adapters."""
