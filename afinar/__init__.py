"""afinar: fine-tune Llama-family models on enterprise data, governed from data to endpoint."""

__version__ = "0.1.0"
