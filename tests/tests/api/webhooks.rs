//! Webhooks against the emulator and real HTTP receivers on this machine:
//! registration rules, signed deliveries through both SQS queues, retries
//! with one event id, a receiver that hangs holding nobody else up, and the
//! address rules at registration and at send time.

use std::{sync::Arc, time::Duration};

use http::{Method, StatusCode};
use serde_json::json;
use skycast_core::{
    store::queue::{SqsSender, WebhookOutbox},
    timefmt,
    webhook::{self, Delivery, DeliveryJob, EventType, WebhookEvent},
};
use skycast_tests::{TestApi, api_with, eventually, webhook_receiver::Receiver};
use skycast_webhook_sender::{Outcome, Sender, client::ReceiverClient};

/// The API with its webhook queues, and the sender polling them as Lambda would.
struct Rig {
    api: TestApi,
    sender: Arc<Sender>,
    triggers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for t in &self.triggers {
            t.abort();
        }
    }
}

async fn rig() -> Rig {
    let mut api = api_with(|c| {
        c.webhooks.allow_loopback = true;
        c.webhooks.first_retry_s = 1;
        c.webhooks.timeout_ms = 1500;
    })
    .await;
    let sdk = skycast_tests::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let prefix = api.ctx.config.name_prefix.clone();
    skycast_dev::bootstrap::queues(&sqs, &skycast_core::resources::Resources::embedded(), &prefix)
        .await
        .expect("queues");
    let url = |logical: &str| {
        let (sqs, name) = (sqs.clone(), skycast_core::config::physical_name(&prefix, logical));
        async move { sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.unwrap() }
    };
    let (events, deliveries) = (url("webhook-events").await, url("webhook-deliveries").await);
    api.ctx.webhooks = WebhookOutbox::new(Arc::new(SqsSender::new(sqs.clone())), events.clone());
    api.router = skycast_http::app::finish(skycast_dev::api::routes(), api.ctx.clone());
    let sender = Arc::new(
        Sender::new(api.ctx.stores.webhooks.clone(), sqs.clone(), deliveries.clone(), &api.ctx.config.webhooks)
            .unwrap(),
    );
    let triggers = skycast_dev::services::webhook_triggers(&sqs, &sender, events, deliveries);
    Rig { api, sender, triggers }
}

