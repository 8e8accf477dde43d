//! Least privilege, proven: an emulator of its own with IAM enforced, one
//! user per role of `infra/permissions.json` holding exactly that role's
//! policy, and SDK configurations signed as each.
//!
//! moto checks S3 and SQS actions against their resources, and DynamoDB
//! actions only against `*` (it names no table to IAM). So DynamoDB tables
//! are scoped here, by [`TableGuard`]: an interceptor on the DynamoDB client
//! that reads each request's action and tables (transactions item by item,
//! as IAM does) and refuses what the role does not grant, before it is sent.
//! It also records what was used, so a grant nobody uses shows too.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::Write,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{
    ConfigBag, Intercept, RuntimeComponents, interceptors::BeforeTransmitInterceptorContextRef,
};
use serde_json::{Value, json};
use skycast_core::{
    config::physical_name,
    permissions::{Permissions, Role, S3_BUCKET_ACTIONS},
    resources::Resources,
};
use skycast_dev::{bootstrap, sdk};

/// moto's account and region.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// The IAM policy moto enforces for `role`: S3 and SQS scoped to the role's
/// buckets, keys and queues; DynamoDB actions on `*` (tables: [`TableGuard`]).
pub fn moto_policy(role: &Role, prefix: &str) -> Value {
    let mut statements = Vec::new();
    let mut table_actions: BTreeSet<String> = role.dynamodb.values().flatten().cloned().collect();
    // moto names a transaction's action `TransactWriteItems`, where IAM checks
    // each item's own action (which the declaration grants, per table).
    if ["PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"].iter().any(|a| table_actions.contains(*a)) {
        table_actions.insert("TransactWriteItems".into());
    }
    if !table_actions.is_empty() {
        let actions: Vec<String> = table_actions.iter().map(|a| format!("dynamodb:{a}")).collect();
        statements.push(json!({"Effect": "Allow", "Action": actions, "Resource": "*"}));
    }
    for (queue, actions) in &role.sqs {
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", physical_name(prefix, queue));
        let mut scoped: Vec<String> =
            actions.iter().filter(|a| *a != "GetQueueUrl").map(|a| format!("sqs:{a}")).collect();
        // IAM authorizes SQS's batch calls as their single forms; moto
        // checks them by their own names.
        for (single, batch) in [
            ("SendMessage", "SendMessageBatch"),
            ("DeleteMessage", "DeleteMessageBatch"),
            ("ChangeMessageVisibility", "ChangeMessageVisibilityBatch"),
        ] {
            if actions.iter().any(|a| a == single) {
                scoped.push(format!("sqs:{batch}"));
            }
        }
        if !scoped.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": scoped, "Resource": arn}));
        }
        if actions.iter().any(|a| a == "GetQueueUrl") {
            // moto resolves no queue for GetQueueUrl and checks it against `*`.
            statements.push(json!({"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"}));
        }
    }
    for (bucket, grant) in &role.s3 {
        let bucket = physical_name(prefix, bucket);
        let (on_bucket, on_objects): (Vec<&String>, Vec<&String>) =
            grant.actions.iter().partition(|a| S3_BUCKET_ACTIONS.contains(&a.as_str()));
        if !on_bucket.is_empty() {
            let actions: Vec<String> = on_bucket.iter().map(|a| format!("s3:{a}")).collect();
            statements
                .push(json!({"Effect": "Allow", "Action": actions, "Resource": format!("arn:aws:s3:::{bucket}")}));
        }
        if !on_objects.is_empty() {
            let actions: Vec<String> = on_objects.iter().map(|a| format!("s3:{a}")).collect();
            let keys = format!("arn:aws:s3:::{bucket}/{}", grant.keys);
            statements.push(json!({"Effect": "Allow", "Action": actions, "Resource": keys}));
        }
        // moto checks a batch DeleteObjects as s3:DeleteObject on the bucket;
        // IAM checks each object's key.
        let deletes: Vec<String> =
            on_objects.iter().filter(|a| a.starts_with("DeleteObject")).map(|a| format!("s3:{a}")).collect();
        if !deletes.is_empty() {
            statements
                .push(json!({"Effect": "Allow", "Action": deletes, "Resource": format!("arn:aws:s3:::{bucket}")}));
        }
    }
    if statements.is_empty() {
        // A role with nothing to do in these services still needs a policy.
        statements.push(json!({"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// What IAM checks for one DynamoDB request: `(action, physical table)`.
pub fn dynamodb_grants(operation: &str, body: &Value) -> Vec<(String, String)> {
    let table = |v: &Value| v["TableName"].as_str().unwrap_or_default().to_owned();
    match operation {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| {
                [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ]
                .into_iter()
                .filter(|(k, _)| item.get(*k).is_some())
                .map(|(k, action)| (action.to_owned(), table(&item[k])))
                .collect::<Vec<_>>()
            })
            .collect(),
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| ("GetItem".to_owned(), table(&item["Get"])))
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, _)| (operation.to_owned(), t.clone()))
            .collect(),
        _ => vec![(operation.to_owned(), table(body))],
    }
}

