//! The relay's sockets with real WebSocket clients (tokio-tungstenite) on a
//! real listener: who gets in, order, limits, slow operators, late joiners,
//! and the end of a session.

use std::{collections::BTreeSet, net::SocketAddr, sync::Arc, time::Duration};

use futures_util::SinkExt;
use skycast_core::auth::jwt::JwtKeys;
use skycast_ingest::relay::{Hub, OpenSession, RelayConfig};
use skycast_relay::{Finish, Limits};
use skycast_tests::ws::{Socket, next};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{
        Error, Message,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

struct Rig {
    addr: SocketAddr,
    hub: Arc<Hub>,
    keys: Arc<JwtKeys>,
    pem: String,
}

async fn rig(tweak: impl FnOnce(&mut RelayConfig)) -> Rig {
    let pem = JwtKeys::generate_pkcs8_pem();
    let keys = Arc::new(JwtKeys::from_pkcs8_pem(&pem, "skycast", Duration::from_secs(900)).expect("keys"));
    let mut config = RelayConfig::default();
    tweak(&mut config);
    let hub = Hub::new(config, keys.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("addr");
    let app = hub.clone().routes();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Rig { addr, hub, keys, pem }
}

impl Rig {
    fn open(&self, id: &str, client: &str, operators: &[&str]) {
        let operators: BTreeSet<String> = operators.iter().map(|s| (*s).to_owned()).collect();
        self.hub.open(OpenSession {
            session_id: id.into(),
            client_id: client.into(),
            operators,
            ..OpenSession::default()
        });
    }

    fn token(&self, user: &str) -> String {
        self.keys.issue(user, user).expect("token")
    }

    async fn connect_with(&self, session: &str, user: &str, token: Option<&str>) -> Result<Socket, Error> {
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        let url = format!("ws://{}/ws/stream/{session}/{user}{query}", self.addr);
        connect_async(url).await.map(|(s, _)| s)
    }

    async fn connect(&self, session: &str, user: &str) -> Socket {
        self.connect_with(session, user, Some(&self.token(user))).await.expect("connected")
    }

    /// Waits until the client's socket is on `session` (see [`Rig::operators_on`]).
    async fn client_on(&self, session: &str) {
        let on = || async { self.hub.snapshot(session).filter(|s| s.client_connected).map(|_| ()) };
        skycast_tests::eventually(Duration::from_secs(10), on).await.expect("the client joined");
    }

    /// Waits until `n` operators are on `session` (a socket is let in just
    /// after its upgrade answer: a message sent before would miss it).
    async fn operators_on(&self, session: &str, n: usize) {
        let on = || async { self.hub.snapshot(session).filter(|s| s.operators_connected == n).map(|_| ()) };
        skycast_tests::eventually(Duration::from_secs(10), on).await.expect("the operators joined");
    }
}

fn status_of(e: Error) -> u16 {
    match e {
        Error::Http(r) => r.status().as_u16(),
        other => panic!("not an HTTP refusal: {other}"),
    }
}

#[tokio::test]
async fn only_the_right_user_with_a_valid_token_gets_a_socket() {
    let rig = rig(|_| {}).await;
    rig.open("s1", "alice", &["bob"]);
    assert_eq!(status_of(rig.connect_with("s1", "alice", None).await.unwrap_err()), 401, "no token");
    assert_eq!(status_of(rig.connect_with("s1", "alice", Some("not.a.jwt")).await.unwrap_err()), 401);
    let other_key =
        JwtKeys::from_pkcs8_pem(&JwtKeys::generate_pkcs8_pem(), "skycast", Duration::from_secs(900)).unwrap();
    let forged = other_key.issue("alice", "alice").unwrap();
    assert_eq!(status_of(rig.connect_with("s1", "alice", Some(&forged)).await.unwrap_err()), 401, "another key");
    let bobs = rig.token("bob");
    assert_eq!(status_of(rig.connect_with("s1", "alice", Some(&bobs)).await.unwrap_err()), 403, "another user's");
    let mallorys = rig.token("mallory");
    assert_eq!(status_of(rig.connect_with("s1", "mallory", Some(&mallorys)).await.unwrap_err()), 404, "not invited");
    assert_eq!(status_of(rig.connect_with("nope", "alice", Some(&rig.token("alice"))).await.unwrap_err()), 404);
    // Expired (past the 5 s leeway).
    let short =
        JwtKeys::from_pkcs8_pem(&rig.pem, "skycast", Duration::from_secs(1)).unwrap().issue("alice", "alice").unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(status_of(rig.connect_with("s1", "alice", Some(&short)).await.unwrap_err()), 401, "expired");
    // Positive controls: the client and an invited operator get in.
    let mut client = rig.connect("s1", "alice").await;
    let mut op = rig.connect("s1", "bob").await;
    rig.operators_on("s1", 1).await;
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut op).await, Ok(Message::text("hello")));
}

/// The 10,000 messages the client sends, alternately binary and text, in order.
fn nth_message(i: u32) -> Message {
    if i.is_multiple_of(2) { Message::binary(i.to_be_bytes().to_vec()) } else { Message::text(i.to_string()) }
}

