"""The model registry across repositories: imports from other repos, aliases, registry views (docs/registry.md)."""
