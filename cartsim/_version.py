"""The cartsim version, in a module of its own so that any part of the package can read it
without importing the package root (which imports the whole public API)."""

__version__ = "0.1.0"
