"""Template loading and intrinsic resolution of local_stack, without any AWS backend."""

from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from local_stack import EmulatedAws, EnvironmentConflictError, Template, TemplateError, load_template, plan_stack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = PROJECT_ROOT / "tests" / "fixtures" / "local_stack" / "template.yaml"
ACCOUNT = "123456789012"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_short_form_tags_load_as_long_form_intrinsics(tmp_path: Path) -> None:
    document = load_yaml(
        write(
            tmp_path / "t.yaml",
            """
            A: !Ref Thing
            B: !GetAtt Table.Arn
            C: !GetAtt [Table, StreamArn]
            D: !Sub "${AWS::Region}-x"
            E: !Join [",", [a, !Ref P]]
            F: !If [Cond, yes-value, !Ref AWS::NoValue]
            G: !Equals [!Ref P, prod]
            H: !Condition IsProd
            """.replace("\n            ", "\n"),
        )
    )

    assert document == {
        "A": {"Ref": "Thing"},
        "B": {"Fn::GetAtt": ["Table", "Arn"]},
        "C": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "D": {"Fn::Sub": "${AWS::Region}-x"},
        "E": {"Fn::Join": [",", ["a", {"Ref": "P"}]]},
        "F": {"Fn::If": ["Cond", "yes-value", {"Ref": "AWS::NoValue"}]},
        "G": {"Fn::Equals": [{"Ref": "P"}, "prod"]},
        "H": {"Condition": "IsProd"},
    }


def test_template_exposes_functions_tables_state_machines_and_routes() -> None:
    template = load_template(FIXTURE_TEMPLATE)

    assert set(template.functions) == {"EchoFunction", "StepsFunction"}
    assert set(template.tables) == {"ItemsTable", "ProdOnlyTable"}
    assert set(template.state_machines) == {"PipelineStateMachine"}
    echo = template.functions["EchoFunction"]
    assert echo.code_dir == FIXTURE_TEMPLATE.parent / "functions" / "ls_fixture_echo"
    assert (echo.module_name, echo.handler_attribute) == ("ls_fixture_echo.app", "lambda_handler")
    assert [(r.method, r.path, r.function, r.api) for r in template.routes] == [
        ("GET", "/items/{item_id}", "EchoFunction", "Api"),
        ("POST", "/items", "EchoFunction", "Api"),
    ]
    assert template.state_machines["PipelineStateMachine"].definition_path == (
        FIXTURE_TEMPLATE.parent / "statemachine" / "pipeline.asl.json"
    )


def test_plan_resolves_every_intrinsic_form_in_function_environment() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE))

    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ItemsTable"
    api_id = stack.ref("Api")
    assert stack.functions["EchoFunction"].environment == {
        "ITEMS_TABLE_NAME": "ItemsTable",
        "STAGE": "test",
        "GREETING": "hello from us-east-1",
        "ITEMS_TABLE_ARN": table_arn,
        "PIPELINE_ARN": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:PipelineStateMachine",
        "MODE": "relaxed",
        "INDEX_ARN": f"{table_arn}/index/ByKind",
        "QUALIFIED_TABLE": f"ItemsTable@{ACCOUNT}",
        "JOINED": "test:b",
        "LITERAL": "${NotAVariable}",
        "API_URL": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/test",
    }
    assert stack.functions["StepsFunction"].environment == {"ITEMS_TABLE_NAME": "ItemsTable", "STAGE": "test"}
    assert stack.outputs == {
        "ApiUrl": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/test",
        "PipelineArn": stack.arn("PipelineStateMachine"),
    }


def test_globals_supply_defaults_that_functions_override() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE))

    echo, steps = stack.functions["EchoFunction"], stack.functions["StepsFunction"]
    assert (echo.timeout, echo.memory_size, echo.runtime) == (5, 256, "python3.13")
    assert (steps.timeout, steps.memory_size) == (3, 128)
    assert echo.log_group_name == "EchoLogGroup"
    assert steps.log_group_name == "/aws/lambda/StepsFunction"


