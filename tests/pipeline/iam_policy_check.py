#!/usr/bin/env python3
"""Check the IAM policies of CloudFormation templates for over-broad grants.

usage: iam_policy_check.py [TEMPLATE ...]
       iam_policy_check.py --self-test

Reads every policy of each template (default: cloudformation/pipeline.yaml).
Identity policies: the inline Policies of AWS::IAM::Role, User and Group, and
the PolicyDocument of AWS::IAM::ManagedPolicy, Policy, RolePolicy, UserPolicy
and GroupPolicy. Trust policies: a role's AssumeRolePolicyDocument. Resource
policies: the PolicyDocument of AWS::SNS::TopicPolicy, AWS::SQS::QueuePolicy
and AWS::S3::BucketPolicy, and the statement of AWS::Events::EventBusPolicy
(its Statement, or the older Principal/Action/Condition properties). Trust and
resource policies grant nothing on EC2 to the template's roles, so rules 1, 2
and 5 apply to identity policies only, rule 4 to the other two kinds.

An Allow statement fails when
  1. it grants a mutating EC2 or Auto Scaling action on Resource "*" without
     a Condition. A mutating action is any ec2: or autoscaling: action whose
     name does not start with Describe, Get or List; a wildcard counts as
     mutating unless it follows one of those prefixes (ec2:* and ec2:Create*
     are mutating, ec2:Describe* is not). "*", NotResource, and an ARN of
     that service whose resource part is "*" or "*/*" all count as Resource
     "*";
  2. it grants ec2:CreateTags (or a pattern matching it) without a Condition,
     whatever its Resource: with CreateTags a role can retag a resource into
     the scope of another role's tag conditions;
  3. its Action is "*" or "*:*", it uses NotAction, or an Action is computed
     (Ref, GetAtt, ...) so that it cannot be judged here;
  4. (trust and resource policies) its Principal is "*" or {"AWS": "*"}, or it
     uses NotPrincipal, without a Condition: every AWS account may then assume
     the role or use the resource;
  5. it grants sts:AssumeRole (or a pattern matching it) without a Condition
     on Resource "*", NotResource, or a role ARN whose account and role name
     are both wildcards: the role may then assume any role that trusts its
     account.

Fn::If is expanded: each branch of each conditional value is checked as if
deployed (a Condition present in one branch only counts as missing). In a
Fn::Sub, a variable given a literal in its map is substituted, any other one
stands for a specific name. Resources computed otherwise (Ref, GetAtt) are
taken as the specific ARNs they produce.

Prints one line per failure naming the file, line, resource, policy and the
statement's Sid, and why. Exit 0 when all pass, 1 on a failure, 2 on a usage
error, an unreadable template, or a template without any policy.

--self-test runs the checks on small templates built in, each of which must be
rejected for its reason (or, for the good ones, accepted), so that the check
itself is shown to catch what it claims to.

Needs PyYAML.
"""

import fnmatch
import itertools
import json
import os
import re
import sys

import yaml

from cfn_yaml import Mapping, load

READ_PREFIXES = ("describe", "get", "list")
INLINE_POLICY_TYPES = {"AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"}
RESOURCE_POLICY_TYPES = {"AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"}
IDENTITY, TRUST, RESOURCE = "identity", "trust", "resource"
DOCUMENT_POLICY_TYPES = {
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Policy",
    "AWS::IAM::RolePolicy",
    "AWS::IAM::UserPolicy",
    "AWS::IAM::GroupPolicy",
}
MAX_VARIANTS = 256
NO_VALUE = object()


# --------------------------------------------------------------- template
# --------------------------------------------------------------- variants
def _is_no_value(node):
    return isinstance(node, dict) and len(node) == 1 and node.get("Ref") == "AWS::NoValue"


