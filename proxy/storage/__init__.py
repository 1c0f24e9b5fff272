"""Persistence: tortoise-orm models, database set-up and migrations."""
