"""Local models: the embedder (and, later, the LLM runtime and prompts). Nothing here talks to a network."""