def variants(node):
    """Every value `node` can take once its Fn::If are decided (NO_VALUE: absent)."""
    if isinstance(node, dict):
        if _is_no_value(node):
            return [NO_VALUE]
        if len(node) == 1 and "Fn::If" in node:
            arg = node["Fn::If"]
            if isinstance(arg, list) and len(arg) == 3:
                return _dedupe(variants(arg[1]) + variants(arg[2]))
        keys = list(node)
        combos = _product([variants(node[k]) for k in keys])
        out = []
        for combo in combos:
            value = Mapping({k: v for k, v in zip(keys, combo) if v is not NO_VALUE})
            value.line = getattr(node, "line", None)
            out.append(value)
        return out
    if isinstance(node, list):
        combos = _product([variants(item) for item in node])
        return [[v for v in combo if v is not NO_VALUE] for combo in combos]
    return [node]


def alternatives(node):
    """The values a list item can take: both branches of a Fn::If, none for NoValue."""
    if _is_no_value(node):
        return []
    if isinstance(node, dict) and len(node) == 1 and "Fn::If" in node:
        arg = node["Fn::If"]
        if isinstance(arg, list) and len(arg) == 3:
            return alternatives(arg[1]) + alternatives(arg[2])
    return [node]


def _product(choices):
    count = 1
    for options in choices:
        count *= len(options)
    if count > MAX_VARIANTS:
        raise ValueError(f"more than {MAX_VARIANTS} Fn::If combinations in one statement")
    return [list(combo) for combo in itertools.product(*choices)]


def _dedupe(items):
    seen, out = set(), []
    for item in items:
        key = json.dumps(item, sort_keys=True, default=repr)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- actions
