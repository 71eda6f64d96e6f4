"""Quality measurements on benchmark data: retrieval metrics and MultiHop-RAG answer accuracy."""
