"""Finding the paragraphs: hybrid BM25 + dense search, question hints and filters, optional reranking and LLM sub-questions."""