def _literal(value):
    """The text of a policy string; None for a value computed at deploy time.

    In a Fn::Sub each ${...} becomes the literal value its variable map gives
    it, or else `SUB`: a placeholder without wildcards, so that a substituted
    name or ARN part never widens a pattern.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
        arg = value["Fn::Sub"]
        text, names = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if not isinstance(text, str) or not isinstance(names, dict):
            return None

        def substitute(match):
            if match.group(1) is not None:
                return "${" + match.group(1) + "}"
            given = names.get(match.group(2))
            given = _literal(given) if given is not None else None
            return given if given is not None else "SUB"

        return re.sub(r"\$\{!([^}]*)\}|\$\{([^}]*)\}", substitute, text)
    return None


def is_all_actions(action):
    text = _literal(action)
    return text is not None and text.strip() in ("*", "*:*")


def _split_action(action):
    text = (_literal(action) or "").strip().lower()
    service, sep, name = text.partition(":")
    if not sep:
        return (text, "*") if text == "*" else (text, "")
    return service, name


# the services whose writes must be scoped, and how a failure names them
SCOPED_SERVICES = {"ec2": "EC2", "autoscaling": "Auto Scaling"}


def mutating_service(action):
    """The SCOPED_SERVICES key of a mutating action of one, else None."""
    service, name = _split_action(action)
    if not service:
        return None
    for scoped in SCOPED_SERVICES:
        if fnmatch.fnmatchcase(scoped, service) \
                and not any(name.startswith(p) for p in READ_PREFIXES):
            return scoped
    return None


def matches_create_tags(action):
    service, name = _split_action(action)
    return bool(service) and fnmatch.fnmatchcase("ec2", service) \
        and fnmatch.fnmatchcase("createtags", name)


def matches_assume_role(action):
    service, name = _split_action(action)
    return bool(service) and fnmatch.fnmatchcase("sts", service) \
        and fnmatch.fnmatchcase("assumerole", name)


def is_any_role(resource):
    """Resource "*", or a role ARN with a wildcard account and role name."""
    text = _literal(resource)
    if text is None:
        return False
    text = text.strip()
    if text == "*":
        return True
    parts = text.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and fnmatch.fnmatchcase("iam", parts[2]):
        account, rest = parts[4], parts[5]
        if rest == "*":
            return True
        kind, _, path_and_name = rest.partition("/")
        return account == "*" and fnmatch.fnmatchcase("role", kind) \
            and path_and_name.rsplit("/", 1)[-1] == "*"
    return False


def _principal_values(principal):
    if isinstance(principal, dict):
        for key, value in principal.items():
            if key in ("AWS", "*"):
                yield from as_list(value)
    else:
        yield from as_list(principal)


def is_everyone(principal):
    """Principal "*" or {"AWS": "*"} (also as one item of a list)."""
    return any(_literal(v) is not None and _literal(v).strip() == "*" for v in _principal_values(principal))


def is_all_resources(resource):
    text = _literal(resource)
    if text is None:
        return False
    text = text.strip()
    if text == "*":
        return True
    parts = text.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" \
            and any(fnmatch.fnmatchcase(s, parts[2]) for s in SCOPED_SERVICES):
        return parts[5] in ("*", "*/*")
    return False


# ----------------------------------------------------------------- checks
def check_statement(stmt, kind):
    """Reasons this (Fn::If-free) statement of a policy of `kind` is over-broad."""
    if not isinstance(stmt, dict):
        return ["statement is not a mapping"]
    if str(stmt.get("Effect", "Allow")) != "Allow":
        return []
    reasons = []
    actions = as_list(stmt.get("Action"))
    if any(is_all_actions(a) for a in actions):
        reasons.append('Action "*" in an Allow statement')
    if any(_literal(a) is None for a in actions):
        reasons.append("an Action computed at deploy time, which this check cannot judge")
    if "NotAction" in stmt:
        reasons.append("NotAction in an Allow statement (allows every action not listed)")
    condition = stmt.get("Condition")
    conditioned = isinstance(condition, dict) and any(
        isinstance(keys, dict) and keys for keys in condition.values())
    if kind != IDENTITY:
        if not conditioned and "NotPrincipal" in stmt:
            reasons.append("NotPrincipal in an Allow statement without a Condition (every principal not listed)")
        elif not conditioned and is_everyone(stmt.get("Principal")):
            reasons.append('Principal "*" without a Condition (every AWS account)')
        return reasons
    if conditioned:
        return reasons
    everywhere = "NotResource" in stmt or any(is_all_resources(r) for r in as_list(stmt.get("Resource")))
    actions = [a for a in actions if _literal(a) is not None]
    for service, label in SCOPED_SERVICES.items():
        mutating = [a for a in actions if mutating_service(a) == service]
        if mutating and everywhere:
            reasons.append(f"mutating {label} action(s) " + ", ".join(_literal(a) for a in mutating)
                           + ' on Resource "*" without a Condition')
    tagging = [a for a in actions if matches_create_tags(a)]
    if tagging:
        reasons.append("ec2:CreateTags (as " + ", ".join(_literal(a) for a in tagging)
                       + ") without a Condition")
    assuming = [a for a in actions if matches_assume_role(a)]
    if assuming and ("NotResource" in stmt or any(is_any_role(r) for r in as_list(stmt.get("Resource")))):
        reasons.append("sts:AssumeRole (as " + ", ".join(_literal(a) for a in assuming)
                       + ") on any role of any account without a Condition")
    return reasons


def _event_bus_policy_document(props):
    """The one statement of an AWS::Events::EventBusPolicy, as a document."""
    if "Statement" in props:
        return {"Statement": props["Statement"]}
    # the older form: Principal an account id or "*", Condition {Type, Key, Value}
    stmt = Mapping({"Sid": props.get("StatementId"), "Effect": "Allow",
                    "Action": props.get("Action"), "Principal": props.get("Principal")})
    stmt.line = getattr(props, "line", None)
    cond = props.get("Condition")
    if isinstance(cond, dict) and cond.get("Type") and cond.get("Key"):
        stmt["Condition"] = {cond["Type"]: {cond["Key"]: cond.get("Value")}}
    return {"Statement": stmt}


def policies(template):
    """Yield (resource id, policy name, document, kind: IDENTITY, TRUST or RESOURCE)."""
    resources = template.get("Resources") if isinstance(template, dict) else None
    for lid, res in (resources or {}).items():
        if not isinstance(res, dict):
            continue
        rtype, props = res.get("Type"), res.get("Properties") or {}
        if rtype in INLINE_POLICY_TYPES:
            if rtype == "AWS::IAM::Role" and "AssumeRolePolicyDocument" in props:
                yield lid, "AssumeRolePolicyDocument", props["AssumeRolePolicyDocument"], TRUST
            for item in as_list(props.get("Policies")):
                for policy in alternatives(item):
                    if isinstance(policy, dict):
                        name = _literal(policy.get("PolicyName")) or "(computed name)"
                        yield lid, name, policy.get("PolicyDocument"), IDENTITY
        elif rtype in DOCUMENT_POLICY_TYPES:
            name = _literal(props.get("PolicyName") or props.get("ManagedPolicyName")) or lid
            yield lid, name, props.get("PolicyDocument"), IDENTITY
        elif rtype in RESOURCE_POLICY_TYPES:
            yield lid, "PolicyDocument", props.get("PolicyDocument"), RESOURCE
        elif rtype == "AWS::Events::EventBusPolicy":
            yield lid, "Statement", _event_bus_policy_document(props), RESOURCE


def check_template(template, path):
    """Return (failure lines, number of policies, number of statements)."""
    failures, n_policies, n_statements = [], 0, 0
    for lid, name, document, kind in policies(template):
        n_policies += 1
        statements = document.get("Statement") if isinstance(document, dict) else None
        if statements is None:
            failures.append(f"FAIL  {path}: {lid} policy {name}: no Statement (or not a mapping)")
            continue
        for index, item in enumerate(as_list(statements)):
            try:
                choices = [v for alt in alternatives(item) for v in variants(alt)]
            except ValueError as err:
                failures.append(f"FAIL  {path}: {lid} policy {name} statement #{index + 1}: {err}")
                continue
            reported = set()
            for stmt in choices:
                n_statements += 1
                sid = stmt.get("Sid") if isinstance(stmt, dict) else None
                label = f"Sid {sid}" if sid else f"#{index + 1} (no Sid)"
                line = getattr(stmt, "line", None) or getattr(item, "line", None)
                where = f"{path}:{line}" if line else path
                for reason in check_statement(stmt, kind):
                    text = f"FAIL  {where}: {lid} policy {name} statement {label}: {reason}"
                    if text not in reported:
                        reported.add(text)
                        failures.append(text)
    return failures, n_policies, n_statements


def check_files(paths):
    status, all_failures = 0, []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                template = load(handle.read())
        except (OSError, yaml.YAMLError) as err:
            print(f"error: cannot read {path}: {err}", file=sys.stderr)
            return 2
        failures, n_policies, n_statements = check_template(template, path)
        if n_policies == 0:
            print(f"error: {path} holds no IAM policy; nothing was checked", file=sys.stderr)
            return 2
        all_failures += failures
        print(f"{path}: {n_policies} policies, {n_statements} statements checked, "
              f"{len(failures)} failure(s)")
    for line in all_failures:
        print(line)
    if all_failures:
        status = 1
    return status


# -------------------------------------------------------------- self-test
def _role(statements, extra=""):
    body = "\n".join("              " + line for line in statements.strip("\n").splitlines())
    return f"""\
