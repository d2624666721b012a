# The black-box flow against a deployed stack, SigV4-signed with your credentials (botocore's default chain).
# Included from the Makefile.
#   make e2e E2E_STACK_NAME=inference-deployment E2E_MODEL=my-team-embedder   the stack's ApiUrl output
#   make e2e E2E_API_URL=https://abc.execute-api.eu-west-1.amazonaws.com/v1 E2E_MODEL=...
# Without a target or credentials it prints "skipped: ..." and succeeds. It deploys E2E_MODEL twice (the
# second cancelled during a 10-minute bake) and deletes it: the model must not be serving anything you need.

E2E_ARGS ?=

.PHONY: e2e

e2e: dev ## Deploy, cancel a baking redeploy, read the history, delete: against E2E_STACK_NAME or E2E_API_URL
	$(PY) -m scripts.api_flow --e2e $(E2E_ARGS)
