"""Turning retrieved paragraphs into a cited answer: the extractive answerer, the LLM chain with its prompt, answer forms, verdicts and citation checks."""
