//! Users: the account rules.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::{ValidationError, check_len};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// As registered, lowercased: usernames are case-insensitive.
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: String,
}

/// The public face of a user, as the API shows it to its owner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            created_at: u.created_at.clone(),
        }
    }
}

pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 256;

/// 3–32 of `[a-z0-9_-]`, compared case-insensitively: returns the canonical
/// (lowercase) form.
pub fn normalize_username(raw: &str) -> Result<String, ValidationError> {
    let u = raw.trim().to_ascii_lowercase();
    let len = u.chars().count();
    if !(3..=32).contains(&len) {
        return Err(ValidationError::new("username", "username must be 3 to 32 characters"));
    }
    if !u.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return Err(ValidationError::new("username", "username may contain only letters, digits, '_' and '-'"));
    }
    Ok(u)
}

/// A pragmatic email check (one '@', a dotted domain, no spaces, ≤ 254
/// characters); returns the address lowercased, which is how uniqueness is judged.
pub fn normalize_email(raw: &str) -> Result<String, ValidationError> {
    let e = raw.trim().to_lowercase();
    let invalid = || ValidationError::new("email", "email is not a valid address");
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = e.split_once('@').ok_or_else(invalid)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(invalid());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        || !labels.iter().all(|l| l.chars().all(|c| c.is_alphanumeric() || c == '-'))
    {
        return Err(invalid());
    }
    Ok(e)
}

pub fn check_password(password: &str) -> Result<(), ValidationError> {
    check_len("password", password, PASSWORD_MIN, PASSWORD_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(normalize_username("Alice_01").unwrap(), "alice_01");
        assert_eq!(normalize_username("a-b").unwrap(), "a-b");
        assert_eq!(normalize_username(&"x".repeat(32)).unwrap().len(), 32);
        for bad in ["ab", "", &"x".repeat(33), "has space", "émile", "semi;colon", "dot.name"] {
            let err = normalize_username(bad).unwrap_err();
            assert_eq!(err.field, "username", "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" Bob@Example.COM ").unwrap(), "bob@example.com");
        assert!(normalize_email("a.b+tag@sub.example.org").is_ok());
        for bad in ["", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com", "a@-b.com", "a@b..com"] {
            assert_eq!(normalize_email(bad).unwrap_err().field, "email", "{bad}");
        }
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(check_password("123456789").is_err());
        assert!(check_password("1234567890").is_ok());
        assert!(check_password(&"é".repeat(10)).is_ok());
        assert!(check_password(&"x".repeat(256)).is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }
}
