"""IVEN GraphQL server: composition root (settings, app, context, auth, CLI)."""
