"""The self-hosted Pay-i service. ``payi-server serve`` runs it; ``create_app(settings)`` builds it."""

__version__ = "0.1.0"
