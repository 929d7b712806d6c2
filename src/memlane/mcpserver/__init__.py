"""``memlane mcp``: the memory offered to other programs over MCP, on stdin and stdout."""
