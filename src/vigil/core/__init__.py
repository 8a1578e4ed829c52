"""The pure decision core: records, snapshots, lease policy, coordinator and node logic."""
