"""Memory: the SQLite store and its migrations, the vector index, ingestion and retrieval."""
