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

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
