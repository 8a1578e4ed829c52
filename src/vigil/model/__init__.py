"""Config and state types, YAML loading and validation."""
