//! Tables of a test's own, made from `template.yaml`'s `Table` resource (its
//! attribute definitions, key schema, indexes and billing mode): the
//! template is the one definition of the table, here as in the local stack.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = include_str!("../../../../template.yaml");

/// Creates a table named `name` shaped as the template's `Table`: `pk`/`sk`
/// and its sparse, keys-only indexes.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    let template = &YamlLoader::load_from_str(TEMPLATE).expect("template.yaml parses")[0];
    let table = &template["Resources"]["Table"]["Properties"];
    let indexes: Vec<GlobalSecondaryIndex> = items(&table["GlobalSecondaryIndexes"])
        .iter()
        .map(index)
        .collect();
    ddb.create_table()
        .table_name(name)
        .set_attribute_definitions(Some(
            items(&table["AttributeDefinitions"])
                .iter()
                .map(|a| {
                    AttributeDefinition::builder()
                        .attribute_name(text(a, "AttributeName"))
                        .attribute_type(ScalarAttributeType::from(text(a, "AttributeType")))
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .set_key_schema(Some(key_schema(&table["KeySchema"])))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::from(text(table, "BillingMode")))
        .send()
        .await
        .unwrap();
}

/// The list at `y` (none if the template leaves it out).
fn items(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or_default()
}

fn text<'a>(y: &'a Yaml, key: &str) -> &'a str {
    y[key]
        .as_str()
        .unwrap_or_else(|| panic!("template.yaml: the table's {key} is not a string"))
}

fn key_schema(y: &Yaml) -> Vec<KeySchemaElement> {
    items(y)
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName"))
                .key_type(KeyType::from(text(k, "KeyType")))
                .build()
                .unwrap()
        })
        .collect()
}

fn index(y: &Yaml) -> GlobalSecondaryIndex {
    let projection = &y["Projection"];
    GlobalSecondaryIndex::builder()
        .index_name(text(y, "IndexName"))
        .set_key_schema(Some(key_schema(&y["KeySchema"])))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::from(text(projection, "ProjectionType")))
                .set_non_key_attributes(projection["NonKeyAttributes"].as_vec().map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                }))
                .build(),
        )
        .build()
        .unwrap()
}
