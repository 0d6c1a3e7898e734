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
* SSM PutParameter with DataType aws:ec2:image (Systems Manager user guide,
  "Native parameter support in Parameter Store for Amazon Machine Image
  IDs"): the value must have the AMI id format, else ValidationException.
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
    image = getattr(self, "amis", {}).get(image_id)
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
    return _get_application(self, environ)


werkzeug_app.DomainDispatcherApplication.get_application = get_application

from moto.moto_api._internal.models import MotoAPIBackend  # noqa: E402 - grouped with its patch

_moto_reset = MotoAPIBackend.reset


def moto_reset(self):
    """moto's reset (POST /moto-api/reset) forgets the rules too."""
    with _RBIN_LOCK:
        _RULES.clear()
    _moto_reset(self)


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
# unchecked and answered a deregistered one with an empty HTTP 500.
_backend_describe_image_attribute = AmiBackend.describe_image_attribute


def backend_describe_image_attribute(self, ami_id, attribute_name):
    if ami_id not in self.amis:
        if ami_id in getattr(self, "deleted_amis", ()):
            raise ec2_exceptions.UnvailableAMIIdError(ami_id)
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

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