async fn ten_thousand_in_order(op: &mut Socket) {
    for i in 0..10_000u32 {
        assert_eq!(next(op).await, Ok(nth_message(i)), "message {i}");
    }
}

#[tokio::test]
async fn ten_thousand_messages_reach_every_operator_in_order() {
    // Ordering and completeness, not overflow (tested on its own below): a
    // burst of 10,000 may get ahead of a reader on a loaded machine by more
    // than the default queue, which would drop it as a stalled operator.
    let rig = rig(|c| c.queue_messages = 10_000).await;
    rig.open("s", "alice", &["op1", "op2"]);
    let mut client = rig.connect("s", "alice").await;
    let mut ops = [rig.connect("s", "op1").await, rig.connect("s", "op2").await];
    rig.operators_on("s", 2).await;
    let sender = tokio::spawn(async move {
        for i in 0..10_000u32 {
            client.send(nth_message(i)).await.unwrap();
        }
        client
    });
    // Both read at once, as operators do.
    let [op1, op2] = &mut ops;
    tokio::join!(ten_thousand_in_order(op1), ten_thousand_in_order(op2));
    let _client = sender.await.unwrap();
    let snapshot = rig.hub.snapshot("s").unwrap();
    assert_eq!(snapshot.messages, 10_000);
    // Operators talk back in text.
    ops[0].send(Message::text("seen")).await.unwrap();
    let mut client = _client;
    assert_eq!(next(&mut client).await, Ok(Message::text("seen")));
}

#[tokio::test]
async fn ten_operators_racing_for_five_places_five_get_in() {
    let rig = rig(|c| c.limits = Limits { max_operators: 5, ..Limits::default() }).await;
    let names: Vec<String> = (0..10).map(|i| format!("op{i}")).collect();
    let invited: Vec<&str> = names.iter().map(String::as_str).collect();
    rig.open("s", "alice", &invited);
    let mut client = rig.connect("s", "alice").await;
    let sockets = futures_util::future::join_all(names.iter().map(|n| rig.connect("s", n))).await;
    rig.operators_on("s", 5).await;
    client.send(Message::text("to whoever is in")).await.unwrap();
    let outcomes =
        futures_util::future::join_all(sockets.into_iter().map(|mut s| async move { next(&mut s).await })).await;
    let inside = outcomes.iter().filter(|o| **o == Ok(Message::text("to whoever is in"))).count();
    let full = outcomes.iter().filter(|o| **o == Err(Some(4001))).count();
    assert_eq!((inside, full), (5, 5), "{outcomes:?}");
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let rig = rig(|c| c.max_message_bytes = 64 * 1024).await;
    rig.open("s", "alice", &["bob"]);
    let mut client = rig.connect("s", "alice").await;
    let mut op = rig.connect("s", "bob").await;
    rig.operators_on("s", 1).await;
    // Positive control: at the limit, relayed.
    client.send(Message::binary(vec![1u8; 64 * 1024])).await.unwrap();
    assert_eq!(next(&mut op).await.map(|m| m.len()), Ok(64 * 1024));
    client.send(Message::binary(vec![1u8; 64 * 1024 + 1])).await.unwrap();
    assert_eq!(next(&mut client).await, Err(Some(1009)));
}

