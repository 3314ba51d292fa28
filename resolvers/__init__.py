"""Use cases: authorisation, business rules and the unit of work, one module per domain."""
