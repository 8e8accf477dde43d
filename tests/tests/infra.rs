//! Local and cloud cannot drift: Terraform (`infra/*.tf`), the local bootstrap
//! of `make dev` and the LocalStack init hook all build the resources of
//! `infra/resources.json`. These tests fail when one of them stops reading a
//! part of it, names a resource it does not declare, or builds it otherwise.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use serde_json::Value;
use skycast_core::{config::physical_name, resources::Resources};
use skycast_tests::project_root;

fn infra() -> PathBuf {
    project_root().join("infra")
}

/// Every `.tf` file of `infra/`, one text.
fn terraform() -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(infra())
        .expect("infra/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    assert!(files.len() > 3, "infra/ has its Terraform");
    files.iter().map(|p| std::fs::read_to_string(p).expect("read .tf")).collect::<Vec<_>>().join("\n")
}

fn declaration() -> Value {
    serde_json::from_str(skycast_core::resources::RESOURCES_JSON).expect("resources.json")
}

/// The field names inside each kind's specs (not the logical names, which
/// are map keys), with the kind they were found in.
fn fields(v: &Value, out: &mut BTreeMap<String, String>, kind: &str) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                out.entry(k.clone()).or_insert_with(|| kind.to_owned());
                fields(v, out, kind);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| fields(i, out, kind)),
        _ => {}
    }
}

#[test]
fn terraform_reads_every_field_of_the_declaration() {
    let tf = terraform();
    assert!(tf.contains(r#"jsondecode(file("${path.module}/resources.json"))"#), "Terraform reads resources.json");
    let decl = declaration();
    let mut found = BTreeMap::new();
    for kind in ["tables", "buckets", "queues"] {
        let specs = decl[kind].as_object().unwrap_or_else(|| panic!("{kind} is a map"));
        assert!(tf.contains(&format!("for_each = local.{kind}")), "Terraform makes one resource per entry of {kind}");
        specs.values().for_each(|spec| fields(spec, &mut found, kind));
    }
    assert!(tf.contains("in local.notifications"), "Terraform makes the notification rules");
    fields(&decl["notifications"], &mut found, "notifications");
    assert!(found.len() >= 10, "walked the declaration: {found:?}");
    for (field, kind) in &found {
        assert!(
            tf.contains(&format!(".{field}")),
            "infra/*.tf never reads `{field}` (in {kind} of resources.json): a resource built without it would differ from the local one"
        );
    }
}

/// Each `<resource>["<logical name>"]` that Terraform writes must be declared.
#[test]
fn terraform_names_only_declared_resources() {
    let tf = terraform();
    let r = Resources::embedded();
    let mut checked = 0;
    for (reference, declared) in [
        ("aws_dynamodb_table.this[\"", r.tables.keys().cloned().collect::<Vec<_>>()),
        ("aws_sqs_queue.main[\"", r.queues.keys().cloned().collect()),
        ("aws_sqs_queue.dlq[\"", r.queues.keys().cloned().collect()),
        ("aws_s3_bucket.this[\"", r.buckets.keys().cloned().collect()),
    ] {
        for (at, _) in tf.match_indices(reference) {
            let rest = &tf[at + reference.len()..];
            let name = &rest[..rest.find('"').expect("closing quote")];
            assert!(
                declared.iter().any(|d| d == name),
                "infra/*.tf uses {reference}{name}\"] but resources.json has no {name}"
            );
            checked += 1;
        }
    }
    // Grants: permissions.json names only declared resources (a unit test in
    // core checks that), and Terraform builds every role's policy from it.
    assert!(tf.contains(r#"jsondecode(file("${path.module}/permissions.json"))"#), "Terraform reads permissions.json");
    for role in skycast_core::permissions::Permissions::embedded().roles.keys() {
        let deployed = role == "ingest-node" || tf.contains(&format!("\n    {role} = {{"));
        assert!(deployed, "permissions.json has role {role}, which infra/*.tf does not deploy");
        checked += 1;
    }
    assert!(checked > 15, "found the references: {checked}");
}

/// Every function folder is deployed, with its own role and log group.
#[test]
fn terraform_deploys_every_function() {
    let tf = terraform();
    let functions = std::fs::read_dir(project_root().join("functions")).expect("functions/");
    let mut n = 0;
    for f in functions.filter_map(|e| e.ok()) {
        let name = f.file_name().to_string_lossy().into_owned();
        assert!(tf.contains(&format!("\n    {name} = {{")), "functions/{name} has no entry in infra/functions.tf");
        n += 1;
    }
    assert_eq!(
        n, 10,
        "auth, streams, sessions, vod, webhooks, lifecycle, recorder, catalog, webhook-sender, edge-sync"
    );
    for http in ["\"auth\"", "\"streams\"", "\"sessions\"", "\"vod\"", "\"webhooks\""] {
        assert!(tf.contains(&format!("= {http}")), "API Gateway routes to {http}");
    }
    // Every queue is consumed: a queue no function reads fills up unseen.
    let tf = squash(&tf);
    for queue in Resources::embedded().queues.keys() {
        assert!(
            tf.contains(&format!("queue = \"{queue}\"")),
            "no function is triggered by queue {queue} (function_queues in infra/functions.tf)"
        );
    }
    for queue in ["webhook-events", "webhook-deliveries"] {
        let mapping = format!("function = \"webhook-sender\", queue = \"{queue}\"");
        assert!(tf.contains(&mapping), "the webhook-sender is triggered by {queue}");
    }
}

/// The text of `resource "<kind>" "<name>" { … }` in `tf`, up to its closing brace.
fn resource<'a>(tf: &'a str, kind: &str, name: &str) -> &'a str {
    let head = format!("resource \"{kind}\" \"{name}\" {{");
    let start = tf.find(&head).unwrap_or_else(|| panic!("infra/*.tf has no {kind}.{name}"));
    let mut depth = 0;
    for (i, c) in tf[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &tf[start..=start + i];
                }
            }
            _ => {}
        }
    }
    panic!("{kind}.{name} is never closed")
}

