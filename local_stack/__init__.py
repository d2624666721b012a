"""An emulated AWS account built from the project's SAM template, on moto, for tests and local runs.

Step Functions executes the real ASL, Lambda invocations run the project's handlers in-process, and
SageMaker endpoints answer like an embedding model. See `EmulatedAws` (in-process, for pytest) and
`EmulatedAwsServer` (moto's HTTP server, for local runs).
"""

from local_stack.emulator import MOTO_CONFIG, EmulatedAws, EmulatedAwsServer
from local_stack.executions import ExecutionTimeout, wait_for_execution
from local_stack.lambdas import InvocationResult, LambdaContext, LambdaRouter, invoke_function
from local_stack.moto_patches import SageMakerEmulator
from local_stack.sagemaker import EndpointProfile
from local_stack.stack import DeployedFunction, DeployedStack, EnvironmentConflictError, deploy, plan_stack
from local_stack.template import ApiRoute, Template, TemplateError, load_template

__all__ = [
    "MOTO_CONFIG",
    "ApiRoute",
    "DeployedFunction",
    "DeployedStack",
    "EmulatedAws",
    "EmulatedAwsServer",
    "EndpointProfile",
    "EnvironmentConflictError",
    "ExecutionTimeout",
    "InvocationResult",
    "LambdaContext",
    "LambdaRouter",
    "SageMakerEmulator",
    "Template",
    "TemplateError",
    "deploy",
    "invoke_function",
    "load_template",
    "plan_stack",
    "wait_for_execution",
]
