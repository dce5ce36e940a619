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
DynamoDB would.

That deep copy also made every transaction cost the whole table: with the
suite's table at a few thousand items, moto spent seconds of CPU per
transaction and every other request waited (a ListTables took 12.8 s while
twenty hostnames were issued at once). A transaction here saves, and on
failure puts back, only the items it names, which is all a rollback needs.

moto's EventBridge builds a new JSONPath parser (a yacc table, generated
each time) for every path of every event it delivers to a rule's target:
two thirds of moto's CPU while twenty hostnames were issued at once
(py-spy), and every other request waited behind it. The parsed paths are
kept here (they never change), so an event costs what it costs in moto
without the rebuild. Everything else is moto unchanged.

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

import copy as _copy  # noqa: E402

from moto.dynamodb import models as dynamodb_models  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: E402


class _NoTableCopy:
    """`copy` for moto's DynamoDB models: while a transaction runs here, its
    whole-table backup is skipped (the items it names are saved instead)."""

    active = False

    def __getattr__(self, name):
        return getattr(_copy, name)

    def deepcopy(self, value, memo=None):
        if self.active and isinstance(value, dynamodb_models.Table):
            return value
        return _copy.deepcopy(value, memo)


_no_table_copy = _NoTableCopy()
dynamodb_models.copy = _no_table_copy
_original_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _item_key(table, op):
    attrs = op.get("Item") or op.get("Key") or {}
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _stored(table, hash_value, range_value):
    if range_value is None:
        return table.items.get(hash_value)
    return table.items.get(hash_value, {}).get(range_value)


def _put_back(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
        if hash_value in table.items and not table.items[hash_value]:
            del table.items[hash_value]
    else:
        table.items[hash_value][range_value] = item


def _transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        try:
            hash_value, range_value = _item_key(table, op)
        except (KeyError, TypeError):
            continue
        before = _copy.deepcopy(_stored(table, hash_value, range_value))
        saved.append((table, hash_value, range_value, before))
    _no_table_copy.active = True
    try:
        return _original_transact(self, transact_items)
    except Exception:
        for table, hash_value, range_value, before in reversed(saved):
            _put_back(table, hash_value, range_value, before)
        raise
    finally:
        _no_table_copy.active = False


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items

import functools  # noqa: E402

import jsonpath_ng.ext  # noqa: E402

# moto imports `parse` from this module at each call: the cached one.
jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)

if __name__ == "__main__":
    main(sys.argv[1:])
