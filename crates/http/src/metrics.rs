//! The functions' own CloudWatch metrics, as embedded-metric-format (EMF)
//! lines on stdout: Lambda sends stdout to the function's log group, and
//! CloudWatch Logs turns each such line into metrics (namespace `Skycast`,
//! dimension `Function`; infra/monitoring.tf charts and alarms on them). No
//! `cloudwatch:PutMetricData`, no client, no flush: a line is a metric.
//!
//! Formatting ([`emf_line`]) is pure and tested; [`emit`] only writes. Lines
//! are written in Lambda alone, so `make dev` and the tests print none;
//! `SKYCAST_EMF=on` shows them locally (as function `local`), `off` silences
//! them in Lambda.

use std::{
    io::Write,
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Serialize, Serializer, ser::SerializeMap};

pub const NAMESPACE: &str = "Skycast";

// The names infra/monitoring.tf charts and alarms on (a test below holds
// them to it): a metric renamed here is a dashboard line gone quiet there.
// HTTP functions, per request.
pub const REQUESTS: &str = "Requests";
pub const ERRORS_5XX: &str = "Errors5xx";
pub const LATENCY_MS: &str = "LatencyMs";
// Event functions, per batch.
pub const MESSAGES: &str = "Messages";
pub const MESSAGE_FAILURES: &str = "MessageFailures";
// The recorder, per recording marked ready or given up on.
pub const RECORDINGS_READY: &str = "RecordingsReady";
pub const RECORDINGS_FAILED: &str = "RecordingsFailed";
// The webhook sender, per attempt.
pub const WEBHOOK_DELIVERIES: &str = "WebhookDeliveries";
pub const WEBHOOK_FAILURES: &str = "WebhookFailures";
pub const WEBHOOK_LATENCY_MS: &str = "WebhookLatencyMs";

/// The units these metrics are recorded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Milliseconds,
}

/// One EMF record: the `_aws` metadata, the `Function` dimension and one
/// member per value. A value that is not finite is left out (of the values
/// and of the metric list): JSON would carry it as `null`, which is no
/// metric value to CloudWatch. Names are the caller's constants, never
/// `Function` or `_aws`.
pub fn emf_line(function: &str, timestamp_ms: i64, values: &[(&str, Unit, f64)]) -> String {
    let record = Record { function, timestamp_ms, values };
    // Strings and finite numbers always serialize; an empty line is skipped by `emit`.
    serde_json::to_string(&record).unwrap_or_default()
}

/// Writes `values` as one EMF line, if this process emits (see the module
/// docs); otherwise does nothing, cheaply.
pub fn emit(values: &[(&str, Unit, f64)]) {
    let Some(function) = function() else { return };
    if !values.iter().any(|(_, _, v)| v.is_finite()) {
        return;
    }
    let mut line = emf_line(function, now_ms(), values);
    if line.is_empty() {
        return;
    }
    line.push('\n');
    // Straight to stdout, not through tracing, whose JSON formatter would
    // wrap the record in its own object and hide it from EMF extraction.
    // One write under stdout's lock: tracing writes there too, from other
    // threads, and half a line is no metric. Not println!, which panics
    // when stdout is gone; a lost metric must not fail a request.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// `Messages` and `MessageFailures` for one batch of an event function:
/// how many it was given, and how many it handed back for a retry.
pub fn emit_batch(messages: usize, failures: usize) {
    emit(&[(MESSAGES, Unit::Count, messages as f64), (MESSAGE_FAILURES, Unit::Count, failures as f64)]);
}

/// Whether this process writes EMF lines: callers with work to do before
/// [`emit`] (timing a request) check this first.
pub fn enabled() -> bool {
    function().is_some()
}

/// This process's `Function` dimension, read from the environment once.
fn function() -> Option<&'static str> {
    static FUNCTION: OnceLock<Option<String>> = OnceLock::new();
    FUNCTION.get_or_init(|| function_from(|k| std::env::var(k).ok())).as_deref()
}

/// The `Function` dimension when lines are to be written, `None` when not:
/// on in Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), off elsewhere;
/// `SKYCAST_EMF` (`on`/`off`) overrides either way.
pub fn function_from(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let lambda = get("AWS_LAMBDA_FUNCTION_NAME");
    let on = match get("SKYCAST_EMF").map(|v| v.to_ascii_lowercase()).as_deref() {
        Some("on" | "1" | "true") => true,
        Some("off" | "0" | "false") => false,
        _ => lambda.is_some(),
    };
    if !on {
        return None;
    }
    let Some(lambda) = lambda else { return Some("local".to_owned()) };
    let prefix = get("SKYCAST_NAME_PREFIX").unwrap_or_else(|| skycast_core::config::DEFAULT_PREFIX.to_owned());
    Some(function_name(&lambda, &prefix).to_owned())
}

/// The short name the dashboards use (`streams`) for a Lambda named
/// `<prefix>-<function>` (infra/functions.tf); a name without the prefix
/// is kept whole, so its metrics still show, under a name someone can find.
pub fn function_name<'a>(lambda_name: &'a str, prefix: &str) -> &'a str {
    lambda_name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|short| !short.is_empty())
        .unwrap_or(lambda_name)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

