"""moto's server with what ami-builder needs and moto 5.2.5 lacks.

usage: python tests/moto_ext/ami_builder_moto.py [moto_server options]

The tests, the demo and scripts/lint-pipeline start this instead of
`moto_server`. Each extension implements AWS's documented behaviour, cited
below, and is tested against the documented examples in
tests/moto_ext/test_ami_builder_moto.py (run by scripts/test):

* EC2 EnableImageDeprecation / DisableImageDeprecation, and DescribeImages'
  DeprecationTime (EC2 API reference, "EnableImageDeprecation",
  "DisableImageDeprecation", "Image"): DeprecateAt is rounded to the nearest
  minute, may not be in the past nor more than 10 years ahead; the image
  shows DeprecationTime as YYYY-MM-DDTHH:MM:SSZ until deprecation is
  disabled.
* EC2 CreateLaunchTemplateVersion's SourceVersion (EC2 API reference,
  "CreateLaunchTemplateVersion"): the new version starts from the source
  version's data, and the request's LaunchTemplateData overrides it; moto
  ignores SourceVersion and keeps only the request's data.
* EventBridge input transformers with a JSON InputTemplate (EventBridge user
  guide, "Amazon EventBridge input transformation"): a placeholder outside
  quotes takes the value as JSON (a string is quoted: `{"instance":
  <instance>}` gives `{"instance": "i-0123456789"}`), one inside quotes the
  text of the value; moto pastes the raw text in both places, which makes the
  documented example invalid JSON (a 500 from PutEvents).
* EC2 EnableImageDeregistrationProtection / DisableImageDeregistrationProtection
  and DescribeImages' DeregistrationProtection (EC2 API reference, both
  actions; User Guide, "Protect an Amazon EC2 AMI from deregistration"): the
  actions return the new setting (`enabled-with-cooldown`,
  `enabled-without-cooldown`, `disabled`), DeregisterImage is refused while
  protection is on and, when it was enabled WithCooldown, for 24 hours after
  it is disabled. The documentation shows neither the value DescribeImages
  gives during that cooldown nor DeregisterImage's error code: this module
  answers `disabled-until <time>` and OperationNotPermitted, and ami-builder
  takes any value it does not know as protected.
* EC2 DeregisterImage's DeleteAssociatedSnapshots (EC2 API reference,
  "DeregisterImage", "DeleteSnapshotReturnCode"): the image's snapshots are
  deleted with it and each is reported in DeleteSnapshotResults with
  `success`, or `skipped` when another image still uses it.
* EC2 DescribeImageReferences (EC2 API reference, "DescribeImageReferences"):
  the instances, launch templates (their newest versions) and SSM
  parameters that name an image, in pages; see the function for what the
  documentation leaves open.
* EC2 Image.LastLaunchedTime, set when RunInstances launches from the image.
* EC2 DescribeImages' IncludeDisabled: disabled images are listed only with it;
  DisableImage removes the launch permissions.
* The Recycle Bin: an `rbin` endpoint (CreateRule, GetRule, ListRules,
  DeleteRule), deregistered images and deleted snapshots retained by its
  rules, and EC2's ListImagesInRecycleBin, ListSnapshotsInRecycleBin,
  RestoreImageFromRecycleBin, RestoreSnapshotFromRecycleBin; see the code for
  what the documentation leaves open.
* Speed only, the same answers: a resource's EC2 tags are read from moto's
  tag store by its id, where moto scans every tag of the region with a
  regular expression for each resource it renders (listing N tagged images
  took O(N^2): minutes at 5,000 AMIs, for scripts/bench-prune).
* KMS: the key EBS creates for default encryption (`alias/aws/ebs`) is AWS
  managed: DescribeKey says KeyManager AWS (KMS API reference,
  "KeyMetadata"); moto says CUSTOMER.
* STS AssumeRole of a role that does not exist is AccessDenied, when a test
  turns that check on (POST /moto-api/ami-builder/assume-role-checks `on`);
  moto assumes any role ARN.
* SSM PutParameter with DataType aws:ec2:image (Systems Manager user guide,
  "Native parameter support in Parameter Store for Amazon Machine Image
  IDs"): the value must have the AMI id format, else ValidationException.

Several accounts in one server (an account is chosen by STS AssumeRole or the
x-moto-account-id header; tests/moto_ext/MULTI_ACCOUNT.md):

* EC2 DescribeImages across accounts (EC2 API reference, "DescribeImages",
  "LaunchPermission"; User Guide, "Share an AMI with organizations or OUs"):
  another account's image of the same Region is listed, by ImageIds,
  Owners, ExecutableUsers or with no option, when its launch permissions
  name the caller's account, its organization or an OU it is in at any
  depth, or all; ExecutableUsers as documented (self: explicit grants with
  the organization's and OUs', another id: that id's grants only, all: the
  public images). RunInstances of such an image sets its LastLaunchedTime.
* EC2 ModifyImageAttribute and DescribeImageAttribute (EC2 API reference):
  every OrganizationArn and OrganizationalUnitArn of a request is kept (the
  OperationType shorthand kept the first), a malformed one is
  InvalidAMIAttributeItemValue; another account's image is AuthFailure
  where the caller sees it, else InvalidAMIID.NotFound (moto: a 500).
* EC2 ModifySnapshotAttribute's CreateVolumePermission={Add,Remove} (moto
  ignored it), and DescribeSnapshots' OwnerIds, RestorableByUserIds and
  SnapshotIds across accounts (EC2 API reference, "DescribeSnapshots").
* EC2 CopyImage of an image another account shares (EC2 API reference,
  "CopyImage"; User Guide, "Copy an Amazon EC2 AMI"): it needs launch
  permission and createVolumePermission on the snapshot (InvalidRequest
  otherwise); the copy is the caller's, with its own snapshot, Encrypted and
  KmsKeyId (the account's default EBS key when no key is given),
  TagSpecifications, CopyImageTags and ClientToken.
* EventBridge PutEvents to another account's bus by its ARN (EventBridge
  User Guide, "Sending and receiving events between AWS accounts",
  "Permissions for Amazon EventBridge event buses"): delivered to that
  account's bus in the ARN's Region when its resource policy allows the
  sender (account, root ARN, or "*" with aws:PrincipalOrgID), else the entry
  fails with AccessDeniedException; the event keeps the sender's account. A
  target without an input transformer receives the whole event, `account`
  included (moto's default left it out).
* /moto-api/reset also forgets which organization each member account was
  in (moto kept that map).
"""

import datetime
import json
import re
import sys

from moto.core.responses import ActionResult
from moto.ec2 import exceptions as ec2_exceptions
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ssm import models as ssm_models
from moto.ssm.exceptions import ValidationException

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _parse_time(text):
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def _nearest_minute(t):
    rounded = t.replace(second=0, microsecond=0)
    if t.second >= 30:
        rounded += datetime.timedelta(minutes=1)
    return rounded


def _image(backend, ami_id):
    if ami_id not in backend.amis:
        raise ec2_exceptions.InvalidAMIIdError(ami_id)
    return backend.amis[ami_id]


def enable_image_deprecation(self):
    ami_id = self._get_param("ImageId")
    deprecate_at = self._get_param("DeprecateAt")
    self.error_on_dryrun()
    image = _image(self.ec2_backend, ami_id)
    if deprecate_at is None:
        raise ec2_exceptions.MissingParameterError("DeprecateAt")
    when = _nearest_minute(_parse_time(str(deprecate_at)))
    now = datetime.datetime.now(datetime.timezone.utc)
    if when < _nearest_minute(now):
        raise ec2_exceptions.InvalidParameterValueError(
            f"DeprecateAt {deprecate_at} (it may not be in the past)")
    if when > now + datetime.timedelta(days=3653):
        raise ec2_exceptions.InvalidParameterValueError(
            f"DeprecateAt {deprecate_at} (at most 10 years from now)")
    image.deprecation_time = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return ActionResult({"Return": True})


def disable_image_deprecation(self):
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    image = _image(self.ec2_backend, ami_id)
    image.deprecation_time = None
    return ActionResult({"Return": True})


def _protection(image):
    return getattr(image, "deregistration_protection", None) or "disabled"


def _protected_until(image, now):
    """Whether deregistration is refused at `now`, and why."""
    value = _protection(image)
    if value.startswith("enabled"):
        return value
    if value.startswith("disabled-until "):
        until = _parse_time(value[len("disabled-until "):])
        if until > now:
            return value
        image.deregistration_protection = "disabled"
    return None


