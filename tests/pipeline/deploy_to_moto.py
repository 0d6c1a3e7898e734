#!/usr/bin/env python3
"""Deploy the templates of cloudformation/ to a moto server and check what they made.

usage: AWS_ENDPOINT_URL=http://127.0.0.1:5000 deploy_to_moto.py [PIPELINE_TEMPLATE]

pipeline.yaml in the tooling account (moto's default, 123456789012),
central-bus.yaml in a second account and member-account.yaml in a third, the
accounts told apart by moto's x-moto-account-id header
(tests/moto_ext/MULTI_ACCOUNT.md, section 1), and member-account.yaml once more
through a SELF_MANAGED CloudFormation StackSet into the two accounts the
pipeline copies to (section 7). central-bus.yaml and member-account.yaml are
read from the directory of PIPELINE_TEMPLATE.

Needs boto3 and PyYAML (the lint venv has both). Exits 0 when every check
passes, 1 with a list of failures otherwise, 2 on a usage or setup error.

What moto 5.2.5 can and cannot do, and therefore how this works:

* moto's CloudFormation creates these resource types of the templates:
  AWS::S3::Bucket, AWS::Logs::LogGroup, AWS::SNS::Topic, AWS::Events::Rule,
  AWS::Events::EventBus, AWS::IAM::Role (with inline policies) and
  AWS::EC2::SecurityGroup.
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
* The pipeline template is deployed four times: once per source provider /
  network mode (GitHub + CodeBuild outside the VPC, with every other-accounts
  parameter set but PruneAccounts; CodeCommit + CodeBuild inside it, with
  none), then with PruneAccounts=organization (and OrganizationId) and with
  PruneAccounts an accounts file's path, so both sides of every condition are
  created. member-account.yaml likewise: directly with an
  organization, regions and both KMS keys, through the StackSet with its
  defaults.
* moto cannot deliver an EventBridge event to an SNS target (it raises
  NotImplementedError), so the input transformers are checked by copying each
  AmiBuilder rule's pattern and transformer, as moto stored them, onto a rule
  on a scratch bus that targets an SQS queue, sending sample events, and
  reading the rendered message. For the central bus this happens in its own
  account, where moto sets the event's `account` to that account (AWS keeps
  the sender's).
* The pipeline's build and prune send to their own default bus; with
  CentralEventBusArn a rule there forwards every AmiBuilder event to the
  central bus. moto does forward to a rule target that is another account's
  bus (MULTI_ACCOUNT.md, section 5), so an AmiBuilder event put on the
  tooling account's default bus is followed to a rule and SQS queue added on
  the central bus (moto sends an SQS target to the queue of that name in the
  rule's own account, here the central one). moto neither assumes the
  target's role nor applies the bus policy on that path, and it cannot
  deliver to the SNS and CodeBuild targets of the other rules the events
  match, so those targets are set aside while the events are sent and put
  back after.
* moto has no model for AWS::Events::EventBusPolicy: it is created through
  PutPermission with the statement as its policy. moto's Ref of an
  AWS::Events::EventBus is not the bus's name (central-bus.yaml uses GetAtt
  Name), and its stack resources name no bus: the Name property is taken.

Not checked here (see README, "Deploy to AWS"): IAM policy evaluation (moto
does not enforce the roles' policies, the roles' trust or the bus policy, so
that the copy role admits only the tooling account's build role, or the bus
only the organization, is checked as the documents' content), the
CodeConnections handshake, actual
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
    "AWS::Events::EventBus",
    "AWS::IAM::Role",
    "AWS::EC2::SecurityGroup",
}
NO_VALUE = object()

TOOLING_ACCOUNT = "123456789012"  # moto's default account
CENTRAL_ACCOUNT = "222233334444"
MEMBER_ACCOUNT = "333344445555"
STACKSET_ACCOUNTS = ["444455556666", "777788889999"]
ORGANIZATION_ID = "o-exampleorgid1"

SAMPLE_DETAIL = {
    "AmiStatus": "Created",
    "AmiId": "ami-0a1b2c3d4e5f60718",
    "Amis": {"us-east-1": "ami-0a1b2c3d4e5f60718", "us-west-2": "ami-0f1e2d3c4b5a69788"},
    "Commit": "4f2c9e1d0b8a7c6e5f4d3c2b1a0918273645abcd",
    "BuildId": "ami-builder-build:11111111-2222-3333-4444-555555555555",
    "Name": "al2023-hardened-20260101T000000Z-abcdef01",
    "Family": "amazon-ebs.al2023",
    # the owner of AmiId and every image with its account (a copy in a member
    # account among them), as crates/core/src/events/entry.rs writes them
    "Account": TOOLING_ACCOUNT,
    "Images": [
        {"Account": TOOLING_ACCOUNT, "Region": "us-east-1", "ImageId": "ami-0a1b2c3d4e5f60718"},
        {"Account": TOOLING_ACCOUNT, "Region": "us-west-2", "ImageId": "ami-0f1e2d3c4b5a69788"},
        {"Account": STACKSET_ACCOUNTS[0], "Region": "us-west-2", "ImageId": "ami-0c0ffee0c0ffee000"},
    ],
}
# what prune sends for a deregistered image (src/steps/announce.rs image_entry),
# with the owner's Account that the central bus's rules name (image_entry does
# not write it yet)
PRUNE_DETAIL = {
    "AmiStatus": "Deregistered",
    "AmiId": "ami-0a1b2c3d4e5f60718",
    "Amis": {"us-east-1": "ami-0a1b2c3d4e5f60718"},
    "ImageId": "ami-0a1b2c3d4e5f60718",
    "State": "deregistered",
    "Account": MEMBER_ACCOUNT,
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
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
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


def client(name, account=None):
    """A client of moto; with `account`, every request acts in that account."""
    out = boto3.client(
        name,
        region_name=REGION,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}),
    )
    if account is not None:
        def in_account(request, **_):
            request.headers["x-moto-account-id"] = account
        out.meta.events.register("before-send", in_account)
    return out


# ------------------------------------------------------------------ deploy
def deploy(template, params, stack_name, check, account=None, verifier=None):
    """Deploy `template` (in `account`, default moto's own), then run `verifier`.

    verifier(ctx, template, physical, check, stack_name); default: the
    pipeline's checks.
    """
    cfn, iam, logs, events = (client(n, account) for n in ("cloudformation", "iam", "logs", "events"))
    account = account or client("sts").get_caller_identity()["Account"]
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
        ctx.refs[lid] = pid
    for lid in physical:
        if resources[lid]["Type"] == "AWS::Events::EventBus":
            # (moto reports no name for a bus: its Name property is the name)
            name = ctx.resolve(resources[lid]["Properties"]["Name"])
            desc = events.describe_event_bus(Name=name)
            ctx.refs[lid] = physical[lid] = name
            ctx.atts[(lid, "Arn")] = desc["Arn"]
            ctx.atts[(lid, "Name")] = desc["Name"]
    for lid, pid in physical.items():
        rtype = resources[lid]["Type"]
        if rtype == "AWS::IAM::Role":
            ctx.atts[(lid, "Arn")] = iam.get_role(RoleName=pid)["Role"]["Arn"]
        elif rtype == "AWS::S3::Bucket":
            ctx.atts[(lid, "Arn")] = f"arn:aws:s3:::{pid}"
        elif rtype == "AWS::Logs::LogGroup":
            ctx.atts[(lid, "Arn")] = f"arn:aws:logs:{REGION}:{account}:log-group:{pid}:*"
        elif rtype == "AWS::Events::Rule":
            bus = ctx.resolve(resources[lid].get("Properties", {}).get("EventBusName", "default"))
            ctx.atts[(lid, "Arn")] = events.describe_rule(Name=pid, EventBusName=bus)["Arn"]
        elif rtype == "AWS::SNS::Topic":
            ctx.atts[(lid, "TopicArn")] = pid
    for lid, (ref, atts) in stubs.items():
        ctx.refs[lid] = ref
        for attr, value in atts.items():
            ctx.atts[(lid, attr)] = value

    create_unsupported(ctx, resources, unsupported, check, stack_name)
    if verifier is None:
        verify(ctx, template, physical, check, stack_name, logs, iam, events)
    else:
        verifier(ctx, template, physical, check, stack_name)
    return ctx


def create_unsupported(ctx, resources, unsupported, check, stack_name):
    acct = ctx.account
    codebuild, codepipeline, scheduler = client("codebuild", acct), client("codepipeline", acct), client("scheduler", acct)
    sns, s3, events = client("sns", acct), client("s3", acct), client("events", acct)
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
            elif rtype == "AWS::Events::EventBusPolicy":
                # CloudFormation's statement, its Sid the StatementId, as the policy
                stmt = dict(props["Statement"], Sid=props["StatementId"])
                events.put_permission(EventBusName=props["EventBusName"],
                                      Policy=json.dumps({"Version": "2012-10-17", "Statement": [stmt]}))
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
    verify_forwarding(ctx, physical, check, tag, events, iam)

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
        # Other accounts: each of ami-builder's variables exactly when its
        # parameter is set, never as an empty string (which ami-builder would
        # read as a value).
        expected = {}
        if params["ShareWith"]:
            expected["AMI_BUILDER_SHARE_WITH"] = params["ShareWith"]
            if params["ShareSnapshots"] == "true":
                expected["AMI_BUILDER_SHARE_SNAPSHOTS"] = "true"
        if params["CopyTo"]:
            expected["AMI_BUILDER_COPY_TO"] = params["CopyTo"]
            expected["AMI_BUILDER_ROLE_NAME"] = params["CopyRoleName"]
            if params["CopyKmsKey"]:
                expected["AMI_BUILDER_COPY_KMS_KEY"] = params["CopyKmsKey"]
        # (CentralEventBusArn is no variable: the events reach the central
        # bus through ForwardToCentralBusRule)
        got = {k: v for k, v in env.items() if k in OTHER_ACCOUNT_VARIABLES | PRUNE_ACCOUNT_VARIABLES}
        check.check(got == expected, f"{tag} build project passes the other-accounts variables that are set, and only those: "
                    + (", ".join(sorted(expected)) or "none"))
        # PruneAccounts: the role name, and the organization or the accounts
        # file, exactly when set (the prune's AMI_BUILDER_ROLE_NAME is
        # MemberPruneRoleName, whatever the build's is)
        expected = {}
        if params["PruneAccounts"]:
            expected["AMI_BUILDER_ROLE_NAME"] = params["MemberPruneRoleName"]
            if params["PruneAccounts"] == "organization":
                expected["AMI_BUILDER_ORGANIZATION"] = "true"
            else:
                expected["AMI_BUILDER_ACCOUNTS"] = params["PruneAccounts"]
        got = {k: v for k, v in penv.items() if k in OTHER_ACCOUNT_VARIABLES | PRUNE_ACCOUNT_VARIABLES}
        check.check(got == expected, f"{tag} prune project passes the prune-accounts variables that are set, and only those: "
                    + (", ".join(f"{k}={v}" for k, v in sorted(expected.items())) or "none"))
        check.check(all(v != "" for v in env.values()) and all(v != "" for v in penv.values()),
                    f"{tag} no build or prune variable is an empty string")
        check.check("AMI_BUILDER_EVENT_BUS" not in env and "AMI_BUILDER_EVENT_BUS" not in penv,
                    f"{tag} build and prune projects send their events to the default bus (no AMI_BUILDER_EVENT_BUS"
                    + (f", not to the central bus {params['CentralEventBusArn']})" if params["CentralEventBusArn"] else ")"))

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
    bus = f"arn:aws:events:{REGION}:{ctx.account}:event-bus/default"
    for role, stmts in (("build", build_stmts), ("prune", prune_stmts)):
        put_events = [s for s in stmts if "events:PutEvents" in as_list(s["Action"])]
        check.check(len(put_events) == 1 and as_list(put_events[0]["Resource"]) == [bus],
                    f"{tag} {role} role may PutEvents on the one bus only ({bus})")
    verify_other_accounts(ctx, build_stmts, check, tag)
    verify_prune_accounts(ctx, prune_stmts, check, tag)
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


OTHER_ACCOUNT_VARIABLES = {
    "AMI_BUILDER_SHARE_WITH", "AMI_BUILDER_SHARE_SNAPSHOTS", "AMI_BUILDER_COPY_TO",
    "AMI_BUILDER_ROLE_NAME", "AMI_BUILDER_COPY_KMS_KEY", "AMI_BUILDER_EVENT_BUS",
}
PRUNE_ACCOUNT_VARIABLES = {"AMI_BUILDER_ROLE_NAME", "AMI_BUILDER_ORGANIZATION", "AMI_BUILDER_ACCOUNTS"}
# the prune role's statements without PruneAccounts (and one of the two
# source statements); PruneAccounts adds to them and changes none
PRUNE_ROLE_SIDS = {
    "Logs", "ArtifactBucketObjects", "ArtifactBucket", "PutEventsOnTheOneBus", "ReadImagesAndUsage",
    "WhatImageReferencesRead", "ReadTheRecycleBinRules", "ReadTheChannels", "DeregisterImagesOfTheFamily",
    "StepImagesOfTheFamily", "TagTheLaddersSteps", "DeleteSnapshotsOfTheFamily",
}
# what a prune reads in each account, the same in the tooling account and in
# member-account.yaml's prune role
PRUNE_READ_SIDS = ("ReadImagesAndUsage", "WhatImageReferencesRead", "ReadTheRecycleBinRules", "ReadTheChannels")
ORGANIZATION_READS = {"organizations:ListAccounts", "organizations:ListAccountsForParent",
                      "organizations:ListOrganizationalUnitsForParent"}


def verify_prune_accounts(ctx, prune_stmts, check, tag):
    """The prune role's AssumeRole and Organizations statements, exactly as PruneAccounts says."""
    params = ctx.params
    mode, name, org = params["PruneAccounts"], params["MemberPruneRoleName"], params["OrganizationId"]
    assume = [s for s in prune_stmts if any(a.lower().startswith("sts:") for a in as_list(s["Action"]))]
    if mode:
        want = {"StringEquals": {"aws:ResourceOrgID": org}} if org else None
        check.check(len(assume) == 1 and assume[0]["Effect"] == "Allow" and as_list(assume[0]["Action"]) == ["sts:AssumeRole"]
                    and as_list(assume[0]["Resource"]) == [f"arn:aws:iam::*:role/{name}"]
                    and (assume[0].get("Condition") or None) == want,
                    f"{tag} prune role may assume only roles named {name}"
                    + (f", in accounts of organization {org} (aws:ResourceOrgID)" if org else ", in any account (no OrganizationId)"))
    else:
        check.check(not assume, f"{tag} prune role may assume no role (no PruneAccounts)")
    listing = [s for s in prune_stmts if any(a.lower().startswith("organizations:") for a in as_list(s["Action"]))]
    if mode == "organization":
        check.check(len(listing) == 1 and listing[0]["Effect"] == "Allow" and set(as_list(listing[0]["Action"])) == ORGANIZATION_READS
                    and as_list(listing[0]["Resource"]) == ["*"] and not listing[0].get("Condition"),
                    f"{tag} prune role may list the organization's accounts and OUs ({', '.join(sorted(ORGANIZATION_READS))}) and nothing else of Organizations")
    else:
        check.check(not listing, f"{tag} prune role has no Organizations permission (PruneAccounts is not organization)")
    source = "FetchSourceThroughTheConnection" if ctx.condition("UseGitHub") else "FetchSourceFromCodeCommit"
    want_sids = PRUNE_ROLE_SIDS | {source} | ({"AssumeTheMemberPruneRoles"} if mode else set()) \
        | ({"ListTheOrganizationsAccounts"} if mode == "organization" else set())
    sids = sorted(str(s.get("Sid")) for s in prune_stmts)
    added = sorted(want_sids - PRUNE_ROLE_SIDS - {source})
    check.check(sids == sorted(want_sids), f"{tag} prune role keeps the statements it has without PruneAccounts, "
                + (f"and adds {', '.join(added)} only" if added else "and has no other"))


def without_account(node, *accounts):
    """`node` (a statement) with each of `accounts` in its strings as ACCOUNT."""
    text = json.dumps(node, sort_keys=True)
    for account in accounts:
        text = text.replace(account, "ACCOUNT")
    return json.loads(text)


def copy_to_not_resource(copy_to):
    """The Deny's NotResource that pipeline.yaml computes from CopyTo."""
    out = []
    for pair in copy_to.split(","):
        account, region = pair.split(":")
        out += [f"arn:*:iam::{account}:role/*", f"arn:*:ec2:{region}::copy-to-region"]
    return out


def verify_other_accounts(ctx, build_stmts, check, tag):
    """The build role's sharing, copying and never-public statements."""
    params = ctx.params
    by_sid = {s.get("Sid"): s for s in build_stmts}
    never = by_sid.get("NeverPublic", {})
    check.check(never.get("Effect") == "Deny"
                and set(as_list(never.get("Action"))) == {"ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"}
                and never.get("Condition") == {"StringEquals": {"ec2:Add/group": "all"}},
                f"{tag} build role may never make an image or snapshot public")
    modify_image = by_sid.get("ModifyOnlyThisPipelinesImages", {})
    check.check(modify_image.get("Condition") == {"StringEquals": {"aws:ResourceTag/ami-builder:pipeline": ctx.stack_name}},
                f"{tag} build role shares (ModifyImageAttribute) only this pipeline's images")
    grants_snapshots = bool(params["CopyTo"]) or (bool(params["ShareWith"]) and params["ShareSnapshots"] == "true")
    snapshot_writes = [s for s in build_stmts if s["Effect"] == "Allow" and "ec2:ModifySnapshotAttribute" in as_list(s["Action"])]
    if grants_snapshots:
        check.check(len(snapshot_writes) == 1 and as_list(snapshot_writes[0]["Resource"]) == ["arn:aws:ec2:*::snapshot/*"]
                    and snapshot_writes[0].get("Condition") == {"StringEquals": {"aws:ResourceTag/ami-builder:pipeline": ctx.stack_name}},
                    f"{tag} build role shares only this pipeline's snapshots")
    else:
        check.check(not snapshot_writes, f"{tag} build role may not change snapshot permissions (nothing to share)")
    assume = [s for s in build_stmts if "sts:AssumeRole" in as_list(s["Action"])]
    if params["CopyTo"]:
        allow = [s for s in assume if s["Effect"] == "Allow"]
        deny = [s for s in assume if s["Effect"] == "Deny"]
        check.check(len(allow) == 1 and as_list(allow[0]["Resource"]) == [f"arn:aws:iam::*:role/{params['CopyRoleName']}"],
                    f"{tag} build role may assume only roles named {params['CopyRoleName']}")
        expected = copy_to_not_resource(params["CopyTo"])
        check.check(len(deny) == 1 and as_list(deny[0].get("NotResource")) == expected,
                    f"{tag} build role may assume no role outside the CopyTo accounts (NotResource {expected})")
    else:
        check.check(not assume, f"{tag} build role may assume no role (no CopyTo)")


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


# ------------------------------------------------ forwarding to the central bus
# what moto 5.2.5 delivers to from a rule (events/models.py send_to_targets):
# log groups, archives and buses, queues; anything else raises
# NotImplementedError inside PutEvents
DELIVERABLE_TARGETS = {"logs", "events", "sqs"}


def set_aside_targets(events, bus, aside, only=None):
    """Take the targets moto cannot deliver to off every rule of `bus`, into
    `aside` (rule name -> targets), so that PutEvents on `bus` can run. With
    `only`, every target of every other rule: the send then follows that one
    rule (on a reused server the default bus also has the rules of earlier
    runs' stacks, forwarding to their own central buses)."""
    for rule in events.list_rules(EventBusName=bus)["Rules"]:
        if rule["Name"] == only:
            continue
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        undeliverable = [t for t in targets if only or t["Arn"].split(":")[2] not in DELIVERABLE_TARGETS]
        if undeliverable:
            events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=[t["Id"] for t in undeliverable])
            aside[rule["Name"]] = undeliverable


