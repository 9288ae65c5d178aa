"""Live events for screens: ``GET /api/v1/stream`` (Server-Sent Events), scoped per subscriber."""