/// `(action, logical table)` pairs a role's requests used.
pub type Used = Arc<Mutex<BTreeSet<(String, String)>>>;

/// The DynamoDB half of the role's policy, enforced per table (see the module).
#[derive(Debug)]
pub struct TableGuard {
    pub role_name: String,
    pub role: Role,
    pub prefix: String,
    /// `(action, logical table)` of every request allowed.
    pub used: Used,
}

impl Intercept for TableGuard {
    fn name(&self) -> &'static str {
        "TableGuard"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body: Value = request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        for (action, physical) in dynamodb_grants(&operation, &body) {
            let logical = physical.strip_prefix(&format!("{}-", self.prefix)).unwrap_or(&physical).to_owned();
            if !self.role.allows_table(&action, &logical) {
                return Err(format!(
                    "AccessDenied: role {} may not dynamodb:{action} on table {logical}",
                    self.role_name
                )
                .into());
            }
            self.used.lock().map_err(|_| "poisoned")?.insert((action, logical));
        }
        Ok(())
    }
}

/// An emulator with IAM enforced, its resources, and a signed-in SDK
/// configuration per role (plus `admin`, who may do anything, for set-up).
pub struct EnforcedIam {
    pub endpoint: String,
    pub prefix: String,
    pub permissions: Permissions,
    keys: HashMap<String, (String, String)>,
    used: Mutex<BTreeMap<String, Used>>,
}

impl EnforcedIam {
    /// Signed as `role`; its DynamoDB client guarded per table.
    pub async fn sdk(&self, role: &str) -> SdkConfig {
        let (key, secret) = self.keys.get(role).unwrap_or_else(|| panic!("no user for role {role}"));
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(key, secret, None, None, "iam-test"))
            .load()
            .await
    }

    /// A DynamoDB client of `role`'s that only reaches its declared tables.
    pub fn dynamodb(&self, role: &str, sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
        let used = self.used.lock().unwrap().entry(role.to_owned()).or_default().clone();
        let guard = TableGuard {
            role_name: role.to_owned(),
            role: self.permissions.role(role).cloned().unwrap_or_default(),
            prefix: self.prefix.clone(),
            used,
        };
        let config = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(guard).build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// The DynamoDB grants `role` has that no request used so far.
    pub fn unused_table_grants(&self, role: &str) -> Vec<String> {
        let used = self.used.lock().unwrap().get(role).map(|u| u.lock().unwrap().clone()).unwrap_or_default();
        let declared = self.permissions.role(role).cloned().unwrap_or_default();
        declared
            .dynamodb
            .iter()
            .flat_map(|(t, actions)| actions.iter().map(move |a| (a.clone(), t.clone())))
            .filter(|g| !used.contains(g))
            .map(|(a, t)| format!("dynamodb:{a} on {t}"))
            .collect()
    }
}

/// The one enforced emulator of this test process, set up on first use.
pub async fn enforced() -> &'static EnforcedIam {
    static IAM: tokio::sync::OnceCell<EnforcedIam> = tokio::sync::OnceCell::const_new();
    IAM.get_or_init(set_up).await
}

async fn set_up() -> EnforcedIam {
    // A server of its own: enforcement is server-wide.
    let endpoint = crate::spawn_emulator();
    let prefix = crate::unique_prefix();
    // Built while nothing is enforced yet, as Terraform builds it.
    let admin = sdk::for_endpoint(&endpoint).await;
    bootstrap::all(&admin, &Resources::embedded(), &prefix).await.expect("resources");
    let permissions = Permissions::embedded();
    let mut users: BTreeMap<String, Value> =
        permissions.roles.iter().map(|(name, role)| (name.clone(), moto_policy(role, &prefix))).collect();
    users.insert(
        "admin".into(),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    );
    let mut child = Command::new(crate::moto_python())
        .arg(crate::project_root().join("tests/iam/users.py"))
        .arg(&endpoint)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tests/iam/users.py");
    child.stdin.take().expect("stdin").write_all(json!({"users": users}).to_string().as_bytes()).expect("write users");
    let out = child.wait_with_output().expect("users.py");
    assert!(out.status.success(), "users.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let created: HashMap<String, HashMap<String, String>> = serde_json::from_slice(&out.stdout).expect("keys");
    let keys = created.into_iter().map(|(name, k)| (name, (k["key"].clone(), k["secret"].clone()))).collect();
    EnforcedIam { endpoint, prefix, permissions, keys, used: Mutex::default() }
}