def put_back_targets(events, bus, aside):
    """Undo set_aside_targets; True when every rule has its targets again."""
    for name, targets in aside.items():
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    for name, targets in aside.items():
        now = {t["Id"]: t for t in events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]}
        if any(now.get(t["Id"]) != t for t in targets):
            return False
    return True


def verify_forwarding(ctx, physical, check, tag, events, iam):
    """ForwardToCentralBusRule and its role, then a send through them."""
    central = ctx.params["CentralEventBusArn"]
    lid, role_lid = "ForwardToCentralBusRule", "CentralBusForwardRole"
    if not central:
        check.check(lid not in physical and role_lid not in physical,
                    f"{tag} no forwarding rule and no forwarding role (no CentralEventBusArn)")
        return
    if not check.check(lid in physical and role_lid in physical,
                       f"{tag} forwarding rule {lid} and role {role_lid} exist (CentralEventBusArn set)"):
        return
    name = physical[lid]
    rule = events.describe_rule(Name=name)
    check.check(name == f"{ctx.stack_name}-to-central-bus" and rule["State"] == "ENABLED"
                and rule.get("EventBusName", "default") == "default",
                f"{tag} rule {lid} ({name}) enabled on the default bus, where build and prune send")
    check.check(json.loads(rule["EventPattern"]) == {"source": ["com.ami.builder"], "detail-type": ["AmiBuilder"]},
                f"{tag} rule {lid} matches every com.ami.builder / AmiBuilder event, whatever its AmiStatus")
    targets = events.list_targets_by_rule(Rule=name)["Targets"]
    role_arn = ctx.getatt(role_lid, "Arn")
    check.check(len(targets) == 1 and targets[0]["Arn"] == central and targets[0].get("RoleArn") == role_arn
                and not {"Input", "InputPath", "InputTransformer"} & set(targets[0]),
                f"{tag} rule {lid} sends the events unchanged to {central} as {role_lid}")
    # the role: EventBridge, for this one rule of this account, PutEvents on
    # that one bus
    trust = as_list(trust_of(iam, physical[role_lid])["Statement"])
    check.check(len(trust) == 1 and trust[0].get("Principal") == {"Service": "events.amazonaws.com"}
                and trust[0].get("Action") == "sts:AssumeRole"
                and trust[0].get("Condition") == {"StringEquals": {"aws:SourceAccount": ctx.account},
                                                  "ArnEquals": {"aws:SourceArn": rule["Arn"]}},
                f"{tag} {role_lid} is trusted by EventBridge for rule {rule['Arn']} only (aws:SourceArn, aws:SourceAccount)")
    stmts = statements(iam, physical[role_lid])
    check.check(len(stmts) == 1 and stmts[0]["Effect"] == "Allow" and as_list(stmts[0]["Action"]) == ["events:PutEvents"]
                and as_list(stmts[0]["Resource"]) == [central],
                f"{tag} {role_lid} may PutEvents on {central} and do nothing else")

    # The send: events on the tooling account's default bus, as build, prune
    # and promote put them, must arrive on the central bus, and only those.
    # A rule of the central bus keyed on this check's marker sends them to a
    # queue of the central account.
    account, bus_name = central.split(":")[4], central.split("/", 1)[1]
    cevents, csqs = client("events", account), client("sqs", account)
    marker = f"forward-check-{uuid.uuid4().hex[:8]}"
    sent = [dict(SAMPLE_DETAIL, BuildId=marker),                                       # build
            dict(PRUNE_DETAIL, BuildId=marker),                                        # prune
            dict(SAMPLE_DETAIL, AmiStatus="Promoted", Channel="dev", BuildId=marker)]  # promote
    not_forwarded = [("com.example.other", "AmiBuilder"), ("com.ami.builder", "Something Else")]
    aside_here, aside_there = {}, {}
    queue_url = csqs.create_queue(QueueName=marker)["QueueUrl"]
    queue_arn = csqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bodies = None
    try:
        set_aside_targets(events, "default", aside_here, only=name)
        set_aside_targets(cevents, bus_name, aside_there)
        cevents.put_rule(Name=marker, EventBusName=bus_name, EventPattern=json.dumps({"detail": {"BuildId": [marker]}}))
        cevents.put_targets(Rule=marker, EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": queue_arn}])
        entries = [(source, detail_type, sent[0]) for source, detail_type in not_forwarded]
        entries += [("com.ami.builder", "AmiBuilder", detail) for detail in sent]
        for source, detail_type, detail in entries:
            # no EventBusName: the default bus, as ami-builder.toml's event-bus
            resp = events.put_events(Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}])
            check.check(resp["FailedEntryCount"] == 0, f"{tag} {source} / {detail_type} {detail['AmiStatus']} event accepted by the default bus")
        bodies = []
        for _ in range(3):
            msgs = csqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                bodies.append(json.loads(m["Body"]))
                csqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        cevents.remove_targets(Rule=marker, EventBusName=bus_name, Ids=["queue"])
        cevents.delete_rule(Name=marker, EventBusName=bus_name)
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        check.check(False, f"{tag} AmiBuilder events sent through {lid}: {type(err).__name__}: {err}")
    finally:
        restored = put_back_targets(events, "default", aside_here) and put_back_targets(cevents, bus_name, aside_there)
        csqs.delete_queue(QueueUrl=queue_url)
    check.check(restored, f"{tag} the targets set aside for the send are back on their rules "
                f"({sum(map(len, aside_here.values()))} here, {sum(map(len, aside_there.values()))} on the central bus)")
    if bodies is None:
        return
    for body in bodies:
        print(f"        forwarded: {body.get('source')} / {body.get('detail-type')} {body.get('detail', {}).get('AmiStatus')}"
              f" (account {body.get('account')}: moto's central account, AWS keeps the sender's)")
    got = sorted((b.get("source"), b.get("detail-type"), json.dumps(b.get("detail"), sort_keys=True)) for b in bodies)
    want = sorted(("com.ami.builder", "AmiBuilder", json.dumps(d, sort_keys=True)) for d in sent)
    check.check(got == want, f"{tag} the Created, Deregistered and Promoted events reach the central bus {central} once each, "
                f"detail unchanged, and nothing of another source or detail-type (got {len(bodies)} of {len(sent)})")


