"""Physical names and ARNs the emulator gives to template resources.

Names are the logical id behind an optional prefix (`TasksTable`, `local-TasksTable`) so they stay
readable in tests; explicit name properties (TableName, FunctionName, ...) win, as in CloudFormation.
ARNs are computed, not read back, so every reference can be resolved before any resource exists.
"""

from __future__ import annotations

import hashlib
import string

from local_stack.intrinsics import PhysicalResource, PseudoParameters

NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
}
_API_TYPES = frozenset(
    {"AWS::Serverless::Api", "AWS::Serverless::HttpApi", "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"}
)
_ID_ALPHABET = string.ascii_lowercase + string.digits


def physical_resource(resource_type: str, name: str, pseudo: PseudoParameters) -> PhysicalResource:
    """What Ref/GetAtt give for a resource of `resource_type` named `name`."""
    p, r, a = pseudo.partition, pseudo.region, pseudo.account_id
    match resource_type:
        case "AWS::DynamoDB::Table":
            arn = f"arn:{p}:dynamodb:{r}:{a}:table/{name}"
            return PhysicalResource(name, {"Arn": arn, "StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"})
        case "AWS::Serverless::Function" | "AWS::Lambda::Function":
            return PhysicalResource(name, {"Arn": function_arn(name, pseudo)})
        case "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine":
            arn = f"arn:{p}:states:{r}:{a}:stateMachine:{name}"
            return PhysicalResource(arn, {"Arn": arn, "Name": name})
        case "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion":
            arn = f"arn:{p}:lambda:{r}:{a}:layer:{name}:1"
            return PhysicalResource(arn, {"Arn": arn})
        case "AWS::Logs::LogGroup":
            return PhysicalResource(name, {"Arn": f"arn:{p}:logs:{r}:{a}:log-group:{name}:*"})
        case "AWS::IAM::Role":
            return PhysicalResource(name, {"Arn": f"arn:{p}:iam::{a}:role/{name}", "RoleId": _short_id(name)})
        case "AWS::SQS::Queue":
            arn = f"arn:{p}:sqs:{r}:{a}:{name}"
            url = f"https://sqs.{r}.{pseudo.url_suffix}/{a}/{name}"
            return PhysicalResource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})
        case "AWS::SNS::Topic":
            arn = f"arn:{p}:sns:{r}:{a}:{name}"
            return PhysicalResource(arn, {"TopicArn": arn, "TopicName": name})
        case "AWS::Events::EventBus":
            return PhysicalResource(name, {"Arn": f"arn:{p}:events:{r}:{a}:event-bus/{name}", "Name": name})
        case "AWS::S3::Bucket":
            return PhysicalResource(name, {"Arn": f"arn:{p}:s3:::{name}"})
        case api_type if api_type in _API_TYPES:
            api_id = _short_id(name)
            return PhysicalResource(api_id, {"RootResourceId": _short_id(f"{name}/"), "ApiId": api_id})
        case _:
            service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "unknown"
            return PhysicalResource(name, {"Arn": f"arn:{p}:{service}:{r}:{a}:{name}"})


def function_arn(name: str, pseudo: PseudoParameters) -> str:
    return f"arn:{pseudo.partition}:lambda:{pseudo.region}:{pseudo.account_id}:function:{name}"


def _short_id(seed: str) -> str:
    """A stable 10-character id like API Gateway's, derived from the name so reruns agree."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8])
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return "".join(chars)
