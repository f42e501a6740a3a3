"""nomadctl: from nothing to a secured HashiCorp Nomad cluster, and back."""

__version__ = "0.1.0"
