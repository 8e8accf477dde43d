"""Creates one IAM user per role in a moto server, each with exactly the
policy given, then turns IAM enforcement on for the whole server.

stdin: {"users": {"<name>": <policy document>}}; argv[1]: the endpoint.
stdout: {"<name>": {"key": ..., "secret": ...}}.

Run with the moto venv's Python (boto3 comes with moto). Enforcement is a
server-wide switch (moto's INITIAL_NO_AUTH_ACTION_COUNT, reset through its
/moto-api/reset-auth), so the IAM test runs a moto server of its own.
"""

import json
import sys
import urllib.request

import boto3


def main():
    endpoint = sys.argv[1]
    users = json.load(sys.stdin)["users"]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    keys = {}
    for name, policy in users.items():
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="least-privilege", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    # From here on every request is checked against its signer's policies.
    # A plain body: as a form, werkzeug would keep the number from moto.
    request = urllib.request.Request(
        endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request) as reply:
        reply.read()
    json.dump(keys, sys.stdout)


if __name__ == "__main__":
    main()