/// Runs of whitespace as one space, so `terraform fmt`'s alignment does not matter.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An operator hears of what needs one: every DLQ (so a queue added to
/// resources.json is watched without anyone remembering to), a failed
/// recording, the API's 5xx, a node's missing heartbeat and its growing
/// spool, each on the one encrypted topic; and there is a dashboard.
#[test]
fn terraform_alarms_on_every_dlq_and_what_needs_an_operator() {
    let tf = terraform();
    let topic = squash(resource(&tf, "aws_sns_topic", "alarms"));
    assert!(topic.contains("kms_master_key_id = aws_kms_key.data.arn"), "the alarm topic is encrypted: {topic}");

    // A DLQ per queue of resources.json, an alarm per DLQ.
    let dlqs = squash(resource(&tf, "aws_sqs_queue", "dlq"));
    assert!(dlqs.contains("for_each = local.queues"), "a DLQ for every queue of resources.json: {dlqs}");
    let dlq_alarm = squash(resource(&tf, "aws_cloudwatch_metric_alarm", "dlq"));
    for wanted in [
        "for_each = aws_sqs_queue.dlq",
        "namespace = \"AWS/SQS\"",
        "metric_name = \"ApproximateNumberOfMessagesVisible\"",
        "dimensions = { QueueName = each.value.name }",
        "comparison_operator = \"GreaterThanThreshold\"",
        "threshold = 0",
    ] {
        assert!(dlq_alarm.contains(wanted), "the DLQ alarm has `{wanted}`: {dlq_alarm}");
    }

    // The other alarms, each on what it is named for.
    for (alarm, wanted) in [
        ("recorder_errors", "dimensions = { FunctionName = aws_lambda_function.this[\"recorder\"].function_name }"),
        ("recordings_failed", "metric_name = \"RecordingsFailed\""),
        ("api_5xx", "metric_name = \"5xx\""),
        ("node_heartbeat", "metric_name = \"skycast_node_heartbeat_age_seconds\""),
        ("node_spool", "metric_name = \"skycast_node_spool_oldest_age_seconds\""),
    ] {
        let block = squash(resource(&tf, "aws_cloudwatch_metric_alarm", alarm));
        assert!(block.contains(wanted), "alarm {alarm} has `{wanted}`: {block}");
    }
    let heartbeat = squash(resource(&tf, "aws_cloudwatch_metric_alarm", "node_heartbeat"));
    assert!(
        heartbeat.contains("treat_missing_data = \"breaching\""),
        "a node that reports nothing alarms too: {heartbeat}"
    );

    // Every alarm tells the topic when it fires and when it is over.
    let prefix = "resource \"aws_cloudwatch_metric_alarm\" \"";
    let mut alarms = 0;
    for (at, _) in tf.match_indices(prefix) {
        let rest = &tf[at + prefix.len()..];
        let name = &rest[..rest.find('"').expect("closing quote")];
        let block = squash(resource(&tf, "aws_cloudwatch_metric_alarm", name));
        for action in ["alarm_actions", "ok_actions"] {
            let wanted = format!("{action} = [aws_sns_topic.alarms.arn]");
            assert!(block.contains(&wanted), "alarm {name} has `{wanted}`: {block}");
        }
        alarms += 1;
    }
    assert!(alarms >= 6, "found the alarms: {alarms}");

    let dashboard = squash(resource(&tf, "aws_cloudwatch_dashboard", "skycast"));
    assert!(dashboard.contains("dashboard_body = jsonencode("), "the dashboard is built with jsonencode: {dashboard}");
}

