"""Generator LLMs behind LangChain's chat-model interface: the local llama.cpp model, an OpenAI-compatible endpoint, and fetching the local weights."""
