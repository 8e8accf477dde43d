//! Helpers for tests that check recordings with real FFmpeg: a stored
//! session from fixtures, and what ffprobe and a full decode say of an MP4.

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// A session as the node stores it: two encoder processes (a reconnect after
/// the third segment), H.264 with B-frames and AAC, 10 s in all.
pub fn session_fixture() -> PathBuf {
    crate::project_root().join("crates/media/tests/fixtures/session")
}

/// Uploads the fixture's files below `live/{stream}/{session}/{rendition}/`,
/// but for those `skip` names, with `playlist` as `index.m3u8` if given
/// (else the fixture's), and the master playlist and a thumbnail beside them.
pub async fn store_session(s3: &aws_sdk_s3::Client, bucket: &str, folder: &str, skip: &[&str], playlist: Option<&str>) {
    let mut names: Vec<String> = std::fs::read_dir(session_fixture())
        .expect("fixture")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if skip.contains(&name.as_str()) || (name == "index.m3u8" && playlist.is_some()) {
            continue;
        }
        let body = std::fs::read(session_fixture().join(&name)).expect("read fixture");
        s3.put_object().bucket(bucket).key(format!("{folder}/{name}")).body(body.into()).send().await.expect("put");
    }
    if let Some(text) = playlist {
        let key = format!("{folder}/index.m3u8");
        s3.put_object().bucket(bucket).key(key).body(text.as_bytes().to_vec().into()).send().await.expect("put");
    }
    let (session, rendition) = folder.rsplit_once('/').unwrap_or((folder, "source"));
    let master = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x90,CODECS=\"avc1.64000b,mp4a.40.2\"\n{rendition}/index.m3u8\n"
    );
    let key = format!("{session}/master.m3u8");
    s3.put_object().bucket(bucket).key(key).body(master.into_bytes().into()).send().await.expect("put");
    let thumb = b"\xff\xd8\xff\xe0 a still".to_vec();
    let key = format!("{session}/thumb.jpg");
    s3.put_object().bucket(bucket).key(key).content_type("image/jpeg").body(thumb.into()).send().await.expect("put");
}

/// What ffprobe says of a file or URL: codec names, format duration.
#[derive(Debug)]
pub struct Probe {
    pub codecs: Vec<String>,
    pub duration_s: f64,
    /// The top-level boxes in order, for files.
    pub json: serde_json::Value,
}

pub async fn probe(input: &str) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams", input])
        .output()
        .await
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe {input}: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let codecs = json["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_name"].as_str())
        .map(str::to_owned)
        .collect();
    let duration_s = json["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    Probe { codecs, duration_s, json }
}

/// Decodes every frame; returns what FFmpeg complained about (empty: clean).
pub async fn decode_errors(input: &str) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i", input, "-f", "null", "-"])
        .output()
        .await
        .expect("run ffmpeg");
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        text.push_str(&format!("\nffmpeg exited with {}", out.status));
    }
    text
}

/// The top-level box types of an MP4 file, in order.
pub fn top_level_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).expect("read mp4");
    skycast_media::mp4::children(&data)
        .filter_map(Result::ok)
        .map(|b| String::from_utf8_lossy(&b.kind).into_owned())
        .collect()
}
