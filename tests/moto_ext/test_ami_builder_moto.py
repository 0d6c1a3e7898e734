"""The moto extensions (ami_builder_moto.py) against AWS's documented examples.

usage: python -m unittest tests/moto_ext/test_ami_builder_moto.py  (scripts/test runs it)

Starts the extended server on a free loopback port for the whole module.
"""

import datetime
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

import boto3
import botocore.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = None
URL = None


def setUpModule():  # noqa: N802 - unittest's name
    global SERVER, URL
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    SERVER = subprocess.Popen([sys.executable, os.path.join(HERE, "ami_builder_moto.py"),
                               "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    URL = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(URL + "/moto-api/", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the extended moto server did not start")


def tearDownModule():  # noqa: N802
    SERVER.terminate()
    SERVER.wait()


def client(service):
    return boto3.client(service, region_name="us-east-1", endpoint_url=URL,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def new_image(ec2):
    return ec2.register_image(Name=f"img-{time.monotonic_ns()}", RootDeviceName="/dev/xvda")["ImageId"]


class ImageDeprecation(unittest.TestCase):
    def test_the_documented_example_rounds_seconds_and_shows_the_time(self):
        # EnableImageDeprecation's example deprecates at "...T13:17:12.000Z"
        # and answers {"Return": true}; EC2 rounds the seconds to the nearest
        # minute. A future day of the same shape stands for the example's
        # date, which is in the past now.
        ec2 = client("ec2")
        ami = new_image(ec2)
        self.assertNotIn("DeprecationTime", ec2.describe_images(ImageIds=[ami])["Images"][0])
        day = datetime.date.today() + datetime.timedelta(days=30)
        answer = ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=f"{day}T13:17:12.000Z")
        self.assertTrue(answer["Return"])
        shown = ec2.describe_images(ImageIds=[ami])["Images"][0]["DeprecationTime"]
        self.assertEqual(shown, f"{day}T13:17:00Z")
        ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=f"{day}T13:17:45Z")
        self.assertEqual(ec2.describe_images(ImageIds=[ami])["Images"][0]["DeprecationTime"],
                         f"{day}T13:18:00Z")

    def test_disable_removes_the_time(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=datetime.datetime.now(datetime.timezone.utc)
                                     + datetime.timedelta(days=1))
        self.assertTrue(ec2.disable_image_deprecation(ImageId=ami)["Return"])
        self.assertNotIn("DeprecationTime", ec2.describe_images(ImageIds=[ami])["Images"][0])

    def test_the_past_far_future_and_unknown_images_are_refused(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        for when in (datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
                     datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3700)):
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=when)
            self.assertEqual(e.exception.response["Error"]["Code"], "InvalidParameterValue")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            ec2.enable_image_deprecation(ImageId="ami-0123456789abcdef0",
                                         DeprecateAt=datetime.datetime.now(datetime.timezone.utc)
                                         + datetime.timedelta(days=1))
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidAMIID.NotFound")


