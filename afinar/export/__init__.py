"""Export: merged Hugging Face weights and GGUF for llama.cpp, verified against the trained model."""
