"""Local models: the sentence embedder (later the LLM runtime and prompts), never networked."""