Conditions:
  On: !Equals [a, a]
Resources:
  TheRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: codebuild.amazonaws.com}}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: the-policy
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
{body}
{extra}"""


SNAPSHOTS = '!Sub "arn:${AWS::Partition}:ec2:*::snapshot/*"'

# (name, template, substring every failure must show, or None: must pass)
CASES = [
    ("mutating action on Resource * without a Condition", _role("""
- Sid: DeleteAnything
  Effect: Allow
  Action: ec2:DeleteSnapshot
  Resource: "*"
"""), "Sid DeleteAnything: mutating EC2 action(s) ec2:DeleteSnapshot on Resource \"*\""),
    ("ec2:* on a Resource list holding *", _role("""
- Sid: Everything
  Effect: Allow
  Action: [ec2:DescribeImages, "ec2:*"]
  Resource: ["arn:aws:ec2:us-east-1::image/ami-1", "*"]
"""), "Sid Everything: mutating EC2 action(s) ec2:*"),
    ("wildcard ec2:Create* on *", _role("""
- Sid: CreateWhatever
  Effect: Allow
  Action: ec2:Create*
  Resource: "*"
"""), "ec2:Create* on Resource \"*\""),
    ("mixed-case action on an ARN that means every resource", _role("""
- Sid: Shouting
  Effect: Allow
  Action: EC2:ModifyImageAttribute
  Resource: !Sub "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*/*"
