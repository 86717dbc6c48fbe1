"""afinar: fine-tune Llama-family models on enterprise data, governed from data to endpoint."""

import logging

__version__ = "0.1.0"

# bitsandbytes' CPU backend (imported by peft) offers, at import, to fetch a kernel from a hub;
# nothing is fetched here, and the offer is noise on every command that loads a model.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