def enable_image_deregistration_protection(self):
    ami_id = self._get_param("ImageId")
    with_cooldown = self._get_bool_param("WithCooldown", False)
    self.error_on_dryrun()
    image = _image(self.ec2_backend, ami_id)
    value = "enabled-with-cooldown" if with_cooldown else "enabled-without-cooldown"
    image.deregistration_protection = value
    return ActionResult({"Return": value})


def disable_image_deregistration_protection(self):
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    image = _image(self.ec2_backend, ami_id)
    now = datetime.datetime.now(datetime.timezone.utc)
    current = _protection(image)
    if current == "enabled-with-cooldown":
        until = now + datetime.timedelta(hours=24)
        value = "disabled-until " + until.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    elif _protected_until(image, now) and current.startswith("disabled-until"):
        value = current
    else:
        value = "disabled"
    image.deregistration_protection = value
    return ActionResult({"Return": value})


_deregister_image = AmisResponse.deregister_image


def deregister_image(self):
    ami_id = self._get_param("ImageId")
    backend = self.ec2_backend
    image = backend.amis.get(ami_id)
    now = datetime.datetime.now(datetime.timezone.utc)
    why = image is not None and _protected_until(image, now)
    if why:
        raise ec2_exceptions.OperationNotPermitted(
            f"The image {ami_id} cannot be deregistered: deregistration protection ({why})")
    if not self._get_bool_param("DeleteAssociatedSnapshots", False) or image is None:
        return _deregister_image(self)
    snapshots = [m["Ebs"]["SnapshotId"] for m in image.block_device_mappings
                 if m.get("Ebs", {}).get("SnapshotId")]
    self.error_on_dryrun()
    backend.deregister_image(ami_id)
    results = []
    for snap in snapshots:
        others = [a for a in backend.amis.values()
                  if any(m.get("Ebs", {}).get("SnapshotId") == snap
                         for m in a.block_device_mappings)]
        if others:
            code = "skipped"
        else:
            try:
                backend.delete_snapshot(snap)
                code = "success"
            except ec2_exceptions.EC2ClientError:
                code = "client-error"
        results.append({"SnapshotId": snap, "ReturnCode": code})
    return ActionResult({"Return": True, "DeleteSnapshotResults": results})


AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection
AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection
AmisResponse.deregister_image = deregister_image
AmisResponse.enable_image_deprecation = enable_image_deprecation
AmisResponse.disable_image_deprecation = disable_image_deprecation

_create_version = LaunchTemplates.create_launch_template_version


def _merged(base, override):
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def create_launch_template_version(self):
    source = self._get_param("SourceVersion")
    if source is None:
        return _create_version(self)
    name = self._get_param("LaunchTemplateName")
    tmpl_id = self._get_param("LaunchTemplateId")
    template = (self.ec2_backend.get_launch_template(tmpl_id) if tmpl_id
                else self.ec2_backend.get_launch_template_by_name(name))
    base = template.get_version(source).data
    data = _merged(base, self._get_param("LaunchTemplateData", {}))
    self.error_on_dryrun()
    version = template.create_version(data, self._get_param("VersionDescription"))
    return ActionResult({
        "LaunchTemplateVersion": {
            "CreateTime": version.create_time,
            "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
            "DefaultVersion": template.is_default(version),
            "LaunchTemplateData": version.data,
            "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name,
            "VersionDescription": version.description,
            "VersionNumber": version.number,
        },
    })


LaunchTemplates.create_launch_template_version = create_launch_template_version

from moto.events import utils as events_utils  # noqa: E402 - grouped with its patch

_template_parse = events_utils.EventTemplateParser.parse


def _fill(template, values):
    """Replace each <name> of `values`: as JSON outside a JSON string, as
    escaped text inside one."""
    out = []
    in_string = False
    i = 0
    while i < len(template):
        c = template[i]
        if c == "<":
            end = template.find(">", i)
            name = template[i + 1:end] if end > i else None
            if name in values:
                value = values[name]
                if in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append(json.dumps(value))
                i = end + 1
                continue
        if c == "\\" and in_string:
            out.append(template[i:i + 2])
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        out.append(c)
        i += 1
    return "".join(out)


def parse_template(input_template, input_paths_map, event):
    from jsonpath_ng.ext import parse

    if not input_template or not input_paths_map:
        return _template_parse(input_template, input_paths_map, event)
    values = {}
    for name, path in input_paths_map.items():
        found = parse(path).find(event)
        if found:
            values[name] = found[0].value
    values["aws.events.event.json"] = event
    values["aws.events.event.ingestion-time"] = event.get("ingestion-time")
    filled = _fill(input_template, values)
    try:
        return json.loads(filled)
    except ValueError:
        return _template_parse(input_template, input_paths_map, event)


events_utils.EventTemplateParser.parse = staticmethod(parse_template)

# A target without an input transformer receives the whole event (EventBridge
# User Guide, "Amazon EventBridge events": version, id, detail-type, source,
# account, time, region, resources, detail). moto's default template leaves
# out `account`, which a bus that receives other accounts' events needs most.
events_utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
    '"detail": <detail>}')

_AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_put_parameter = ssm_models.SimpleSystemManagerBackend.put_parameter


def put_parameter(self, name, description, value, parameter_type, allowed_pattern,
                  keyid, overwrite, tags, data_type, tier=None, policies=None):
    if data_type == "aws:ec2:image" and not _AMI_ID.match(value or ""):
        raise ValidationException(
            f"Parameter value, {value}, for parameter {name} is not a valid AMI ID "
            "(ami-0123456789abcdef0)")
    return _put_parameter(self, name, description, value, parameter_type, allowed_pattern,
                          keyid, overwrite, tags, data_type, tier, policies)


ssm_models.SimpleSystemManagerBackend.put_parameter = put_parameter


# DescribeImageReferences (EC2 API reference, "DescribeImageReferences",
# "ResourceTypeRequest", "ResourceTypeOption", "ImageReference"; User Guide,
# "Identify your resources referencing specified AMIs"): 1 to 10 ImageIds;
# IncludeAllResourceTypes or ResourceTypes; for ec2:Instance the option
# state-name (default: every state), for ec2:LaunchTemplate version-depth
# (the newest N versions, 1-10000, default 10); MaxResults at least 5 with
# NextToken. A launch template is named once, by its ARN, however many of
# its versions use the image. Undocumented, and assumed here: the error
# codes for a bad request (MissingParameter, InvalidParameterValue) and an
# empty answer for a well-formed id that names no image (the action works on
# images the caller does not own). SSM parameters are those whose current
# value is the image's id. moto has no Image Builder: no recipe is ever
# named.
_INSTANCE_STATES = ["pending", "running", "shutting-down", "terminated", "stopping", "stopped"]
_RESOURCE_TYPES = ["ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter",
                   "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe"]


def _reference_options(self):
    """{resource type: {option: [values]}} asked for."""
    asked = {}
    if self._get_bool_param("IncludeAllResourceTypes", False):
        asked = {t: {} for t in _RESOURCE_TYPES}
    for req in self._get_param("ResourceTypes", []) or []:
        kind = req.get("ResourceType")
        if kind not in _RESOURCE_TYPES:
            raise ec2_exceptions.InvalidParameterValueError(f"ResourceType {kind}")
        options = {}
        for opt in req.get("ResourceTypeOptions", []) or []:
            options[opt.get("OptionName")] = opt.get("OptionValues", []) or []
        asked[kind] = options
    if not asked:
        raise ec2_exceptions.MissingParameterError("IncludeAllResourceTypes or ResourceTypes")
    return asked


