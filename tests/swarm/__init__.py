"""The swarm tier: a real two-node Docker Swarm built by the tests (see cluster.py)."""
