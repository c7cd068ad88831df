"""Hugging Face training for the jsonl task: tokens, batches, recipes, the learner and its throughput."""
