"""The asyncio shell that wires the pure core to etcd, resource agents and the API."""