"""), "EC2:ModifyImageAttribute on Resource \"*\""),
    ("NotResource counts as *", _role("""
- Sid: AllButOne
  Effect: Allow
  Action: ec2:DeregisterImage
  NotResource: "arn:aws:ec2:us-east-1::image/ami-1"
"""), "ec2:DeregisterImage on Resource \"*\""),
    ("an Auto Scaling write on every group", _role("""
- Sid: RefreshAnyGroup
  Effect: Allow
  Action: [autoscaling:DescribeAutoScalingGroups, autoscaling:StartInstanceRefresh]
  Resource: "*"
"""), "Sid RefreshAnyGroup: mutating Auto Scaling action(s) autoscaling:StartInstanceRefresh on Resource \"*\""),
    ("an Auto Scaling write on an ARN that means every group", _role("""
- Sid: AnyGroupByArn
  Effect: Allow
  Action: autoscaling:UpdateAutoScalingGroup
  Resource: !Sub "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:*"
"""), "Sid AnyGroupByArn: mutating Auto Scaling action(s) autoscaling:UpdateAutoScalingGroup"),
    ("ec2:CreateTags on images without a Condition", _role(f"""
- Sid: RetagImages
  Effect: Allow
  Action: ec2:CreateTags
  Resource: [{SNAPSHOTS}, !Sub "arn:${{AWS::Partition}}:ec2:*::image/*"]
"""), "Sid RetagImages: ec2:CreateTags (as ec2:CreateTags) without a Condition"),
    ("a pattern matching ec2:CreateTags without a Condition", _role(f"""
- Sid: CreateAnyOnSnapshots
  Effect: Allow
  Action: ec2:Create*Tags
  Resource: {SNAPSHOTS}
"""), "ec2:CreateTags (as ec2:Create*Tags) without a Condition"),
    ('Action "*" even with a Condition', _role("""
- Sid: Admin
  Effect: Allow
  Action: "*"
  Resource: arn:aws:s3:::bucket
  Condition: {Bool: {aws:SecureTransport: "true"}}
"""), "Sid Admin: Action \"*\" in an Allow statement"),
    ('Action ["*"]', _role("""
- Effect: Allow
  Action: ["*"]
  Resource: arn:aws:s3:::bucket
"""), "#1 (no Sid): Action \"*\" in an Allow statement"),
    ("NotAction in an Allow statement", _role("""
- Sid: AllButIam
  Effect: Allow
  NotAction: iam:*
  Resource: arn:aws:s3:::bucket
"""), "Sid AllButIam: NotAction in an Allow statement"),
    ("a bad statement in the else branch of Fn::If", _role("""
- !If
  - On
  - Sid: Fine
    Effect: Allow
    Action: ec2:DescribeImages
    Resource: "*"
  - Sid: HiddenInElse
    Effect: Allow
    Action: ec2:TerminateInstances
    Resource: "*"
"""), "Sid HiddenInElse: mutating EC2 action(s) ec2:TerminateInstances"),
    ("a Condition present in one Fn::If branch only", _role(f"""
- Sid: SometimesConditioned
  Effect: Allow
  Action: ec2:CreateTags
  Resource: {SNAPSHOTS}
  Condition: !If [On, {{StringEquals: {{ec2:CreateAction: CopyImage}}}}, !Ref AWS::NoValue]
"""), "Sid SometimesConditioned: ec2:CreateTags (as ec2:CreateTags) without a Condition"),
    ("Resource * in one Fn::If branch", _role("""
- Sid: StarSometimes
  Effect: Allow
  Action: ec2:DeleteSnapshot
  Resource: !If [On, "*", "arn:aws:ec2:us-east-1::snapshot/snap-1"]
"""), "Sid StarSometimes: mutating EC2 action(s) ec2:DeleteSnapshot"),
    ("a managed policy", """\
Resources:
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: ManagedTooBroad
            Effect: Allow
            Action: [ec2:RunInstances]
            Resource: "*"
