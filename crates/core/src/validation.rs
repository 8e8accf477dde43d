//! Input rule violations. Each names the field at fault so the API can
//! return it in the error body.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Length in characters (not bytes) within `min..=max`.
pub fn check_len(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let n = value.chars().count();
    if n < min || n > max {
        let msg = if min == 0 {
            format!("{field} must be at most {max} characters")
        } else {
            format!("{field} must be {min} to {max} characters")
        };
        return Err(ValidationError::new(field, msg));
    }
    Ok(())
}