/// What `make dev` creates and what the LocalStack hook creates, side by
/// side in the same emulator, described back and compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_localstack_hook_builds_what_make_dev_builds() {
    let sdk = skycast_tests::sdk_config().await;
    let resources = Resources::embedded();
    let (dev, hook) = (skycast_tests::unique_prefix(), skycast_tests::unique_prefix());
    skycast_dev::bootstrap::all(&sdk, &resources, &dev).await.expect("make dev's bootstrap");

    // Twice: LocalStack may restart with its state kept, so the hook must be idempotent.
    for run in ["first", "second"] {
        let out = Command::new(skycast_tests::moto_python())
            .arg(project_root().join("localstack/ready.d/create-resources.py"))
            .env("SKYCAST_NAME_PREFIX", &hook)
            .env("SKYCAST_HOOK_ENDPOINT", skycast_tests::emulator_endpoint())
            .env("SKYCAST_RESOURCES", infra().join("resources.json"))
            .output()
            .expect("run the hook with the emulator's Python (it has boto3)");
        assert!(out.status.success(), "hook failed on its {run} run: {}", String::from_utf8_lossy(&out.stderr));
    }

    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for logical in resources.tables.keys() {
        let [a, b] = [&dev, &hook].map(|p| physical_name(p, logical));
        let (a, b) = (table_shape(&ddb, &a).await, table_shape(&ddb, &b).await);
        assert_eq!(a, b, "table {logical}: make dev vs the LocalStack hook");
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for logical in resources.queues.keys() {
        let a = queue_shape(&sqs, &dev, logical).await;
        let b = queue_shape(&sqs, &hook, logical).await;
        assert_eq!(a, b, "queue {logical}: make dev vs the LocalStack hook");
    }
    let s3 = skycast_dev::sdk::s3(&sdk);
    for logical in resources.buckets.keys() {
        let a = bucket_shape(&s3, &dev, logical).await;
        let b = bucket_shape(&s3, &hook, logical).await;
        assert_eq!(a, b, "bucket {logical}: make dev vs the LocalStack hook");
    }
}

/// Keys, attribute types, indexes and TTL, with the prefix taken out.
async fn table_shape(ddb: &aws_sdk_dynamodb::Client, name: &str) -> String {
    let t = ddb.describe_table().table_name(name).send().await.expect("describe table");
    let t = t.table().expect("table");
    let mut attrs: Vec<String> =
        t.attribute_definitions().iter().map(|a| format!("{}:{}", a.attribute_name(), a.attribute_type())).collect();
    attrs.sort();
    let keys = |k: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        k.iter().map(|e| format!("{}:{}", e.attribute_name(), e.key_type())).collect::<Vec<_>>().join(",")
    };
    let mut indexes: Vec<String> = t
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let projection = i.projection().and_then(|p| p.projection_type()).map(|p| p.to_string());
            format!("{}({}){:?}", i.index_name().unwrap_or_default(), keys(i.key_schema()), projection)
        })
        .collect();
    indexes.sort();
    let ttl = ddb.describe_time_to_live().table_name(name).send().await.expect("describe TTL");
    let ttl = ttl.time_to_live_description().and_then(|d| d.attribute_name()).map(str::to_owned);
    let stream = t.stream_specification().and_then(|s| s.stream_view_type()).map(|v| v.to_string());
    format!("keys {} attrs {attrs:?} indexes {indexes:?} ttl {ttl:?} stream {stream:?}", keys(t.key_schema()))
}

