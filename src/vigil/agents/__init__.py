"""Resource-agent runners: ocf, process (built-in); lsb, systemd and vip come later."""
