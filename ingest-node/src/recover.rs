//! Ending a session nobody runs any more — its node died, or this node
//! restarted — from what is in S3: every media playlist is closed with
//! ENDLIST, listing what its last stored playlist listed and then every
//! segment stored after it (timed by its own fragments), so the recording
//! gets everything that was stored.

use bytes::Bytes;
use skycast_core::recording::{init_number, segment_number};
use skycast_media::{
    hls::{FfmpegPlaylist, MediaPlaylist, PlaylistSegment},
    mp4::{fragment_duration, track_timings},
};

use crate::{
    session::RenditionStats,
    store::{LIVE_PLAYLIST, ObjectStore, PutError},
};

/// What a finished session holds, per rendition (the top one first).
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub renditions: Vec<(String, RenditionStats)>,
    pub thumbnail: bool,
}

/// The renditions under `prefix`, as the master playlist orders them (the
/// top one first), else `source` first and the rest by name.
fn renditions(keys: &[String], prefix: &str, master: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix)?.strip_prefix('/')?.split_once('/').map(|(r, _)| r.to_owned()))
        .collect();
    names.sort();
    names.dedup();
    let rank =
        |n: &String| {
            master
                .and_then(|m| m.lines().position(|l| l.trim() == format!("{n}/index.m3u8")))
                .unwrap_or(if n == "source" { 0 } else { usize::MAX })
        };
    names.sort_by_key(|n| (rank(n), n.clone()));
    names
}

/// Closes every playlist of the session under `prefix`
/// (`live/<stream>/<session>`). Idempotent: a playlist already ended is
/// left as it is.
pub async fn finish_from_store(store: &dyn ObjectStore, prefix: &str, nominal: u32) -> Result<Finished, PutError> {
    let keys = store.list(&format!("{prefix}/")).await?;
    let master = store.get(&format!("{prefix}/master.m3u8")).await?;
    let master = master.map(|m| String::from_utf8_lossy(&m).into_owned());
    let mut finished = Finished { thumbnail: keys.iter().any(|k| k.ends_with("/thumb.jpg")), ..Default::default() };
    for name in renditions(&keys, prefix, master.as_deref()) {
        let folder = format!("{prefix}/{name}");
        let files: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix(&folder)?.strip_prefix('/')).collect();
        let mut stored: Vec<u64> = files.iter().filter_map(|f| segment_number(f)).collect();
        stored.sort_unstable();
        let last_init = files.iter().filter_map(|f| init_number(f).map(|n| (n, *f))).max().map(|(_, f)| f.to_owned());
        let Some(last_init) = last_init else { continue };
        let stored_playlist = store.get(&format!("{folder}/index.m3u8")).await?;
        let listed = stored_playlist.map(|t| FfmpegPlaylist::parse(&String::from_utf8_lossy(&t))).unwrap_or_default();
        let mut playlist = MediaPlaylist::new(nominal);
        let mut previous_init: Option<String> = None;
        let mut push = |playlist: &mut MediaPlaylist,
                        uri: String,
                        duration: f64,
                        init: String,
                        dated: Option<String>| {
            let discontinuity = previous_init.as_ref().is_some_and(|p| *p != init);
            previous_init = Some(init.clone());
            playlist.push(PlaylistSegment { uri, duration, init_uri: init, discontinuity, program_date_time: dated });
        };
        for s in &listed.segments {
            let init = s.init_uri.clone().unwrap_or_else(|| "init.mp4".to_owned());
            push(&mut playlist, s.uri.clone(), s.duration, init, s.program_date_time.clone());
        }
        if !listed.ended {
            // Stored after the last playlist was: a crash between the two.
            // In order, and only while they run on (a gap means the rest
            // never finished storing).
            let mut next = listed.segments.iter().filter_map(|s| segment_number(&s.uri)).max().map_or(0, |n| n + 1);
            let timings = match store.get(&format!("{folder}/{last_init}")).await? {
                Some(init) => track_timings(&init).ok(),
                None => None,
            };
            while stored.binary_search(&next).is_ok() {
                let uri = format!("seg_{next:06}.m4s");
                let body = store.get(&format!("{folder}/{uri}")).await?.unwrap_or_default();
                let duration =
                    timings.as_ref().and_then(|t| fragment_duration(t, &body).ok()).unwrap_or(f64::from(nominal));
                push(&mut playlist, uri, duration, last_init.clone(), None);
                next += 1;
            }
            playlist.end();
            if !playlist.segments().is_empty() {
                let text = Bytes::from(playlist.render());
                store
                    .put(&format!("{folder}/index.m3u8"), text, "application/vnd.apple.mpegurl", LIVE_PLAYLIST)
                    .await?;
            }
        }
        let stats = RenditionStats {
            segments: playlist.segments().len() as u64,
            duration: playlist.duration(),
            ..Default::default()
        };
        finished.renditions.push((name, stats));
    }
    Ok(finished)
}

