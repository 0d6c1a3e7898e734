#!/usr/bin/env python3
"""Deploy cloudformation/pipeline.yaml to a moto server and check what it made.

usage: AWS_ENDPOINT_URL=http://127.0.0.1:5000 deploy_to_moto.py [TEMPLATE]

Needs boto3 and PyYAML (the lint venv has both). Exits 0 when every check
passes, 1 with a list of failures otherwise, 2 on a usage or setup error.

What moto 5.2.5 can and cannot do, and therefore how this works:

* moto's CloudFormation creates these resource types of the template:
  AWS::S3::Bucket, AWS::Logs::LogGroup, AWS::SNS::Topic, AWS::Events::Rule,
  AWS::IAM::Role (with inline policies) and AWS::EC2::SecurityGroup.
  It has no model for AWS::CodeBuild::Project, AWS::CodePipeline::Pipeline,
  AWS::Scheduler::Schedule, AWS::SNS::TopicPolicy, AWS::SNS::Subscription,
  AWS::S3::BucketPolicy or AWS::CodeConnections::Connection, and its stack
  creation fails outright on an output that reads an attribute of a type it
  does not know.
* So the script deploys the supported part of the template through
  CloudFormation (references to the other resources replaced by the ARNs and
  names those resources will have), then creates the rest from the template's
  own properties, resolved against the deployed stack, through the services'
  APIs (CodeBuild CreateProject, CodePipeline CreatePipeline, Scheduler
  CreateSchedule, SNS Subscribe/SetTopicAttributes, S3 PutBucketPolicy). boto3
  validates those property shapes on the way. moto has no CodeConnections at
  all: the connection is a placeholder ARN.
* The template is deployed twice, once per source provider / network mode
  (GitHub + CodeBuild outside the VPC, CodeCommit + CodeBuild inside it), so
  both sides of every condition are created.
* moto cannot deliver an EventBridge event to an SNS target (it raises
  NotImplementedError), so the input transformers are checked by copying each
  AmiBuilder rule's pattern and transformer, as moto stored them, onto a rule
  on a scratch bus that targets an SQS queue, sending sample events, and
  reading the rendered message.

Not checked here (see README, "Deploy to AWS"): IAM policy evaluation (moto
does not enforce the roles' policies), the CodeConnections handshake, actual
CodeBuild runs of the buildspecs, CodePipeline executions and the
#{codepipeline.PipelineExecutionId} variable, the schedule firing, SNS e-mail
delivery and EventBridge-to-SNS delivery, the bucket policy's effect, and
CloudFormation's own property validation for the types moto does not model
(cfn-lint's schemas cover that statically).
"""

import ast
import json
import os
import re
import sys
import time
import traceback
import uuid

import boto3
from botocore.config import Config

import cfn_yaml

REGION = "us-east-1"
MOTO_CFN_TYPES = {
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::EC2::SecurityGroup",
}
NO_VALUE = object()

SAMPLE_DETAIL = {
    "AmiStatus": "Created",
    "AmiId": "ami-0a1b2c3d4e5f60718",
    "Amis": {"us-east-1": "ami-0a1b2c3d4e5f60718", "us-west-2": "ami-0f1e2d3c4b5a69788"},
    "Commit": "4f2c9e1d0b8a7c6e5f4d3c2b1a0918273645abcd",
    "BuildId": "ami-builder-build:11111111-2222-3333-4444-555555555555",
    "Name": "al2023-hardened-20260101T000000Z-abcdef01",
    "Family": "amazon-ebs.al2023",
}


# --------------------------------------------------------------- template
def load_template(path):
    return cfn_yaml.load_file(path)


