"""Helpers shared by the test tiers (real services, ports, the Docker engine)."""
