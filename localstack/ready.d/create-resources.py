"""LocalStack init hook: creates Skycast's tables, buckets, queues and
notification rules from infra/resources.json, the declaration `make dev` and
Terraform read too. Idempotent, like `make dev`'s bootstrap: it skips what
exists. Runs inside LocalStack (its Python has boto3)."""

import json
import os

import boto3

PREFIX = os.environ.get("SKYCAST_NAME_PREFIX", "skycast")
# Overridable so the test suite can run this hook against its own emulator.
ENDPOINT = os.environ.get("SKYCAST_HOOK_ENDPOINT", "http://localhost:4566")
REGION = os.environ.get("AWS_REGION", "us-east-1")

with open(os.environ.get("SKYCAST_RESOURCES", "/etc/skycast/resources.json")) as f:
    RESOURCES = json.load(f)


def name(logical):
    return f"{PREFIX}-{logical}"


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def key_schema(hash_key, range_key):
    keys = [{"AttributeName": hash_key["name"], "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": range_key["name"], "KeyType": "RANGE"})
    return keys


def tables(ddb):
    existing = set(ddb.list_tables()["TableNames"])
    for logical, spec in RESOURCES["tables"].items():
        table = name(logical)
        if table in existing:
            continue
        indexes = spec.get("global_secondary_indexes", [])
        attributes = {}
        for k in [spec["hash_key"], spec.get("range_key")] + [
            k for i in indexes for k in (i["hash_key"], i.get("range_key"))
        ]:
            if k:
                attributes[k["name"]] = k["type"]
        args = {
            "TableName": table,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": key_schema(spec["hash_key"], spec.get("range_key")),
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        }
        if spec.get("stream_view_type"):
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec["stream_view_type"]}
        if indexes:
            args["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": i["name"],
                    "KeySchema": key_schema(i["hash_key"], i.get("range_key")),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for i in indexes
            ]
        ddb.create_table(**args)
        ddb.get_waiter("table_exists").wait(TableName=table)
        if spec.get("ttl_attribute"):
            ddb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["ttl_attribute"]},
            )
        print(f"skycast: table {table}")


def queues(sqs):
    arns = {}
    for logical, spec in RESOURCES["queues"].items():
        dlq_url = sqs.create_queue(QueueName=name(f"{logical}-dlq"))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=name(logical))["QueueUrl"]
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "VisibilityTimeout": str(spec["visibility_timeout_s"]),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(spec["max_receive_count"])}
                ),
            },
        )
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        print(f"skycast: queue {name(logical)} (+ dlq)")
    return arns


def buckets(s3, queue_arns):
    for logical, spec in RESOURCES["buckets"].items():
        bucket = name(logical)
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        if spec.get("versioning"):
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        print(f"skycast: bucket {bucket}")
    by_bucket = {}
    for n in RESOURCES.get("notifications", []):
        rules = [{"Name": "prefix", "Value": n["prefix"]}] if n.get("prefix") else []
        rules += [{"Name": "suffix", "Value": n["suffix"]}] if n.get("suffix") else []
        config = {"QueueArn": queue_arns[n["queue"]], "Events": n["events"]}
        if rules:
            config["Filter"] = {"Key": {"FilterRules": rules}}
        by_bucket.setdefault(n["bucket"], []).append(config)
    for logical, configs in by_bucket.items():
        s3.put_bucket_notification_configuration(
            Bucket=name(logical), NotificationConfiguration={"QueueConfigurations": configs}
        )
        print(f"skycast: notifications on {name(logical)}")


tables(client("dynamodb"))
buckets(client("s3"), queues(client("sqs")))
print("skycast: resources ready")