class Context:
    """Resolves intrinsic functions for one deployment of the template."""

    def __init__(self, template, params, account, stack_name):
        self.template = template
        self.stack_name = stack_name
        self.account = account
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            if value is None:
                raise SystemExit(f"setup error: parameter {name} needs a value")
            self.params[name] = str(value)
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.refs = {}  # logical id -> Ref value
        self.atts = {}  # (logical id, attribute) -> value
        self._conditions = {}

    def condition(self, name):
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resource_enabled(self, logical_id):
        cond = self.template["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"unresolved Ref {name}")

    def getatt(self, name, attr):
        if (name, attr) in self.atts:
            return self.atts[(name, attr)]
        raise KeyError(f"unresolved GetAtt {name}.{attr}")

    def sub(self, text, extra=None):
        extra = extra or {}

        def repl(match):
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in extra:
                return str(extra[key])
            if "." in key and not key.startswith("AWS::"):
                res, attr = key.split(".", 1)
                return str(self.getatt(res, attr))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(item) for item in node]
            return [item for item in out if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.getatt(arg[0], arg[1])
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
                return self.sub(arg)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise KeyError(f"intrinsic {key} not supported by this checker")
        out = {}
        for key, value in node.items():
            value = self.resolve(value)
            if value is not NO_VALUE:
                out[key] = value
        return out


# ------------------------------------------------------------- subsetting
def stub_values(ctx, logical_id, resource):
    """Ref/GetAtt values the API-created (or placeholder) resource will have."""
    rtype = resource["Type"]
    props = resource.get("Properties", {})
    acct, region = ctx.account, REGION
    if rtype == "AWS::CodeBuild::Project":
        name = ctx.resolve(props["Name"])
        return name, {"Arn": f"arn:aws:codebuild:{region}:{acct}:project/{name}"}
    if rtype == "AWS::CodePipeline::Pipeline":
        name = ctx.resolve(props["Name"])
        return name, {}
    if rtype == "AWS::Scheduler::Schedule":
        name = f"{ctx.stack_name}-{logical_id}"[:64]
        return name, {"Arn": f"arn:aws:scheduler:{region}:{acct}:schedule/default/{name}"}
    if rtype == "AWS::CodeConnections::Connection":
        arn = f"arn:aws:codeconnections:{region}:{acct}:connection/00000000-moto-placeholder"
        return arn, {"ConnectionArn": arn}
    return f"{ctx.stack_name}-{logical_id}", {}


def replace_refs(node, stubs):
    """Replace references to resources moto's CloudFormation cannot create."""
    if isinstance(node, list):
        return [replace_refs(item, stubs) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref" and arg in stubs:
            return stubs[arg][0]
        if key == "Fn::GetAtt" and arg[0] in stubs:
            return stubs[arg[0]][1][arg[1]]
        if key == "Fn::Sub":
            text, extra = (arg[0], arg[1]) if isinstance(arg, list) else (arg, None)

            def repl(match):
                ref = match.group(1)
                res, _, attr = ref.partition(".")
                if res in stubs:
                    return stubs[res][0] if not attr else stubs[res][1][attr]
                return match.group(0)

            text = re.sub(r"\$\{([^}!]+)\}", repl, text)
            if extra is not None:
                return {"Fn::Sub": [text, replace_refs(extra, stubs)]}
            return {"Fn::Sub": text}
    return {key: replace_refs(value, stubs) for key, value in node.items()}


def references(node, names):
    text = json.dumps(node)
    return any(re.search(r'"(Ref|Fn::GetAtt)": \[?"' + re.escape(n) + r'"', text)
               or ("${" + n + "}") in text or ("${" + n + ".") in text for n in names)


# ------------------------------------------------------------------ helpers
def camel(node, keep_inner=("configuration",)):
    """CloudFormation PascalCase -> API camelCase (CodeBuild, CodePipeline)."""
    overrides = {"BuildSpec": "buildspec"}
    if isinstance(node, list):
        return [camel(item, keep_inner) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        new = overrides.get(key, key[:1].lower() + key[1:])
        if new in keep_inner and isinstance(value, dict):
            out[new] = {k: (json.dumps(v) if isinstance(v, (dict, list))
                            else str(v).lower() if isinstance(v, bool) else str(v))
                        for k, v in value.items()}
        else:
            out[new] = camel(value, keep_inner)
    return out


class Checker:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failures.append(what)
            print(f"  FAIL  {what}")
        return ok


def client(name):
    return boto3.client(
        name,
        region_name=REGION,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}),
    )


# ------------------------------------------------------------------ deploy
def deploy(template, params, stack_name, check):
    cfn, iam, logs, events = client("cloudformation"), client("iam"), client("logs"), client("events")
    account = client("sts").get_caller_identity()["Account"]
    ctx = Context(template, params, account, stack_name)
    resources = template["Resources"]
    enabled = [lid for lid in resources if ctx.resource_enabled(lid)]
    unsupported = {lid for lid in resources if resources[lid]["Type"] not in MOTO_CFN_TYPES}
    stubs = {lid: stub_values(ctx, lid, resources[lid]) for lid in unsupported if ctx.resource_enabled(lid)}
    for lid in unsupported - set(stubs):  # disabled by a condition: never referenced on a live path
        stubs[lid] = (f"{stack_name}-{lid}-disabled", {"Arn": "arn:aws:disabled", "ConnectionArn": "arn:aws:disabled"})

    subset = dict(template)
    subset["Resources"] = {lid: replace_refs(res, stubs) for lid, res in resources.items() if lid not in unsupported}
    subset["Outputs"] = {k: replace_refs(v, stubs) for k, v in template.get("Outputs", {}).items()
                         if not references(v, unsupported)}
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(subset),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    for _ in range(60):
        status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    if not check.check(status == "CREATE_COMPLETE", f"[{stack_name}] CloudFormation stack (moto-supported part) is {status}"):
        return None
    summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    # (moto lists resources skipped by a condition with an empty logical id)
    physical = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s["LogicalResourceId"]}
    for lid in enabled:
        if lid in unsupported:
            continue
        check.check(lid in physical, f"[{stack_name}] {resources[lid]['Type']} {lid} created by CloudFormation")

    # Attributes of what CloudFormation made, for resolving the rest.
    for lid, pid in physical.items():
        rtype = resources[lid]["Type"]
        ctx.refs[lid] = pid
        if rtype == "AWS::IAM::Role":
            ctx.atts[(lid, "Arn")] = iam.get_role(RoleName=pid)["Role"]["Arn"]
        elif rtype == "AWS::S3::Bucket":
            ctx.atts[(lid, "Arn")] = f"arn:aws:s3:::{pid}"
        elif rtype == "AWS::Logs::LogGroup":
            ctx.atts[(lid, "Arn")] = f"arn:aws:logs:{REGION}:{account}:log-group:{pid}:*"
        elif rtype == "AWS::Events::Rule":
            ctx.atts[(lid, "Arn")] = events.describe_rule(Name=pid)["Arn"]
        elif rtype == "AWS::SNS::Topic":
            ctx.atts[(lid, "TopicArn")] = pid
    for lid, (ref, atts) in stubs.items():
        ctx.refs[lid] = ref
        for attr, value in atts.items():
            ctx.atts[(lid, attr)] = value

    create_unsupported(ctx, resources, unsupported, check, stack_name)
    verify(ctx, template, physical, check, stack_name, logs, iam, events)
    return ctx


