//! The SRT handshake's key check, without holding up the port.
//!
//! libsrt asks its listener callback on the thread that receives every
//! packet of the port, so a key lookup made there stalls every live SRT
//! stream on the node for as long as the lookup takes (measured: 50
//! publishers connecting while the directory answered slowly lost 50–70k
//! datagrams and stored segments up to 2.7 s late). So the gate:
//! - answers from what it learnt lately (known and unknown keys, 30 s);
//! - otherwise starts a lookup and waits for it at most [`BUDGET`]: a
//!   directory that answers in time (DynamoDB does, in milliseconds) refuses
//!   unknown keys in the handshake;
//! - when the lookup is slower, lets the handshake go on: the passphrase is
//!   the key, so the caller still proves it holds the key it names, and
//!   [`crate::node::Node::admit`] looks the key up (off the receiving thread)
//!   before any of its media goes anywhere. The late answer is remembered.
//! - counts each address's unknown keys, so one peer trying many keys is
//!   refused without costing lookups (many encoders behind one address,
//!   each with its own key, are not).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use skycast_srt::{REJECT_FORBIDDEN, REJECT_UNAVAILABLE, Verdict};
use tokio::runtime::Handle;

/// Longest the receiving thread waits for a lookup.
pub const BUDGET: Duration = Duration::from_millis(20);
/// How long an answer is reused. A rotated key may pass the handshake for
/// this long, but not admission, which always asks the directory.
const REMEMBERED: Duration = Duration::from_secs(30);
/// Answers kept at most; beyond it, the oldest are forgotten.
const MAX_REMEMBERED: usize = 10_000;
/// Unknown keys one address may try per [`PEER_WINDOW`].
const UNKNOWN_KEYS_PER_PEER: u32 = 20;
const PEER_WINDOW: Duration = Duration::from_secs(10);
/// Addresses counted at most; when more are busy at once, unknown keys
/// are refused without a lookup until a window ends.
const MAX_PEERS: usize = 10_000;

/// Whether a key belongs to a stream: `Ok(true|false)`, or `Err` when the
/// directory cannot say.
pub type Lookup = Arc<dyn Fn(String) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, ()>> + Send>> + Send + Sync>;

#[derive(Default)]
struct Learnt {
    answers: HashMap<String, (bool, Instant)>,
    /// Per address: when its window began, and the unknown keys it tried.
    unknown: HashMap<IpAddr, (Instant, u32)>,
}

impl Learnt {
    fn answer(&self, key: &str, now: Instant) -> Option<bool> {
        self.answers.get(key).filter(|(_, at)| now.duration_since(*at) < REMEMBERED).map(|(known, _)| *known)
    }

    fn remember(&mut self, key: String, known: bool, now: Instant) {
        if self.answers.len() >= MAX_REMEMBERED {
            self.answers.retain(|_, (_, at)| now.duration_since(*at) < REMEMBERED);
        }
        if self.answers.len() >= MAX_REMEMBERED
            && let Some(oldest) = self.answers.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
        {
            self.answers.remove(&oldest);
        }
        self.answers.insert(key, (known, now));
    }

    /// Whether `peer` may still have a key looked up.
    fn may_look_up(&self, peer: IpAddr, now: Instant) -> bool {
        match self.unknown.get(&peer) {
            Some((since, count)) => now.duration_since(*since) >= PEER_WINDOW || *count < UNKNOWN_KEYS_PER_PEER,
            None => true,
        }
    }

    /// Counts an unknown key tried by `peer`.
    fn count_unknown(&mut self, peer: IpAddr, now: Instant) {
        if self.unknown.len() >= MAX_PEERS && !self.unknown.contains_key(&peer) {
            self.unknown.retain(|_, (since, _)| now.duration_since(*since) < PEER_WINDOW);
            if self.unknown.len() >= MAX_PEERS {
                return;
            }
        }
        let (since, count) = self.unknown.entry(peer).or_insert((now, 0));
        if now.duration_since(*since) >= PEER_WINDOW {
            (*since, *count) = (now, 0);
        }
        *count += 1;
    }
}

/// See the module's documentation.
pub struct KeyGate {
    lookup: Lookup,
    handle: Handle,
    budget: Duration,
    learnt: Arc<Mutex<Learnt>>,
}

impl KeyGate {
    pub fn new(lookup: Lookup, handle: Handle) -> Self {
        Self::with_budget(lookup, handle, BUDGET)
    }

    pub fn with_budget(lookup: Lookup, handle: Handle, budget: Duration) -> Self {
        Self { lookup, handle, budget, learnt: Arc::default() }
    }

