"""What the service does, independent of how it is invoked."""