def create_unsupported(ctx, resources, unsupported, check, stack_name):
    codebuild, codepipeline, scheduler = client("codebuild"), client("codepipeline"), client("scheduler")
    sns, s3 = client("sns"), client("s3")
    for lid in sorted(unsupported):
        if not ctx.resource_enabled(lid):
            continue
        rtype = resources[lid]["Type"]
        props = ctx.resolve(resources[lid].get("Properties", {}))
        what = f"[{stack_name}] {rtype} {lid} created from the template's properties through the API"
        try:
            if rtype == "AWS::CodeBuild::Project":
                args = camel(props)
                # moto insists on locations where AWS takes none (CODEPIPELINE).
                for part in ("source", "artifacts"):
                    if args[part]["type"] == "CODEPIPELINE" and "location" not in args[part]:
                        args[part]["location"] = "codepipeline"
                args["tags"] = [{"key": t["key"], "value": t["value"]} for t in args.get("tags", [])]
                codebuild.create_project(**args)
            elif rtype == "AWS::CodePipeline::Pipeline":
                args = camel(props)
                tags = args.pop("tags", None)
                kwargs = {"pipeline": args}
                if tags:
                    kwargs["tags"] = tags
                codepipeline.create_pipeline(**kwargs)
            elif rtype == "AWS::Scheduler::Schedule":
                scheduler.create_schedule(Name=ctx.ref(lid), **props)
            elif rtype == "AWS::SNS::Subscription":
                sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])
            elif rtype == "AWS::SNS::TopicPolicy":
                for topic in props["Topics"]:
                    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                             AttributeValue=json.dumps(props["PolicyDocument"]))
            elif rtype == "AWS::S3::BucketPolicy":
                s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
            elif rtype == "AWS::CodeConnections::Connection":
                print(f"  note  [{stack_name}] {lid}: moto has no CodeConnections; placeholder {ctx.ref(lid)}")
                continue
            else:
                check.check(False, f"{what}: no API mapping for this type in deploy_to_moto.py")
                continue
            check.check(True, what)
        except Exception as err:  # noqa: BLE001 - any API error is a failed check
            check.check(False, f"{what}: {err}")


