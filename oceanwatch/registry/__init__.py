"""Model registry: manifests, safe artifact loading, versions and deployment state, loaded runtimes."""
