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

/// Unix milliseconds of an RFC 3339 timestamp (`None` if it is not one).
pub fn parse_rfc3339_unix_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The RFC 3339 form of Unix milliseconds.
pub fn rfc3339_from_unix_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    rfc3339(t)
}

/// Unix seconds of an RFC 3339 timestamp.
pub fn parse_rfc3339_unix(text: &str) -> Result<i64, time::error::Parse> {
    Ok(OffsetDateTime::parse(text, &Rfc3339)?.unix_timestamp())
}