# ------------------------------------------------------------------ verify
def statements(iam, role_name):
    out = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except ValueError:
                # moto keeps policies that CloudFormation attached as Python reprs.
                doc = ast.literal_eval(doc)
        stmts = doc["Statement"]
        # moto leaves AWS::NoValue list items as null; CloudFormation drops them.
        out.extend(s for s in (stmts if isinstance(stmts, list) else [stmts]) if s is not None)
    return out


def as_list(value):
    return value if isinstance(value, list) else [value]


def verify(ctx, template, physical, check, stack_name, logs, iam, events):
    sns, codebuild, codepipeline, scheduler, s3 = (client(n) for n in ("sns", "codebuild", "codepipeline", "scheduler", "s3"))
    tag = f"[{stack_name}]"
    params = ctx.params

    # Topic, its policy, the e-mail subscription.
    topic = physical["NotificationTopic"]
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    policy = json.loads(attrs.get("Policy", "{}"))
    allowed = [s for s in policy.get("Statement", [])
               if s.get("Principal", {}).get("Service") == "events.amazonaws.com" and s.get("Action") == "sns:Publish"]
    check.check(bool(allowed), f"{tag} topic policy lets events.amazonaws.com publish")
    rule_arns = {ctx.getatt(r, "Arn") for r in ("AmiCreatedRule", "AmiDeregisteredRule", "PipelineFailedRule", "PruneFailedRule")}
    source_arns = set()
    for stmt in allowed:
        source_arns.update(as_list(stmt.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])))
    check.check(source_arns == rule_arns, f"{tag} topic policy is limited to the stack's four rules")
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    check.check(any(s["Protocol"] == "email" and s["Endpoint"] == params["NotificationEmail"] for s in subs),
                f"{tag} e-mail subscription for {params['NotificationEmail']}")

    # Rules.
    expected_patterns = {
        "AmiCreatedRule": {"source": ["com.ami.builder"], "detail-type": ["AmiBuilder"], "detail": {"AmiStatus": ["Created"]}},
        "AmiDeregisteredRule": {"source": ["com.ami.builder"], "detail-type": ["AmiBuilder"], "detail": {"AmiStatus": ["Deregistered"]}},
    }
    for lid in ("AmiCreatedRule", "AmiDeregisteredRule", "PipelineFailedRule", "PruneFailedRule"):
        rule = events.describe_rule(Name=physical[lid])
        check.check(rule["State"] == "ENABLED" and rule.get("EventBusName", "default") == "default",
                    f"{tag} rule {lid} enabled on the default bus")
        targets = events.list_targets_by_rule(Rule=physical[lid])["Targets"]
        check.check(len(targets) == 1 and targets[0]["Arn"] == topic and "InputTransformer" in targets[0],
                    f"{tag} rule {lid} targets the topic through an input transformer")
        if lid in expected_patterns:
            check.check(json.loads(rule["EventPattern"]) == expected_patterns[lid],
                        f"{tag} rule {lid} matches source com.ami.builder / AmiBuilder / AmiStatus")
    # The promote rule: new AMIs of the stack's family start the promote
    # project, as its own role, with the commit as PROMOTE_COMMIT.
    rule = events.describe_rule(Name=physical["PromoteToDevRule"])
    check.check(json.loads(rule["EventPattern"]) == {
        "source": ["com.ami.builder"], "detail-type": ["AmiBuilder"],
        "detail": {"AmiStatus": ["Created"], "Family": [params["AmiFamily"]]}},
        f"{tag} rule PromoteToDevRule matches the Created event of family {params['AmiFamily']}")
    targets = events.list_targets_by_rule(Rule=physical["PromoteToDevRule"])["Targets"]
    check.check(len(targets) == 1 and targets[0]["Arn"] == ctx.getatt("PromoteProject", "Arn")
                and targets[0].get("RoleArn") == ctx.getatt("PromoteRuleRole", "Arn"),
                f"{tag} rule PromoteToDevRule starts the promote project with its own role")
    if ctx.condition("UseCodeCommit"):
        rule = events.describe_rule(Name=physical["CodeCommitChangeRule"])
        targets = events.list_targets_by_rule(Rule=physical["CodeCommitChangeRule"])["Targets"]
        pipeline_arn = f"arn:aws:codepipeline:{REGION}:{ctx.account}:{stack_name}-pipeline"
        check.check(targets and targets[0]["Arn"] == pipeline_arn and targets[0].get("RoleArn") == ctx.getatt("CodeCommitChangeRole", "Arn"),
                    f"{tag} CodeCommit change rule starts the pipeline with its role")

    check_transformers(physical, events, check, tag)

    # Projects.
    projects = {p["name"]: p for p in codebuild.batch_get_projects(names=[f"{stack_name}-build", f"{stack_name}-prune"])["projects"]}
    promote = codebuild.batch_get_projects(names=[f"{stack_name}-promote"])["projects"]
    if check.check(len(promote) == 1, f"{tag} promote CodeBuild project exists"):
        check.check(promote[0]["serviceRole"] == ctx.getatt("PromoteRole", "Arn"), f"{tag} promote project runs as PromoteRole")
        penv = {v["name"]: v["value"] for v in promote[0]["environment"].get("environmentVariables", [])}
        regions = ",".join([REGION] + ([params["CopyRegions"]] if params["CopyRegions"] else []))
        check.check(penv == {"AMI_BUILDER_FAMILY": params["AmiFamily"], "AMI_BUILDER_REGIONS": regions},
                    f"{tag} promote project passes family and regions {regions}")
    build, prune = projects.get(f"{stack_name}-build"), projects.get(f"{stack_name}-prune")
    if check.check(build is not None and prune is not None, f"{tag} build and prune CodeBuild projects exist"):
        check.check(build["serviceRole"] == ctx.getatt("BuildRole", "Arn"), f"{tag} build project runs as BuildRole")
        check.check(prune["serviceRole"] == ctx.getatt("PruneRole", "Arn"), f"{tag} prune project runs as PruneRole")
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        for proj in (build, prune):
            spec = proj["source"].get("buildspec", "")
            check.check(os.path.isfile(os.path.join(repo, spec)), f"{tag} {proj['name']} buildspec {spec} exists in the repository")
        env = {v["name"]: v["value"] for v in build["environment"].get("environmentVariables", [])}
        check.check(env.get("AMI_BUILDER_FAMILY") == params["AmiFamily"]
                    and env.get("AMI_BUILDER_RETENTION_DAYS") == params["RetentionDays"]
                    and env.get("COPY_REGIONS", "") == params["CopyRegions"],
                    f"{tag} build project passes family, retention and copy regions")
        penv = {v["name"]: v["value"] for v in prune["environment"].get("environmentVariables", [])}
        regions = ",".join([REGION] + ([params["CopyRegions"]] if params["CopyRegions"] else []))
        check.check(penv.get("AMI_BUILDER_FAMILY") == params["AmiFamily"] and penv.get("AMI_BUILDER_KEEP") == params["KeepN"]
                    and penv.get("AMI_BUILDER_MAX_DELETIONS") == params["MaxDeletions"]
                    and penv.get("AMI_BUILDER_REGIONS") == regions,
                    f"{tag} prune project passes family, keep-N, max deletions and regions {regions}")
        in_vpc = ctx.condition("InVpc")
        check.check(bool(build.get("vpcConfig", {}).get("subnets")) == in_vpc,
                    f"{tag} build project VPC config matches BuildInVpc={params['BuildInVpc']}")

    # Pipeline: Source -> Build, execution id handed to the build.
    try:
        pipe = codepipeline.get_pipeline(name=f"{stack_name}-pipeline")["pipeline"]
        check.check([s["name"] for s in pipe["stages"]] == ["Source", "Build"], f"{tag} pipeline stages are Source, Build")
        build_action = pipe["stages"][1]["actions"][0]
        cfg = build_action["configuration"]
        env_vars = json.loads(cfg.get("EnvironmentVariables", "[]"))
        check.check(cfg.get("ProjectName") == f"{stack_name}-build", f"{tag} pipeline Build action runs the build project")
        check.check({"name": "CODEPIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}", "type": "PLAINTEXT"} in env_vars,
                    f"{tag} Build action exports CODEPIPELINE_EXECUTION_ID from #{{codepipeline.PipelineExecutionId}}")
        provider = pipe["stages"][0]["actions"][0]["actionTypeId"]["provider"]
        expected = "CodeStarSourceConnection" if ctx.condition("UseGitHub") else "CodeCommit"
        check.check(provider == expected, f"{tag} Source action uses {expected}")
    except Exception as err:  # noqa: BLE001
        check.check(False, f"{tag} pipeline readable: {err}")

    # Schedule.
    try:
        sched = scheduler.get_schedule(Name=ctx.ref("NightlyPruneSchedule"))
        target = sched["Target"]
        check.check(target["Arn"] == "arn:aws:scheduler:::aws-sdk:codebuild:startBuild"
                    and json.loads(target["Input"]).get("ProjectName") == f"{stack_name}-prune",
                    f"{tag} schedule starts the prune project")
        check.check(target["RoleArn"] == ctx.getatt("PruneScheduleRole", "Arn"), f"{tag} schedule uses its own role")
        check.check(sched["ScheduleExpression"] == params["PruneSchedule"], f"{tag} schedule expression is the parameter")
    except Exception as err:  # noqa: BLE001
        check.check(False, f"{tag} schedule readable: {err}")

    # Roles: least privilege where it matters most.
    prune_stmts = statements(iam, physical["PruneRole"])
    destructive = [s for s in prune_stmts if set(as_list(s["Action"])) & {"ec2:DeregisterImage", "ec2:DeleteSnapshot"}]
    check.check(bool(destructive) and all(
        s.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceTag/ami-builder:family") == params["AmiFamily"]
        for s in destructive), f"{tag} prune role deletes only images/snapshots tagged ami-builder:family")
    check.check(not any("*" in a for s in prune_stmts for a in as_list(s["Action"])), f"{tag} prune role has no wildcard actions")
    build_stmts = statements(iam, physical["BuildRole"])
    put_events = [s for s in build_stmts if "events:PutEvents" in as_list(s["Action"])]
    check.check(len(put_events) == 1 and as_list(put_events[0]["Resource"]) == [f"arn:aws:events:{REGION}:{ctx.account}:event-bus/default"],
                f"{tag} build role may PutEvents on the one bus only")
    get_exec = [s for s in build_stmts if "codepipeline:GetPipelineExecution" in as_list(s["Action"])]
    check.check(len(get_exec) == 1 and as_list(get_exec[0]["Resource"]) == [f"arn:aws:codepipeline:{REGION}:{ctx.account}:{stack_name}-pipeline"],
                f"{tag} build role may GetPipelineExecution on its pipeline only")
    check.check(not any("*" in a for s in build_stmts for a in as_list(s["Action"])), f"{tag} build role has no wildcard actions")

    # Logs with retention.
    for lid in ("BuildLogGroup", "PruneLogGroup", "InstanceMessagesLogGroup"):
        groups = logs.describe_log_groups(logGroupNamePrefix=physical[lid])["logGroups"]
        check.check(any(g["logGroupName"] == physical[lid] and str(g.get("retentionInDays")) == params["LogRetentionInDays"] for g in groups),
                    f"{tag} log group {physical[lid]} keeps {params['LogRetentionInDays']} days")

    # Artifact bucket. moto's CloudFormation S3 model applies BucketEncryption
    # and Tags only; versioning, the public access block, ownership controls
    # and the lifecycle rule are accepted and dropped, so they cannot be
    # checked here (cfn-lint checks their shape).
    bucket = physical["ArtifactBucket"]
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    check.check(enc and enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", f"{tag} artifact bucket is encrypted")
    declared = template["Resources"]["ArtifactBucket"]["Properties"]
    check.check(declared["VersioningConfiguration"]["Status"] == "Enabled"
                and all(declared["PublicAccessBlockConfiguration"].values())
                and declared["LifecycleConfiguration"]["Rules"],
                f"{tag} artifact bucket declares versioning, public access block and lifecycle (not applied by moto)")
    bpolicy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    check.check(any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                    for s in bpolicy["Statement"]), f"{tag} artifact bucket denies plain HTTP")