class DeregistrationProtection(unittest.TestCase):
    def test_the_documented_examples_answer_the_new_setting(self):
        # The CLI reference's examples: enable answers
        # "enabled-without-cooldown", disable answers "disabled".
        ec2 = client("ec2")
        ami = new_image(ec2)
        answer = ec2.enable_image_deregistration_protection(ImageId=ami)
        self.assertEqual(answer["Return"], "enabled-without-cooldown")
        shown = ec2.describe_images(ImageIds=[ami])["Images"][0]["DeregistrationProtection"]
        self.assertEqual(shown, "enabled-without-cooldown")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            ec2.deregister_image(ImageId=ami)
        self.assertEqual(e.exception.response["Error"]["Code"], "OperationNotPermitted")
        self.assertEqual(ec2.disable_image_deregistration_protection(ImageId=ami)["Return"],
                         "disabled")
        self.assertTrue(ec2.deregister_image(ImageId=ami)["Return"])

    def test_with_cooldown_it_still_protects_for_24_hours_after_it_is_disabled(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        answer = ec2.enable_image_deregistration_protection(ImageId=ami, WithCooldown=True)
        self.assertEqual(answer["Return"], "enabled-with-cooldown")
        value = ec2.disable_image_deregistration_protection(ImageId=ami)["Return"]
        self.assertTrue(value.startswith("disabled-until "), value)
        until = datetime.datetime.fromisoformat(value.split(" ", 1)[1].replace("Z", "+00:00"))
        left = until - datetime.datetime.now(datetime.timezone.utc)
        self.assertTrue(datetime.timedelta(hours=23) < left <= datetime.timedelta(hours=24), left)
        shown = ec2.describe_images(ImageIds=[ami])["Images"][0]["DeregistrationProtection"]
        self.assertEqual(shown, value)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            ec2.deregister_image(ImageId=ami)
        self.assertEqual(e.exception.response["Error"]["Code"], "OperationNotPermitted")


class DeleteAssociatedSnapshots(unittest.TestCase):
    def test_the_snapshots_go_with_the_image_and_each_is_reported(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
        self.assertTrue(snaps)
        answer = ec2.deregister_image(ImageId=ami, DeleteAssociatedSnapshots=True)
        self.assertTrue(answer["Return"])
        self.assertEqual(answer["DeleteSnapshotResults"],
                         [{"SnapshotId": s, "ReturnCode": "success"} for s in snaps])
        left = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        self.assertFalse([s for s in left if s["SnapshotId"] in snaps])

    def test_without_the_flag_the_snapshots_stay(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        snap = ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        answer = ec2.deregister_image(ImageId=ami)
        self.assertNotIn("DeleteSnapshotResults", answer)
        ids = [s["SnapshotId"] for s in ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"]]
        self.assertEqual(ids, [snap])


class ImageReferences(unittest.TestCase):
    def test_instances_templates_and_parameters_that_name_the_image(self):
        # The user guide's example answer: one reference per resource, an
        # instance and a launch template by their ARNs.
        ec2 = client("ec2")
        ami = new_image(ec2)
        other = new_image(ec2)
        inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        name = f"lt-{time.monotonic_ns()}"
        lt = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": ami})["LaunchTemplate"]["LaunchTemplateId"]
        ec2.create_launch_template_version(LaunchTemplateName=name,
                                           LaunchTemplateData={"ImageId": other})
        param = f"/refs/{time.monotonic_ns()}"
        client("ssm").put_parameter(Name=param, Value=ami, Type="String",
                                    DataType="aws:ec2:image")
        refs = ec2.describe_image_references(ImageIds=[ami], IncludeAllResourceTypes=True)
        got = sorted((r["ResourceType"], r["Arn"]) for r in refs["ImageReferences"])
        self.assertEqual(got, [
            ("ec2:Instance", f"arn:aws:ec2:us-east-1:123456789012:instance/{inst}"),
            ("ec2:LaunchTemplate", f"arn:aws:ec2:us-east-1:123456789012:launch-template/{lt}"),
            ("ssm:Parameter", f"arn:aws:ssm:us-east-1:123456789012:parameter{param}"),
        ])
        self.assertTrue(all(r["ImageId"] == ami for r in refs["ImageReferences"]))
        # the options: a terminated instance only when asked for; the
        # template only within version-depth of its newest version
        ec2.terminate_instances(InstanceIds=[inst])
        refs = ec2.describe_image_references(ImageIds=[ami], ResourceTypes=[
            {"ResourceType": "ec2:Instance", "ResourceTypeOptions": [
                {"OptionName": "state-name", "OptionValues": ["running", "stopped"]}]},
            {"ResourceType": "ec2:LaunchTemplate", "ResourceTypeOptions": [
                {"OptionName": "version-depth", "OptionValues": ["1"]}]}])
        self.assertEqual(refs["ImageReferences"], [])

    def test_pages_and_the_limits(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        for _ in range(7):
            ec2.create_launch_template(LaunchTemplateName=f"lt-{time.monotonic_ns()}",
                                       LaunchTemplateData={"ImageId": ami})
        first = ec2.describe_image_references(ImageIds=[ami], IncludeAllResourceTypes=True,
                                              MaxResults=5)
        self.assertEqual(len(first["ImageReferences"]), 5)
        rest = ec2.describe_image_references(ImageIds=[ami], IncludeAllResourceTypes=True,
                                             MaxResults=5, NextToken=first["NextToken"])
        self.assertEqual(len(rest["ImageReferences"]), 2)
        self.assertNotIn("NextToken", rest)
        for bad, code in (({"ImageIds": [ami] * 11, "IncludeAllResourceTypes": True},
                           "InvalidParameterValue"),
                          ({"ImageIds": ["ami-nope"], "IncludeAllResourceTypes": True},
                           "InvalidAMIID.Malformed"),
                          ({"ImageIds": [ami]}, "MissingParameter")):
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                ec2.describe_image_references(**bad)
            self.assertEqual(e.exception.response["Error"]["Code"], code, bad)


class LastLaunchedTime(unittest.TestCase):
    def test_absent_until_an_instance_is_launched_from_the_image(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        self.assertNotIn("LastLaunchedTime", ec2.describe_images(ImageIds=[ami])["Images"][0])
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)
        shown = ec2.describe_images(ImageIds=[ami])["Images"][0]["LastLaunchedTime"]
        at = datetime.datetime.fromisoformat(shown.replace("Z", "+00:00"))
        self.assertGreaterEqual(at, before)


class RecycleBin(unittest.TestCase):
    def test_a_tag_level_rule_keeps_an_image_and_its_snapshot_and_they_come_back(self):
        # The User Guide's walk-through: a rule for EC2_IMAGE and one for
        # EBS_SNAPSHOT retain what is deleted, the bin lists it with its exit
        # time, and the snapshots are restored before the image.
        ec2, rbin = client("ec2"), client("rbin")
        tag = f"keep-{time.monotonic_ns()}"
        made = {}
        for kind in ("EC2_IMAGE", "EBS_SNAPSHOT"):
            made[kind] = rbin.create_rule(ResourceType=kind,
                                    RetentionPeriod={"RetentionPeriodValue": 7,
                                                     "RetentionPeriodUnit": "DAYS"},
                                    ResourceTags=[{"ResourceTagKey": "bin",
                                                   "ResourceTagValue": tag}])
            rule = rbin.get_rule(Identifier=made[kind]["Identifier"])
            self.assertEqual(rule["Status"], "available")
            self.assertEqual(rule["ResourceTags"], [{"ResourceTagKey": "bin",
                                                     "ResourceTagValue": tag}])
        listed = rbin.list_rules(ResourceType="EC2_IMAGE")["Rules"]
        mine = [r for r in listed if r["Identifier"] == made["EC2_IMAGE"]["Identifier"]]
        self.assertEqual(len(mine), 1, listed)
        self.assertNotIn(made["EBS_SNAPSHOT"]["Identifier"], [r["Identifier"] for r in listed])
        self.assertNotIn("ResourceTags", mine[0], "a summary has no tags (GetRule has)")
        ami = new_image(ec2)
        snap = ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        ec2.create_tags(Resources=[ami, snap], Tags=[{"Key": "bin", "Value": tag}])
        ec2.deregister_image(ImageId=ami, DeleteAssociatedSnapshots=True)
        binned = ec2.list_images_in_recycle_bin(ImageIds=[ami])["Images"]
        self.assertEqual([i["ImageId"] for i in binned], [ami])
        left = binned[0]["RecycleBinExitTime"] - binned[0]["RecycleBinEnterTime"]
        self.assertEqual(left, datetime.timedelta(days=7))
        self.assertEqual([s["SnapshotId"] for s in
                          ec2.list_snapshots_in_recycle_bin(SnapshotIds=[snap])["Snapshots"]], [snap])
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            ec2.restore_image_from_recycle_bin(ImageId=ami)
        self.assertEqual(e.exception.response["Error"]["Code"], "IncorrectState")
        ec2.restore_snapshot_from_recycle_bin(SnapshotId=snap)
        self.assertTrue(ec2.restore_image_from_recycle_bin(ImageId=ami)["Return"])
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        self.assertEqual({t["Key"]: t["Value"] for t in image["Tags"]}, {"bin": tag})
        self.assertEqual(ec2.list_images_in_recycle_bin(ImageIds=[ami])["Images"], [])

    def test_moto_reset_forgets_the_rules(self):
        rbin = boto3.client("rbin", region_name="sa-east-1", endpoint_url=URL,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
        rbin.create_rule(ResourceType="EC2_IMAGE",
                         RetentionPeriod={"RetentionPeriodValue": 1,
                                          "RetentionPeriodUnit": "DAYS"})
        self.assertEqual(len(rbin.list_rules(ResourceType="EC2_IMAGE")["Rules"]), 1)
        urllib.request.urlopen(urllib.request.Request(URL + "/moto-api/reset", method="POST"))
        self.assertEqual(rbin.list_rules(ResourceType="EC2_IMAGE")["Rules"], [])

    def test_without_a_matching_rule_a_deletion_is_final(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        ec2.create_tags(Resources=[ami], Tags=[{"Key": "bin", "Value": "no-rule-has-this"}])
        ec2.deregister_image(ImageId=ami)
        self.assertEqual(ec2.list_images_in_recycle_bin(ImageIds=[ami])["Images"], [])
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            ec2.restore_image_from_recycle_bin(ImageId=ami)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidAMIID.NotFound")

    def test_a_region_level_rule_skips_what_carries_its_exclusion_tag(self):
        rbin_west = boto3.client("rbin", region_name="eu-west-1", endpoint_url=URL,
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
        rbin_west.create_rule(ResourceType="EBS_SNAPSHOT",
                              RetentionPeriod={"RetentionPeriodValue": 3,
                                               "RetentionPeriodUnit": "DAYS"},
                              ExcludeResourceTags=[{"ResourceTagKey": "scratch",
                                                    "ResourceTagValue": "yes"}])
        ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=URL,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        vol = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)["VolumeId"]
        kept = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        scratch = ec2.create_snapshot(VolumeId=vol, TagSpecifications=[{
            "ResourceType": "snapshot", "Tags": [{"Key": "scratch", "Value": "yes"}]}])["SnapshotId"]
        ec2.delete_snapshot(SnapshotId=kept)
        ec2.delete_snapshot(SnapshotId=scratch)
        binned = [s["SnapshotId"] for s in ec2.list_snapshots_in_recycle_bin()["Snapshots"]]
        self.assertEqual(binned, [kept])
        elsewhere = boto3.client("rbin", region_name="ap-south-1", endpoint_url=URL,
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
        self.assertEqual(elsewhere.list_rules(ResourceType="EBS_SNAPSHOT")["Rules"], [],
                         "rules are per region")


class IncludeDisabled(unittest.TestCase):
    def test_a_disabled_image_is_listed_only_when_asked_for(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        ec2.disable_image(ImageId=ami)
        self.assertEqual(ec2.describe_images(ImageIds=[ami])["Images"], [])
        listed = ec2.describe_images(ImageIds=[ami], IncludeDisabled=True)["Images"]
        self.assertEqual([(i["ImageId"], i["State"]) for i in listed], [(ami, "disabled")])
        ec2.enable_image(ImageId=ami)
        self.assertEqual(len(ec2.describe_images(ImageIds=[ami])["Images"]), 1)

    def test_disabling_removes_the_launch_permissions_for_good(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        ec2.modify_image_attribute(ImageId=ami, LaunchPermission={
            "Add": [{"UserId": "111122223333"}, {"Group": "all"}]})
        ec2.disable_image(ImageId=ami)
        ec2.enable_image(ImageId=ami)
        perms = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
        self.assertEqual(perms["LaunchPermissions"], [])


class ImageAttributeOfAMissingImage(unittest.TestCase):
    def test_a_deregistered_or_unknown_image_has_an_ec2_error_not_a_server_error(self):
        ec2 = client("ec2")
        ami = new_image(ec2)
        ec2.deregister_image(ImageId=ami)
        for image, codes in [(ami, {"InvalidAMIID.Unavailable", "InvalidAMIID.NotFound"}),
                             ("ami-0123456789abcdef9", {"InvalidAMIID.NotFound"})]:
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")
            self.assertIn(e.exception.response["Error"]["Code"], codes)
            self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)


class LaunchTemplateSourceVersion(unittest.TestCase):
    def test_a_new_version_starts_from_the_source_and_the_request_overrides(self):
        # CreateLaunchTemplateVersion's example: a new version based on
        # version 1 that changes only the AMI keeps the rest of version 1.
        ec2 = client("ec2")
        name = f"lt-{time.monotonic_ns()}"
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": "ami-0123456789abcdef0", "InstanceType": "t2.micro",
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-7b16de0c"}]})
        made = ec2.create_launch_template_version(
            LaunchTemplateName=name, SourceVersion="1", VersionDescription="WebVersion2",
            LaunchTemplateData={"ImageId": "ami-c998b6b2"})["LaunchTemplateVersion"]
        self.assertEqual(made["VersionNumber"], 2)
        data = made["LaunchTemplateData"]
        self.assertEqual(data["ImageId"], "ami-c998b6b2")
        self.assertEqual(data["InstanceType"], "t2.micro")
        self.assertEqual(data["NetworkInterfaces"][0]["SubnetId"], "subnet-7b16de0c")
        # without SourceVersion, only the request's data (moto's own behaviour)
        plain = ec2.create_launch_template_version(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-c998b6b2"})
        self.assertNotIn("InstanceType", plain["LaunchTemplateVersion"]["LaunchTemplateData"])


class InputTransformerTemplates(unittest.TestCase):
    def deliver(self, template, detail):
        events, sqs = client("events"), client("sqs")
        name = f"t{time.monotonic_ns()}"
        queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventPattern=json.dumps({"source": [name]}))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn, "InputTransformer": {
            "InputPathsMap": {"instance": "$.detail.instance-id", "state": "$.detail.state"},
            "InputTemplate": template}}])
        answer = events.put_events(Entries=[{"Source": name, "DetailType": "x", "Detail": json.dumps(detail)}])
        self.assertEqual(answer["FailedEntryCount"], 0)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual(len(messages), 1)
        return json.loads(messages[0]["Body"])

    def test_the_documented_json_template_quotes_string_values(self):
        # the user guide's example: {"instance": <instance>, "state": <state>}
        body = self.deliver('{"instance": <instance>, "state": <state>}',
                            {"instance-id": "i-0123456789", "state": "RUNNING"})
        self.assertEqual(body, {"instance": "i-0123456789", "state": "RUNNING"})

    def test_a_placeholder_inside_quotes_takes_the_text(self):
        body = self.deliver('"instance <instance> is in state <state>"',
                            {"instance-id": "i-0123456789", "state": "RUNNING"})
        self.assertEqual(body, "instance i-0123456789 is in state RUNNING")
        nested = self.deliver('{"environmentVariablesOverride": [{"name": "X", "value": <state>}]}',
                              {"instance-id": "i-1", "state": "a \"quoted\" value"})
        self.assertEqual(nested["environmentVariablesOverride"][0]["value"], 'a "quoted" value')


class TagLookup(unittest.TestCase):
    """The by-id tag lookup answers what moto's scan answered: each resource
    its own tags, the same as DescribeTags (which still scans) gives."""

    def test_each_resource_shows_its_own_tags_as_describe_tags_does(self):
        ec2 = client("ec2")
        images = [new_image(ec2) for _ in range(3)]
        ec2.create_tags(Resources=images[:2], Tags=[{"Key": "family", "Value": "web"}])
        ec2.create_tags(Resources=[images[1]], Tags=[{"Key": "only", "Value": images[1]}])
        got = {i["ImageId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}
               for i in ec2.describe_images(ImageIds=images)["Images"]}
        self.assertEqual(got, {images[0]: {"family": "web"},
                               images[1]: {"family": "web", "only": images[1]},
                               images[2]: {}})
        scanned = {}
        for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": images}])["Tags"]:
            self.assertEqual(t["ResourceType"], "image")
            scanned.setdefault(t["ResourceId"], {})[t["Key"]] = t["Value"]
        self.assertEqual(scanned, {k: v for k, v in got.items() if v})
        # (moto ignores Filters when ImageIds are given)
        tagged = ec2.describe_images(Owners=["self"],
                                     Filters=[{"Name": "tag:only", "Values": [images[1]]}])
        self.assertEqual([i["ImageId"] for i in tagged["Images"]], [images[1]])


class ImageParameters(unittest.TestCase):
    def test_an_aws_ec2_image_parameter_needs_an_ami_id(self):
        ssm = client("ssm")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            ssm.put_parameter(Name="/ami-builder/web/dev", Value="not-an-ami", Type="String",
                              DataType="aws:ec2:image")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        answer = ssm.put_parameter(Name="/ami-builder/web/dev", Value="ami-0123456789abcdef0",
                                   Type="String", DataType="aws:ec2:image")
        self.assertEqual(answer["Version"], 1)
        # text parameters are not checked
        ssm.put_parameter(Name="/ami-builder/web/note", Value="anything", Type="String")


# Several accounts. A client acts in an account through STS AssumeRole into a
# role there (moto needs no such role; MULTI_ACCOUNT.md §1). The tooling
# account owns the images, buses are the workloads'; each test starts from a
# reset moto (RecycleBin's test resets it too, so nothing may be shared
# between tests), which also forgets the assumed roles' keys.
TOOLING, WORKLOAD, OUTSIDER = "111111111111", "222222222222", "333333333333"


def reset():
    urllib.request.urlopen(urllib.request.Request(URL + "/moto-api/reset", method="POST"))


def as_account(service, account, region="us-east-1"):
    creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/x",
                                      RoleSessionName="test")["Credentials"]
    return boto3.client(service, region_name=region, endpoint_url=URL,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def ids_of(images):
    return [i["ImageId"] for i in images]


def ids_of_snapshots(answer):
    return [s["SnapshotId"] for s in answer["Snapshots"]]


class Organization:
    """The tooling account's organization (moto's Organizations): OU
    `workloads` under the root, OU `prod` under it; one new account in
    `prod`, one left in the root. CreateAccount picks random ids."""

    def __init__(self):
        org = as_account("organizations", TOOLING)
        made = org.create_organization(FeatureSet="ALL")["Organization"]
        self.arn, self.id = made["Arn"], made["Id"]
        root = org.list_roots()["Roots"][0]["Id"]
        workloads = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]
        prod = org.create_organizational_unit(ParentId=workloads["Id"], Name="prod")["OrganizationalUnit"]
        self.workloads_ou, self.prod_ou = workloads["Arn"], prod["Arn"]

        def account(name):
            return org.create_account(AccountName=name, Email=f"{name}@example.com")[
                "CreateAccountStatus"]["AccountId"]

        self.in_prod = account("prod")
        org.move_account(AccountId=self.in_prod, SourceParentId=root, DestinationParentId=prod["Id"])
        self.in_root = account("sandbox")


class MultiAccountTest(unittest.TestCase):
    def setUp(self):
        reset()

    def shared_image(self, ec2, *permissions):
        ami = new_image(ec2)
        if permissions:
            ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": list(permissions)})
        return ami


class CrossAccountImages(MultiAccountTest):
    def test_an_image_shared_with_an_account_is_available_to_it_in_every_branch(self):
        # DescribeImages: "private images owned by other Amazon Web Services
        # accounts for which you have explicit launch permissions"
        tooling, workload = as_account("ec2", TOOLING), as_account("ec2", WORKLOAD)
        shared = self.shared_image(tooling, {"UserId": WORKLOAD})
        private = self.shared_image(tooling)
        got = workload.describe_images(ImageIds=[shared])["Images"]
        self.assertEqual([(i["ImageId"], i["OwnerId"]) for i in got], [(shared, TOOLING)])
        self.assertEqual(error_code(workload.describe_images, ImageIds=[private]),
                         "InvalidAMIID.NotFound")
        self.assertEqual(ids_of(workload.describe_images(Owners=[TOOLING])["Images"]), [shared])
        self.assertEqual(ids_of(workload.describe_images(ExecutableUsers=["self"])["Images"]),
                         [shared])
        everything = ids_of(workload.describe_images()["Images"])
        self.assertIn(shared, everything)
        self.assertNotIn(private, everything)
        self.assertEqual(len(everything), len(set(everything)),
                         "each image once, though moto's fixture images are in every account")
        # the owner's own listing is unchanged; a third account sees nothing
        self.assertEqual(sorted(ids_of(tooling.describe_images(Owners=["self"])["Images"])),
                         sorted([shared, private]))
        outsider = as_account("ec2", OUTSIDER)
        self.assertEqual(error_code(outsider.describe_images, ImageIds=[shared]),
                         "InvalidAMIID.NotFound")
        self.assertEqual(outsider.describe_images(Owners=[TOOLING])["Images"], [])

    def test_a_public_image_is_available_to_all_but_shared_explicitly_with_none(self):
        # ExecutableUsers: "self" gives the AMIs shared with your account,
        # "all" the public AMIs
        tooling, outsider = as_account("ec2", TOOLING), as_account("ec2", OUTSIDER)
        public = self.shared_image(tooling, {"Group": "all"})
        self.assertEqual(ids_of(outsider.describe_images(ImageIds=[public])["Images"]), [public])
        # (a filter keeps the answers short: moto's fixture images are public)
        only = [{"Name": "image-id", "Values": [public]}]
        self.assertEqual(ids_of(outsider.describe_images(ExecutableUsers=["all"], Filters=only)[
            "Images"]), [public])
        self.assertEqual(outsider.describe_images(ExecutableUsers=["self"], Filters=only)["Images"],
                         [])
        self.assertEqual(ids_of(outsider.describe_images(Filters=only)["Images"]), [public])

    def test_organization_and_ou_grants_reach_the_accounts_inside_them(self):
        # User Guide, "Share an AMI with organizations or OUs": an OU grant
        # covers the OU's accounts and those of the OUs below it
        org = Organization()
        tooling = as_account("ec2", TOOLING)
        to_org = self.shared_image(tooling, {"OrganizationArn": org.arn})
        to_workloads = self.shared_image(tooling, {"OrganizationalUnitArn": org.workloads_ou})
        prod, sandbox = as_account("ec2", org.in_prod), as_account("ec2", org.in_root)
        outsider = as_account("ec2", OUTSIDER)
        self.assertEqual(ids_of(prod.describe_images(Owners=[TOOLING])["Images"]),
                         [to_org, to_workloads], "prod is in an OU below workloads")
        self.assertEqual(ids_of(prod.describe_images(ExecutableUsers=["self"])["Images"]),
                         [to_org, to_workloads])
        self.assertEqual(ids_of(prod.describe_images(ImageIds=[to_workloads])["Images"]),
                         [to_workloads])
        self.assertEqual(ids_of(sandbox.describe_images(Owners=[TOOLING])["Images"]), [to_org])
        self.assertEqual(error_code(sandbox.describe_images, ImageIds=[to_workloads]),
                         "InvalidAMIID.NotFound")
        self.assertEqual(outsider.describe_images(Owners=[TOOLING])["Images"], [])
        # "If you specify an Amazon Web Services account ID that is not your
        # own, ... AMIs that are shared with the account's organization or
        # organizational unit (OU) are not returned"; with your own id they are
        self.assertEqual(tooling.describe_images(ExecutableUsers=[org.in_prod])["Images"], [])
        self.assertEqual(ids_of(prod.describe_images(ExecutableUsers=[org.in_prod])["Images"]),
                         [to_org, to_workloads])

    def test_only_the_images_of_the_callers_region(self):
        west = as_account("ec2", TOOLING, "us-west-2")
        ami = self.shared_image(west, {"UserId": WORKLOAD})
        self.assertEqual(error_code(as_account("ec2", WORKLOAD).describe_images, ImageIds=[ami]),
                         "InvalidAMIID.NotFound")
        self.assertEqual(ids_of(as_account("ec2", WORKLOAD, "us-west-2").describe_images(
            ImageIds=[ami])["Images"]), [ami])

    def test_a_launch_in_another_account_sets_the_owners_last_launched_time(self):
        tooling, workload = as_account("ec2", TOOLING), as_account("ec2", WORKLOAD)
        ami = self.shared_image(tooling, {"UserId": WORKLOAD})
        self.assertNotIn("LastLaunchedTime", tooling.describe_images(ImageIds=[ami])["Images"][0])
        workload.run_instances(ImageId=ami, MinCount=1, MaxCount=1)
        self.assertIn("LastLaunchedTime", tooling.describe_images(ImageIds=[ami])["Images"][0])
        self.assertIn("LastLaunchedTime", workload.describe_images(ImageIds=[ami])["Images"][0])

    def test_a_disabled_image_is_no_longer_shared(self):
        # DisableImage removes the launch permissions (IncludeDisabled's
        # patch): the workload no longer sees the image, even asking for
        # disabled ones
        tooling, workload = as_account("ec2", TOOLING), as_account("ec2", WORKLOAD)
        ami = self.shared_image(tooling, {"UserId": WORKLOAD})
        tooling.disable_image(ImageId=ami)
        self.assertEqual(error_code(workload.describe_images, ImageIds=[ami], IncludeDisabled=True),
                         "InvalidAMIID.NotFound")
        self.assertEqual(ids_of(tooling.describe_images(ImageIds=[ami], IncludeDisabled=True)[
            "Images"]), [ami])


class ImageLaunchPermissions(MultiAccountTest):
    # the User Guide's example ARNs ("Share an AMI with organizations or OUs")
    ORG = "arn:aws:organizations::123456789012:organization/o-123example"
    OU = "arn:aws:organizations::123456789012:ou/o-123example/ou-1234-5example"
    ORG2 = "arn:aws:organizations::123456789012:organization/o-456example"
    OU2 = "arn:aws:organizations::123456789012:ou/o-123example/ou-1234-6example"

    def permissions(self, ec2, ami):
        got = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
        return sorted(got["LaunchPermissions"], key=lambda p: sorted(p.items()))

    def test_several_organizations_and_ous_in_one_request_are_all_kept(self):
        ec2 = as_account("ec2", TOOLING)
        ami = new_image(ec2)
        every = [{"OrganizationArn": self.ORG}, {"OrganizationArn": self.ORG2},
                 {"OrganizationalUnitArn": self.OU}, {"OrganizationalUnitArn": self.OU2},
                 {"UserId": WORKLOAD}]
        ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": every})
        self.assertEqual(self.permissions(ec2, ami), sorted(every, key=lambda p: sorted(p.items())))
        ec2.modify_image_attribute(ImageId=ami, LaunchPermission={
            "Remove": [{"OrganizationArn": self.ORG2}, {"OrganizationalUnitArn": self.OU}]})
        self.assertEqual(self.permissions(ec2, ami), [{"OrganizationArn": self.ORG},
                                                      {"OrganizationalUnitArn": self.OU2},
                                                      {"UserId": WORKLOAD}])

    def test_the_operation_type_shorthand_keeps_every_entry_too(self):
        ec2 = as_account("ec2", TOOLING)
        ami = new_image(ec2)
        ec2.modify_image_attribute(ImageId=ami, Attribute="launchPermission", OperationType="add",
                                   OrganizationArns=[self.ORG, self.ORG2],
                                   OrganizationalUnitArns=[self.OU, self.OU2])
        self.assertEqual(self.permissions(ec2, ami), [
            {"OrganizationArn": self.ORG}, {"OrganizationArn": self.ORG2},
            {"OrganizationalUnitArn": self.OU}, {"OrganizationalUnitArn": self.OU2}])

    def test_a_malformed_organization_or_ou_arn_is_refused_and_nothing_changes(self):
        # EC2's answer for an account ARN given as an organization's
        # (hashicorp/packer-plugin-amazon#156)
        ec2 = as_account("ec2", TOOLING)
        ami = new_image(ec2)
        for bad in ({"OrganizationArn": "arn:aws:organizations::123456789012:account/o-123example"},
                    {"OrganizationalUnitArn": "arn:aws:organizations::123456789012:ou/path/to"},
                    {"OrganizationalUnitArn": self.ORG}):
            code = error_code(ec2.modify_image_attribute, ImageId=ami, LaunchPermission={
                "Add": [{"UserId": WORKLOAD}, bad]})
            self.assertEqual(code, "InvalidAMIAttributeItemValue", bad)
        self.assertEqual(self.permissions(ec2, ami), [])

    def test_another_account_may_not_read_or_change_the_permissions(self):
        # AuthFailure for an image the caller sees but does not own
        # (cloudquery/cloudquery#9406), NotFound for one it cannot see
        tooling = as_account("ec2", TOOLING)
        ami = self.shared_image(tooling, {"UserId": WORKLOAD})
        workload, outsider = as_account("ec2", WORKLOAD), as_account("ec2", OUTSIDER)
        self.assertEqual(error_code(workload.describe_image_attribute, ImageId=ami,
                                    Attribute="launchPermission"), "AuthFailure")
        self.assertEqual(error_code(outsider.describe_image_attribute, ImageId=ami,
                                    Attribute="launchPermission"), "InvalidAMIID.NotFound")
        grab = {"Add": [{"UserId": OUTSIDER}]}
        self.assertEqual(error_code(workload.modify_image_attribute, ImageId=ami,
                                    LaunchPermission=grab), "AuthFailure")
        self.assertEqual(error_code(outsider.modify_image_attribute, ImageId=ami,
                                    LaunchPermission=grab), "InvalidAMIID.NotFound")
        self.assertEqual(self.permissions(tooling, ami), [{"UserId": WORKLOAD}])
        tooling.deregister_image(ImageId=ami)
        self.assertEqual(error_code(tooling.modify_image_attribute, ImageId=ami,
                                    LaunchPermission=grab), "InvalidAMIID.Unavailable")


class SnapshotVolumePermissions(MultiAccountTest):
    def snapshot(self, ec2, *permissions):
        vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        if permissions:
            ec2.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission",
                                          CreateVolumePermission={"Add": list(permissions)})
        return snap

    def test_the_structured_form_adds_and_removes(self):
        # ModifySnapshotAttribute's example grants 123456789012; here in the
        # SDKs' structured form, which moto ignored
        ec2 = as_account("ec2", TOOLING)
        snap = self.snapshot(ec2, {"UserId": "123456789012"}, {"Group": "all"})
        got = ec2.describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
        self.assertEqual(sorted(got["CreateVolumePermissions"], key=lambda p: sorted(p.items())),
                         [{"Group": "all"}, {"UserId": "123456789012"}])
        ec2.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission",
                                      CreateVolumePermission={"Remove": [{"Group": "all"}]})
        got = ec2.describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
        self.assertEqual(got["CreateVolumePermissions"], [{"UserId": "123456789012"}])
        self.assertEqual(error_code(ec2.modify_snapshot_attribute, SnapshotId=snap,
                                    CreateVolumePermission={"Add": [{"UserId": WORKLOAD}],
                                                            "Remove": [{"UserId": "123456789012"}]}),
                         "InvalidParameterCombination", "add or remove, not both")
        self.assertEqual(error_code(ec2.modify_snapshot_attribute, SnapshotId=snap,
                                    CreateVolumePermission={"Add": [{"Group": "everyone"}]}),
                         "InvalidAMIAttributeItemValue")
        # the shorthand still works (moto's own path)
        ec2.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission",
                                      OperationType="remove", UserIds=["123456789012"])
        got = ec2.describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
        self.assertEqual(got["CreateVolumePermissions"], [])

    def test_a_shared_snapshot_is_listed_for_the_account_it_is_shared_with(self):
        tooling, workload = as_account("ec2", TOOLING), as_account("ec2", WORKLOAD)
        shared = self.snapshot(tooling, {"UserId": WORKLOAD})
        private = self.snapshot(tooling)
        own = self.snapshot(workload)

        def listed(ec2, **kwargs):
            # (the filter keeps the answers short: every account holds the
            # snapshots of moto's fixture images; it applies after the rest)
            only = [{"Name": "snapshot-id", "Values": [shared, private, own]}]
            return {s["SnapshotId"] for s in ec2.describe_snapshots(Filters=only, **kwargs)[
                "Snapshots"]}

        for who in ("self", WORKLOAD):
            # "self for snapshots for which you own or have explicit permissions"
            self.assertEqual(listed(workload, RestorableByUserIds=[who]), {shared, own}, who)
        self.assertEqual(listed(workload, OwnerIds=[TOOLING]), {shared})
        self.assertEqual(listed(workload, OwnerIds=["self"]), {own})
        self.assertEqual(ids_of_snapshots(workload.describe_snapshots(SnapshotIds=[shared])), [shared])
        self.assertEqual(error_code(workload.describe_snapshots, SnapshotIds=[private]),
                         "InvalidSnapshot.NotFound")
        self.assertEqual(listed(workload), {shared, own})
        self.assertEqual(listed(as_account("ec2", OUTSIDER), OwnerIds=[TOOLING]), set())
        # the owner: its own, and those it shared with a given account
        self.assertEqual(listed(tooling, OwnerIds=["self"]), {shared, private})
        self.assertEqual(listed(tooling, RestorableByUserIds=[WORKLOAD]), {shared})
        # with no option at all, every snapshot the caller may restore (the
        # fixture images' too)
        everything = ids_of_snapshots(workload.describe_snapshots())
        self.assertTrue({shared, own} <= set(everything))
        self.assertNotIn(private, everything)
        self.assertEqual(len(everything), len(set(everything)))

    def test_a_public_snapshot_is_restorable_by_all(self):
        tooling, outsider = as_account("ec2", TOOLING), as_account("ec2", OUTSIDER)
        public = self.snapshot(tooling, {"Group": "all"})
        only = [{"Name": "snapshot-id", "Values": [public]}]
        self.assertEqual(ids_of_snapshots(outsider.describe_snapshots(
            RestorableByUserIds=["all"], Filters=only)), [public])
        self.assertEqual(ids_of_snapshots(outsider.describe_snapshots(
            RestorableByUserIds=["self"], Filters=only)), [], "self: explicit permissions only")
        self.assertEqual(ids_of_snapshots(outsider.describe_snapshots(Filters=only)), [public])


class CrossAccountCopyImage(MultiAccountTest):
    def shared_for_copy(self, snapshot_too=True):
        tooling = as_account("ec2", TOOLING)
        ami = new_image(tooling)
        tooling.create_tags(Resources=[ami], Tags=[{"Key": "team", "Value": "tooling"},
                                                   {"Key": "ec2:SharedTag/family", "Value": "web"}])
        tooling.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": WORKLOAD}]})
        snap = tooling.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0][
            "Ebs"]["SnapshotId"]
        if snapshot_too:
            tooling.modify_snapshot_attribute(SnapshotId=snap, CreateVolumePermission={
                "Add": [{"UserId": WORKLOAD}]})
        return ami, snap

    def copied_snapshot(self, ec2, ami):
        snap = ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"][
            "SnapshotId"]
        return ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]

    def test_a_shared_image_is_copied_into_the_account_with_its_own_encrypted_snapshot(self):
        # CopyImage's example copies an AMI from us-west-2 into us-east-1;
        # here from the tooling account's us-east-1 into the workload's
        # us-west-2, encrypted with a key of the workload's and tagged
        source, source_snap = self.shared_for_copy()
        west = as_account("ec2", WORKLOAD, "us-west-2")
        key = as_account("kms", WORKLOAD, "us-west-2").create_key()["KeyMetadata"]["Arn"]
        copy = west.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="My server",
                               Description="copied", Encrypted=True, KmsKeyId=key,
                               TagSpecifications=[
                                   {"ResourceType": "image", "Tags": [{"Key": "k", "Value": "i"}]},
                                   {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "s"}]}]
                               )["ImageId"]
        image = west.describe_images(ImageIds=[copy])["Images"][0]
        self.assertEqual((image["OwnerId"], image["Name"], image["Description"]),
                         (WORKLOAD, "My server", "copied"))
        self.assertEqual(image["Tags"], [{"Key": "k", "Value": "i"}])
        self.assertIn(copy, ids_of(west.describe_images(Owners=["self"])["Images"]))
        snap = self.copied_snapshot(west, copy)
        self.assertNotEqual(snap["SnapshotId"], source_snap)
        self.assertEqual((snap["OwnerId"], snap["Encrypted"], snap["KmsKeyId"]), (WORKLOAD, True, key))
        self.assertEqual(snap["Tags"], [{"Key": "k", "Value": "s"}])

    def test_encrypted_without_a_key_uses_the_accounts_default_ebs_key(self):
        source, _ = self.shared_for_copy()
        workload = as_account("ec2", WORKLOAD)
        copy = workload.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="enc",
                                   Encrypted=True)["ImageId"]
        default = as_account("kms", WORKLOAD).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
        snap = self.copied_snapshot(workload, copy)
        self.assertEqual((snap["Encrypted"], snap["KmsKeyId"]), (True, default))
        plain = workload.copy_image(SourceImageId=source, SourceRegion="us-east-1",
                                    Name="plain")["ImageId"]
        self.assertFalse(self.copied_snapshot(workload, plain)["Encrypted"])
        self.assertEqual(workload.describe_images(ImageIds=[plain])["Images"][0]["Name"], "plain")
        self.assertEqual(error_code(workload.copy_image, SourceImageId=source,
                                    SourceRegion="us-east-1", Name="xyz", KmsKeyId="alias/mine"),
                         "InvalidParameterDependency")

    def test_without_read_access_to_the_snapshot_or_launch_permission_there_is_no_copy(self):
        source, _ = self.shared_for_copy(snapshot_too=False)
        workload = as_account("ec2", WORKLOAD)
        self.assertEqual(error_code(workload.copy_image, SourceImageId=source,
                                    SourceRegion="us-east-1", Name="xyz"), "InvalidRequest")
        self.assertEqual(error_code(as_account("ec2", OUTSIDER).copy_image, SourceImageId=source,
                                    SourceRegion="us-east-1", Name="xyz"), "InvalidAMIID.NotFound")
        self.assertEqual(workload.describe_images(Owners=["self"])["Images"], [])

    def test_tags_client_token_and_a_copy_within_the_account(self):
        source, _ = self.shared_for_copy()
        workload = as_account("ec2", WORKLOAD)
        # CopyImageTags: the caller's own tags and the owner's ec2:SharedTag/ ones
        workload.create_tags(Resources=[source], Tags=[{"Key": "mine", "Value": "yes"}])
        copy = workload.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="tagged",
                                   CopyImageTags=True, ClientToken="once")["ImageId"]
        tags = {t["Key"]: t["Value"] for t in workload.describe_images(ImageIds=[copy])["Images"][0]["Tags"]}
        self.assertEqual(tags, {"mine": "yes", "ec2:SharedTag/family": "web"})
        again = workload.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="tagged",
                                    CopyImageTags=True, ClientToken="once")["ImageId"]
        self.assertEqual(again, copy)
        self.assertEqual(error_code(workload.copy_image, SourceImageId=source,
                                    SourceRegion="us-east-1", Name="other", ClientToken="once"),
                         "IdempotentParameterMismatch")
        # the owner copies its own image to another Region, as before
        tooling_west = as_account("ec2", TOOLING, "us-west-2")
        own = tooling_west.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="west",
                                      CopyImageTags=True)["ImageId"]
        image = tooling_west.describe_images(ImageIds=[own])["Images"][0]
        self.assertEqual(image["OwnerId"], TOOLING)
        self.assertEqual({t["Key"]: t["Value"] for t in image["Tags"]},
                         {"team": "tooling", "ec2:SharedTag/family": "web"})


