"""moto's server, with one gap filled so the local AWS answers as AWS does.

moto 5 stores an API Gateway v2 custom domain without the fields AWS adds
to each domain-name configuration: `ApiGatewayDomainName` (the regional
target, `d-<id>.execute-api.<region>.amazonaws.com`, that tenants point a
CNAME at), `HostedZoneId` and `DomainNameStatus`. The product reads the
target, so the local stack adds them, in AWS's format, when a domain is
created.

moto's DynamoDB is not safe under concurrent requests: TransactWriteItems
deep-copies the whole table (to roll back) while other requests change it,
and fails with "dictionary changed size during iteration". DynamoDB requests
are served one at a time here (behind one lock), as a single-threaded
DynamoDB would. Everything else is moto unchanged.

Usage: python3 infra/local/moto_server.py -H 127.0.0.1 -p 5000
"""
import random
import string
import sys
import threading

from moto.apigatewayv2 import models
from moto.dynamodb import responses as dynamodb_responses
from moto.server import main

# AWS's hosted zone IDs for regional API Gateway endpoints.
ZONES = {"us-east-1": "Z1UJRXOUMOOFQ8", "eu-west-1": "ZLY8HYME6SFDD"}

_original_init = models.DomainName.__init__


def _init(self, domain_name, domain_name_configurations, *args, **kwargs):
    backend = kwargs.get("backend", args[-1] if args else None)
    region = backend.region_name
    for config in domain_name_configurations:
        ident = "".join(random.choices(string.ascii_lowercase + string.digits, k=10))
        config.setdefault("apiGatewayDomainName", f"d-{ident}.execute-api.{region}.amazonaws.com")
        config.setdefault("hostedZoneId", ZONES.get(region, "Z1UJRXOUMOOFQ8"))
        config.setdefault("domainNameStatus", "AVAILABLE")
    _original_init(self, domain_name, domain_name_configurations, *args, **kwargs)


models.DomainName.__init__ = _init

_dynamodb_lock = threading.Lock()
_original_call_action = dynamodb_responses.DynamoHandler.call_action


def _call_action_serialised(self):
    with _dynamodb_lock:
        return _original_call_action(self)


dynamodb_responses.DynamoHandler.call_action = _call_action_serialised

if __name__ == "__main__":
    main(sys.argv[1:])
