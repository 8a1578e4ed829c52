"""The store: vigil's only source of truth (etcd)."""