class CrossAccountEvents(MultiAccountTest):
    def receiving_bus(self, account, region="us-east-1", name="central-event-bus"):
        """A bus in `account` with a rule sending every event of source
        `app` to a queue; returns (bus ARN, read the queue)."""
        events, sqs = as_account("events", account, region), as_account("sqs", account, region)
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        queue = sqs.create_queue(QueueName=f"{name}-q")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        events.put_rule(Name="all-app", EventBusName=name, EventPattern=json.dumps({"source": ["app"]}))
        events.put_targets(Rule="all-app", EventBusName=name, Targets=[{"Id": "q", "Arn": queue_arn}])

        def read():
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"]) for m in got]

        return arn, read

    def entry(self, bus, detail="x"):
        return {"Source": "app", "DetailType": "built", "Detail": json.dumps({"d": detail}),
                "EventBusName": bus}

    def test_an_allowed_sender_reaches_the_other_accounts_rules_and_keeps_its_account(self):
        bus, read = self.receiving_bus(WORKLOAD)
        # the User Guide's policy for one sending account
        as_account("events", WORKLOAD).put_permission(EventBusName="central-event-bus", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "sid1", "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{TOOLING}:root"},
                "Action": "events:PutEvents", "Resource": bus}]}))
        answer = as_account("events", TOOLING).put_events(Entries=[self.entry(bus)])
        self.assertEqual(answer["FailedEntryCount"], 0, answer)
        got = read()
        self.assertEqual([(e["account"], e["region"], e["detail"]) for e in got],
                         [(TOOLING, "us-east-1", {"d": "x"})])
        self.assertEqual(got[0]["id"], answer["Entries"][0]["EventId"])

    def test_without_the_policy_the_entry_is_refused(self):
        bus, read = self.receiving_bus(WORKLOAD)
        answer = as_account("events", OUTSIDER).put_events(Entries=[self.entry(bus)])
        self.assertEqual(answer["FailedEntryCount"], 1)
        self.assertEqual(answer["Entries"][0]["ErrorCode"], "AccessDeniedException")
        # PutPermission for one account lets that account only
        as_account("events", WORKLOAD).put_permission(
            EventBusName="central-event-bus", Action="events:PutEvents", Principal=TOOLING,
            StatementId="tooling")
        self.assertEqual(as_account("events", OUTSIDER).put_events(
            Entries=[self.entry(bus)])["FailedEntryCount"], 1)
        self.assertEqual(as_account("events", TOOLING).put_events(
            Entries=[self.entry(bus)])["FailedEntryCount"], 0)
        self.assertEqual([e["account"] for e in read()], [TOOLING])
        # a bus that does not exist, and an account id that is none
        missing = bus.replace("central-event-bus", "nope")
        nobody = bus.replace(WORKLOAD, "12345")
        answer = as_account("events", TOOLING).put_events(Entries=[self.entry(missing),
                                                                   self.entry(nobody)])
        self.assertEqual([e.get("ErrorCode") for e in answer["Entries"]],
                         ["AccessDeniedException", "InvalidAccountIdException"])

    def test_an_organization_condition_lets_every_member_in(self):
        # the User Guide's policy for every account of an organization
        org = Organization()
        bus, read = self.receiving_bus(TOOLING)
        as_account("events", TOOLING).put_permission(
            EventBusName="central-event-bus", Action="events:PutEvents", Principal="*",
            StatementId="AllowAllAccountsFromOrganizationToPutEvents",
            Condition={"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": org.id})
        for sender, failed in ((org.in_prod, 0), (org.in_root, 0), (OUTSIDER, 1)):
            answer = as_account("events", sender).put_events(Entries=[self.entry(bus, sender)])
            self.assertEqual(answer["FailedEntryCount"], failed, sender)
        self.assertEqual(sorted(e["account"] for e in read()), sorted([org.in_prod, org.in_root]))

    def test_entries_for_several_buses_keep_their_order(self):
        west, read_west = self.receiving_bus(WORKLOAD, "eu-west-1", "west")
        as_account("events", WORKLOAD, "eu-west-1").put_permission(
            EventBusName="west", Action="events:PutEvents", Principal=TOOLING, StatementId="t")
        closed, read_closed = self.receiving_bus(OUTSIDER)
        own, read_own = self.receiving_bus(TOOLING, name="own")
        entries = [self.entry(west, "west"), self.entry("own", "by name"),
                   self.entry(closed, "closed"), {**self.entry(west), "Detail": ""},
                   self.entry(own, "own by arn")]
        answer = as_account("events", TOOLING).put_events(Entries=entries)
        self.assertEqual(answer["FailedEntryCount"], 2)
        self.assertEqual([("EventId" in e, e.get("ErrorCode")) for e in answer["Entries"]],
                         [(True, None), (True, None), (False, "AccessDeniedException"),
                          (False, "InvalidArgument"), (True, None)])
        self.assertEqual([(e["account"], e["region"], e["detail"]["d"]) for e in read_west()],
                         [(TOOLING, "us-east-1", "west")], "to eu-west-1, in the workload account")
        self.assertEqual(read_closed(), [])
        self.assertEqual(sorted(e["detail"]["d"] for e in read_own()), ["by name", "own by arn"])
        # the sender's own account in another Region, without such a bus:
        # moto's ResourceNotFoundException for the call, as for a bus here
        nowhere = f"arn:aws:events:ap-south-1:{TOOLING}:event-bus/own"
        self.assertEqual(error_code(as_account("events", TOOLING).put_events,
                                    Entries=[self.entry(nowhere), self.entry(west)]),
                         "ResourceNotFoundException")
        self.assertEqual(read_west(), [], "nothing delivered")


