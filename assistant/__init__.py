"""The analysis layer of thematic: project store, codebook, suggestions, quotes, themes, chat,
agreement and exchange formats. Builds on the corpus layer in `index`."""

__version__ = "0.1.0"
