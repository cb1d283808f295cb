"""Enrichment: sentiment, topics and language for the company's texts (reviews, issues).

- `labels`: the label contract per kind of text (text, vocabulary, prompt, JSON schema,
  validation of an answer); imports nothing heavy.
- `offline`: the deterministic local classifier (no key, no network).
- `model`: the OpenAI labeller (batched structured outputs, retries, token budget).
- `cache`: labels already paid for, in the lake, keyed by (text, prompt version, model).
- `step`: one partition end to end: typed copy (+ backlog) → labels → staged → published.
"""
