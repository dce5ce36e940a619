"""Creates in moto what the SAM template creates in AWS, and prints the IDs
as KEY=value lines. Idempotent: existing resources (found by name) are reused."""
import json
import os
import time

import boto3
import yaml

TABLE = os.environ.get("DYNAMODB_TABLE", "custom-domains")
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "template.yaml")


class TemplateLoader(yaml.SafeLoader):
    """Reads a CloudFormation template: a short-form tag (`!Ref`, `!Sub`,
    `!GetAtt`, ...) is dropped and its node's plain value kept (the table's
    definition has none)."""


def _untagged(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


TemplateLoader.add_multi_constructor("!", _untagged)


def table_arguments(template, name):
    """create_table's arguments for the template's `Table` resource, named
    `name`: its attribute definitions, key schema, indexes (name, key schema,
    projection) and billing mode. template.yaml is the table's one
    definition; the rest of its properties (point-in-time recovery,
    encryption) mean nothing to moto."""
    table = template["Resources"]["Table"]["Properties"]
    arguments = {
        "TableName": name,
        "AttributeDefinitions": table["AttributeDefinitions"],
        "KeySchema": table["KeySchema"],
        "BillingMode": table["BillingMode"],
    }
    indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in table.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        arguments["GlobalSecondaryIndexes"] = indexes
    return arguments


region = os.environ["AWS_REGION"]

ddb = boto3.client("dynamodb", region_name=region)
if TABLE not in ddb.list_tables()["TableNames"]:
    with open(TEMPLATE, encoding="utf-8") as f:
        ddb.create_table(**table_arguments(yaml.load(f, Loader=TemplateLoader), TABLE))

kms = boto3.client("kms", region_name=region)
alias = "alias/custom-domains"
key_id = next(
    (a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] == alias), None
)
if key_id is None:
    key_id = kms.create_key(Description="custom-domains secrets")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)

# AWS_ENDPOINT_URL_CLOUDFRONT (ministack) is read by boto3 itself.
cloudfront = boto3.client("cloudfront", region_name="us-east-1")
COMMENT = "custom-domains default distribution"
# The platform's origin, behind both distributions.
ORIGINS = {
    "Quantity": 1,
    "Items": [
        {
            "Id": "platform",
            "DomainName": "app.platform.example",
            "CustomOriginConfig": {
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": "https-only",
            },
        }
    ],
}
items = cloudfront.list_distributions()["DistributionList"].get("Items", [])
dist_id = next((d["Id"] for d in items if d.get("Comment") == COMMENT), None)
if dist_id is None:
    dist_id = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": f"custom-domains-{time.time()}",
            "Comment": COMMENT,
            "Enabled": True,
            "Origins": ORIGINS,
            "DefaultCacheBehavior": {
                "TargetOriginId": "platform",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "all"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )["Distribution"]["Id"]

# The shared edge: a multi-tenant distribution (CloudFront SaaS Manager),
# on which each hostname of an organisation without a distribution of its
# own gets a distribution tenant.
MT_COMMENT = "custom-domains multi-tenant distribution"
items = cloudfront.list_distributions()["DistributionList"].get("Items", [])
mt_id = next((d["Id"] for d in items if d.get("Comment") == MT_COMMENT), None)
if mt_id is None:
    mt_id = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": f"custom-domains-mt-{time.time()}",
            "Comment": MT_COMMENT,
            "Enabled": True,
            "ConnectionMode": "tenant-only",
            "Origins": ORIGINS,
            "DefaultCacheBehavior": {
                "TargetOriginId": "platform",
                "ViewerProtocolPolicy": "redirect-to-https",
                # CachingDisabled (managed): multi-tenant distributions
                # take cache policies only.
                "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            },
        }
    )["Distribution"]["Id"]

# The account's default connection group, which CloudFront creates with the
# account's first distribution tenant: a platform on SaaS Manager has one,
# and a managed certificate's start tells the tenant its routing endpoint.
# Made here by a throwaway tenant, as that first tenant would.
groups = cloudfront.list_connection_groups().get("ConnectionGroups", [])
if not any(g.get("IsDefault") for g in groups):
    made = cloudfront.create_distribution_tenant(
        DistributionId=mt_id,
        Name="custom-domains-setup",
        Domains=[{"Domain": "custom-domains-setup.invalid"}],
        Enabled=False,
    )
    cloudfront.delete_distribution_tenant(
        Id=made["DistributionTenant"]["Id"], IfMatch=made["ETag"]
    )

apigw = boto3.client("apigatewayv2", region_name=region)
api_id = next(
    (a["ApiId"] for a in apigw.get_apis()["Items"] if a["Name"] == "custom-domains-platform"), None
)
if api_id is None:
    api_id = apigw.create_api(Name="custom-domains-platform", ProtocolType="HTTP")["ApiId"]
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

# The RFC 2136 key's secret, read by the functions from Secrets Manager as
# the template's Rfc2136TsigSecretArn parameter makes them do.
secrets = boto3.client("secretsmanager", region_name=region)
SECRET = "custom-domains/rfc2136-tsig"
try:
    secret_arn = secrets.describe_secret(SecretId=SECRET)["ARN"]
    secrets.put_secret_value(SecretId=SECRET, SecretString=os.environ["RFC2136_TSIG_SECRET"])
except secrets.exceptions.ResourceNotFoundException:
    secret_arn = secrets.create_secret(
        Name=SECRET, SecretString=os.environ["RFC2136_TSIG_SECRET"]
    )["ARN"]

# Every event the product sends, delivered by an EventBridge rule to an SQS
# queue, where the tests read them back (as a platform's consumer would).
sqs = boto3.client("sqs", region_name=region)
queue_url = sqs.create_queue(QueueName="custom-domains-events")["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
    "Attributes"
]["QueueArn"]
events = boto3.client("events", region_name=region)
events.put_rule(
    Name="custom-domains-to-queue", EventPattern=json.dumps({"source": ["custom-domains"]})
)
events.put_targets(Rule="custom-domains-to-queue", Targets=[{"Id": "queue", "Arn": queue_arn}])

print(f"DYNAMODB_TABLE={TABLE}")
print(f"EVENTS_QUEUE_URL={queue_url}")
print(f"RFC2136_TSIG_SECRET_ARN={secret_arn}")
print(f"KMS_KEY_ID={key_id}")
print(f"CLOUDFRONT_DISTRIBUTION_ID={dist_id}")
print(f"CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID={mt_id}")
print(f"API_GATEWAY_ID={api_id}")
