"""Shapes of ``client.requests``: see :mod:`payi.types.requests.request_id` and ``response_id``."""