def describe_image_references(self):
    ids = self._get_param("ImageIds", []) or []
    if not 1 <= len(ids) <= 10:
        raise ec2_exceptions.InvalidParameterValueError(
            f"ImageIds ({len(ids)} given: between 1 and 10)")
    for ami_id in ids:
        if not _AMI_ID.match(ami_id):
            raise ec2_exceptions.MalformedAMIIdError([ami_id])
    asked = _reference_options(self)
    max_results = self._get_int_param("MaxResults")
    if max_results is not None and max_results < 5:
        raise ec2_exceptions.InvalidParameterValueError(f"MaxResults {max_results} (at least 5)")
    self.error_on_dryrun()
    backend = self.ec2_backend
    region, account = backend.region_name, backend.account_id
    found = []
    if "ec2:Instance" in asked:
        states = asked["ec2:Instance"].get("state-name") or _INSTANCE_STATES
        for reservation in backend.all_reservations():
            for instance in reservation.instances:
                if instance.image_id in ids and instance._state.name in states:
                    found.append((instance.image_id, "ec2:Instance",
                                  f"arn:{self.partition}:ec2:{region}:{account}:instance/{instance.id}"))
    if "ec2:LaunchTemplate" in asked:
        depth = asked["ec2:LaunchTemplate"].get("version-depth") or ["10"]
        try:
            depth = int(depth[0])
        except ValueError:
            raise ec2_exceptions.InvalidParameterValueError(f"version-depth {depth[0]}")
        if not 1 <= depth <= 10000:
            raise ec2_exceptions.InvalidParameterValueError(f"version-depth {depth} (1-10000)")
        for template in backend.launch_templates.values():
            newest = sorted(template.versions, key=lambda v: v.number, reverse=True)[:depth]
            used = sorted({v.data.get("ImageId") for v in newest} & set(ids))
            for ami_id in used:
                found.append((ami_id, "ec2:LaunchTemplate",
                              f"arn:{self.partition}:ec2:{region}:{account}:launch-template/{template.id}"))
    if "ssm:Parameter" in asked:
        from moto.ssm.models import ssm_backends
        params = ssm_backends[account][region]._parameters
        for name, versions in list(dict.items(params)):
            if versions and versions[-1].value in ids:
                found.append((versions[-1].value, "ssm:Parameter",
                              f"arn:{self.partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"))
    found.sort()
    start = int(self._get_param("NextToken") or 0)
    end = len(found) if max_results is None else start + max_results
    page = found[start:end]
    result = {"ImageReferences": [{"ImageId": i, "ResourceType": t, "Arn": a} for i, t, a in page]}
    if end < len(found):
        result["NextToken"] = str(end)
    return ActionResult(result)


AmisResponse.describe_image_references = describe_image_references

# EC2 Image.LastLaunchedTime (EC2 API reference, "Image"): when the image was
# last used to launch an instance, ISO 8601; absent for an image never
# launched. AWS reports a launch up to 24 hours late; this module reports it
# at once (ami-builder's --unused-for refuses windows under a day for that
# reason, so the delay cannot change a test's outcome).
from moto.ec2.models.instances import InstanceBackend  # noqa: E402 - grouped with its patch

_run_instances = InstanceBackend.run_instances


def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
    reservation = _run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    # the image is the launching account's own or one another account
    # shares with it (_visible_image, "Cross-account images" below): the
    # owner's image is the one that was launched
    image = getattr(self, "amis", {}).get(image_id) or _visible_image(self, image_id)
    if image is not None:
        image.last_launched_time = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    return reservation


InstanceBackend.run_instances = run_instances

# The Recycle Bin (Recycle Bin API reference, "CreateRule", "GetRule",
# "ListRules", "DeleteRule"; EBS User Guide, "Recycle Bin"; EC2 API
# reference, "ListImagesInRecycleBin", "ListSnapshotsInRecycleBin",
# "RestoreImageFromRecycleBin", "RestoreSnapshotFromRecycleBin"). moto has no
# rbin service: requests signed for `rbin` are answered here (REST-JSON:
# POST /rules, POST /list-rules, GET and DELETE /rules/{id}). A rule retains
# the deleted resources of its type (EC2_IMAGE, EBS_SNAPSHOT) that carry at
# least one of its ResourceTags (a tag-level rule), or every one without any
# of its ExcludeResourceTags (a region-level rule); where several match, the
# longest retention wins. A deregistered image or deleted snapshot that a
# rule retains goes to the bin until its exit time, and a restore brings it
# back as it was; an image is restored only once its snapshots are
# (the User Guide's order). Rules here are available at once (AWS: the
# first rule of a Region is eventually consistent) and a bin's exit time is
# not enforced while the server runs (tests last minutes). Undocumented and
# assumed: the error for an id not in the bin (InvalidAMIID.NotFound,
# InvalidSnapshot.NotFound) and for an image whose snapshots are still in it
# (IncorrectState).
import random  # noqa: E402
import string  # noqa: E402
import threading  # noqa: E402

from moto.ec2.models.amis import AmiBackend  # noqa: E402
from moto.ec2.models.elastic_block_store import EBSBackend  # noqa: E402
from moto.ec2.responses.elastic_block_store import ElasticBlockStore  # noqa: E402
from moto.iam.models import get_account_id_from  # noqa: E402
from moto.moto_server import werkzeug_app  # noqa: E402

_RBIN_LOCK = threading.Lock()
_RULES = {}  # (account, region) -> {identifier: rule}


def _rbin_error(start_response, status, kind, message, reason=None):
    body = {"message": message}
    if reason:
        body["Reason"] = reason
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("x-amzn-ErrorType", kind),
                            ("Content-Length", str(len(data)))])
    return [data]


def _rbin_ok(start_response, status, body):
    data = json.dumps(body).encode() if body is not None else b""
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def _scope(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    credential = auth.split("Credential=", 1)[-1].split(",", 1)[0]
    parts = credential.split("/")
    key, region = parts[0], parts[2] if len(parts) > 2 else "us-east-1"
    return get_account_id_from(key), region


def _summary(rule):
    return {k: rule[k] for k in ("Identifier", "Description", "RetentionPeriod", "LockState",
                                 "RuleArn") if k in rule}


def rbin_app(environ, start_response):
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return _rbin_error(start_response, "400 Bad Request", "ValidationException",
                           "the body is not JSON", "INVALID_PARAMETER_VALUE")
    account, region = _scope(environ)
    with _RBIN_LOCK:
        rules = _RULES.setdefault((account, region), {})
        if method == "POST" and path == "/rules":
            kind = body.get("ResourceType")
            period = body.get("RetentionPeriod") or {}
            days = period.get("RetentionPeriodValue")
            if kind not in ("EBS_SNAPSHOT", "EC2_IMAGE", "EBS_VOLUME") or not isinstance(days, int) \
                    or not 1 <= days <= 3650 or period.get("RetentionPeriodUnit") != "DAYS":
                return _rbin_error(start_response, "400 Bad Request", "ValidationException",
                                   "ResourceType and RetentionPeriod {RetentionPeriodValue: "
                                   "1-3650, RetentionPeriodUnit: DAYS} are required",
                                   "INVALID_PARAMETER_VALUE")
            if body.get("ResourceTags") and body.get("ExcludeResourceTags"):
                return _rbin_error(start_response, "400 Bad Request", "ValidationException",
                                   "exclusion tags are for region-level rules only",
                                   "INVALID_PARAMETER_VALUE")
            ident = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(11))
            rule = {
                "Identifier": ident,
                "Description": body.get("Description", ""),
                "ResourceType": kind,
                "RetentionPeriod": {"RetentionPeriodValue": days, "RetentionPeriodUnit": "DAYS"},
                "ResourceTags": body.get("ResourceTags", []),
                "ExcludeResourceTags": body.get("ExcludeResourceTags", []),
                "Status": "available",
                "LockState": "unlocked",
                "RuleArn": f"arn:aws:rbin:{region}:{account}:rule/{ident}",
            }
            rules[ident] = rule
            return _rbin_ok(start_response, "201 Created", rule)
        if method == "POST" and path == "/list-rules":
            kind = body.get("ResourceType")
            if kind not in ("EBS_SNAPSHOT", "EC2_IMAGE", "EBS_VOLUME"):
                return _rbin_error(start_response, "400 Bad Request", "ValidationException",
                                   "ResourceType is required", "INVALID_PARAMETER_VALUE")
            found = sorted((r for r in rules.values() if r["ResourceType"] == kind),
                           key=lambda r: r["Identifier"])
            start = int(body.get("NextToken") or 0)
            size = body.get("MaxResults") or 1000
            page = found[start:start + size]
            out = {"Rules": [_summary(r) for r in page]}
            if start + size < len(found):
                out["NextToken"] = str(start + size)
            return _rbin_ok(start_response, "200 OK", out)
        if path.startswith("/rules/"):
            ident = path[len("/rules/"):]
            if ident not in rules:
                return _rbin_error(start_response, "404 Not Found", "ResourceNotFoundException",
                                   f"rule {ident} not found", "RULE_NOT_FOUND")
            if method == "GET":
                return _rbin_ok(start_response, "200 OK", rules[ident])
            if method == "DELETE":
                del rules[ident]
                return _rbin_ok(start_response, "204 No Content", None)
    return _rbin_error(start_response, "404 Not Found", "UnknownOperationException",
                       f"{method} {path} is not an rbin operation here")


