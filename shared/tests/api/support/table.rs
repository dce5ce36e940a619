//! Tables of a test's own, shaped as `template.yaml`'s `Table` resource.

/// A table shaped as the template's: `pk`/`sk` and its sparse, keys-only
/// indexes.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let index = |name: &str, hash: &str, range: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key(range, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .set_attribute_definitions(Some(
            [
                "pk",
                "sk",
                "due_shard",
                "due_at",
                "owner_tenant",
                "pending_tenant",
                "check_shard",
                "check_at",
            ]
            .map(attr)
            .to_vec(),
        ))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index("RenewalDue", "due_shard", "due_at"))
        .global_secondary_indexes(index("ByTenant", "owner_tenant", "pk"))
        .global_secondary_indexes(index("PendingByTenant", "pending_tenant", "pk"))
        .global_secondary_indexes(index("DriftCheck", "check_shard", "check_at"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}