def check_transformers(physical, events, check, tag):
    """Render each AmiBuilder rule's input transformer with a sample event."""
    sqs = client("sqs")
    bus = f"transformer-check-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=bus)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        for lid, status in (("AmiCreatedRule", "Created"), ("AmiDeregisteredRule", "Deregistered")):
            rule = events.describe_rule(Name=physical[lid])
            target = events.list_targets_by_rule(Rule=physical[lid])["Targets"][0]
            name = f"{bus}-{status}"
            events.put_rule(Name=name, EventBusName=bus, EventPattern=rule["EventPattern"])
            events.put_targets(Rule=name, EventBusName=bus, Targets=[
                {"Id": "queue", "Arn": queue_arn, "InputTransformer": target["InputTransformer"]}])
            detail = dict(SAMPLE_DETAIL, AmiStatus=status)
            # (moto 5.2.5's TestEventPattern answers with an empty body, so the
            # pattern is checked by delivery: a non-matching event first, then
            # the matching one; exactly one message must arrive.)
            for entry_detail in (dict(detail, AmiStatus="Failed"), detail):
                resp = events.put_events(Entries=[{"Source": "com.ami.builder", "DetailType": "AmiBuilder",
                                                   "Detail": json.dumps(entry_detail), "EventBusName": bus}])
                check.check(resp["FailedEntryCount"] == 0, f"{tag} sample {entry_detail['AmiStatus']} event accepted")
            msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            bodies = [json.loads(m["Body"]) for m in msgs]
            for m in msgs:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            check.check(len(bodies) == 1, f"{tag} {lid} delivered exactly the matching event (got {len(bodies)})")
            if bodies:
                text = bodies[0]
                print(f"        rendered: {text}")
                readable = (isinstance(text, str) and "<" not in text
                            and all(detail[k] in text for k in ("AmiId", "Name", "Family", "Commit", "BuildId")))
                check.check(readable, f"{tag} {lid} input transformer renders a readable message with the event's fields")
            events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
            events.delete_rule(Name=name, EventBusName=bus)
        # The promote rule's transformer renders StartBuild's input: the
        # sample's commit as PROMOTE_COMMIT (what buildspec-promote.yml reads).
        lid = "PromoteToDevRule"
        rule = events.describe_rule(Name=physical[lid])
        target = events.list_targets_by_rule(Rule=physical[lid])["Targets"][0]
        name = f"{bus}-promote"
        events.put_rule(Name=name, EventBusName=bus, EventPattern=rule["EventPattern"])
        events.put_targets(Rule=name, EventBusName=bus, Targets=[
            {"Id": "queue", "Arn": queue_arn, "InputTransformer": target["InputTransformer"]}])
        for family in ("another-family", SAMPLE_DETAIL["Family"]):
            events.put_events(Entries=[{"Source": "com.ami.builder", "DetailType": "AmiBuilder",
                                        "Detail": json.dumps(dict(SAMPLE_DETAIL, Family=family)),
                                        "EventBusName": bus}])
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        check.check(len(msgs) == 1, f"{tag} {lid} starts a promotion for the stack's family only (got {len(msgs)})")
        if msgs:
            body = json.loads(msgs[0]["Body"])
            print(f"        rendered: {body}")
            check.check(body == {"environmentVariablesOverride": [
                {"name": "PROMOTE_COMMIT", "value": SAMPLE_DETAIL["Commit"], "type": "PLAINTEXT"}]},
                f"{tag} {lid} passes the commit as PROMOTE_COMMIT")
        events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=bus)
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
        events.delete_event_bus(Name=bus)