def test_parameters_drive_conditions_mappings_and_names() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE), parameters={"Stage": "prod"}, name_prefix="local-")

    echo = stack.functions["EchoFunction"]
    assert echo.name == "local-EchoFunction"
    assert echo.environment["MODE"] == "strict"
    assert echo.environment["ITEMS_TABLE_NAME"] == "local-ItemsTable"
    assert echo.memory_size == 1024
    assert set(stack.tables) == {"ItemsTable", "ProdOnlyTable"}
    assert stack.outputs["ProdTable"] == "local-ProdOnlyTable"
    assert stack.state_machines["PipelineStateMachine"].arn.endswith(":stateMachine:local-PipelineStateMachine")


def test_resources_whose_condition_is_false_are_left_out() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE))

    assert "ProdOnlyTable" not in stack.tables
    assert "ProdTable" not in stack.outputs


@pytest.mark.parametrize(
    ("parameters", "message"),
    [({"Stage": "staging"}, "not one of"), ({"Nope": "x"}, "unknown template parameters")],
)
def test_invalid_parameters_are_rejected(parameters: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        plan_stack(load_template(FIXTURE_TEMPLATE), parameters=parameters)


def test_state_machine_definition_has_substitutions_applied() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE))

    definition = stack.state_machines["PipelineStateMachine"].definition
    assert "${" not in definition
    assert f'"FunctionName": "{stack.arn("EchoFunction")}"' in definition
    assert f'"Resource": "{stack.arn("StepsFunction")}"' in definition


def test_unknown_definition_placeholder_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "sm.asl.json", '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Missing}"}}}')
    template = write(
        tmp_path / "template.yaml",
        """
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: sm.asl.json
""",
    )

    with pytest.raises(TemplateError, match="Missing"):
        plan_stack(load_template(template))


def test_functions_disagreeing_on_a_variable_cannot_share_a_process(tmp_path: Path) -> None:
    template = write(
        tmp_path / "template.yaml",
        """
Globals:
  Function:
    Handler: app.lambda_handler
    Environment:
      Variables:
        SHARED: same
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/one/
      Environment:
        Variables:
          LEVEL: INFO
  Two:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/two/
      Environment:
        Variables:
          LEVEL: DEBUG
""",
    )

    with pytest.raises(EnvironmentConflictError, match="LEVEL"):
        plan_stack(load_template(template))


def test_function_lookup_by_logical_id_name_and_arn() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE), name_prefix="x-")

    echo = stack.functions["EchoFunction"]
    assert stack.function("EchoFunction") is echo
    assert stack.function("x-EchoFunction") is echo
    assert stack.function(echo.arn) is echo
    assert stack.function(f"{echo.arn}:$LATEST") is echo
    with pytest.raises(KeyError):
        stack.function("Nope")


def real_template() -> Template:
    template = load_template(PROJECT_ROOT / "template.yaml")
    missing = [str(f.code_dir) for f in template.functions.values() if not f.code_dir.is_dir()]
    missing += [
        str(m.definition_path)
        for m in template.state_machines.values()
        if m.definition_path is not None and not m.definition_path.is_file()
    ]
    if missing:
        pytest.skip(f"project code not written yet: {missing}")
    return template


def test_real_template_resolves_every_function_environment() -> None:
    stack = plan_stack(real_template(), name_prefix="local-")

    assert stack.functions
    for function in stack.functions.values():
        assert function.environment, function.logical_id
        # Declared empty on purpose: AWS_ENDPOINT_URL (sam local's env-vars file sets it) and the admin patterns
        # (AdminPrincipalArnPatterns defaults to no admins); nothing else is.
        empty_by_default = {"AWS_ENDPOINT_URL", "ADMIN_PRINCIPAL_ARN_PATTERNS"}
        resolved = {key: value for key, value in function.environment.items() if key not in empty_by_default}
        assert all(isinstance(value, str) and value for value in resolved.values())
        assert function.environment["AWS_ENDPOINT_URL"] == ""
    for machine in stack.state_machines.values():
        assert "${" not in machine.definition
    assert stack.environment["TASKS_TABLE_NAME"] == "local-TasksTable"


def test_real_template_deploys_under_moto() -> None:
    with EmulatedAws(real_template(), apply_environment=False) as aws:
        machines = aws.client("stepfunctions").list_state_machines()["stateMachines"]
        functions = aws.client("lambda").list_functions()["Functions"]

        assert {m["stateMachineArn"] for m in machines} == {m.arn for m in aws.stack.state_machines.values()}
        assert {f["FunctionName"] for f in functions} == {f.name for f in aws.stack.functions.values()}
