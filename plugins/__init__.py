"""sadbench's built-in plugins, registered through the same hooks a third-party package implements."""
