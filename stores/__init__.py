"""Everything that touches a store: SQL tables and queries, documents, Redis, mail, files."""