    /// The verdict on a caller naming `key` (already well-formed), from a
    /// blocking thread: at most [`BUDGET`] of waiting.
    pub fn check(&self, key: &str, peer: Option<SocketAddr>) -> Verdict {
        let accept = || Verdict::Accept { passphrase: key.to_owned() };
        let now = Instant::now();
        let ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
        {
            let learnt = self.learnt.lock().unwrap_or_else(|p| p.into_inner());
            match learnt.answer(key, now) {
                Some(true) => return accept(),
                Some(false) => {
                    tracing::warn!(?peer, "srt caller refused: unknown stream key");
                    return Verdict::Reject(REJECT_FORBIDDEN);
                }
                None => {}
            }
            if !learnt.may_look_up(ip, now) {
                tracing::warn!(?peer, "srt caller refused: too many unknown keys from its address");
                return Verdict::Reject(REJECT_UNAVAILABLE);
            }
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (lookup, learnt, owned) = (Arc::clone(&self.lookup), Arc::clone(&self.learnt), key.to_owned());
        self.handle.spawn(async move {
            let answer = lookup(owned.clone()).await;
            if let Ok(known) = answer {
                let mut learnt = learnt.lock().unwrap_or_else(|p| p.into_inner());
                if !known {
                    learnt.count_unknown(ip, Instant::now());
                }
                learnt.remember(owned, known, Instant::now());
            }
            let _ = tx.send(answer);
        });
        match rx.recv_timeout(self.budget) {
            Ok(Ok(true)) => accept(),
            Ok(Ok(false)) => {
                tracing::warn!(?peer, "srt caller refused: unknown stream key");
                Verdict::Reject(REJECT_FORBIDDEN)
            }
            Ok(Err(())) => Verdict::Reject(REJECT_UNAVAILABLE),
            Err(_) => {
                tracing::debug!(?peer, "srt key lookup slower than the handshake's budget: admission decides");
                accept()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const KNOWN: &str = "known-key-0123456789";
    const SLOW: &str = "slow-key-0123456789";

    /// A directory that knows [`KNOWN`] (and any key like it), answers [`SLOW`] after a second,
    /// fails for "broken", and counts its lookups.
    fn directory(count: Arc<AtomicUsize>) -> Lookup {
        Arc::new(move |key: String| {
            count.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match key.as_str() {
                    SLOW => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(true)
                    }
                    "broken-key-0123456789" => Err(()),
                    other => Ok(other.starts_with("known-")),
                }
            })
        })
    }

    fn peer(n: u8) -> Option<SocketAddr> {
        Some(SocketAddr::from(([10, 0, 0, n], 9000)))
    }

    fn accepted(v: &Verdict) -> bool {
        matches!(v, Verdict::Accept { passphrase } if !passphrase.is_empty())
    }

    /// The gate runs on a plain thread, as libsrt's receiving thread is.
    async fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::task::spawn_blocking(f).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn known_keys_pass_unknown_fail_and_answers_are_reused() {
        let count = Arc::new(AtomicUsize::new(0));
        let gate =
            Arc::new(KeyGate::with_budget(directory(Arc::clone(&count)), Handle::current(), Duration::from_secs(1)));
        let g = Arc::clone(&gate);
        let verdicts = on_thread(move || {
            [KNOWN, "unknown-key-0123456789", KNOWN, "unknown-key-0123456789"].map(|k| g.check(k, peer(1)))
        })
        .await;
        assert!(accepted(&verdicts[0]));
        assert_eq!(verdicts[1], Verdict::Reject(REJECT_FORBIDDEN));
        assert_eq!(&verdicts[0], &verdicts[2]);
        assert_eq!(verdicts[3], Verdict::Reject(REJECT_FORBIDDEN));
        assert_eq!(count.load(Ordering::SeqCst), 2, "the second asks of each key were answered from memory");
        let g = Arc::clone(&gate);
        let broken = on_thread(move || g.check("broken-key-0123456789", peer(1))).await;
        assert_eq!(broken, Verdict::Reject(REJECT_UNAVAILABLE), "a failing directory refuses, and is not remembered");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_lookup_holds_the_thread_only_for_the_budget_and_is_remembered() {
        let count = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(KeyGate::new(directory(Arc::clone(&count)), Handle::current()));
        let g = Arc::clone(&gate);
        let (verdict, waited) = on_thread(move || {
            let t = Instant::now();
            (g.check(SLOW, peer(1)), t.elapsed())
        })
        .await;
        assert!(accepted(&verdict), "admission decides: {verdict:?}");
        assert!(waited < BUDGET * 10, "held the thread {waited:?}");
        // Positive control: a fast directory's answer is waited for (above).
        let deadline = Instant::now() + Duration::from_secs(5);
        while gate.learnt.lock().unwrap().answer(SLOW, Instant::now()).is_none() {
            assert!(Instant::now() < deadline, "the late answer was not remembered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let g = Arc::clone(&gate);
        assert!(accepted(&on_thread(move || g.check(SLOW, peer(1))).await));
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_address_trying_many_keys_is_cut_off_and_others_are_not() {
        let count = Arc::new(AtomicUsize::new(0));
        let gate =
            Arc::new(KeyGate::with_budget(directory(Arc::clone(&count)), Handle::current(), Duration::from_secs(1)));
        let g = Arc::clone(&gate);
        let verdicts = on_thread(move || {
            (0..UNKNOWN_KEYS_PER_PEER + 5).map(|i| g.check(&format!("guess-{i:016}"), peer(1))).collect::<Vec<_>>()
        })
        .await;
        let unavailable = verdicts.iter().filter(|v| **v == Verdict::Reject(REJECT_UNAVAILABLE)).count();
        assert_eq!(unavailable, 5, "{verdicts:?}");
        assert_eq!(count.load(Ordering::SeqCst), UNKNOWN_KEYS_PER_PEER as usize, "the refused ones cost no lookup");
        let g = Arc::clone(&gate);
        assert!(accepted(&on_thread(move || g.check(KNOWN, peer(2))).await), "another address still gets in");
        let g = Arc::clone(&gate);
        assert!(accepted(&on_thread(move || g.check(KNOWN, peer(1))).await), "a key it knows costs no lookup");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_encoders_behind_one_address_each_with_its_key_all_get_in() {
        let count = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(KeyGate::with_budget(directory(count), Handle::current(), Duration::from_secs(1)));
        let verdicts = on_thread(move || {
            (0..UNKNOWN_KEYS_PER_PEER * 3).map(|i| gate.check(&format!("known-{i:016}"), peer(1))).collect::<Vec<_>>()
        })
        .await;
        assert!(verdicts.iter().all(accepted), "{verdicts:?}");
    }
}
