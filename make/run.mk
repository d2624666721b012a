# The local stack: the whole service on this machine, no Docker, no AWS account.
# Included from the Makefile, which defines PY, VENV and the `dev` target.
#   make run                                   API on :3000, emulated AWS on :5000
#   make run API_PORT=3001 AWS_PORT=5001       other ports (also from the environment)
#   make run FAULTS=dynamodb:TransactWriteItems:read_timeout@SwitchTrafficFunction
#                                              inject faults (local_stack/faults.py; also LOCAL_STACK_FAULTS)
#   make run HOST=0.0.0.0                      reachable from containers (sam local); exposes it to the network
#   make executions [TASK=deploy-01...]        the stack's executions, or one task's steps
#   make executions ENDPOINT_URL=              ... against the AWS account of your credentials instead
#   make events [TASK=deploy-01...]            the task events the local stack published, newest first

API_PORT ?= 3000
AWS_PORT ?= 5000
# `:=`, not `?=`: some shells export HOST as the machine's name; `make run HOST=...` still wins.
HOST := 127.0.0.1
ENDPOINT_URL ?= http://127.0.0.1:$(AWS_PORT)
TASK ?=
FAULTS ?=

comma := ,

.PHONY: run executions events

run: dev ## Serve the whole service locally (API :3000, emulated AWS :5000) until Ctrl-C
	$(PY) -m local_stack run --host $(HOST) --api-port $(API_PORT) --aws-port $(AWS_PORT) $(foreach f,$(subst $(comma), ,$(FAULTS)),--fault $(f))

executions: dev ## Executions of the local stack's state machines (TASK=<task id> for its steps)
	$(PY) -m local_stack executions $(if $(ENDPOINT_URL),--endpoint-url $(ENDPOINT_URL)) $(TASK)

events: dev ## Task events the local stack published, newest first (TASK=<task id> for one task's)
	$(PY) -m local_stack events --endpoint-url http://127.0.0.1:$(AWS_PORT) $(TASK)
