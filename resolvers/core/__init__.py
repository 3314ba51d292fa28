"""The kit below the domains: what every use case shares (dependencies, errors, background
work, rate limits, caches, idempotency). Nothing here imports a domain."""
