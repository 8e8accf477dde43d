//! The resource declaration (`infra/resources.json`): tables, buckets, queues
//! and notification rules. It is embedded so every binary runs on its defaults,
//! and it is the same file Terraform reads.

use std::collections::BTreeMap;

use serde::Deserialize;

// Every struct refuses fields it does not know: a field added to the JSON
// fails the tests until the bootstrap, Terraform and the LocalStack hook read
// it (tests/tests/infra.rs checks the latter two).

/// The declaration as committed, embedded at build time.
pub const RESOURCES_JSON: &str = include_str!("../../../infra/resources.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub tables: BTreeMap<String, TableSpec>,
    pub buckets: BTreeMap<String, BucketSpec>,
    pub queues: BTreeMap<String, QueueSpec>,
    #[serde(default)]
    pub notifications: Vec<NotificationSpec>,
    /// For readers of the file; nothing reads it.
    #[serde(default, rename = "_comment")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub name: String,
    /// DynamoDB scalar type: "S", "N" or "B".
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub hash_key: KeySpec,
    #[serde(default)]
    pub range_key: Option<KeySpec>,
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// A DynamoDB stream of the table's changes (`NEW_IMAGE`, …), for a
    /// function that follows them (the edge-sync function in AWS).
    #[serde(default)]
    pub stream_view_type: Option<String>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    pub name: String,
    pub hash_key: KeySpec,
    #[serde(default)]
    pub range_key: Option<KeySpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    #[serde(default)]
    pub versioning: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    pub visibility_timeout_s: u32,
    /// Deliveries before a message moves to the queue's dead-letter queue.
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSpec {
    pub bucket: String,
    pub queue: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub suffix: Option<String>,
}

impl Resources {
    /// The embedded declaration. It is checked by a unit test, so a broken
    /// file fails the build's tests rather than a deploy.
    pub fn embedded() -> Self {
        match serde_json::from_str(RESOURCES_JSON) {
            Ok(resources) => resources,
            Err(e) => panic!("infra/resources.json is invalid (a unit test guards this): {e}"),
        }
    }
}

/// The dead-letter queue's logical name for a queue.
pub fn dlq_name(queue: &str) -> String {
    format!("{queue}-dlq")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_declaration_parses_and_names_what_the_code_uses() {
        let r = Resources::embedded();
        for table in ["users", "refresh-tokens", "streams"] {
            assert!(r.tables.contains_key(table), "missing table {table}");
        }
        let streams = &r.tables["streams"];
        let indexes: Vec<_> = streams.global_secondary_indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(indexes, ["by_owner", "by_status", "by_recency", "by_key"]);
        for n in &r.notifications {
            assert!(r.buckets.contains_key(&n.bucket), "notification names unknown bucket {}", n.bucket);
            assert!(r.queues.contains_key(&n.queue), "notification names unknown queue {}", n.queue);
        }
    }
}