# ------------------------------------------------------------ central bus
def render_through_queue(events, sqs, rule_name, bus_name, entries):
    """Copy rule `rule_name` of `bus_name` onto a scratch bus with a queue
    target, send `entries` (detail dicts, with "Source"), return the bodies."""
    scratch = f"render-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=scratch)
    queue_url = sqs.create_queue(QueueName=scratch)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        rule = events.describe_rule(Name=rule_name, EventBusName=bus_name)
        target = events.list_targets_by_rule(Rule=rule_name, EventBusName=bus_name)["Targets"][0]
        events.put_rule(Name=scratch, EventBusName=scratch, EventPattern=rule["EventPattern"])
        events.put_targets(Rule=scratch, EventBusName=scratch, Targets=[
            {"Id": "queue", "Arn": queue_arn, "InputTransformer": target["InputTransformer"]}])
        for source, detail_type, detail in entries:
            resp = events.put_events(Entries=[{"Source": source, "DetailType": detail_type,
                                               "Detail": json.dumps(detail), "EventBusName": scratch}])
            if resp["FailedEntryCount"]:
                raise RuntimeError(f"sample event refused: {resp}")
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        events.remove_targets(Rule=scratch, EventBusName=scratch, Ids=["queue"])
        events.delete_rule(Name=scratch, EventBusName=scratch)
        return [json.loads(m["Body"]) for m in msgs]
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
        events.delete_event_bus(Name=scratch)