""", "Managed policy Managed statement Sid ManagedTooBroad: mutating EC2 action(s) ec2:RunInstances"),
    ("a single statement given as a mapping", """\
Resources:
  Single:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: single
      Roles: [x]
      PolicyDocument:
        Statement:
          Sid: OnlyOne
          Effect: Allow
          Action: ec2:CreateTags
          Resource: arn:aws:ec2:us-east-1::image/ami-1
""", "Sid OnlyOne: ec2:CreateTags"),
    ("a policy without statements", """\
Resources:
  Empty:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: {Version: "2012-10-17"}
""", "no Statement"),
    ("a Fn::Sub whose variable is *", _role("""
- Sid: SubstitutedStar
  Effect: Allow
  Action: ec2:DeleteVolume
  Resource: !Sub ["${Everything}", {Everything: "*"}]
"""), "Sid SubstitutedStar: mutating EC2 action(s) ec2:DeleteVolume"),
    ("a Condition without any key", _role("""
- Sid: EmptyCondition
  Effect: Allow
  Action: ec2:StopInstances
  Resource: "*"
  Condition: {StringEquals: {}}
"""), "Sid EmptyCondition: mutating EC2 action(s) ec2:StopInstances"),
    ("an Action from a parameter", _role("""
- Sid: ActionFromAParameter
  Effect: Allow
  Action: !Ref SomeAction
  Resource: arn:aws:s3:::bucket
"""), "Sid ActionFromAParameter: an Action computed at deploy time"),
    ("sts:AssumeRole on every role", _role("""
- Sid: AssumeAnything
  Effect: Allow
  Action: sts:AssumeRole
  Resource: "*"
"""), "Sid AssumeAnything: sts:AssumeRole (as sts:AssumeRole) on any role of any account"),
    ("sts:Assume* on every role of every account", _role("""
- Sid: AnyRoleAnywhere
  Effect: Allow
  Action: sts:Assume*
  Resource: !Sub "arn:${AWS::Partition}:iam::*:role/*"
"""), "Sid AnyRoleAnywhere: sts:AssumeRole (as sts:Assume*) on any role of any account"),
    ("sts:AssumeRole on every role, conditioned in one Fn::If branch only", _role("""
- Sid: AnyRoleOrgSometimes
  Effect: Allow
  Action: sts:AssumeRole
  Resource: !Sub "arn:${AWS::Partition}:iam::*:role/*"
  Condition: !If [On, {StringEquals: {aws:ResourceOrgID: o-exampleorgid}}, !Ref AWS::NoValue]
"""), "Sid AnyRoleOrgSometimes: sts:AssumeRole (as sts:AssumeRole) on any role of any account"),
    ("a trust policy open to every account", """\
Resources:
  OpenRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Sid: Anyone
            Effect: Allow
            Principal: {AWS: ["arn:aws:iam::111122223333:root", "*"]}
            Action: sts:AssumeRole
""", "OpenRole policy AssumeRolePolicyDocument statement Sid Anyone: Principal \"*\" without a Condition"),
    ("an event bus policy open to every account", """\
Resources:
  OpenBus:
    Type: AWS::Events::EventBusPolicy
    Properties:
      EventBusName: central
      StatementId: Everyone
      Statement:
        Sid: Everyone
        Effect: Allow
        Principal: "*"
        Action: events:PutEvents
        Resource: arn:aws:events:us-east-1:111122223333:event-bus/central
""", "OpenBus policy Statement statement Sid Everyone: Principal \"*\" without a Condition"),
    ("an event bus policy of the older form open to every account", """\
Resources:
  OldOpenBus:
    Type: AWS::Events::EventBusPolicy
    Properties:
      StatementId: EveryoneOld
      Action: events:PutEvents
      Principal: "*"
""", "OldOpenBus policy Statement statement Sid EveryoneOld: Principal \"*\" without a Condition"),
    ("a topic policy with NotPrincipal", """\
Resources:
  AllButOneTopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [arn:aws:sns:us-east-1:111122223333:t]
      PolicyDocument:
        Statement:
          - Sid: AllButOne
            Effect: Allow
            NotPrincipal: {AWS: "arn:aws:iam::111122223333:root"}
            Action: sns:Publish
            Resource: arn:aws:sns:us-east-1:111122223333:t
