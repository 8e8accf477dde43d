//! `make bench`: webhook delivery latency, event published → receiver has
//! it, with 100 endpoints (5 users × 20) of which one never answers. The
//! platform's path: `webhook-events` → fan-out → `webhook-deliveries` →
//! signed POST, through the emulator's SQS and DynamoDB, polled as `make dev`
//! polls them. Baseline, same run, same receivers: the same signed POSTs
//! sent straight from here, all at once. Target: p95 ≤ 1 s for the healthy ones.

use std::{collections::HashMap, sync::Arc, time::Duration, time::Instant};

use serde_json::json;
use skycast_core::{
    store::queue::{SqsSender, WebhookOutbox},
    timefmt,
    webhook::{self, EventType, WebhookEvent},
};
use skycast_tests::webhook_receiver::Receiver;
use skycast_webhook_sender::{Sender, client::ReceiverClient};

const USERS: usize = 5;
const PER_USER: usize = 20;
const ROUNDS: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Latencies of every healthy delivery of `sent` events (id → when sent).
fn latencies(receivers: &[Receiver], sent: &HashMap<String, Instant>) -> Vec<Duration> {
    let mut out = Vec::new();
    for r in receivers {
        for got in r.received() {
            if let Some(at) = got.json()["id"].as_str().and_then(|id| sent.get(id)) {
                out.push(got.at.duration_since(*at));
            }
        }
    }
    out.sort();
    out
}

async fn wait_for(receivers: &[Receiver], sent: &HashMap<String, Instant>, expected: usize) -> bool {
    skycast_tests::eventually(Duration::from_secs(30), || async {
        (latencies(receivers, sent).len() >= expected).then_some(())
    })
    .await
    .is_some()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "\n## Webhook delivery, event → receiver, {USERS} users × {PER_USER} endpoints (one hangs), {ROUNDS} rounds"
    );
    let mut api = skycast_tests::api_with(|c| c.webhooks.allow_loopback = true).await;
    let sdk = skycast_tests::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let prefix = api.ctx.config.name_prefix.clone();
    skycast_dev::bootstrap::queues(&sqs, &skycast_core::resources::Resources::embedded(), &prefix).await?;
    let url = |logical: &str| {
        let (sqs, name) = (sqs.clone(), skycast_core::config::physical_name(&prefix, logical));
        async move { anyhow::Ok(sqs.get_queue_url().queue_name(name).send().await?.queue_url.unwrap_or_default()) }
    };
    let (events, deliveries) = (url("webhook-events").await?, url("webhook-deliveries").await?);
    api.ctx.webhooks = WebhookOutbox::new(Arc::new(SqsSender::new(sqs.clone())), events.clone());
    let settings = api.ctx.config.webhooks.clone();
    let sender = Arc::new(Sender::new(api.ctx.stores.webhooks.clone(), sqs.clone(), deliveries.clone(), &settings)?);
    let triggers = skycast_dev::services::webhook_triggers(&sqs, &sender, events, deliveries);

    let hanging = Receiver::hanging().await;
    let mut healthy = Vec::new();
    let mut owners = Vec::new();
    let mut secrets = Vec::new();
    for u in 0..USERS {
        let owner = api.register(&format!("hooks{u}")).await;
        for e in 0..PER_USER {
            let target = if u == 0 && e == 0 {
                hanging.url.clone()
            } else {
                let r = Receiver::answering(&[]).await;
                let url = r.url.clone();
                healthy.push(r);
                url
            };
            let created = api.post("/webhooks", Some(&owner.access), json!({"url": target})).await;
            anyhow::ensure!(created.status == 201, "register: {:?}", created.body);
            if target != hanging.url {
                secrets.push((target, created.body["secret"].as_str().unwrap_or_default().to_owned()));
            }
        }
        owners.push(owner.id);
    }

    // Skycast: each round, one event per user, all at once.
    let mut sent = HashMap::new();
    for round in 0..ROUNDS {
        for owner in &owners {
            let event = WebhookEvent::fresh(EventType::StreamLive, &timefmt::now_rfc3339(), json!({"round": round}));
            sent.insert(event.id.clone(), Instant::now());
            api.ctx.webhooks.publish(owner, event).await?;
        }
        let expected = (round + 1) * healthy.len();
        anyhow::ensure!(wait_for(&healthy, &sent, expected).await, "round {round}: deliveries missing");
    }
    let platform = latencies(&healthy, &sent);

    // Baseline: the same signed POSTs straight to the same receivers.
    let client = ReceiverClient::new(webhook::UrlPolicy { allow_loopback: true }, Duration::from_secs(5))?;
    let mut direct = HashMap::new();
    for round in 0..ROUNDS {
        let event = WebhookEvent::fresh(EventType::StreamLive, &timefmt::now_rfc3339(), json!({"round": round}));
        let body = serde_json::to_vec(&event)?;
        direct.insert(event.id.clone(), Instant::now());
        let mut posts = tokio::task::JoinSet::new();
        for (url, secret) in &secrets {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            let signature = webhook::signature_header(secret, timefmt::unix_now(), &body);
            posts.spawn(async move { client.post(&url, &[(webhook::SIGNATURE_HEADER, signature)], body).await });
        }
        while posts.join_next().await.is_some() {}
    }
    let baseline = latencies(&healthy, &direct);

    println!("{:<26} {:>8} {:>9} {:>9} {:>9}", "path", "count", "p50 ms", "p95 ms", "max ms");
    for (name, d) in [("skycast (SQS, fan-out)", &platform), ("direct POST (baseline)", &baseline)] {
        println!(
            "{:<26} {:>8} {:>9.1} {:>9.1} {:>9.1}",
            name,
            d.len(),
            ms(percentile(d, 0.5)),
            ms(percentile(d, 0.95)),
            ms(percentile(d, 1.0))
        );
    }
    let p95 = percentile(&platform, 0.95);
    println!(
        "p95 {:.0} ms = {:.1}× the direct POST's; target ≤ 1000 ms: {}; the hanging endpoint was tried {} time(s)",
        ms(p95),
        p95.as_secs_f64() / percentile(&baseline, 0.95).as_secs_f64().max(1e-6),
        if p95 <= Duration::from_secs(1) { "met" } else { "NOT met" },
        hanging.received().len()
    );
    for t in triggers {
        t.abort();
    }
    Ok(())
}