async fn queue_shape(sqs: &aws_sdk_sqs::Client, prefix: &str, logical: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let url = sqs.get_queue_url().queue_name(physical_name(prefix, logical)).send().await.expect("queue");
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url.queue_url().unwrap_or_default())
        .attribute_names(A::All)
        .send()
        .await
        .expect("attributes");
    let attrs = attrs.attributes().cloned().unwrap_or_default();
    let redrive: Value = serde_json::from_str(attrs.get(&A::RedrivePolicy).map(String::as_str).unwrap_or("{}"))
        .expect("redrive policy JSON");
    let dlq = redrive["deadLetterTargetArn"].as_str().unwrap_or_default().replace(prefix, "<prefix>");
    // One side may write the count as a number, the other as a string.
    let max = redrive["maxReceiveCount"].to_string().trim_matches('"').to_owned();
    format!("visibility {:?} dlq {dlq} max_receive {max}", attrs.get(&A::VisibilityTimeout))
}

async fn bucket_shape(s3: &aws_sdk_s3::Client, prefix: &str, logical: &str) -> String {
    let name = physical_name(prefix, logical);
    // The emulator answers a never-versioned bucket with XML the SDK cannot
    // read; that counts as "never", for both sides alike.
    let versioning = match s3.get_bucket_versioning().bucket(&name).send().await {
        Ok(v) => format!("{:?}", v.status()),
        Err(_) => "never".to_owned(),
    };
    // As above: a bucket without rules gets XML the SDK cannot read.
    let mut queues: Vec<String> = match s3.get_bucket_notification_configuration().bucket(&name).send().await {
        Err(_) => Vec::new(),
        Ok(n) => n
            .queue_configurations()
            .iter()
            .map(|q| {
                let rules: Vec<String> = q
                    .filter()
                    .and_then(|f| f.key())
                    .map(|k| k.filter_rules().iter().map(|r| format!("{:?}={:?}", r.name(), r.value())).collect())
                    .unwrap_or_default();
                format!("{} {:?} {rules:?}", q.queue_arn().replace(prefix, "<prefix>"), q.events())
            })
            .collect(),
    };
    queues.sort();
    format!("versioning {versioning} queues {queues:?}")
}

/// Every path of the API (openapi.json) reaches a function through API
/// Gateway: `make dev` merges every router, so only this catches a path
/// that falls through to `$default` in AWS.
#[test]
fn api_gateway_routes_every_documented_path() {
    let tf = squash(&std::fs::read_to_string(infra().join("api.tf")).expect("api.tf"));
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(infra().join("../openapi.json")).expect("openapi.json"))
            .expect("openapi.json is JSON");
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() > 20, "the spec lists the API");
    for (path, methods) in paths {
        let first = path.split('/').nth(1).unwrap_or_default();
        let routed = methods.as_object().expect("methods").keys().all(|method| {
            let exact = format!("\"{} {path}\"", method.to_ascii_uppercase());
            let any = format!("\"ANY {path}\"");
            let proxy = format!("\"ANY /{first}/{{proxy+}}\"");
            let nested = path.matches('/').count() > 1 && tf.contains(&proxy);
            tf.contains(&exact) || tf.contains(&any) || nested
        });
        // What falls through goes to the auth function: its own paths, and
        // those every function serves (health, readiness, the spec, keys).
        let everyones = ["/health", "/ready", "/openapi.json", "/.well-known/jwks.json"];
        assert!(routed || first == "auth" || everyones.contains(&path.as_str()), "{path} has no route in api.tf");
    }
}
