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


if __name__ == "__main__":
    unittest.main()
