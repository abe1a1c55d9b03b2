"""The journey file format: frozen models, YAML loading with FILE:LINE problems, schema, variables and secrets."""
