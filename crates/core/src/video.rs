//! Videos: what a recorded session becomes in the catalog.

use serde::{Deserialize, Serialize};

use crate::{
    stream::{Visibility, check_description, check_title},
    validation::ValidationError,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Video {
    /// The session's id: one session, one video, whoever delivers it twice.
    pub id: String,
    pub owner_id: String,
    pub owner_username: String,
    pub stream_id: String,
    pub session_id: String,
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
    #[serde(default)]
    pub tags: Vec<String>,
    pub duration_s: f64,
    pub size_bytes: u64,
    /// Keys in the recordings bucket.
    pub mp4_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_key: Option<String>,
    /// The session's master playlist in the live bucket (the VOD HLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls_key: Option<String>,
    #[serde(default)]
    pub view_count: u64,
    #[serde(default)]
    pub like_count: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Set while a delete removes the objects: the video is gone to readers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    /// When the first delete began: what `video.deleted` says, however often
    /// the delete is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

pub const MAX_TAGS: usize = 20;
pub const TAG_MAX_CHARS: usize = 32;

/// Tags as stored: trimmed, lowercase, inner white space as one `-`, no
/// duplicates, in the order given. At most 20 of at most 32 characters,
/// letters, digits, `-` and `_`.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, ValidationError> {
    let mut out: Vec<String> = Vec::new();
    for raw in tags {
        let tag = raw.split_whitespace().collect::<Vec<_>>().join("-").to_lowercase();
        if tag.is_empty() {
            return Err(ValidationError::new("tags", "tags must not be empty"));
        }
        if tag.chars().count() > TAG_MAX_CHARS {
            return Err(ValidationError::new("tags", format!("a tag is at most {TAG_MAX_CHARS} characters: {tag:?}")));
        }
        if !tag.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            return Err(ValidationError::new("tags", format!("tags take letters, digits, - and _ only: {tag:?}")));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ValidationError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// One tag from a query string, normalised as stored.
pub fn normalize_tag(tag: &str) -> Result<String, ValidationError> {
    let mut t = normalize_tags(&[tag.to_owned()])?;
    Ok(t.remove(0))
}

/// Lowercase words of a text, for search.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// The words of a search, at most 10; `None` when it has none.
pub fn search_terms(q: &str) -> Result<Vec<String>, ValidationError> {
    if q.chars().count() > 200 {
        return Err(ValidationError::new("q", "q must be at most 200 characters"));
    }
    let terms: Vec<String> = words(q).take(10).collect();
    if terms.is_empty() {
        return Err(ValidationError::new("q", "q must contain a word"));
    }
    Ok(terms)
}

/// Whether every term begins a word of the title or description (so
/// `"spee"` finds "Speedrun").
pub fn matches_search(video: &Video, terms: &[String]) -> bool {
    let words: Vec<String> = words(&video.title).chain(words(&video.description)).collect();
    terms.iter().all(|t| words.iter().any(|w| w.starts_with(t.as_str())))
}

pub fn is_visible_to(video: &Video, caller: Option<&str>) -> bool {
    !video.deleting && (video.visibility == Visibility::Public || caller == Some(video.owner_id.as_str()))
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VideoPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub visibility: Option<Visibility>,
}

impl VideoPatch {
    pub fn new(
        title: Option<&str>,
        description: Option<&str>,
        tags: Option<&[String]>,
        visibility: Option<Visibility>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            title: title.map(check_title).transpose()?,
            description: description.map(check_description).transpose()?,
            tags: tags.map(normalize_tags).transpose()?,
            visibility,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(
            normalize_tags(&s(&[" Speed Run ", "speed-run", "RUST", "état"])).unwrap(),
            s(&["speed-run", "rust", "état"])
        );
        assert_eq!(normalize_tags(&s(&[""])).unwrap_err().field, "tags");
        assert!(normalize_tags(&s(&[&"a".repeat(32)])).is_ok());
        assert!(normalize_tags(&s(&[&"a".repeat(33)])).is_err());
        assert!(normalize_tags(&s(&["no/slash"])).is_err());
        let twenty: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert!(normalize_tags(&twenty).is_ok());
        let more: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert_eq!(normalize_tags(&more).unwrap_err().field, "tags");
        // Duplicates do not count twice towards the limit.
        let dup: Vec<String> = (0..25).map(|i| format!("t{}", i % 20)).collect();
        assert_eq!(normalize_tags(&dup).unwrap().len(), 20);
    }

    #[test]
    fn search_matches_word_prefixes_of_title_and_description() {
        let v = Video {
            id: String::new(),
            owner_id: "u".into(),
            owner_username: "u".into(),
            stream_id: String::new(),
            session_id: String::new(),
            title: "Friday Speedrun!".into(),
            description: "any% glitchless, with chat".into(),
            visibility: Visibility::Public,
            tags: vec![],
            duration_s: 1.0,
            size_bytes: 1,
            mp4_key: String::new(),
            thumbnail_key: None,
            hls_key: None,
            view_count: 0,
            like_count: 0,
            created_at: String::new(),
            updated_at: String::new(),
            deleting: false,
            deleted_at: None,
        };
        let q = |text: &str| matches_search(&v, &search_terms(text).unwrap());
        assert!(q("speed"));
        assert!(q("SPEEDRUN glitch"));
        assert!(q("chat friday"));
        assert!(!q("run"), "prefixes of words, not infixes");
        assert!(!q("speedrun minecraft"), "every word must match");
        assert!(search_terms("  !! ").is_err());
        let mut private = v.clone();
        private.visibility = Visibility::Private;
        assert!(is_visible_to(&v, None) && !is_visible_to(&private, None) && is_visible_to(&private, Some("u")));
        private.deleting = true;
        assert!(!is_visible_to(&private, Some("u")));
    }
}
