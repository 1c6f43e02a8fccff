"""Redis: what can be rebuilt or may expire (user cache, rate limits, revocations, events)."""