class TheAwsManagedEbsKey(unittest.TestCase):
    def test_default_encryption_uses_a_key_kms_calls_aws_managed(self):
        # KMS API reference, "KeyMetadata": KeyManager is AWS for AWS
        # managed keys, CUSTOMER for the keys an account creates
        ec2, kms = client("ec2"), client("kms")
        ami = new_image(ec2)
        copy = ec2.copy_image(SourceImageId=ami, SourceRegion="us-east-1", Name=f"enc-{ami}",
                              Encrypted=True)["ImageId"]
        snap = ec2.describe_images(ImageIds=[copy])["Images"][0]["BlockDeviceMappings"][0]["Ebs"][
            "SnapshotId"]
        key = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["KmsKeyId"]
        self.assertEqual(kms.describe_key(KeyId=key)["KeyMetadata"]["KeyManager"], "AWS")
        self.assertEqual(kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"], key)
        mine = kms.create_key(Description="mine")["KeyMetadata"]
        self.assertEqual(mine["KeyManager"], "CUSTOMER")


class AssumeRoleChecks(unittest.TestCase):
    def checks(self, state):
        req = urllib.request.Request(URL + "/moto-api/ami-builder/assume-role-checks",
                                     data=state.encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def tearDown(self):
        self.checks("off")

    def test_a_missing_role_is_access_denied_once_checked_and_an_existing_one_is_assumed(self):
        sts = client("sts")
        ghost = "arn:aws:iam::444455556666:role/not-there"
        # moto's own behaviour: any role
        sts.assume_role(RoleArn=ghost, RoleSessionName="session")
        org = client("organizations")
        try:
            org.create_organization(FeatureSet="ALL")
        except botocore.exceptions.ClientError:
            pass
        member = org.create_account(Email="m@example.com", AccountName="m")[
            "CreateAccountStatus"]["AccountId"]
        self.checks("on")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            sts.assume_role(RoleArn=ghost, RoleSessionName="session")
        self.assertEqual(e.exception.response["Error"]["Code"], "AccessDenied")
        self.assertIn("not authorized to perform: sts:AssumeRole on resource: " + ghost,
                      e.exception.response["Error"]["Message"])
        # CreateAccount made OrganizationAccountAccessRole in the member
        role = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
        creds = sts.assume_role(RoleArn=role, RoleSessionName="session")["Credentials"]
        me = boto3.client("sts", region_name="us-east-1", endpoint_url=URL,
                          aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"]).get_caller_identity()
        self.assertEqual(me["Account"], member)
        self.checks("off")
        sts.assume_role(RoleArn=ghost, RoleSessionName="session")


class ResetForgetsOrganizations(unittest.TestCase):
    def test_a_member_account_is_in_no_organization_after_a_reset(self):
        # MULTI_ACCOUNT.md §6: moto kept the member -> management map
        reset()
        org = Organization()
        member = as_account("organizations", org.in_prod)
        self.assertEqual(member.describe_organization()["Organization"]["Id"], org.id)
        reset()
        member = as_account("organizations", org.in_prod)
        self.assertEqual(error_code(member.describe_organization),
                         "AWSOrganizationsNotInUseException")
        self.assertTrue(member.create_organization(FeatureSet="ALL")["Organization"]["Id"])


if __name__ == "__main__":
    unittest.main()
