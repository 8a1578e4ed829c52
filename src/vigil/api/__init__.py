"""HTTP API, status documents and Prometheus metrics served by every agent."""
