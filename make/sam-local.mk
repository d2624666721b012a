# sam local against the local stack: the API functions in containers, the rest of AWS from `make run`.
# Included from the Makefile. In one terminal `make run HOST=0.0.0.0 API_PORT=3001`, in another:
#   make sam-local                        sam local start-api on :3000 (SAM_PORT), AWS from make run's :5000 (AWS_PORT)
#   make sam-local SAM_PULL=never         offline: use the local base image (scripts/build-lambda-image)
#   make sam-invoke FUNCTION=ReadTaskFunction EVENT=events/get_deploy_task.json   one function, once
#   make lambda-image                     build that image (root; for machines that cannot pull it)

SAM_PORT ?= 3000
SAM_PULL ?= auto

.PHONY: sam-local sam-invoke lambda-image

sam-local: dev tools ## sam local start-api (host's architecture) against `make run HOST=0.0.0.0 API_PORT=3001`
	SAM_PORT=$(SAM_PORT) AWS_PORT=$(AWS_PORT) SAM_PULL=$(SAM_PULL) scripts/sam-local

lambda-image: dev ## Build public.ecr.aws/lambda/python:3.13-<arch> offline (debootstrap; needs root)
	PYTHON=$(PYTHON) scripts/build-lambda-image

FUNCTION ?= CreateTaskFunction
EVENT ?= events/deploy.json

sam-invoke: dev tools ## sam local invoke FUNCTION=<logical id> EVENT=events/<sample>.json against `make run HOST=0.0.0.0`
	AWS_PORT=$(AWS_PORT) SAM_PULL=$(SAM_PULL) scripts/sam-local invoke $(FUNCTION) --event $(EVENT)