fn verified(r: &skycast_tests::webhook_receiver::Received, secret: &str) -> bool {
    webhook::verify_signature(r.header("skycast-signature"), secret, &r.body, timefmt::unix_now(), 300)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_with_one_event_id_and_a_hanging_receiver_holds_nobody_up() {
    let rig = rig().await;
    let api = &rig.api;
    let owner = api.register("hook_owner").await;
    let flaky = Receiver::answering(&[500, 500]).await;
    let hanging = Receiver::hanging().await;
    let healthy = Receiver::answering(&[]).await;
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for r in [&flaky, &hanging, &healthy] {
        let created =
            api.post("/webhooks", Some(&owner.access), json!({"url": r.url, "events": ["stream.live"]})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.body["events"], json!(["stream.live"]));
        secrets.push(created.body["secret"].as_str().unwrap().to_owned());
        ids.push(created.body["id"].as_str().unwrap().to_owned());
    }
    // The secret is shown once.
    let listed = api.get("/webhooks", Some(&owner.access)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 3);
    assert!(listed.body["items"][0].get("secret").is_none());

    // An event nobody subscribed to reaches nobody; the one they did, everybody.
    let data = json!({"id": "stream-1"});
    api.ctx
        .webhooks
        .publish(&owner.id, WebhookEvent::derived(EventType::StreamEnded, "s1", "t", data.clone()))
        .await
        .unwrap();
    let event = WebhookEvent::derived(EventType::StreamLive, "session-1", &timefmt::now_rfc3339(), data);
    let sent = std::time::Instant::now();
    api.ctx.webhooks.publish(&owner.id, event.clone()).await.unwrap();

    // The healthy receiver has it within a second, the hanging one notwithstanding.
    let first = eventually(Duration::from_secs(5), || async { healthy.received().first().cloned() })
        .await
        .expect("the healthy receiver is sent the event");
    assert!(first.at.duration_since(sent) < Duration::from_secs(1), "took {:?}", first.at.duration_since(sent));
    assert!(verified(&first, &secrets[2]), "signature checks out with the endpoint's secret");
    assert!(!verified(&first, &secrets[0]), "and not with another's");
    assert_eq!(first.json()["id"], event.id.as_str());
    assert_eq!(first.json()["type"], "stream.live");
    assert_eq!(first.header("skycast-event-id"), event.id);

    // 500, 500, 200: three attempts of one event, each signed.
    let three = eventually(Duration::from_secs(20), || async {
        let got = flaky.received();
        (got.len() >= 3).then_some(got)
    })
    .await
    .expect("three attempts to the flaky receiver");
    assert_eq!(three.len(), 3, "no attempt after the 200");
    for (n, r) in three.iter().enumerate() {
        assert_eq!(r.json()["id"], event.id.as_str(), "one event id");
        assert!(verified(r, &secrets[0]));
        assert_eq!(r.header("skycast-delivery-attempt"), (n + 1).to_string());
    }
    let log = eventually(Duration::from_secs(5), || async {
        let r = api.get(&format!("/webhooks/{}/deliveries", ids[0]), Some(&owner.access)).await;
        (r.body["items"][0]["status"] == "delivered").then_some(r.body)
    })
    .await
    .expect("the log says delivered");
    let d = &log["items"][0];
    assert_eq!((d["attempts"].as_u64(), d["last_status_code"].as_u64()), (Some(3), Some(200)));
    assert_eq!(d["event_id"], event.id.as_str());
    assert_eq!(d["last_response"], "thanks");
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "the unsubscribed event made no delivery");

    // The hanging one is retrying, with why.
    let log = eventually(Duration::from_secs(10), || async {
        let r = api.get(&format!("/webhooks/{}/deliveries", ids[1]), Some(&owner.access)).await;
        (r.body["items"][0]["status"] == "retrying").then_some(r.body)
    })
    .await
    .expect("the hanging receiver's delivery is retrying");
    let error = log["items"][0]["last_error"].as_str().unwrap();
    assert!(error.contains("no answer within 1500 ms"), "{error}");
    assert!(log["items"][0]["next_attempt_at"].is_string());

    // A duplicate of the event (at-least-once upstream) is not sent again.
    api.ctx.webhooks.publish(&owner.id, event.clone()).await.unwrap();
    let test = api.call(Method::POST, &format!("/webhooks/{}/test", ids[2]), Some(&owner.access), None).await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{:?}", test.body);
    let got = eventually(Duration::from_secs(5), || async {
        let got = healthy.received();
        (got.len() >= 2).then_some(got)
    })
    .await
    .expect("the test event arrives");
    assert_eq!(got[1].json()["type"], "webhook.test", "the duplicate went nowhere; the test came next");
    assert_eq!(got[1].json()["id"], test.body["event_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_on_private_addresses_are_refused_at_registration_and_at_send() {
    let rig = rig().await;
    let api = &rig.api;
    let owner = api.register("hook_guard").await;
    let other = api.register("hook_other").await;
    for url in [
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "ftp://example.com/",
        "http://example.com/hook",
    ] {
        let r = api.post("/webhooks", Some(&owner.access), json!({"url": url})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {:?}", r.body);
        assert_eq!(r.body["error"]["code"], "url_not_allowed");
        assert_eq!(r.body["error"]["field"], "url");
    }
    let r = api
        .post("/webhooks", Some(&owner.access), json!({"url": "https://x.example/", "events": ["stream.exploded"]}))
        .await;
    assert_eq!(r.body["error"]["code"], "unknown_event_type");
    // Positive control: a public address is taken (nothing is sent to it here).
    let public = api.post("/webhooks", Some(&owner.access), json!({"url": "https://93.184.216.34/hook"})).await;
    assert_eq!(public.status, StatusCode::CREATED, "{:?}", public.body);
    let public_id = public.body["id"].as_str().unwrap().to_owned();
    // Another user sees nothing of it, and cannot change or delete it.
    for (method, path) in [
        (Method::GET, format!("/webhooks/{public_id}")),
        (Method::GET, format!("/webhooks/{public_id}/deliveries")),
        (Method::POST, format!("/webhooks/{public_id}/test")),
        (Method::DELETE, format!("/webhooks/{public_id}")),
    ] {
        let r = api.call(method, &path, Some(&other.access), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let patch = api
        .call(Method::PATCH, &format!("/webhooks/{public_id}"), Some(&other.access), Some(json!({"enabled": false})))
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);

    // Registered where loopback is allowed; sent by a sender where it is not
    // (as a name that resolved elsewhere at registration would be).
    let receiver = Receiver::answering(&[]).await;
    let created = api.post("/webhooks", Some(&owner.access), json!({"url": receiver.url})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let strict_client =
        ReceiverClient::new(webhook::UrlPolicy { allow_loopback: false }, Duration::from_secs(5)).unwrap();
    let strict = Sender { client: strict_client, ..(*rig.sender).clone() };
    let event = WebhookEvent::fresh(EventType::VideoCreated, &timefmt::now_rfc3339(), json!({}));
    let job = DeliveryJob {
        webhook_id: id.clone(),
        delivery_id: webhook::delivery_id(&event),
        event: event.clone(),
        first: None,
    };
    api.ctx.stores.webhooks.create_delivery(&Delivery::pending(&id, &event, timefmt::unix_now())).await.unwrap();
    let outcome = strict.deliver(&job, 1).await.unwrap();
    assert!(matches!(&outcome, Outcome::Refused(r) if r.contains("loopback")), "{outcome:?}");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
    let log = api.get(&format!("/webhooks/{id}/deliveries"), Some(&owner.access)).await;
    assert_eq!(log.body["items"][0]["status"], "failed");
    assert!(log.body["items"][0]["last_error"].as_str().unwrap().contains("loopback address"));
    // Positive control: the same job from a sender that allows loopback.
    let outcome = rig.sender.deliver(&job, 1).await.unwrap();
    assert_eq!(outcome, Outcome::Delivered(200));
    assert_eq!(receiver.received().len(), 1);

    // Owner's edits and deletion; a disabled endpoint is sent nothing.
    let r = api
        .call(Method::PATCH, &format!("/webhooks/{id}"), Some(&owner.access), Some(json!({"url": "https://10.1.1.1/"})))
        .await;
    assert_eq!(r.body["error"]["code"], "url_not_allowed", "a change is checked as a registration is");
    let r =
        api.call(Method::PATCH, &format!("/webhooks/{id}"), Some(&owner.access), Some(json!({"enabled": false}))).await;
    assert_eq!((r.status, r.body["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    let again = WebhookEvent::fresh(EventType::VideoCreated, &timefmt::now_rfc3339(), json!({}));
    let job = DeliveryJob {
        webhook_id: id.clone(),
        delivery_id: webhook::delivery_id(&again),
        event: again.clone(),
        first: None,
    };
    api.ctx.stores.webhooks.create_delivery(&Delivery::pending(&id, &again, timefmt::unix_now())).await.unwrap();
    assert_eq!(rig.sender.deliver(&job, 1).await.unwrap(), Outcome::Dropped("endpoint disabled"));
    assert_eq!(receiver.received().len(), 1);
    let r = api.call(Method::DELETE, &format!("/webhooks/{id}"), Some(&owner.access), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(rig.sender.deliver(&job, 1).await.unwrap(), Outcome::Dropped("endpoint deleted"));
}
