"""Shared code of the Inference Deployment Tasks API: models, logic, adapters, observability."""