def verify_central(ctx, template, physical, check, stack_name):
    acct, params, tag = ctx.account, ctx.params, f"[{stack_name} in {ctx.account}]"
    events, sns, sqs, cfn = (client(n, acct) for n in ("events", "sns", "sqs", "cloudformation"))
    source, detail_type = params["EventSource"], params["EventDetailType"]

    # The bus and its policy: the organization's PutEvents of ami-builder's events only.
    bus = physical["CentralBus"]
    bus_arn = f"arn:aws:events:{REGION}:{acct}:event-bus/{params['EventBusName']}"
    desc = events.describe_event_bus(Name=bus)
    check.check(desc["Arn"] == bus_arn, f"{tag} central bus {bus_arn} exists")
    policy = json.loads(desc.get("Policy") or "{}")
    stmts = policy.get("Statement", [])
    check.check(len(stmts) == 1 and stmts[0].get("Effect") == "Allow" and stmts[0].get("Principal") == "*"
                and stmts[0].get("Action") == "events:PutEvents" and stmts[0].get("Resource") == bus_arn,
                f"{tag} bus policy: one statement allowing PutEvents on the bus")
    check.check(bool(stmts) and stmts[0].get("Condition") == {"StringEquals": {
        "aws:PrincipalOrgID": params["OrganizationId"], "events:source": source, "events:detail-type": detail_type}},
        f"{tag} bus policy admits only the organization {params['OrganizationId']}, only {source}/{detail_type} events")

    # Rules on the bus -> the topic; the topic admits exactly those rules.
    topic = physical["NotificationTopic"]
    patterns = {
        "AmiCreatedRule": ["Created"],
        "AmiDeregisteredRule": ["Deregistered"],
        "AmiLifecycleRule": ["Promoted", "RolledBack", "Revoked", "Deprecated", "Disabled", "Restored"],
    }
    for lid, statuses in patterns.items():
        rule = events.describe_rule(Name=physical[lid], EventBusName=bus)
        check.check(rule["State"] == "ENABLED" and rule.get("EventBusName") == bus, f"{tag} rule {lid} enabled on the central bus")
        check.check(json.loads(rule["EventPattern"]) == {"source": [source], "detail-type": [detail_type],
                                                          "detail": {"AmiStatus": statuses}},
                    f"{tag} rule {lid} matches {source} / {detail_type} / AmiStatus {statuses}")
        targets = events.list_targets_by_rule(Rule=physical[lid], EventBusName=bus)["Targets"]
        check.check(len(targets) == 1 and targets[0]["Arn"] == topic and "InputTransformer" in targets[0],
                    f"{tag} rule {lid} targets the topic through an input transformer")
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    tpolicy = json.loads(attrs.get("Policy", "{}"))
    source_arns = set()
    for stmt in tpolicy.get("Statement", []):
        if stmt.get("Principal", {}).get("Service") == "events.amazonaws.com":
            source_arns.update(as_list(stmt.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])))
    check.check(source_arns == {ctx.getatt(lid, "Arn") for lid in patterns},
                f"{tag} topic policy admits the three central rules only")
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    email = params["NotificationEmail"]
    check.check([s["Endpoint"] for s in subs if s["Protocol"] == "email"] == ([email] if email else []),
                f"{tag} e-mail subscription " + (f"for {email}" if email else "absent (no NotificationEmail)"))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])}
    check.check(outputs.get("EventBusArn") == bus_arn, f"{tag} output EventBusArn is the bus")

    # The messages name the AMI's account (detail.Account) and the sender.
    samples = {
        "AmiCreatedRule": (dict(SAMPLE_DETAIL, AmiStatus="Promoted"), SAMPLE_DETAIL,
                           ("AmiId", "Name", "Family", "Commit", "BuildId", "Account")),
        "AmiDeregisteredRule": (dict(PRUNE_DETAIL, AmiStatus="Disabled"), PRUNE_DETAIL, ("AmiId", "Account")),
        "AmiLifecycleRule": (SAMPLE_DETAIL, dict(SAMPLE_DETAIL, AmiStatus="Revoked", Reason="CVE"), ("AmiId", "Account", "AmiStatus")),
    }
    for lid, (other, matching, fields) in samples.items():
        try:
            bodies = render_through_queue(events, sqs, physical[lid], bus, [
                ("com.example.other", detail_type, matching),  # another source: not admitted by the pattern
                (source, detail_type, other),                  # another status
                (source, detail_type, matching),
            ])
        except Exception as err:  # noqa: BLE001
            check.check(False, f"{tag} {lid} rendered: {err}")
            continue
        check.check(len(bodies) == 1, f"{tag} {lid} delivered exactly the matching event (got {len(bodies)})")
        if bodies:
            text = bodies[0]
            print(f"        rendered: {text}")
            check.check(isinstance(text, str) and "<" not in text and all(matching[k] in text for k in fields) and acct in text,
                        f"{tag} {lid} renders a readable message naming the AMI's account {matching['Account']} and the sender")


