"""The dashboard's pages, one module per area; each exposes ``ROUTES`` (handler, path, methods)."""
