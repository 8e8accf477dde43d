//! The relay over the platform's table (emulator), with real WebSocket
//! clients: a socket claims its session for the node, the client's key or a
//! user's token lets it in, the node records the start, the operators, what
//! was relayed and the end, a creator's `DELETE` closes every socket, and a
//! socket that reaches another node is forwarded to the one holding it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures_util::SinkExt;
use skycast_core::{
    auth::jwt::JwtKeys,
    relay_session::{RelaySession, RelayStatus},
    store::{IngestNode, Invitation, Stores},
    timefmt,
};
use skycast_ingest::{
    relay::{Hub, RelayConfig},
    relay_records::TableRecords,
};
use skycast_tests::ws::{Socket, next, open};
use tokio_tungstenite::tungstenite::{Error, Message};

const MAX_MESSAGE: usize = 64 * 1024;

// Users are UUIDs (the node refuses anything else unread).
const ALICE: &str = "0190f5c2-0000-7000-8000-00000000a11c";
const BOB: &str = "0190f5c2-0000-7000-8000-000000000b0b";
const CAROL: &str = "0190f5c2-0000-7000-8000-0000000ca401";
const DAVE: &str = "0190f5c2-0000-7000-8000-00000000da7e";
const ERIN: &str = "0190f5c2-0000-7000-8000-00000000e414";

async fn stores() -> Stores {
    let prefix = skycast_tests::unique_prefix();
    let sdk = skycast_tests::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    skycast_dev::bootstrap::tables(&dynamodb, &skycast_core::resources::Resources::embedded(), &prefix)
        .await
        .expect("tables");
    Stores::dynamo(dynamodb, &skycast_core::Config::with_prefix(&prefix).tables)
}

/// A node's relay over the table, listening on a port of its own.
async fn node(stores: &Stores, node_id: &str, keys: Arc<JwtKeys>) -> SocketAddr {
    let records = Arc::new(TableRecords {
        sessions: stores.relay_sessions.clone(),
        nodes: stores.ingest.clone(),
        node_id: node_id.into(),
    });
    // A small message limit, so a message over it fits the socket buffers
    // and the refusal (1009) is read rather than lost to a reset.
    let config = RelayConfig { max_message_bytes: MAX_MESSAGE, ..RelayConfig::default() };
    let hub = Hub::with_records(config, keys, records);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, hub.routes()).await });
    addr
}

/// `node_id` in the registry, alive, with its HTTP port at `addr`.
async fn register(stores: &Stores, node_id: &str, addr: SocketAddr) {
    let now = timefmt::unix_now();
    let node = IngestNode {
        node_id: node_id.into(),
        public_host: "127.0.0.1".into(),
        rtmp_port: 1935,
        srt_port: 9000,
        http_port: Some(addr.port()),
        sessions: 0,
        cpus: 2,
        load_1m: Some(0.5),
        heartbeat_at: now,
        expires_at: now + 300,
    };
    stores.ingest.register(&node).await.expect("registered");
}

fn status_of(r: Result<Socket, Error>) -> u16 {
    match r {
        Err(Error::Http(r)) => r.status().as_u16(),
        Err(other) => panic!("not an HTTP refusal: {other}"),
        Ok(_) => panic!("let in"),
    }
}

