//! Access tokens: short-lived JWTs signed with Ed25519 (`EdDSA`), so any part
//! of the platform can verify them with the public key from the JWKS alone.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum JwtError {
    #[error("the JWT signing key is not a PKCS#8 PEM Ed25519 private key")]
    BadKey,
    #[error("token is invalid or expired")]
    Invalid,
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("this process holds only the public key and cannot sign tokens")]
    VerifyOnly,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The username, so consumers need no lookup to show who acts.
    pub name: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Distinguishes access tokens from any other JWT the issuer might sign.
    pub typ: String,
}

const ACCESS_TYP: &str = "access";

pub struct JwtKeys {
    /// `None` in functions that only verify: they never hold the private key.
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    validation: Validation,
    kid: String,
    public_x: String,
    issuer: String,
    ttl: Duration,
}

impl JwtKeys {
    pub fn from_pkcs8_pem(pem: &str, issuer: &str, ttl: Duration) -> Result<Self, JwtError> {
        let der = pem_to_der(pem).ok_or(JwtError::BadKey)?;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der).map_err(|_| JwtError::BadKey)?;
        use aws_lc_rs::signature::KeyPair;
        let public_x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let mut keys = Self::verifier(&public_x, issuer, ttl)?;
        keys.encoding = Some(EncodingKey::from_ed_der(&der));
        Ok(keys)
    }

    /// Keys that verify but cannot sign, from the public key alone (the `x`
    /// of the JWKS: base64url of the 32-byte Ed25519 public key).
    pub fn verifier(public_x: &str, issuer: &str, ttl: Duration) -> Result<Self, JwtError> {
        let public_x = public_x.trim().to_owned();
        if URL_SAFE_NO_PAD.decode(&public_x).map(|k| k.len()).ok() != Some(32) {
            return Err(JwtError::BadKey);
        }
        let kid = crate::ids::sha256_hex(&public_x)[..16].to_owned();
        let decoding = DecodingKey::from_ed_components(&public_x).map_err(|_| JwtError::BadKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Ok(Self { encoding: None, decoding, validation, kid, public_x, issuer: issuer.to_owned(), ttl })
    }

    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// A fresh Ed25519 key as PKCS#8 PEM: what `make dev` stores on first start.
    pub fn generate_pkcs8_pem() -> String {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = match aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng) {
            Ok(doc) => doc,
            Err(_) => panic!("system random number generator failed"),
        };
        let b64 = STANDARD.encode(doc.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user_id: &str, username: &str) -> Result<String, JwtError> {
        let now = crate::timefmt::unix_now();
        let claims = AccessClaims {
            sub: user_id.to_owned(),
            name: username.to_owned(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            typ: ACCESS_TYP.to_owned(),
        };
        let encoding = self.encoding.as_ref().ok_or(JwtError::VerifyOnly)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, encoding).map_err(|e| JwtError::Sign(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| JwtError::Invalid)?;
        if data.claims.typ != ACCESS_TYP {
            return Err(JwtError::Invalid);
        }
        Ok(data.claims)
    }

    /// The public key as a JSON Web Key Set (RFC 7517, OKP keys per RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.public_x,
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return None;
    }
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ttl: u64) -> JwtKeys {
        JwtKeys::from_pkcs8_pem(&JwtKeys::generate_pkcs8_pem(), "skycast", Duration::from_secs(ttl)).unwrap()
    }

    #[test]
    fn issue_then_verify() {
        let k = keys(900);
        let t = k.issue("u1", "alice").unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.name.as_str(), c.iss.as_str()), ("u1", "alice", "skycast"));
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn another_key_or_a_tampered_token_is_rejected() {
        let a = keys(900);
        let b = keys(900);
        let t = a.issue("u1", "alice").unwrap();
        assert!(b.verify(&t).is_err());
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        parts[1] = URL_SAFE_NO_PAD
            .encode(br#"{"sub":"admin","name":"x","iss":"skycast","iat":0,"exp":9999999999,"typ":"access"}"#);
        assert!(a.verify(&parts.join(".")).is_err());
        assert!(a.verify("garbage").is_err());
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let k = keys(900);
        let now = crate::timefmt::unix_now();
        let claims = AccessClaims {
            sub: "u".into(),
            name: "n".into(),
            iss: "skycast".into(),
            iat: now - 100,
            exp: now - 60,
            typ: "access".into(),
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, k.encoding.as_ref().unwrap()).unwrap();
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn jwks_publishes_the_verifying_key() {
        let k = keys(900);
        let jwks = k.jwks();
        let x = jwks["keys"][0]["x"].as_str().unwrap();
        let t = k.issue("u1", "alice").unwrap();
        let key = DecodingKey::from_ed_components(x).unwrap();
        assert!(jsonwebtoken::decode::<AccessClaims>(&t, &key, &k.validation).is_ok());
        assert_eq!(jwks["keys"][0]["kid"], k.kid);
    }

    #[test]
    fn a_verifier_from_the_public_key_verifies_but_cannot_sign() {
        let k = keys(900);
        let x = k.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        let v = JwtKeys::verifier(&x, "skycast", Duration::from_secs(900)).unwrap();
        assert!(!v.can_sign() && k.can_sign());
        assert_eq!(v.verify(&k.issue("u1", "alice").unwrap()).unwrap().sub, "u1");
        assert!(matches!(v.issue("u1", "alice"), Err(JwtError::VerifyOnly)));
        assert!(JwtKeys::verifier("short", "skycast", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(JwtKeys::from_pkcs8_pem("not a key", "i", Duration::from_secs(1)).is_err());
        assert!(
            JwtKeys::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                "i",
                Duration::from_secs(1)
            )
            .is_err()
        );
    }
}
