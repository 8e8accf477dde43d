//! The media-token vectors shared with the CloudFront Function
//! (`infra/edge/media-access.js`, tested by `node --test infra/edge/`): the
//! Rust signer makes exactly these tokens, and the Rust edge decision answers
//! every case exactly as the JavaScript must. A change to either side that the
//! other does not make fails one of the two tests.

use std::collections::HashMap;

use serde::Deserialize;
use skycast_core::playback::{Access, MediaRequest, PlaybackSigner};

#[derive(Deserialize)]
struct Vectors {
    key: String,
    now: i64,
    entries: HashMap<String, String>,
    tokens: Vec<TokenVector>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct TokenVector {
    stream: String,
    session: String,
    expires: i64,
    epoch: u64,
    token: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    uri: String,
    allow: bool,
    uri_out: Option<String>,
}

fn vectors() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/edge/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("infra/edge/vectors.json")).expect("vectors parse")
}

/// What the edge does with `uri`: the path it passes on, or `None` (404).
fn decide(signer: &PlaybackSigner, entries: &HashMap<String, String>, uri: &str, now: i64) -> Option<String> {
    let request = MediaRequest::parse(uri)?;
    // The session's own entry, else its stream's, else public (as AccessStore::media).
    let entry = |key: &str| entries.get(key).map(|v| Access::decode(v));
    let access = entry(request.session_id).or_else(|| entry(request.stream_id)).unwrap_or(Access::PUBLIC);
    signer.allows(&request, access, now).then(|| request.path.to_owned())
}

#[test]
fn the_rust_signer_makes_the_shared_tokens() {
    let v = vectors();
    // The vectors' key is the media key, as the edge's store holds it.
    let signer = PlaybackSigner::from_media_key(&v.key);
    assert!(!v.tokens.is_empty());
    for t in &v.tokens {
        assert_eq!(signer.token(&t.stream, &t.session, t.expires, t.epoch), t.token, "{}/{}", t.stream, t.session);
    }
}

#[test]
fn the_rust_edge_decides_every_shared_case_as_the_function_does() {
    let v = vectors();
    let signer = PlaybackSigner::from_media_key(&v.key);
    assert!(v.cases.iter().any(|c| c.allow) && v.cases.iter().any(|c| !c.allow), "both outcomes are covered");
    let wrong: Vec<String> = v
        .cases
        .iter()
        .filter_map(|c| {
            let got = decide(&signer, &v.entries, &c.uri, v.now);
            let want = c.allow.then(|| c.uri_out.clone().unwrap_or_default());
            (got != want).then(|| format!("{}: {} → {got:?}, want {want:?}", c.name, c.uri))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), v.cases.len(), wrong.join("\n"));
}
