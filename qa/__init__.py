"""Question answering: retrieval, extractive and LLM answers, citations and follow-up rewriting."""
