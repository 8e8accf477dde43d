//! The permissions declaration (`infra/permissions.json`): what each function
//! and the ingest node may do to which table, queue and bucket. Terraform
//! makes each role's policy from it, and the IAM test runs each one's code
//! with exactly it enforced, so a grant the code lacks, or a grant it does not
//! need, cannot go unnoticed.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The declaration as committed, embedded at build time.
pub const PERMISSIONS_JSON: &str = include_str!("../../../infra/permissions.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    pub roles: BTreeMap<String, Role>,
    #[serde(default, rename = "_comment")]
    pub comment: Option<String>,
}

/// One role's grants, by logical resource name (as in `resources.json`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Table → DynamoDB actions (IAM's names, without `dynamodb:`).
    #[serde(default)]
    pub dynamodb: BTreeMap<String, Vec<String>>,
    /// Queue → SQS actions.
    #[serde(default)]
    pub sqs: BTreeMap<String, Vec<String>>,
    /// Bucket → the keys and S3 actions granted on them.
    #[serde(default)]
    pub s3: BTreeMap<String, S3Grant>,
    /// Secrets (by name under the stack's prefix) it may read.
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Grant {
    /// A key pattern, e.g. `live/*`.
    pub keys: String,
    pub actions: Vec<String>,
}

/// S3 actions IAM applies to the bucket, not to its objects.
pub const S3_BUCKET_ACTIONS: &[&str] = &["ListBucket", "ListBucketVersions", "ListBucketMultipartUploads"];

impl Permissions {
    pub fn embedded() -> Self {
        // The file is part of the build and checked by tests: a parse failure
        // is a broken build, not an input error.
        serde_json::from_str(PERMISSIONS_JSON).expect("infra/permissions.json is valid")
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }
}

impl Role {
    /// Whether the role may do DynamoDB `action` on table `logical`.
    pub fn allows_table(&self, action: &str, logical: &str) -> bool {
        self.dynamodb.get(logical).is_some_and(|actions| actions.iter().any(|a| a == action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Resources;

    #[test]
    fn every_grant_names_a_declared_resource() {
        let p = Permissions::embedded();
        let r = Resources::embedded();
        assert!(p.roles.len() >= 7);
        for (name, role) in &p.roles {
            for t in role.dynamodb.keys() {
                assert!(r.tables.contains_key(t), "{name} is granted table {t}, which resources.json lacks");
            }
            for q in role.sqs.keys() {
                assert!(r.queues.contains_key(q), "{name} is granted queue {q}, which resources.json lacks");
            }
            for (b, grant) in &role.s3 {
                assert!(r.buckets.contains_key(b), "{name} is granted bucket {b}, which resources.json lacks");
                assert!(!grant.actions.is_empty() && !grant.keys.is_empty());
            }
            for s in &role.secrets {
                assert!(
                    ["jwt-private-key", "playback-key", "edge-secret"].contains(&s.as_str()),
                    "{name}: unknown secret {s}"
                );
            }
        }
    }
}
