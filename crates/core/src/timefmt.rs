//! Timestamps as RFC 3339 strings in UTC with millisecond precision, the
//! format of every `*_at` field in the API and in DynamoDB.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn now_rfc3339() -> String {
    rfc3339(now())
}

pub fn unix_now() -> i64 {
    now().unix_timestamp()
}

/// Unix seconds of an RFC 3339 timestamp.
pub fn parse_rfc3339_unix(text: &str) -> Result<i64, time::error::Parse> {
    Ok(OffsetDateTime::parse(text, &Rfc3339)?.unix_timestamp())
}
