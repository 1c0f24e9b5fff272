"""Test helpers that run real servers: the gateway in a thread, databases, accounts."""
