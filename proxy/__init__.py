"""llmgate's core: app factory, hook specs, the hook runner, upstream client, storage and CLI."""

__version__ = "0.1.0"