# ----------------------------------------------------------- member account
def trust_of(iam, role_name):
    doc = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def verify_member(ctx, check, tag, iam, tooling, build_role, prune_role):
    """The two roles of member-account.yaml in ctx.account, as its parameters say."""
    params, acct = ctx.params, ctx.account
    families = params["AmiFamilies"].split(",")
    regions = params["Regions"].split(",") if params["Regions"] else None
    org = params["OrganizationId"]
    for param, tooling_role in (("CopyRoleName", build_role), ("PruneRoleName", prune_role)):
        name = params[param]
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except Exception as err:  # noqa: BLE001
            check.check(False, f"{tag} role {name} exists: {err}")
            continue
        check.check(role["Arn"] == f"arn:aws:iam::{acct}:role/{name}", f"{tag} role {name} exists in account {acct}")
        stmts = as_list(trust_of(iam, name)["Statement"])
        condition = {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{tooling}:role/{tooling_role}"}}
        if org:
            condition["StringEquals"] = {"aws:PrincipalOrgID": org}
        check.check(len(stmts) == 1 and stmts[0].get("Principal") == {"AWS": f"arn:aws:iam::{tooling}:root"}
                    and stmts[0].get("Action") == "sts:AssumeRole" and stmts[0].get("Condition") == condition,
                    f"{tag} {name} is trusted by {tooling}'s role {tooling_role} only" + (f", of organization {org}" if org else ""))
        role_stmts = statements(iam, name)
        check.check(not any("*" in a for s in role_stmts for a in as_list(s["Action"])), f"{tag} {name} has no wildcard actions")
        check.check(not any(a.split(":")[0] in ("events", "logs", "s3", "sts", "iam") for s in role_stmts for a in as_list(s["Action"])),
                    f"{tag} {name} has no events, logs, S3, STS or IAM permission")
        by_sid = {s.get("Sid"): s for s in role_stmts}
        if param == "CopyRoleName":
            copy = by_sid.get("CopyTheToolingAccountsImages", {})
            cond = copy.get("Condition", {})
            check.check(cond.get("StringEqualsIfExists", {}).get("ec2:Owner") == [tooling, acct]
                        and cond.get("StringEquals", {}).get("aws:RequestedRegion") == regions,
                        f"{tag} {name} copies only images and snapshots owned by {tooling}" + (f", into {regions}" if regions else ""))
            tagging = [s for s in role_stmts if "ec2:CreateTags" in as_list(s["Action"])]
            check.check(len(tagging) == 2 and all(
                s.get("Condition", {}).get("StringEqualsIfExists", {}).get("aws:RequestTag/ami-builder:family") == families
                for s in tagging)
                and by_sid.get("TagTheCopiesAtCreation", {}).get("Condition", {}).get("StringEquals") == {"ec2:CreateAction": "CopyImage"}
                and by_sid.get("RetagTheCopiesOfTheFamilies", {}).get("Condition", {}).get("StringEquals")
                == {"aws:ResourceTag/ami-builder:family": families},
                f"{tag} {name} tags only at CopyImage or what carries {families}, and writes no other family")
            kms = {s.get("Sid"): as_list(s["Resource"]) for s in role_stmts if any(a.startswith("kms:") for a in as_list(s["Action"]))}
            want = {}
            if params["SourceKmsKeyArn"]:
                want.update({"ReadTheSharedSnapshotsKey": [params["SourceKmsKeyArn"]],
                             "GrantEbsTheSharedSnapshotsKey": [params["SourceKmsKeyArn"]]})
            if params["CopyKmsKeyArn"]:
                want.update({"ReEncryptWithTheCopyKey": [params["CopyKmsKeyArn"]], "GrantEbsTheCopyKey": [params["CopyKmsKeyArn"]]})
            check.check(kms == want, f"{tag} {name} has KMS permissions on exactly the given keys ({len(want)} statements)")
        else:
            destructive = [s for s in role_stmts if set(as_list(s["Action"])) & {"ec2:DeregisterImage", "ec2:DeleteSnapshot"}]
            check.check(len(destructive) == 2 and all(
                s.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceTag/ami-builder:family") == families
                and s.get("Condition", {}).get("StringEquals", {}).get("aws:RequestedRegion") == regions
                for s in destructive), f"{tag} {name} deletes only images/snapshots tagged ami-builder:family in {families}")
            writes = [s for s in role_stmts if any(a.startswith("ec2:") and not a.startswith("ec2:Describe") for a in as_list(s["Action"]))]
            check.check(all(s.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceTag/ami-builder:family") == families
                            for s in writes), f"{tag} {name} changes nothing but images and snapshots of {families}")
            # A prune across accounts reads each account's inventory through
            # this role: every read of the tooling account's prune role.
            try:
                tooling_stmts = statements(client("iam", tooling), tooling_role)
            except Exception as err:  # noqa: BLE001
                check.check(False, f"{tag} the tooling account's prune role {tooling_role} is readable: {err}")
            else:
                theirs = {s.get("Sid"): without_account(s, tooling) for s in tooling_stmts if s.get("Sid") in PRUNE_READ_SIDS}
                ours = {s.get("Sid"): without_account(s, acct) for s in role_stmts if s.get("Sid") in PRUNE_READ_SIDS}
                check.check(len(theirs) == len(PRUNE_READ_SIDS) and ours == theirs,
                            f"{tag} {name} reads what the tooling account's prune role reads ({', '.join(PRUNE_READ_SIDS)}, "
                            "statement for statement but the account)")


def deploy_member(template, params, stack_name, check, account, tooling):
    def verifier(ctx, _template, physical, check, stack_name):
        iam = client("iam", ctx.account)
        tag = f"[{stack_name} in {ctx.account}]"
        for lid in ("CopyRole", "PruneRole"):
            check.check(physical.get(lid) == ctx.params[lid.replace("Role", "RoleName")], f"{tag} {lid} has the name its parameter gives")
        verify_member(ctx, check, tag, iam, tooling, params["ToolingBuildRoleName"], params["ToolingPruneRoleName"])
        # What the build does with --copy-to, and prune with PruneAccounts:
        # AssumeRole into the copy or prune role, then GetCallerIdentity, as
        # ami-builder checks a session (moto does not check the trust; this
        # shows the account switch).
        for param, what in (("CopyRoleName", "copy"), ("PruneRoleName", "prune")):
            creds = client("sts", tooling).assume_role(RoleArn=f"arn:aws:iam::{ctx.account}:role/{ctx.params[param]}",
                                                       RoleSessionName="ami-builder")["Credentials"]
            who = boto3.client("sts", region_name=REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"]).get_caller_identity()
            check.check(who["Account"] == ctx.account, f"{tag} the tooling account's AssumeRole of the {what} role acts in {ctx.account}")
    return deploy(template, params, stack_name, check, account=account, verifier=verifier)


def deploy_member_stack_set(template, params, name, check, accounts, tooling):
    """member-account.yaml as a SELF_MANAGED StackSet of the tooling account."""
    cfn = client("cloudformation", tooling)
    tag = f"[stack set {name}]"
    try:
        cfn.create_stack_set(
            StackSetName=name, TemplateBody=json.dumps(template), PermissionModel="SELF_MANAGED",
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"])
        op = cfn.create_stack_instances(StackSetName=name, Accounts=accounts, Regions=[REGION])["OperationId"]
        status = cfn.describe_stack_set_operation(StackSetName=name, OperationId=op)["StackSetOperation"]["Status"]
        check.check(status == "SUCCEEDED", f"{tag} CreateStackInstances into {accounts} is {status}")
        instances = cfn.list_stack_instances(StackSetName=name)["Summaries"]
        check.check(sorted(i["Account"] for i in instances) == sorted(accounts), f"{tag} one stack instance per account")
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        check.check(False, f"{tag} deployment raised {type(err).__name__}: {err}")
        return
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    for account in accounts:
        ctx = Context(template, dict(defaults, **params), account, name)
        verify_member(ctx, check, f"{tag} [{account}]", client("iam", account), tooling,
                      params["ToolingBuildRoleName"], params["ToolingPruneRoleName"])


# -------------------------------------------------------------------- main
def main(argv):
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("error: set AWS_ENDPOINT_URL to the moto server, e.g. http://127.0.0.1:5000", file=sys.stderr)
        return 2
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = argv[1] if len(argv) > 1 else os.path.join(repo, "cloudformation", "pipeline.yaml")
    try:
        template = load_template(path)
        central_template = load_template(os.path.join(os.path.dirname(path), "central-bus.yaml"))
        member_template = load_template(os.path.join(os.path.dirname(path), "member-account.yaml"))
        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    except Exception as err:  # noqa: BLE001
        print(f"error: setup failed: {err}", file=sys.stderr)
        return 2
    check = Checker()
    run = uuid.uuid4().hex[:6]

    # The central bus first: the first pipeline sends there.
    central_stack = f"amib-central-{run}"
    central_params = {"OrganizationId": ORGANIZATION_ID, "EventBusName": f"ami-builder-{run}",
                      "NotificationEmail": "central-ops@example.com"}
    print(f"deploying central-bus.yaml as {central_stack} in account {CENTRAL_ACCOUNT}")
    try:
        deploy(central_template, central_params, central_stack, check, account=CENTRAL_ACCOUNT, verifier=verify_central)
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        check.check(False, f"[{central_stack}] deployment raised {type(err).__name__}: {err}")
    central_bus = f"arn:aws:events:{REGION}:{CENTRAL_ACCOUNT}:event-bus/ami-builder-{run}"

    copy_to = ",".join(f"{a}:{r}" for a, r in zip(STACKSET_ACCOUNTS, ("us-west-2", "eu-west-1")))
    # role names of this run (IAM names are per account, and a server may be reused)
    copy_role, member_prune_role = f"ami-builder-copy-{run}", f"ami-builder-prune-{run}"
    scenarios = [
        (f"amib-gh-{run}", {"SourceProvider": "GitHub", "FullRepositoryId": "example/ami-builder",
                            "BuildInVpc": "false", "CopyRegions": "us-west-2,eu-west-1",
                            "InstanceLogGroupName": f"/ami-builder/gh-{run}/var/log/messages",
                            "ShareWith": f"{MEMBER_ACCOUNT},arn:aws:organizations::{CENTRAL_ACCOUNT}:organization/{ORGANIZATION_ID}",
                            "ShareSnapshots": "true", "CopyTo": copy_to, "CopyRoleName": copy_role,
                            "CopyKmsKey": "alias/ami-builder",
                            "CentralEventBusArn": central_bus}),
        (f"amib-cc-{run}", {"SourceProvider": "CodeCommit", "CodeCommitRepositoryName": "ami-builder",
                            "BuildInVpc": "true", "CopyRegions": "", "LogRetentionInDays": "30",
                            "InstanceLogGroupName": f"/ami-builder/cc-{run}/var/log/messages"}),
        # prune across the organization (in its accounts only), and across
        # an accounts file's accounts (the default role name, any account)
        (f"amib-org-{run}", {"SourceProvider": "GitHub", "FullRepositoryId": "example/ami-builder",
                             "BuildInVpc": "false", "CopyRegions": "us-west-2",
                             "InstanceLogGroupName": f"/ami-builder/org-{run}/var/log/messages",
                             "PruneAccounts": "organization", "MemberPruneRoleName": member_prune_role,
                             "OrganizationId": ORGANIZATION_ID}),
        (f"amib-file-{run}", {"SourceProvider": "CodeCommit", "CodeCommitRepositoryName": "ami-builder",
                              "BuildInVpc": "false", "CopyRegions": "",
                              "InstanceLogGroupName": f"/ami-builder/file-{run}/var/log/messages",
                              "PruneAccounts": "accounts/prune-accounts.yml"}),
    ]
    tooling_roles = None
    for stack_name, extra in scenarios:
        params = {"NotificationEmail": "ops@example.com", "VpcId": vpc, "SubnetId": subnet}
        params.update(extra)
        print(f"deploying {os.path.relpath(path)} as {stack_name} ({extra['SourceProvider']}, BuildInVpc={extra['BuildInVpc']}, "
              f"other accounts: {'yes' if extra.get('CopyTo') else 'no'}, prune accounts: {extra.get('PruneAccounts') or 'this one'})")
        try:
            ctx = deploy(template, params, stack_name, check)
            if ctx is not None and tooling_roles is None:
                tooling_roles = (ctx.refs["BuildRole"], ctx.refs["PruneRole"])
        except Exception as err:  # noqa: BLE001
            traceback.print_exc()
            check.check(False, f"[{stack_name}] deployment raised {type(err).__name__}: {err}")

    # The member roles, trusting the first pipeline's build and prune roles.
    build_role, prune_role = tooling_roles or ("ami-builder-build-role", "ami-builder-prune-role")
    member_stack = f"amib-member-{run}"
    member_params = {"ToolingAccountId": TOOLING_ACCOUNT, "ToolingBuildRoleName": build_role,
                     "ToolingPruneRoleName": prune_role, "OrganizationId": ORGANIZATION_ID,
                     "CopyRoleName": copy_role, "PruneRoleName": member_prune_role,
                     "AmiFamilies": "amazon-ebs.al2023,amazon-ebs.ubuntu", "Regions": "us-east-1,us-west-2",
                     "SourceKmsKeyArn": f"arn:aws:kms:{REGION}:{TOOLING_ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
                     "CopyKmsKeyArn": f"arn:aws:kms:{REGION}:{MEMBER_ACCOUNT}:key/66666666-7777-8888-9999-000000000000"}
    print(f"deploying member-account.yaml as {member_stack} in account {MEMBER_ACCOUNT}")
    try:
        deploy_member(member_template, member_params, member_stack, check, MEMBER_ACCOUNT, TOOLING_ACCOUNT)
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        check.check(False, f"[{member_stack}] deployment raised {type(err).__name__}: {err}")
    stack_set = f"amib-members-{run}"
    print(f"deploying member-account.yaml as stack set {stack_set} into {STACKSET_ACCOUNTS} (the CopyTo accounts)")
    deploy_member_stack_set(member_template, {"ToolingAccountId": TOOLING_ACCOUNT, "ToolingBuildRoleName": build_role,
                                              "ToolingPruneRoleName": prune_role, "CopyRoleName": copy_role,
                                              "PruneRoleName": member_prune_role},
                            stack_set, check, STACKSET_ACCOUNTS, TOOLING_ACCOUNT)

    print(f"{check.passed} passed, {len(check.failures)} failed")
    if check.failures:
        print("error: the stacks do not deploy as expected to moto:", file=sys.stderr)
        for failure in check.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