#[tokio::test]
async fn a_late_operator_gets_the_header_first() {
    let rig = rig(|_| {}).await;
    rig.open("s", "alice", &["early", "late"]);
    let mut client = rig.connect("s", "alice").await;
    let mut early = rig.connect("s", "early").await;
    rig.operators_on("s", 1).await;
    client.send(Message::text(r#"{"skycast":"header"}"#)).await.unwrap();
    client.send(Message::binary(b"INIT".to_vec())).await.unwrap();
    client.send(Message::binary(b"media 1".to_vec())).await.unwrap();
    assert_eq!(
        next(&mut early).await,
        Ok(Message::binary(b"INIT".to_vec())),
        "the control message itself is not relayed"
    );
    assert_eq!(next(&mut early).await, Ok(Message::binary(b"media 1".to_vec())));
    let mut late = rig.connect("s", "late").await;
    rig.operators_on("s", 2).await;
    client.send(Message::binary(b"media 2".to_vec())).await.unwrap();
    assert_eq!(next(&mut late).await, Ok(Message::binary(b"INIT".to_vec())));
    assert_eq!(next(&mut late).await, Ok(Message::binary(b"media 2".to_vec())));
    // An unknown control message is refused, nothing relayed.
    client.send(Message::text(r#"{"skycast":"rewind"}"#)).await.unwrap();
    assert_eq!(next(&mut client).await, Err(Some(1008)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_operator_is_dropped_while_another_keeps_up() {
    let rig = rig(|c| {
        c.queue_messages = 64;
        c.queue_bytes = 2 * 1024 * 1024;
    })
    .await;
    rig.open("s", "alice", &["fast", "stalled"]);
    let mut client = rig.connect("s", "alice").await;
    let mut fast = rig.connect("s", "fast").await;
    let mut stalled = rig.connect("s", "stalled").await;
    rig.operators_on("s", 2).await;
    // 32 KB messages stamped with their send time, one every 5 ms (52 Mbps,
    // 25 times a 2 Mbps stream), 20 MB in all: far more than the stalled
    // operator's queue and both ends' socket buffers hold.
    const COUNT: usize = 640;
    let sender = tokio::spawn(async move {
        let start = std::time::Instant::now();
        let mut pace = tokio::time::interval(Duration::from_millis(5));
        for _ in 0..COUNT {
            pace.tick().await;
            let mut body = vec![0u8; 32 * 1024];
            body[..16].copy_from_slice(&start.elapsed().as_nanos().to_be_bytes());
            client.send(Message::binary(body)).await.unwrap();
        }
        (client, start)
    });
    let mut worst = Duration::ZERO;
    let mut got = 0;
    let mut sent_at = Vec::new();
    while got < COUNT {
        let Ok(Message::Binary(b)) = next(&mut fast).await else { panic!("the fast operator lost its socket") };
        sent_at.push((u128::from_be_bytes(b[..16].try_into().unwrap()), std::time::Instant::now()));
        got += 1;
    }
    let (_client, start) = sender.await.unwrap();
    for (sent, received) in sent_at {
        let delay = received.duration_since(start).saturating_sub(Duration::from_nanos(sent as u64));
        worst = worst.max(delay);
    }
    println!("worst delay to the fast operator: {worst:?}");
    assert!(worst <= Duration::from_millis(50), "the fast operator kept up: worst delay {worst:?}");
    // The stalled one, reading at last, finds a prefix of the stream, then 1013.
    let mut outcome;
    loop {
        outcome = next(&mut stalled).await;
        if outcome.is_err() {
            break;
        }
    }
    assert_eq!(outcome, Err(Some(1013)));
    rig.operators_on("s", 1).await;
}

#[tokio::test]
async fn finishing_a_session_closes_every_socket_and_refuses_new_ones() {
    let rig = rig(|_| {}).await;
    rig.open("s", "alice", &["bob", "carol"]);
    let mut client = rig.connect("s", "alice").await;
    let mut bob = rig.connect("s", "bob").await;
    rig.operators_on("s", 1).await;
    // What the client sent before the end reaches the operator before the
    // close: 12.5 MB bob has not read yet, more than the socket buffers, so
    // most of it is still in bob's queue when the session finishes.
    let message = |i: u32| {
        let mut m = vec![0u8; 64 * 1024];
        m[..4].copy_from_slice(&i.to_be_bytes());
        Message::binary(m)
    };
    for i in 0..200u32 {
        client.send(message(i)).await.unwrap();
    }
    let relayed = || async { rig.hub.snapshot("s").filter(|s| s.messages == 200).map(|_| ()) };
    skycast_tests::eventually(Duration::from_secs(10), relayed).await.expect("all relayed");
    assert!(rig.hub.finish("s", Finish::Deleted));
    assert_eq!(next(&mut client).await, Err(Some(1000)));
    for i in 0..200u32 {
        assert_eq!(next(&mut bob).await, Ok(message(i)), "message {i}");
    }
    assert_eq!(next(&mut bob).await, Err(Some(1000)));
    let mut carol = rig.connect("s", "carol").await;
    assert_eq!(next(&mut carol).await, Err(Some(1000)), "a finished session takes nobody");
    // A node shutting down closes with 1001.
    rig.open("t", "alice", &[]);
    let mut client = rig.connect("t", "alice").await;
    rig.client_on("t").await;
    rig.hub.finish_all(Finish::NodeShutdown);
    assert_eq!(next(&mut client).await, Err(Some(1001)));
}

#[tokio::test]
async fn a_second_client_socket_replaces_the_first() {
    let rig = rig(|_| {}).await;
    rig.open("s", "alice", &["bob"]);
    let mut first = rig.connect("s", "alice").await;
    let mut op = rig.connect("s", "bob").await;
    rig.operators_on("s", 1).await;
    let mut second = rig.connect("s", "alice").await;
    assert_eq!(next(&mut first).await, Err(Some(4002)));
    second.send(Message::text("from the new socket")).await.unwrap();
    assert_eq!(next(&mut op).await, Ok(Message::text("from the new socket")));
}

#[tokio::test]
async fn a_client_that_closes_is_answered_and_let_go_at_once() {
    let rig = rig(|_| {}).await;
    rig.open("s", "alice", &[]);
    let mut client = rig.connect("s", "alice").await;
    rig.client_on("s").await;
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    client.close(Some(bye)).await.unwrap();
    // The server's close reply arrives (a clean close, not a dropped connection)...
    assert_eq!(next(&mut client).await, Err(Some(1000)), "the reply to our close");
    // ...and the session sees the client gone well within a second.
    let gone = || async { rig.hub.snapshot("s").filter(|s| !s.client_connected).map(|_| ()) };
    skycast_tests::eventually(Duration::from_millis(900), gone).await.expect("the client's socket let go");
}
