"""Prices: the managed catalog seeded from genai-prices (``seed``) and the cost arithmetic (``cost``)."""
