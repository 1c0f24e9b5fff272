"""Built-in plugins. Each module (or package) is one plugin; see ``proxy.plugin_host``."""
