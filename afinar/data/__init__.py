"""Data stage: read rows, render them with the chat template, batch them."""