# -------------------------------------------------------------------- main
def main(argv):
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("error: set AWS_ENDPOINT_URL to the moto server, e.g. http://127.0.0.1:5000", file=sys.stderr)
        return 2
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = argv[1] if len(argv) > 1 else os.path.join(repo, "cloudformation", "pipeline.yaml")
    try:
        template = load_template(path)
        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    except Exception as err:  # noqa: BLE001
        print(f"error: setup failed: {err}", file=sys.stderr)
        return 2
    check = Checker()
    run = uuid.uuid4().hex[:6]
    scenarios = [
        (f"amib-gh-{run}", {"SourceProvider": "GitHub", "FullRepositoryId": "example/ami-builder",
                            "BuildInVpc": "false", "CopyRegions": "us-west-2,eu-west-1",
                            "InstanceLogGroupName": f"/ami-builder/gh-{run}/var/log/messages"}),
        (f"amib-cc-{run}", {"SourceProvider": "CodeCommit", "CodeCommitRepositoryName": "ami-builder",
                            "BuildInVpc": "true", "CopyRegions": "", "LogRetentionInDays": "30",
                            "InstanceLogGroupName": f"/ami-builder/cc-{run}/var/log/messages"}),
    ]
    for stack_name, extra in scenarios:
        params = {"NotificationEmail": "ops@example.com", "VpcId": vpc, "SubnetId": subnet}
        params.update(extra)
        print(f"deploying {os.path.relpath(path)} as {stack_name} ({extra['SourceProvider']}, BuildInVpc={extra['BuildInVpc']})")
        try:
            deploy(template, params, stack_name, check)
        except Exception as err:  # noqa: BLE001
            traceback.print_exc()
            check.check(False, f"[{stack_name}] deployment raised {type(err).__name__}: {err}")
    print(f"{check.passed} passed, {len(check.failures)} failed")
    if check.failures:
        print("error: the stack does not deploy as expected to moto:", file=sys.stderr)
        for failure in check.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