""", "Sid AllButOne: NotPrincipal in an Allow statement without a Condition"),
    # The good ones: the check must not reject what is sound.
    ("conditioned write on *, Describe* on *, conditioned CreateTags, Deny ec2:*", _role(f"""
- Sid: WriteWithCondition
  Effect: Allow
  Action: [ec2:CreateNetworkInterfacePermission]
  Resource: "*"
  Condition: {{StringEquals: {{ec2:AuthorizedService: codebuild.amazonaws.com}}}}
- Sid: ReadEverything
  Effect: Allow
  Action: ["ec2:Describe*", ec2:GetConsoleOutput, ec2:ListImagesInRecycleBin, s3:ListAllMyBuckets]
  Resource: "*"
- Sid: TagOnCreate
  Effect: Allow
  Action: ec2:CreateTags
  Resource: {SNAPSHOTS}
  Condition: {{StringEquals: {{ec2:CreateAction: CopyImage}}}}
- Sid: DenyAll
  Effect: Deny
  Action: "ec2:*"
  Resource: "*"
- Sid: SpecificWrite
  Effect: Allow
  Action: ec2:DeleteKeyPair
  Resource: !Sub "arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:key-pair/packer_*"
"""), None),
    # pipeline.yaml's AssumeTheMemberPruneRoles: the role name scopes it in
    # any account, whether or not the organization condition is deployed
    ("one named role (a parameter) in any account, conditioned in one Fn::If branch", _role("""
- Sid: NamedRoleOrgSometimes
  Effect: Allow
  Action: sts:AssumeRole
  Resource: !Sub "arn:${AWS::Partition}:iam::*:role/${MemberPruneRoleName}"
  Condition: !If [On, {StringEquals: {aws:ResourceOrgID: !Ref OrganizationId}}, !Ref AWS::NoValue]
"""), None),
    ("a trust policy is not held to the EC2 rules", """\
Resources:
  Trusting:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: ec2.amazonaws.com}
            Action: [sts:AssumeRole, sts:TagSession]
""", None),
    ("one named role in any account; a cross-account trust; a bus open to one organization", """\
Resources:
  Assuming:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::111122223333:root"}
            Action: sts:AssumeRole
            Condition:
              ArnEquals: {aws:PrincipalArn: "arn:aws:iam::111122223333:role/build"}
      Policies:
        - PolicyName: assume
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: !Sub "arn:${AWS::Partition}:iam::*:role/${RoleName}"
  OrgBus:
    Type: AWS::Events::EventBusPolicy
    Properties:
      EventBusName: central
      StatementId: Org
      Statement:
        Effect: Allow
        Principal: "*"
        Action: events:PutEvents
        Resource: arn:aws:events:us-east-1:111122223333:event-bus/central
        Condition: {StringEquals: {aws:PrincipalOrgID: o-exampleorgid}}
""", None),
]


def self_test():
    failed = 0
    for name, text, expected in CASES:
        failures, n_policies, _ = check_template(load(text), "case.yaml")
        if expected is None:
            ok = n_policies > 0 and not failures
            why = "accepted" if ok else "rejected: " + "; ".join(failures)
        else:
            hits = [f for f in failures if expected in f]
            ok = bool(hits)
            why = hits[0] if ok else ("accepted" if not failures else "rejected otherwise: " + "; ".join(failures))
        print(f"  {'ok  ' if ok else 'FAIL'}  {name}: {why}")
        failed += not ok
    print(f"self-test: {len(CASES) - failed} of {len(CASES)} cases as expected")
    return 1 if failed else 0


def main(argv):
    args = argv[1:]
    if args == ["--self-test"]:
        return self_test()
    if any(a.startswith("-") for a in args):
        print("\n".join(__doc__.strip().splitlines()[2:4]), file=sys.stderr)
        return 2
    if not args:
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        args = [os.path.join(repo, "cloudformation", "pipeline.yaml")]
    return check_files(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