_get_application = werkzeug_app.DomainDispatcherApplication.get_application


def get_application(self, environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "/rbin/aws4_request" in auth:
        return rbin_app
    if environ.get("PATH_INFO") == "/moto-api/ami-builder/assume-role-checks":
        return assume_role_checks_app
    return _get_application(self, environ)


werkzeug_app.DomainDispatcherApplication.get_application = get_application

from moto.moto_api._internal.models import MotoAPIBackend  # noqa: E402 - grouped with its patch

_moto_reset = MotoAPIBackend.reset


def moto_reset(self):
    """moto's reset (POST /moto-api/reset) forgets the rules too, and which
    organization each member account belongs to: moto keeps that map
    (organizations_backends.master_accounts) beside the backends it clears,
    so a member id met again after a reset was still "in" an organization
    that no longer existed (DescribeOrganization: a 500 on None.describe();
    CreateOrganization: AlreadyInOrganizationException)."""
    from moto.organizations.models import organizations_backends

    with _RBIN_LOCK:
        _RULES.clear()
    _moto_reset(self)
    organizations_backends.master_accounts.clear()
    _ASSUME_ROLE_CHECKS["on"] = False


MotoAPIBackend.reset = moto_reset


def retained_days(account, region, kind, tags):
    """The longest retention of the rules of `kind` retaining a resource
    tagged `tags` ({key: value}), or None."""
    best = None
    with _RBIN_LOCK:
        for rule in _RULES.get((account, region), {}).values():
            if rule["ResourceType"] != kind or rule["Status"] != "available":
                continue
            pairs = {(t["ResourceTagKey"], t.get("ResourceTagValue", "")) for t in rule["ResourceTags"]}
            excluded = {(t["ResourceTagKey"], t.get("ResourceTagValue", ""))
                        for t in rule["ExcludeResourceTags"]}
            have = set(tags.items())
            if pairs:
                matches = bool(pairs & have)
            else:
                matches = not (excluded & have)
            if matches:
                days = rule["RetentionPeriod"]["RetentionPeriodValue"]
                best = days if best is None else max(best, days)
    return best


def _tags_of(backend, resource_id):
    return dict(backend.tags.get(resource_id, {}))


def _bin(backend, name):
    if not hasattr(backend, name):
        setattr(backend, name, {})
    return getattr(backend, name)


def _into_bin(backend, kind, resource_id, obj, tags):
    days = retained_days(backend.account_id, backend.region_name, kind, tags)
    if days is None:
        return False
    enter = datetime.datetime.now(datetime.timezone.utc)
    bin_ = _bin(backend, "ami_builder_image_bin" if kind == "EC2_IMAGE" else "ami_builder_snapshot_bin")
    bin_[resource_id] = {"obj": obj, "tags": tags, "enter": enter,
                         "exit": enter + datetime.timedelta(days=days)}
    return True


_backend_deregister = AmiBackend.deregister_image


def backend_deregister_image(self, ami_id):
    image = self.amis.get(ami_id)
    tags = _tags_of(self, ami_id) if image is not None else {}
    _backend_deregister(self, ami_id)
    if image is not None:
        _into_bin(self, "EC2_IMAGE", ami_id, image, tags)


AmiBackend.deregister_image = backend_deregister_image

_backend_delete_snapshot = EBSBackend.delete_snapshot


def backend_delete_snapshot(self, snapshot_id):
    tags = _tags_of(self, snapshot_id) if snapshot_id in self.snapshots else {}
    snapshot = _backend_delete_snapshot(self, snapshot_id)
    _into_bin(self, "EBS_SNAPSHOT", snapshot_id, snapshot, tags)
    return snapshot


EBSBackend.delete_snapshot = backend_delete_snapshot


def _when(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def list_images_in_recycle_bin(self):
    ids = self._get_param("ImageIds", []) or []
    self.error_on_dryrun()
    binned = _bin(self.ec2_backend, "ami_builder_image_bin")
    images = [{"ImageId": i, "Name": e["obj"].name, "Description": e["obj"].description or "",
               "RecycleBinEnterTime": _when(e["enter"]), "RecycleBinExitTime": _when(e["exit"])}
              for i, e in sorted(binned.items()) if not ids or i in ids]
    return ActionResult({"Images": images})


def list_snapshots_in_recycle_bin(self):
    ids = self._get_param("SnapshotIds", []) or []
    self.error_on_dryrun()
    binned = _bin(self.ec2_backend, "ami_builder_snapshot_bin")
    snaps = [{"SnapshotId": i, "Description": e["obj"].description or "",
              "VolumeId": getattr(e["obj"].volume, "id", None),
              "RecycleBinEnterTime": _when(e["enter"]), "RecycleBinExitTime": _when(e["exit"])}
             for i, e in sorted(binned.items()) if not ids or i in ids]
    return ActionResult({"Snapshots": snaps})


def _restore_tags(backend, resource_id, tags):
    if tags:
        backend.create_tags([resource_id], tags)


def restore_snapshot_from_recycle_bin(self):
    snap_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    backend = self.ec2_backend
    binned = _bin(backend, "ami_builder_snapshot_bin")
    if snap_id not in binned:
        raise ec2_exceptions.InvalidSnapshotIdError()
    entry = binned.pop(snap_id)
    backend.snapshots[snap_id] = entry["obj"]
    _restore_tags(backend, snap_id, entry["tags"])
    snap = entry["obj"]
    return ActionResult({"SnapshotId": snap_id, "Description": snap.description or "",
                         "Encrypted": bool(snap.encrypted), "OwnerId": snap.owner_id,
                         "Progress": "100%", "State": "recovering",
                         "VolumeId": getattr(snap.volume, "id", None),
                         "VolumeSize": getattr(snap.volume, "size", 0)})


def restore_image_from_recycle_bin(self):
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    backend = self.ec2_backend
    binned = _bin(backend, "ami_builder_image_bin")
    if ami_id not in binned:
        raise ec2_exceptions.InvalidAMIIdError(ami_id)
    image = binned[ami_id]["obj"]
    snap_bin = _bin(backend, "ami_builder_snapshot_bin")
    waiting = [m["Ebs"]["SnapshotId"] for m in image.block_device_mappings
               if m.get("Ebs", {}).get("SnapshotId") in snap_bin]
    if waiting:
        raise ec2_exceptions.EC2ClientError(
            "IncorrectState",
            f"restore the image's snapshots from the Recycle Bin first: {', '.join(waiting)}")
    entry = binned.pop(ami_id)
    backend.amis[ami_id] = image
    if ami_id in backend.deleted_amis:
        backend.deleted_amis.remove(ami_id)
    _restore_tags(backend, ami_id, entry["tags"])
    return ActionResult({"Return": True})


AmisResponse.list_images_in_recycle_bin = list_images_in_recycle_bin
AmisResponse.restore_image_from_recycle_bin = restore_image_from_recycle_bin
ElasticBlockStore.list_snapshots_in_recycle_bin = list_snapshots_in_recycle_bin
ElasticBlockStore.restore_snapshot_from_recycle_bin = restore_snapshot_from_recycle_bin

# DescribeImages' IncludeDisabled (EC2 API reference, "DescribeImages"):
# "Specifies whether to include disabled AMIs. Default: No disabled AMIs
# are included in the response." moto lists them always; a tool that relies
# on that would, against AWS, see a disabled image's snapshots as orphans.
_describe_images = AmisResponse.describe_images


def describe_images(self):
    result = _describe_images(self)
    if self._get_bool_param("IncludeDisabled", False):
        return result
    images = [i for i in result.result.get("Images", []) if getattr(i, "state", None) != "disabled"]
    return ActionResult({**result.result, "Images": images})


AmisResponse.describe_images = describe_images


# DisableImage removes the image's launch permissions, and a public image
# becomes private; EnableImage does not restore them (EC2 User Guide,
# "Disable an Amazon EC2 AMI"). moto only changes the state.
_backend_disable_image = AmiBackend.disable_image


def backend_disable_image(self, ami_id):
    _backend_disable_image(self, ami_id)
    self.amis[ami_id].launch_permissions = []


AmiBackend.disable_image = backend_disable_image


# DescribeImageAttribute of an image that does not exist answers EC2's error
# (EC2 API reference, "Error codes": InvalidAMIID.NotFound, "The specified
# AMI doesn't exist", and InvalidAMIID.Unavailable, "The specified AMI has
# been deregistered or is otherwise unavailable"); moto looked the id up
# unchecked and answered a deregistered one with an empty HTTP 500. Another
# account's image that the caller may launch (so sees in DescribeImages) is
# not the caller's to describe: AWS answers AuthFailure "Not authorized for
# image:<id>" (not in the API reference; what EC2 answers, quoted in
# cloudquery/cloudquery#9406), moto a KeyError (HTTP 500).
_backend_describe_image_attribute = AmiBackend.describe_image_attribute


def backend_describe_image_attribute(self, ami_id, attribute_name):
    if ami_id not in self.amis:
        if ami_id in getattr(self, "deleted_amis", ()):
            raise ec2_exceptions.UnvailableAMIIdError(ami_id)
        if _visible_image(self, ami_id) is not None:  # "Cross-account images" below
            raise _not_authorized_for_image(ami_id)
        raise ec2_exceptions.InvalidAMIIdError(ami_id)
    return _backend_describe_image_attribute(self, ami_id, attribute_name)


AmiBackend.describe_image_attribute = backend_describe_image_attribute


# Speed only. moto's TaggedEC2Resource.get_tags asks describe_tags with a
# resource-id filter, which compiles the id into an anchored pattern
# (fnmatch.translate) and matches it against every tagged resource of the
# region: the same rows as the direct lookup by id below, in the same order
# (a dict's insertion order), without the scan.
from moto.ec2.models.core import TaggedEC2Resource  # noqa: E402 - grouped with its patch
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix  # noqa: E402


def get_tags(self):
    rid = getattr(self, "id", None)
    tags = self.ec2_backend.tags.get(rid) if rid else None
    if not tags:
        return []
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "")
    return [{"resource_id": rid, "key": k, "value": v, "resource_type": kind}
            for k, v in tags.items()]


TaggedEC2Resource.get_tags = get_tags

# Cross-account images (EC2 API reference, "DescribeImages": "The images
# available to you include public images, private images that you own, and
# private images owned by other Amazon Web Services accounts for which you
# have explicit launch permissions"; "LaunchPermission": UserId, Group `all`,
# OrganizationArn, OrganizationalUnitArn; User Guide, "Share an AMI with
# organizations or OUs": an OU grant covers the accounts of that OU and of
# every OU below it). moto keeps each account's images in that account's
# backend and only ever reads the caller's, so another account's shared image
# was invisible: DescribeImages, DescribeImageAttribute, RunInstances'
# LastLaunchedTime and CopyImage now also look in the other accounts'
# backends of the same Region, and find what the caller may launch there.
from moto.ec2.models import ec2_backends  # noqa: E402 - grouped with its patch
from moto.ec2.models.amis import Ami  # noqa: E402
from moto.ec2.utils import generic_filter, random_ami_id  # noqa: E402
from moto.organizations.models import FakeRoot, organizations_backends  # noqa: E402


def _made(backends, account, region):
    """backends[account][region] if moto has made it, else None. Indexing a
    BackendDict makes what is missing (for EC2, a whole backend with its
    fixture images) for any id that is merely mentioned, so it is read as a
    plain dict here."""
    per_account = dict.get(backends, account)
    return None if per_account is None else dict.get(per_account, region)


def _other_backends(backends, account, region):
    """The made backends of `region` of every account but `account`."""
    for other, per_account in list(dict.items(backends)):
        if other != account:
            backend = dict.get(per_account, region)
            if backend is not None:
                yield backend


class _Membership:
    """Where an account sits in AWS Organizations: its organization's id and
    ARN, and the ARNs of the OUs that contain it at any depth (its parent OU,
    that OU's parent, ... up to the root, which is no OU). All empty for an
    account in no organization."""

    def __init__(self, account):
        self.account = account
        self.org_id = self.org_arn = None
        self.ou_arns = set()
        # a member is mapped to its management account; the management
        # account is in no such map, its own backend holds the organization
        mgmt, partition = organizations_backends.master_accounts.get(account, (account, "aws"))
        backend = _made(organizations_backends, mgmt, partition)
        if backend is None or backend.org is None:
            return
        member = next((a for a in backend.accounts if a.id == account), None)
        if member is None:
            return
        self.org_id, self.org_arn = backend.org.id, backend.org.arn
        units = {ou.id: ou for ou in backend.ou}
        parent = member.parent_id
        while parent in units and not isinstance(units[parent], FakeRoot):
            if units[parent].arn in self.ou_arns:
                break  # a cycle; moto's MoveAccount cannot make one, but never loop
            self.ou_arns.add(units[parent].arn)
            parent = units[parent].parent_id


def _granted(image, membership):
    """Whether the image's launch permissions name the account: its id, its
    organization or one of the OUs it is in."""
    for lp in image.launch_permissions:
        if lp.get("UserId") == membership.account:
            return True
        if membership.org_arn and lp.get("OrganizationArn") == membership.org_arn:
            return True
        if lp.get("OrganizationalUnitArn") in membership.ou_arns:
            return True
    return False


def _may_launch(image, membership):
    return image.owner_id == membership.account or image.is_public or _granted(image, membership)


def _shared_images(backend, membership):
    """The other accounts' images in the backend's Region that its account
    may launch, each id once, and none the backend holds itself: moto loads
    its fixture images into every account's backend under the same ids."""
    found, seen = [], set()
    for other in _other_backends(ec2_backends, backend.account_id, backend.region_name):
        for image in list(other.amis.values()):
            if image.id in backend.amis or image.id in seen:
                continue
            if _may_launch(image, membership):
                seen.add(image.id)
                found.append(image)
    return found


def _visible_image(backend, ami_id):
    """Another account's image `ami_id`, in the backend's Region, that the
    backend's account may launch; None if there is none."""
    membership = None
    for other in _other_backends(ec2_backends, backend.account_id, backend.region_name):
        image = other.amis.get(ami_id)
        if image is not None:
            membership = membership or _Membership(backend.account_id)
            if _may_launch(image, membership):
                return image
    return None


def _not_authorized_for_image(ami_id):
    # EC2's answer to a caller that sees an image it does not own
    # (cloudquery/cloudquery#9406 quotes it for DescribeImageAttribute)
    return ec2_exceptions.EC2ClientError("AuthFailure", f"Not authorized for image:{ami_id}")


def _executable_by(image, users, membership):
    """DescribeImages' ExecutableUsers (EC2 API reference): `all` gives the
    public images; `self` or the caller's own id the images shared with the
    caller, its organization or its OUs; another account's id only the
    images shared with that id ("AMIs that are shared with the account's
    organization or organizational unit (OU) are not returned"). moto
    returned every public image whatever the users, and an image as often
    as it matched."""
    for user in users:
        if user == "all":
            if image.is_public:
                return True
        elif user in ("self", membership.account):
            if _granted(image, membership):
                return True
        elif any(lp.get("UserId") == user for lp in image.launch_permissions):
            return True
    return False


_ami_describe_images = AmiBackend.describe_images


def backend_describe_images(self, ami_ids=None, filters=None, exec_users=None, owners=None):
    if ami_ids:
        # moto's answer for the caller's own images (its Malformed and
        # NotFound errors too), and the ids it lacks from the other accounts
        try:
            own = _ami_describe_images(self, ami_ids=ami_ids, filters=filters,
                                       exec_users=exec_users, owners=owners)
        except ec2_exceptions.InvalidAMIIdError:
            shared = [i for i in (_visible_image(self, a) for a in dict.fromkeys(ami_ids)) if i]
            if not shared:
                raise
            return shared
        have = {i.id for i in own}
        return own + [i for i in (_visible_image(self, a) for a in dict.fromkeys(ami_ids)
                                  if a not in have and a not in self.amis) if i]
    membership = _Membership(self.account_id)
    images = list(self.amis.values()) + _shared_images(self, membership)
    if exec_users:
        images = [i for i in images if _executable_by(i, exec_users, membership)]
    if owners:
        owners = [self.account_id if o == "self" else o for o in owners]
        images = [i for i in images if i.owner_id in owners or i.owner_alias in owners]
    if filters:
        images = generic_filter(filters, images)
    return images


AmiBackend.describe_images = backend_describe_images


# ModifyImageAttribute's launch permissions (EC2 API reference,
# "ModifyImageAttribute", "LaunchPermissionModifications"). moto's backend
# found the image with describe_images, which now also finds the images
# other accounts share: only the owner may change them (AuthFailure, as
# for DescribeImageAttribute above); a deregistered id was an IndexError
# (HTTP 500). The OperationType shorthand kept only the first of the
# UserGroups, OrganizationArns and OrganizationalUnitArns (the structured
# LaunchPermission={Add,Remove} keeps every entry). An organization or OU
# ARN must have the form EC2 Image Builder's API reference gives for the
# launch permissions it passes to ModifyImageAttribute
# ("LaunchPermissionConfiguration", organizationArns and
# organizationalUnitArns; the Organizations API reference's Arn patterns);
# EC2's API reference does not document the error, EC2 answers
# InvalidAMIAttributeItemValue
# 'Invalid attribute item value "<arn>" for OrganizationArn item type.'
# (quoted in hashicorp/packer-plugin-amazon#156), which is also moto's
# answer for a malformed UserId. Like moto's UserId check, nothing is
# changed when any entry is refused.
from moto.core.responses import EmptyResult  # noqa: E402 - grouped with its patch

_ORG_ARN = re.compile(r"^arn:aws[^:]*:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}$")
_OU_ARN = re.compile(
    r"^arn:aws[^:]*:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$")
_validate_permission_targets = AmiBackend.validate_permission_targets


def validate_permission_targets(self, permissions):
    _validate_permission_targets(self, permissions)
    for perm in permissions:
        for key, pattern in (("OrganizationArn", _ORG_ARN), ("OrganizationalUnitArn", _OU_ARN)):
            if key in perm and not pattern.match(perm[key] or ""):
                raise ec2_exceptions.InvalidAMIAttributeItemValueError(key, perm[key])


AmiBackend.validate_permission_targets = validate_permission_targets

_backend_modify_image_attribute = AmiBackend.modify_image_attribute


def backend_modify_image_attribute(self, ami_id, launch_permissions_to_add,
                                   launch_permissions_to_remove):
    if ami_id not in self.amis:
        if ami_id in self.deleted_amis:
            raise ec2_exceptions.UnvailableAMIIdError(ami_id)
        if _visible_image(self, ami_id) is not None:
            raise _not_authorized_for_image(ami_id)
        raise ec2_exceptions.InvalidAMIIdError(ami_id)
    return _backend_modify_image_attribute(self, ami_id, launch_permissions_to_add,
                                           launch_permissions_to_remove)


AmiBackend.modify_image_attribute = backend_modify_image_attribute


def modify_image_attribute(self):
    ami_id = self._get_param("ImageId")
    structured = self._get_param("LaunchPermission", {}) or {}
    add = list(structured.get("Add", []) or [])
    remove = list(structured.get("Remove", []) or [])
    operation = self._get_param("OperationType")
    if operation in ("add", "remove"):
        into = add if operation == "add" else remove
        into += [{"Group": g} for g in self._get_param("UserGroups", []) or []]
        into += [{"UserId": u} for u in self._get_param("UserIds", []) or []]
        into += [{"OrganizationArn": a} for a in self._get_param("OrganizationArns", []) or []]
        into += [{"OrganizationalUnitArn": a}
                 for a in self._get_param("OrganizationalUnitArns", []) or []]
    self.error_on_dryrun()
    self.ec2_backend.modify_image_attribute(ami_id=ami_id, launch_permissions_to_add=add,
                                            launch_permissions_to_remove=remove)
    return EmptyResult()


AmisResponse.modify_image_attribute = modify_image_attribute


# Snapshot create-volume permissions across accounts (EC2 API reference,
# "ModifySnapshotAttribute", "CreateVolumePermissionModifications",
# "DescribeSnapshotAttribute", "DescribeSnapshots").
#
# ModifySnapshotAttribute: moto read only OperationType with UserIds and
# GroupNames and silently ignored CreateVolumePermission={Add,Remove}
# (what the SDKs' structured form sends). The reference: "You may add or
# remove specified Amazon Web Services account IDs ... but you cannot do
# both in a single operation"; it names no error for a request that does,
# InvalidParameterCombination is assumed. A group other than `all` is
# InvalidAMIAttributeItemValue, moto's answer for GroupNames.
_modify_snapshot_attribute = ElasticBlockStore.modify_snapshot_attribute


def modify_snapshot_attribute(self):
    structured = self._get_param("CreateVolumePermission", {}) or {}
    add = list(structured.get("Add", []) or [])
    remove = list(structured.get("Remove", []) or [])
    if not add and not remove:
        return _modify_snapshot_attribute(self)
    operation = self._get_param("OperationType")
    if operation in ("add", "remove"):  # the shorthand beside it joins its side
        into = add if operation == "add" else remove
        into += [{"UserId": u} for u in self._get_param("UserIds", []) or []]
        into += [{"Group": g} for g in self._get_param("GroupNames", []) or []]
    if add and remove:
        raise ec2_exceptions.InvalidParameterCombination(
            "CreateVolumePermission may add or remove permissions, not both in one request")
    snapshot_id = self._get_param("SnapshotId")
    entries = add or remove
    users = [p["UserId"] for p in entries if p.get("UserId")]
    groups = [p["Group"] for p in entries if p.get("Group")]
    for group in groups:
        if group != "all":
            raise ec2_exceptions.InvalidAMIAttributeItemValueError("UserGroup", group)
    self.error_on_dryrun()
    change = (self.ec2_backend.add_create_volume_permission if add
              else self.ec2_backend.remove_create_volume_permission)
    change(snapshot_id, user_ids=users, groups=groups)
    return EmptyResult()


ElasticBlockStore.modify_snapshot_attribute = modify_snapshot_attribute


# DescribeSnapshots: "The snapshots available to you include public
# snapshots, private snapshots that you own, and private snapshots owned by
# other Amazon Web Services accounts for which you have explicit create
# volume permissions." OwnerIds: "only snapshots from the specified owners
# and for which you have access". RestorableByUserIds: "account IDs (if
# you own the snapshots), self for snapshots for which you own or have
# explicit permissions, or all for public snapshots". SnapshotIds: an id
# that names no snapshot the caller may see is InvalidSnapshot.NotFound
# (moto's answer; the reference says an inaccessible id is left out, an
# invalid one an error). moto ignored OwnerIds and RestorableByUserIds and
# read only the caller's backend. The caller's backend also holds moto's
# fixture images' snapshots, owned by the fixtures' owner: they stay in
# OwnerIds=[self] as before (ami-builder's own tests list with it), the
# backend's snapshots counting as the caller's.
def _may_create_volume(snapshot, account):
    return (snapshot.owner_id == account
            or account in snapshot.create_volume_permission_userids
            or "all" in snapshot.create_volume_permission_groups)


def _shared_snapshots(backend):
    """The other accounts' snapshots in the backend's Region that its
    account may create volumes from, each once."""
    found, seen = [], set()
    for other in _other_backends(ec2_backends, backend.account_id, backend.region_name):
        for snap in list(other.snapshots.values()):
            if snap.id in backend.snapshots or snap.id in seen:
                continue
            if _may_create_volume(snap, backend.account_id):
                seen.add(snap.id)
                found.append(snap)
    return found


def _restorable_by(snapshot, own, user, me):
    if user == "all":
        return "all" in snapshot.create_volume_permission_groups
    if user in ("self", me):
        return own or me in snapshot.create_volume_permission_userids
    return own and user in snapshot.create_volume_permission_userids


def describe_snapshots(self):
    filters = self._filters_from_querystring()
    ids = self._get_param("SnapshotIds", []) or []
    owners = self._get_param("OwnerIds", []) or []
    restorable = self._get_param("RestorableByUserIds", []) or []
    backend = self.ec2_backend
    me = backend.account_id
    found = [(s, True) for s in list(backend.snapshots.values())]
    found += [(s, False) for s in _shared_snapshots(backend)]
    if ids:
        found = [(s, own) for s, own in found if s.id in ids]
        if set(ids) - {s.id for s, _ in found}:
            raise ec2_exceptions.InvalidSnapshotIdError()
    if owners:
        mine = "self" in owners or me in owners
        found = [(s, own) for s, own in found if (own and mine) or s.owner_id in owners]
    if restorable:
        found = [(s, own) for s, own in found
                 if any(_restorable_by(s, own, u, me) for u in restorable)]
    snapshots = [s for s, _ in found]
    if filters:
        snapshots = generic_filter(filters, snapshots)
    return ActionResult({"Snapshots": snapshots})


ElasticBlockStore.describe_snapshots = describe_snapshots


# CopyImage (EC2 API reference, "CopyImage"; User Guide, "Copy an Amazon EC2
# AMI" and "Use encryption with EBS-backed AMIs"). moto looked the source up
# in the caller's own account only and read only SourceImageId,
# SourceRegion, Name and Description. Here:
# * the source is the caller's image in SourceRegion, or one another
#   account shares with the caller there (launch permission, as for
#   DescribeImages). Copying another account's image also needs read access
#   to its snapshot (the User Guide's cross-account section): without
#   createVolumePermission the copy is refused with InvalidRequest "You do
#   not have permission to access the storage of this ami" (not in the
#   reference: the code and message EC2 answers, which SUSE/Enceladus's
#   ec2utils matches and clong/DetectionLab#422 among other threads
#   quotes);
# * the copy is the caller's, with its own snapshot in the destination
#   Region; Name and Description default to the source's (moto's);
# * Encrypted: the copy's snapshot is encrypted with KmsKeyId, else with
#   the account's default EBS key ("The default KMS key for Amazon EBS is
#   used unless you specify a non-default ... KmsKeyId"); a copy of an
#   encrypted snapshot is always encrypted ("you cannot create an
#   unencrypted copy of an encrypted snapshot"). KmsKeyId without Encrypted
#   is InvalidParameterDependency ("If you specify a KMS key, you must also
#   set the encrypted state to true"; moto's error for CreateVolume's same
#   rule). A key that the destination account's KMS knows is shown by its
#   ARN, any other as given: EC2 checks the key asynchronously;
# * TagSpecifications tag the image and/or the snapshot; another ResourceType
#   fails the request ("If you specify other values for ResourceType, the
#   request fails": InvalidParameterValue, moto's InvalidTaggableResourceType).
#   CopyImageTags copies the caller's own tags of the source and, from
#   another account's image, only its tags prefixed ec2:SharedTag/; never
#   aws: tags;
# * ClientToken (EC2 API reference, "Ensuring idempotency"): a repeated
#   token answers the first copy's id; with other parameters,
#   IdempotentParameterMismatch.
from moto.kms.exceptions import NotFoundException as KmsNotFound  # noqa: E402
from moto.kms.models import kms_backends  # noqa: E402


def _copy_source(backend, source_id, source_region):
    """(image, the caller's backend of the source Region, owned by another
    account)"""
    if not (source_id or "").startswith("ami-"):
        raise ec2_exceptions.MalformedAMIIdError([source_id])
    per_account = ec2_backends[backend.account_id]  # the caller's: made already
    if source_region not in per_account:
        raise ec2_exceptions.InvalidParameterValueError(f"SourceRegion {source_region}")
    where = per_account[source_region]
    if source_id in where.amis:
        return where.amis[source_id], where, False
    if source_id in where.deleted_amis:
        raise ec2_exceptions.UnvailableAMIIdError(source_id)
    image = _visible_image(where, source_id)
    if image is None:
        raise ec2_exceptions.InvalidAMIIdError(source_id)
    if not _may_create_volume(image.ebs_snapshot, backend.account_id):
        raise ec2_exceptions.EC2ClientError(
            "InvalidRequest", "You do not have permission to access the storage of this ami")
    return image, where, True


def _key_arn(backend, key_id):
    kms = _made(kms_backends, backend.account_id, backend.region_name)
    if kms is None:
        return key_id
    try:
        return kms.describe_key(key_id).arn
    except (KeyError, KmsNotFound):
        return key_id


def copy_image(self):
    source_id = self._get_param("SourceImageId")
    source_region = self._get_param("SourceRegion")
    name = self._get_param("Name")
    description = self._get_param("Description")
    encrypted = self._get_bool_param("Encrypted", False)
    kms_key_id = self._get_param("KmsKeyId")
    copy_tags = self._get_bool_param("CopyImageTags", False)
    specs = self._get_param("TagSpecifications", []) or []
    token = self._get_param("ClientToken")
    self.error_on_dryrun()
    if kms_key_id and not encrypted:
        raise ec2_exceptions.InvalidParameterDependency("KmsKeyId", "Encrypted")
    tags = {"image": {}, "snapshot": {}}
    for spec in specs:
        kind = spec.get("ResourceType")
        if kind not in tags:
            raise ec2_exceptions.InvalidTaggableResourceType(kind)
        tags[kind].update({t["Key"]: t.get("Value", "") for t in spec.get("Tags", []) or []})
    backend = self.ec2_backend
    request = json.dumps([source_id, source_region, name, description, encrypted, kms_key_id,
                          copy_tags, specs], sort_keys=True)
    tokens = _bin(backend, "ami_builder_copy_tokens")
    if token and token in tokens:
        first, ami_id = tokens[token]
        if first != request:
            raise ec2_exceptions.EC2ClientError(
                "IdempotentParameterMismatch",
                f"The client token {token} was used by a CopyImage with other parameters")
        return ActionResult({"ImageId": ami_id})
    source, where, foreign = _copy_source(backend, source_id, source_region)
    ami = Ami(backend, random_ami_id(), source_ami=source, name=name, description=description)
    backend.amis[ami.id] = ami
    snapshot = ami.ebs_snapshot
    if encrypted or source.ebs_snapshot.encrypted:
        snapshot.encrypted = True
        snapshot.kms_key_id = (_key_arn(backend, kms_key_id) if kms_key_id
                               else backend.default_kms_key_id
                               or backend._create_default_encryption_key())
    image_tags = {}
    if copy_tags:
        image_tags.update({k: v for k, v in where.tags.get(source_id, {}).items()
                           if not k.startswith("aws:")})
        if foreign:
            image_tags.update({k: v for k, v in source.ec2_backend.tags.get(source_id, {}).items()
                               if k.startswith("ec2:SharedTag/")})
    image_tags.update(tags["image"])
    if image_tags:
        backend.create_tags([ami.id], image_tags)
    if tags["snapshot"]:
        backend.create_tags([snapshot.id], tags["snapshot"])
    if token:
        tokens[token] = (request, ami.id)
    return ActionResult({"ImageId": ami.id})


AmisResponse.copy_image = copy_image


# EventBridge PutEvents to another account's event bus (EventBridge API
# reference, "PutEventsRequestEntry": EventBusName is "The name or ARN of
# the event bus"; User Guide, "Sending and receiving events between AWS
# accounts" and "Permissions for Amazon EventBridge event buses"). moto kept
# only the text after the ARN's last "/" and looked that name up in the
# sender's own account and Region. Here an entry whose EventBusName is the
# ARN of a bus of another account (or of the sender's own account in another
# Region) goes to that bus, in that account and Region, when the bus's
# resource policy allows the sender events:PutEvents: a statement whose
# Principal is "*", the sender's account id or arn:aws:iam::<sender>:root
# (moto's PutPermission writes "*" as arn:aws:iam::*:root), whose Resource
# matches the bus and whose Condition, if any, holds (StringEquals or
# StringLike on aws:PrincipalOrgID, the sender's organization in moto's
# Organizations, or aws:PrincipalAccount; any other condition is taken as not
# holding); an explicit Deny wins. Otherwise the entry fails with
# AccessDeniedException ("PutEventsResultEntry": "You do not have sufficient
# access to perform this action"); a bus that does not exist in another
# account fails the same way (assumed, not documented: the sender learns
# nothing of another account's buses); an ARN whose account is not 12
# digits fails with InvalidAccountIdException (also a documented entry
# code). The event keeps the sender's `account`, as AWS delivers it, and
# its `region` is the Region the sender called (the bus's, when the sender
# calls EventBridge there, as ami-builder does; assumed for another Region),
# and it runs the receiving bus's rules, whose SQS targets are queues of the
# receiving account. Entries for several buses are split and their results put back
# in the request's order. Entries for the sender's own buses go through
# moto unchanged (a name, or an ARN of its own account and Region).
import copy  # noqa: E402 - grouped with its patch
import fnmatch  # noqa: E402
import uuid  # noqa: E402

from moto.core.utils import unix_time  # noqa: E402
from moto.events import models as events_models  # noqa: E402
from moto.events.exceptions import ResourceNotFoundException  # noqa: E402

_BUS_ARN = re.compile(r"^arn:(aws[a-z-]*):events:([a-z0-9-]+):([^:]*):event-bus/(.+)$")
_events_put_events = events_models.EventsBackend.put_events


def _invalid_entry(entry):
    """moto's per-entry checks, with its messages."""
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {key} is not valid. Reason: {key} is a required argument."}
    try:
        json.loads(entry["Detail"])
    except ValueError:
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    return None


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _condition_holds(condition, context):
    tests = {"StringEquals": lambda have, want: have == want,
             "StringLike": fnmatch.fnmatchcase}
    for operator, keys in (condition or {}).items():
        test = tests.get(operator)
        if test is None:
            return False
        for key, wanted in keys.items():
            have = context.get(key.lower())
            if have is None or not any(test(have, str(w)) for w in _as_list(wanted)):
                return False
    return True


def _statement_applies(statement, bus, sender, context):
    actions = [a.lower() for a in _as_list(statement.action)]
    if not any(fnmatch.fnmatchcase("events:putevents", a) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(bus.arn, r) for r in _as_list(statement.resource or [])):
        return False
    principal = statement.principal
    partition = bus.arn.split(":")[1]
    if principal != "*":
        names = _as_list(principal.get("AWS", [])) if isinstance(principal, dict) else []
        if not any(n == "*" or n == sender
                   or fnmatch.fnmatchcase(f"arn:{partition}:iam::{sender}:root", n) for n in names):
            return False
    return _condition_holds(statement.condition, context)


def _bus_allows(bus, sender):
    if bus.account_id == sender:
        return True  # an account's own bus needs no resource policy
    member = _Membership(sender)
    context = {"aws:principalorgid": member.org_id, "aws:principalaccount": sender}
    allowed = False
    for statement in list(bus._statements.values()):
        if _statement_applies(statement, bus, sender, context):
            if statement.effect == "Deny":
                return False
            allowed = allowed or statement.effect == "Allow"
    return allowed


def _elsewhere(self, name):
    """(account, region, bus name) for an EventBusName that is the ARN of a
    bus outside the sender's own account and Region, else None."""
    m = _BUS_ARN.match(name or "")
    if not m:
        return None
    _partition, region, account, bus = m.groups()
    if account == self.account_id and region == self.region_name:
        return None
    return account, region, bus


def _deliver(self, entry, account, region, name):
    invalid = _invalid_entry(entry)
    if invalid:
        return invalid
    if not re.fullmatch(r"\d{12}", account):
        return {"ErrorCode": "InvalidAccountIdException",
                "ErrorMessage": f"The account ID provided is not valid: {account}"}
    backend = _made(events_models.events_backends, account, region)
    bus = backend.event_buses.get(name) if backend is not None else None
    if bus is None or not _bus_allows(bus, self.account_id):
        return {"ErrorCode": "AccessDeniedException",
                "ErrorMessage": f"User: arn:aws:iam::{self.account_id}:root is not authorized to "
                                f"perform: events:PutEvents on resource: {entry['EventBusName']}"}
    event_id = str(uuid.uuid4())
    for rule in list(bus.rules.values()):
        message = copy.deepcopy(events_utils._BASE_EVENT_MESSAGE)
        message.update({
            "id": event_id,
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.account_id,
            "time": entry.get("Time", unix_time()),
            "region": self.region_name,
            "resources": entry.get("Resources", []),
            "detail": json.loads(entry["Detail"]),
            "ingestion-time": unix_time(),
        })
        rule.send_to_targets(message)
    return {"EventId": event_id}


def put_events(self, events):
    if len(events) > 10:
        return _events_put_events(self, events)  # moto's ValidationException
    routes = [_elsewhere(self, e.get("EventBusName")) for e in events]
    # the sender's own bus in another Region: a missing one is moto's
    # ResourceNotFoundException for the call, as for a missing bus here,
    # raised before anything is delivered
    for route in routes:
        if route and route[0] == self.account_id:
            backend = _made(events_models.events_backends, route[0], route[1])
            if backend is None or route[2] not in backend.event_buses:
                raise ResourceNotFoundException(f"Event bus {route[2]} does not exist.")
    results = [None] * len(events)
    here = [i for i, route in enumerate(routes) if route is None]
    if here:
        for i, result in zip(here, _events_put_events(self, [events[i] for i in here])):
            results[i] = result
    for i, route in enumerate(routes):
        if route is not None:
            results[i] = _deliver(self, events[i], *route)
    return results


events_models.EventsBackend.put_events = put_events


# --- KMS: the AWS managed key for EBS -------------------------------------
# moto creates `alias/aws/ebs` on first use of default encryption (EBS
# User Guide, "Amazon EBS encryption": "Amazon EBS automatically creates a
# unique AWS managed key in each Region where you store AWS resources") but
# gives it KeyManager CUSTOMER, like any key. DescribeKey of an AWS managed
# key says KeyManager AWS (KMS API reference, "KeyMetadata"), which is how a
# client tells that no other account may ever use it (EC2 User Guide,
# "Share an AMI with specific AWS accounts": an AMI encrypted with an AWS
# managed key cannot be shared).
from moto.ec2.models import elastic_block_store as _ebs_models

_create_default_encryption_key = _ebs_models.EBSBackend._create_default_encryption_key


def create_default_encryption_key(self):
    arn = _create_default_encryption_key(self)
    from moto.kms import kms_backends

    kms_backends[self.account_id][self.region_name].describe_key(arn).key_manager = "AWS"
    return arn


_ebs_models.EBSBackend._create_default_encryption_key = create_default_encryption_key


# --- STS AssumeRole of a role that is not there (opt-in) ------------------
# moto's AssumeRole succeeds for any role ARN, existing or not
# (moto/sts/models.py: "the role does not need to exist"), which is what
# lets tests act in any account without creating anything. AWS refuses a
# role that does not exist, or whose trust policy does not admit the
# caller, with AccessDenied (STS API reference, "AssumeRole", Errors; IAM
# User Guide, "Troubleshooting IAM roles": "User: ... is not authorized to
# perform: sts:AssumeRole on resource: ..."). A test that needs that answer
# turns the check on with POST /moto-api/ami-builder/assume-role-checks
# (body `on` or `off`); a reset turns it off. Only the role's existence is
# checked, not its trust policy.
from moto.sts import models as sts_models
from moto.sts.exceptions import STSClientError

_ASSUME_ROLE_CHECKS = {"on": False}
_assume_role = sts_models.STSBackend.assume_role


class AssumeRoleAccessDenied(STSClientError):
    # (moto answers it with HTTP 400, where AWS gives 403: the STS model has
    # no AccessDenied shape to take the status from; clients read the code)
    def __init__(self, caller, role_arn):
        super().__init__("AccessDenied",
                         f"User: arn:aws:iam::{caller}:root is not authorized to perform: "
                         f"sts:AssumeRole on resource: {role_arn}")


def assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
    if _ASSUME_ROLE_CHECKS["on"]:
        from moto.iam.models import iam_backends

        parts = role_arn.split(":")
        account = parts[4] if len(parts) > 5 else ""
        # IAM is global: moto keys its backend by partition ("aws"), and
        # reads it back under "global" too
        iam = _made(iam_backends, account, parts[1]) or _made(iam_backends, account, "global")
        roles = list(iam.roles.values()) if iam is not None else []
        if not any(r.arn == role_arn for r in roles):
            raise AssumeRoleAccessDenied(self.account_id, role_arn)
    return _assume_role(self, region_name, role_session_name, role_arn, policy, duration,
                        external_id)


sts_models.STSBackend.assume_role = assume_role


def assume_role_checks_app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode().strip() if length else ""
    if environ.get("REQUEST_METHOD") != "POST" or body not in ("on", "off"):
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"POST on or off\n"]
    _ASSUME_ROLE_CHECKS["on"] = body == "on"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode() + b"\n"]


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