async fn record_where(stores: &Stores, id: &str, want: impl Fn(&RelaySession) -> bool) -> RelaySession {
    let found = skycast_tests::eventually(Duration::from_secs(15), || async {
        stores.relay_sessions.get(id).await.ok().flatten().filter(|s| want(s))
    })
    .await;
    match found {
        Some(s) => s,
        None => panic!("the record never got there: {:?}", stores.relay_sessions.get(id).await),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_claimed_recorded_and_finished_by_its_creator_through_the_table() {
    let stores = stores().await;
    let keys =
        Arc::new(JwtKeys::from_pkcs8_pem(&JwtKeys::generate_pkcs8_pem(), "skycast", Duration::from_secs(900)).unwrap());
    let token = |user: &str| keys.issue(user, user).unwrap();
    let client_id = "3f2a9c1e-8b7d-4c6e-9f0a-1b2c3d4e5f60";
    let (session, key) = RelaySession::create(ALICE, client_id, vec![BOB.into()], &timefmt::now_rfc3339());
    stores.relay_sessions.create(&session).await.unwrap();
    let (other, other_key) = RelaySession::create(ALICE, client_id, vec![], &timefmt::now_rfc3339());
    stores.relay_sessions.create(&other).await.unwrap();
    let a = node(&stores, "relay-a", keys.clone()).await;
    register(&stores, "relay-a", a).await;
    let url = |addr: SocketAddr, user: &str| session.socket_url(&format!("ws://{addr}"), user);

    // Refused before any byte: a wrong key, another session's key, a stranger, a made-up session.
    assert_eq!(status_of(open(&url(a, client_id), "wrong-key-0123456789").await), 401);
    assert_eq!(status_of(open(&url(a, client_id), &other_key).await), 401, "another session's key");
    assert_eq!(status_of(open(&url(a, CAROL), &token(CAROL)).await), 404, "not invited");
    assert_eq!(status_of(open(&url(a, BOB), &key).await), 404, "the key opens the client's socket only");
    let made_up = format!("ws://{a}/ws/stream/{}/bob", skycast_core::ids::new_id());
    assert_eq!(status_of(open(&made_up, &token(BOB)).await), 404);

    // None of that claimed the session: only a socket with a right to it does.
    assert_eq!(stores.relay_sessions.get(&session.id).await.unwrap().unwrap().node_id, None);

    // The client by its key, the invited operator and the creator by their tokens.
    let mut client = open(&url(a, client_id), &key).await.expect("the client's key opens its socket");
    let mut bob = open(&url(a, BOB), &token(BOB)).await.expect("an invited operator");
    let mut alice = open(&url(a, ALICE), &token(ALICE)).await.expect("the creator operates");
    let started =
        record_where(&stores, &session.id, |s| s.status == RelayStatus::Active && s.operators.len() == 2).await;
    assert_eq!(started.node_id.as_deref(), Some("relay-a"));
    assert!(started.started_at.is_some());
    let mut joined = started.operators.clone();
    joined.sort();
    let mut want = [ALICE, BOB];
    want.sort();
    assert_eq!(joined, want);

    // An invitation made while the session runs lets its user in at once.
    assert_eq!(status_of(open(&url(a, DAVE), &token(DAVE)).await), 404, "not yet invited");
    stores.relay_sessions.invite(&session.id, ALICE, DAVE).await.unwrap();
    let mut dave = open(&url(a, DAVE), &token(DAVE)).await.expect("invited while live");

    // A socket that reaches another node (one load balancer in front of
    // several) is forwarded to the one holding the session, which decides.
    let b = node(&stores, "relay-b", keys.clone()).await;
    register(&stores, "relay-b", b).await;
    assert_eq!(status_of(open(&url(b, CAROL), &token(CAROL)).await), 404, "refused there, refused here");
    assert_eq!(status_of(open(&url(b, BOB), &token(ALICE)).await), 403);
    let mut erin = {
        stores.relay_sessions.invite(&session.id, ALICE, ERIN).await.unwrap();
        open(&url(b, ERIN), &token(ERIN)).await.expect("forwarded to relay-a")
    };

    // Relayed in order; the figures reach the table.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..50u32 {
        client.send(Message::binary(i.to_be_bytes().to_vec())).await.unwrap();
    }
    for op in [&mut bob, &mut alice, &mut dave, &mut erin] {
        for i in 0..50u32 {
            assert_eq!(next(op).await, Ok(Message::binary(i.to_be_bytes().to_vec())));
        }
    }
    record_where(&stores, &session.id, |s| s.messages_relayed == 50 && s.bytes_relayed == 200).await;

    // An invitation taken back closes that operator's socket (4003).
    assert_eq!(stores.relay_sessions.uninvite(&session.id, ALICE, DAVE).await.unwrap(), Invitation::Done);
    assert_eq!(next(&mut dave).await, Err(Some(4003)));
    assert_eq!(status_of(open(&url(a, DAVE), &token(DAVE)).await), 404, "and it cannot come back");

    erin.send(Message::text("from the other node")).await.unwrap();
    assert_eq!(next(&mut client).await, Ok(Message::text("from the other node")), "operators' text goes back");
    assert_eq!(
        stores.relay_sessions.get(&session.id).await.unwrap().unwrap().node_id.as_deref(),
        Some("relay-a"),
        "still relay-a's"
    );

    // Limits hold through a forwarded socket: over WS_MAX_MESSAGE_SIZE is 1009.
    erin.send(Message::text("x".repeat(MAX_MESSAGE))).await.unwrap();
    assert_eq!(next(&mut client).await.map(|m| m.len()), Ok(MAX_MESSAGE), "at the limit: relayed");
    erin.send(Message::text("x".repeat(MAX_MESSAGE + 1))).await.unwrap();
    assert_eq!(next(&mut erin).await, Err(Some(1009)));

    // The creator's DELETE (the API's write): every socket closes with 1000.
    let deleted = std::time::Instant::now();
    assert!(stores.relay_sessions.finish_by_creator(&session.id, ALICE, &timefmt::now_rfc3339()).await.unwrap());
    for s in [&mut client, &mut bob, &mut alice] {
        assert_eq!(next(s).await, Err(Some(1000)));
    }
    println!("sockets closed {:?} after the DELETE", deleted.elapsed());
    assert!(deleted.elapsed() < Duration::from_secs(5), "{:?}", deleted.elapsed());
    let finished = record_where(&stores, &session.id, |s| s.status == RelayStatus::Finished).await;
    assert_eq!(finished.finish_reason.as_deref(), Some("deleted"));
    assert_eq!((finished.messages_relayed, finished.bytes_relayed), (50, 200));
    assert!(finished.expires_at.is_some(), "a finished record expires");
    // A socket arriving late is told it finished.
    let mut late = open(&url(a, BOB), &token(BOB)).await.expect("told, not refused");
    assert_eq!(next(&mut late).await, Err(Some(1000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_session_is_taken_over_by_the_next_socket() {
    let stores = stores().await;
    let keys =
        Arc::new(JwtKeys::from_pkcs8_pem(&JwtKeys::generate_pkcs8_pem(), "skycast", Duration::from_secs(900)).unwrap());
    let client_id = "3f2a9c1e-8b7d-4c6e-9f0a-1b2c3d4e5f61";
    let (session, key) = RelaySession::create(ALICE, client_id, vec![], &timefmt::now_rfc3339());
    stores.relay_sessions.create(&session).await.unwrap();
    // Held by a node that never beat (or stopped long ago).
    assert!(matches!(
        stores.relay_sessions.claim(&session.id, "gone-node", None).await.unwrap(),
        skycast_core::store::RelayClaim::Claimed(_)
    ));
    // It had relayed 5 messages (50 bytes) before it died.
    assert!(stores.relay_sessions.progress(&session.id, "gone-node", 5, 50).await.unwrap());
    let c = node(&stores, "relay-c", keys.clone()).await;
    let mut client = open(&session.socket_url(&format!("ws://{c}"), client_id), &key).await.expect("taken over");
    let taken = record_where(&stores, &session.id, |s| s.status == RelayStatus::Active).await;
    assert_eq!(taken.node_id.as_deref(), Some("relay-c"));
    // What the new node relays adds to what the dead one did.
    client.send(Message::binary(vec![0u8; 10])).await.unwrap();
    record_where(&stores, &session.id, |s| (s.messages_relayed, s.bytes_relayed) == (6, 60)).await;
    client.close(None).await.unwrap();
}
