//! In AWS the functions' secrets live in Secrets Manager: the environment
//! names the secret, and the function reads it at start.

use std::collections::HashMap;

use skycast_core::{auth::JwtKeys, aws::config_from_lookup};

#[tokio::test]
async fn secrets_come_from_secrets_manager_when_only_their_id_is_named() {
    let sdk = skycast_tests::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let prefix = skycast_tests::unique_prefix();
    let pem = JwtKeys::generate_pkcs8_pem();
    let playback = "p".repeat(48);
    for (name, value) in [(format!("/{prefix}/jwt"), &pem), (format!("/{prefix}/playback"), &playback)] {
        secrets.create_secret().name(name).secret_string(value).send().await.unwrap();
    }
    let env: HashMap<&str, String> = HashMap::from([
        ("SKYCAST_NAME_PREFIX", prefix.clone()),
        ("SKYCAST_JWT_PRIVATE_KEY_SECRET_ID", format!("/{prefix}/jwt")),
        ("SKYCAST_PLAYBACK_KEY_SECRET_ID", format!("/{prefix}/playback")),
    ]);
    let config = config_from_lookup(&sdk, |k| env.get(k).cloned()).await.unwrap();
    assert_eq!(config.jwt_private_key_pem.as_deref(), Some(pem.as_str()));
    assert_eq!(config.playback_key.as_deref(), Some(playback.as_str()));
    assert!(config.jwt_keys().unwrap().can_sign(), "the fetched key signs tokens");

    // A value given directly wins, and its secret is never read.
    let mut direct = env.clone();
    direct.insert("SKYCAST_PLAYBACK_KEY", "d".repeat(40));
    direct.insert("SKYCAST_PLAYBACK_KEY_SECRET_ID", format!("/{prefix}/missing"));
    let config = config_from_lookup(&sdk, |k| direct.get(k).cloned()).await.unwrap();
    assert_eq!(config.playback_key, Some("d".repeat(40)));

    // A secret that is not there stops the start, naming what is wrong.
    let missing = format!("/{prefix}/nowhere");
    let err = config_from_lookup(&sdk, |k| (k == "SKYCAST_PLAYBACK_KEY_SECRET_ID").then(|| missing.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("SKYCAST_PLAYBACK_KEY") && err.contains(&missing), "{err}");
}
