//! The development JWT signing key: generated on first start, kept in
//! `.dev/` (ignored by git), readable only by its owner.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use skycast_core::auth::JwtKeys;

pub fn ensure_signing_key(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("jwt-ed25519.pem");
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut f) => {
            f.write_all(JwtKeys::generate_pkcs8_pem().as_bytes())?;
            tracing::info!(path = %path.display(), "generated a development JWT signing key");
        }
        // Another process generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    Ok(path)
}
