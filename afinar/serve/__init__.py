"""Serving: an OpenAI-compatible API in front of a tuned model.

auth (API keys, roles, rate limits) -> guard (injection, PII) -> engine (PyTorch + adapters, or
llama.cpp on an exported GGUF) -> sanitizer (PII, system-prompt leakage, JSON) -> audit.
"""