/// Stores what a spool holds from before a restart: files named as they
/// are in S3 (`<stream>/<session>/<rendition>/{init*.mp4,seg_*.m4s}`), each
/// removed once stored. Returns how many were stored; what fails stays for
/// the next start.
pub async fn store_spool(store: &dyn ObjectStore, spool: &std::path::Path) -> usize {
    let mut stored = 0;
    let Ok(streams) = std::fs::read_dir(spool) else { return 0 };
    for stream in streams.flatten() {
        for session in std::fs::read_dir(stream.path()).into_iter().flatten().flatten() {
            for rendition in std::fs::read_dir(session.path()).into_iter().flatten().flatten() {
                let mut files: Vec<_> =
                    std::fs::read_dir(rendition.path()).into_iter().flatten().flatten().map(|f| f.path()).collect();
                // Inits first, then segments in order: a segment never lands before its init.
                files.sort_by_key(|p| (!p.to_string_lossy().contains("init"), p.clone()));
                for file in files {
                    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    if init_number(&name).is_none() && segment_number(&name).is_none() {
                        continue;
                    }
                    let key = format!(
                        "live/{}/{}/{}/{name}",
                        stream.file_name().to_string_lossy(),
                        session.file_name().to_string_lossy(),
                        rendition.file_name().to_string_lossy()
                    );
                    let Ok(body) = tokio::fs::read(&file).await else { continue };
                    let kind = crate::store::content_type(&name);
                    match store.put(&key, Bytes::from(body), kind, crate::store::IMMUTABLE).await {
                        Ok(()) => {
                            let _ = tokio::fs::remove_file(&file).await;
                            stored += 1;
                        }
                        Err(e) => tracing::warn!(%key, error = %e.message, "spooled file not stored; next start"),
                    }
                }
                let _ = std::fs::remove_dir(rendition.path());
            }
            let _ = std::fs::remove_dir(session.path());
        }
        let _ = std::fs::remove_dir(stream.path());
    }
    stored
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, sync::Mutex};

    use async_trait::async_trait;

    use super::*;

    #[derive(Default)]
    struct Memory(Mutex<BTreeMap<String, Bytes>>);

    #[async_trait]
    impl ObjectStore for Memory {
        async fn put(&self, key: &str, body: Bytes, _: &str, _: &str) -> Result<(), PutError> {
            self.0.lock().unwrap().insert(key.to_owned(), body);
            Ok(())
        }
        async fn get(&self, key: &str) -> Result<Option<Bytes>, PutError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, PutError> {
            Ok(self.0.lock().unwrap().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
        }
    }

    fn put(m: &Memory, key: &str, body: &[u8]) {
        m.0.lock().unwrap().insert(key.to_owned(), Bytes::copy_from_slice(body));
    }

    #[tokio::test]
    async fn a_dead_nodes_session_ends_with_what_was_stored_after_its_last_playlist() {
        let m = Memory::default();
        let p = "live/s/x";
        put(&m, &format!("{p}/master.m3u8"), b"#EXTM3U\nsource/index.m3u8\n");
        put(&m, &format!("{p}/thumb.jpg"), b"jpg");
        put(&m, &format!("{p}/source/init.mp4"), b"not an init");
        put(&m, &format!("{p}/source/init_1.mp4"), b"not an init");
        for n in 0..5 {
            put(&m, &format!("{p}/source/seg_{n:06}.m4s"), b"seg");
        }
        // seg 6 without seg 5: never part of the recording.
        put(&m, &format!("{p}/source/seg_000006.m4s"), b"seg");
        put(
            &m,
            &format!("{p}/source/index.m3u8"),
            b"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg_000000.m4s\n#EXTINF:2.0,\nseg_000001.m4s\n\
              #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init_1.mp4\"\n#EXTINF:1.5,\nseg_000002.m4s\n",
        );
        let f = finish_from_store(&m, p, 2).await.unwrap();
        assert!(f.thumbnail);
        assert_eq!(f.renditions.len(), 1);
        assert_eq!((f.renditions[0].1.segments, f.renditions[0].1.duration), (5, 9.5));
        let text =
            String::from_utf8(m.get(&format!("{p}/source/index.m3u8")).await.unwrap().unwrap().to_vec()).unwrap();
        assert!(text.ends_with("#EXTINF:2.000000,\nseg_000004.m4s\n#EXT-X-ENDLIST\n"), "{text}");
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
        assert!(!text.contains("seg_000006"), "{text}");
        // Again: nothing changes (idempotent), the figures are the same.
        let again = finish_from_store(&m, p, 2).await.unwrap();
        assert_eq!(again.renditions[0].1.segments, 5);
        let same =
            String::from_utf8(m.get(&format!("{p}/source/index.m3u8")).await.unwrap().unwrap().to_vec()).unwrap();
        assert_eq!(same, text);
    }

    #[test]
    fn renditions_follow_the_master() {
        let keys: Vec<String> =
            ["p/360p/init.mp4", "p/source/init.mp4", "p/480p/init.mp4", "p/thumb.jpg"].map(String::from).to_vec();
        let master = "#EXTM3U\nsource/index.m3u8\n480p/index.m3u8\n360p/index.m3u8\n";
        assert_eq!(renditions(&keys, "p", Some(master)), ["source", "480p", "360p"]);
        assert_eq!(renditions(&keys, "p", None), ["source", "360p", "480p"]);
    }
}