struct Record<'a> {
    function: &'a str,
    timestamp_ms: i64,
    values: &'a [(&'a str, Unit, f64)],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata<'a> {
    timestamp: i64,
    cloud_watch_metrics: [Directive<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'static str,
    dimensions: [[&'static str; 1]; 1],
    metrics: Vec<Definition<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Definition<'a> {
    name: &'a str,
    unit: Unit,
}

impl Serialize for Record<'_> {
    // By hand, since the values are members of the record itself, named by
    // their metric, beside `_aws` and the dimension.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let finite = || self.values.iter().filter(|(_, _, v)| v.is_finite());
        let metadata = Metadata {
            timestamp: self.timestamp_ms,
            cloud_watch_metrics: [Directive {
                namespace: NAMESPACE,
                dimensions: [["Function"]],
                metrics: finite().map(|&(name, unit, _)| Definition { name, unit }).collect(),
            }],
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("_aws", &metadata)?;
        map.serialize_entry("Function", self.function)?;
        for &(name, _, value) in finite() {
            // Counts as integers (`"Requests":1`), for whoever reads the log.
            if value.fract() == 0.0 && value.abs() < 1e15 {
                map.serialize_entry(name, &(value as i64))?;
            } else {
                map.serialize_entry(name, &value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("an EMF line is one JSON object")
    }

    #[test]
    fn a_line_is_one_emf_record() {
        let line = emf_line(
            "streams",
            1_700_000_000_123,
            &[(REQUESTS, Unit::Count, 1.0), (ERRORS_5XX, Unit::Count, 0.0), (LATENCY_MS, Unit::Milliseconds, 12.5)],
        );
        assert!(!line.contains('\n'), "one record, one line: {line}");
        let v = parse(&line);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123i64);
        assert_eq!(v["_aws"]["CloudWatchMetrics"].as_array().map(Vec::len), Some(1));
        assert_eq!(directive["Namespace"], "Skycast");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([
                {"Name": "Requests", "Unit": "Count"},
                {"Name": "Errors5xx", "Unit": "Count"},
                {"Name": "LatencyMs", "Unit": "Milliseconds"},
            ])
        );
        assert_eq!(v["Function"], "streams");
        assert_eq!(v["Requests"].as_f64(), Some(1.0));
        assert_eq!(v["Errors5xx"].as_f64(), Some(0.0));
        assert_eq!(v["LatencyMs"].as_f64(), Some(12.5));
        assert!(line.contains(r#""Requests":1,"#), "counts read as integers: {line}");
    }

    #[test]
    fn values_that_are_not_numbers_are_left_out() {
        let v = parse(&emf_line("vod", 0, &[(LATENCY_MS, Unit::Milliseconds, f64::NAN), (REQUESTS, Unit::Count, 1.0)]));
        let metrics = &v["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(metrics, &serde_json::json!([{"Name": "Requests", "Unit": "Count"}]));
        assert!(v.get("LatencyMs").is_none());
    }

    #[test]
    fn the_function_is_the_lambda_name_without_the_prefix() {
        assert_eq!(function_name("skycast-streams", "skycast"), "streams");
        assert_eq!(function_name("skycast-webhook-sender", "skycast"), "webhook-sender");
        assert_eq!(function_name("prod-edge-sync", "prod"), "edge-sync");
        // Not ours, or only the prefix: the whole name.
        assert_eq!(function_name("other-streams", "skycast"), "other-streams");
        assert_eq!(function_name("skycaststreams", "skycast"), "skycaststreams");
        assert_eq!(function_name("skycast-", "skycast"), "skycast-");
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn emission_is_off_outside_lambda() {
        assert_eq!(function_from(env(&[])), None);
        assert_eq!(function_from(env(&[("SKYCAST_NAME_PREFIX", "prod"), ("AWS_LAMBDA_FUNCTION_NAME", " ")])), None);
        assert_eq!(function_from(env(&[("SKYCAST_EMF", "maybe")])), None);
    }

    #[test]
    fn emission_is_on_in_lambda_under_the_short_name() {
        let default_prefix = [("AWS_LAMBDA_FUNCTION_NAME", "skycast-recorder")];
        assert_eq!(function_from(env(&default_prefix)).as_deref(), Some("recorder"));
        let prod = [("AWS_LAMBDA_FUNCTION_NAME", "prod-catalog"), ("SKYCAST_NAME_PREFIX", "prod")];
        assert_eq!(function_from(env(&prod)).as_deref(), Some("catalog"));
    }

    #[test]
    fn skycast_emf_overrides_either_way() {
        assert_eq!(function_from(env(&[("SKYCAST_EMF", "on")])).as_deref(), Some("local"));
        let off = [("AWS_LAMBDA_FUNCTION_NAME", "skycast-auth"), ("SKYCAST_EMF", "OFF")];
        assert_eq!(function_from(env(&off)), None);
    }

    #[test]
    fn every_name_the_terraform_reads_is_emitted() {
        const TERRAFORM: &str = include_str!("../../../infra/monitoring.tf");
        let ours = [
            REQUESTS,
            ERRORS_5XX,
            LATENCY_MS,
            MESSAGES,
            MESSAGE_FAILURES,
            RECORDINGS_READY,
            RECORDINGS_FAILED,
            WEBHOOK_DELIVERIES,
            WEBHOOK_FAILURES,
            WEBHOOK_LATENCY_MS,
        ];
        // Without whitespace, so `terraform fmt` realigning is no failure.
        let tf: String = TERRAFORM.split_whitespace().collect();
        // Dashboard lines: ["Skycast", "<name>", "Function", ...].
        let charted: Vec<&str> =
            tf.split(r#"["Skycast",""#).skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(charted.len() >= 9, "the dashboard's Skycast metrics: {charted:?}");
        for name in charted {
            assert!(ours.contains(&name), "monitoring.tf charts {name}, which no function emits");
        }
        // The alarm on the recorder's failures.
        assert!(tf.contains(&format!(r#"metric_name="{RECORDINGS_FAILED}""#)));
        assert!(tf.contains(r#"dimensions={Function="recorder"}"#));
    }
}
