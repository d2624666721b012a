"""`python -m bench`: what a request, a rollout and a cold start cost, side by side with the minimum.

Every measurement that imports the service, moto or a handler runs in a child process, so the
orchestrator (`bench.__main__`) stays a plain stdlib process and no measurement pays for another's
imports. See bench/README.md for how to read the numbers.
"""
