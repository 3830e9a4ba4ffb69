"""The Model Context Protocol server: the corpus and codebook offered to assistants the researcher
already uses, at a permission level the project sets, every call audited."""
