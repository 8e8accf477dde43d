# The token signing key, the playback-link secret and the edge's origin secret are made here and kept in
# Secrets Manager (encrypted with the stack's KMS key). Functions read them at
# cold start by ARN (SKYCAST_*_SECRET_ID), so no secret sits in a function's
# environment. They are in Terraform's state too: keep the state in
# an encrypted, access-controlled backend.
resource "tls_private_key" "jwt" {
  algorithm = "ED25519"
}

resource "random_password" "playback" {
  length  = 48
  special = false
}

# What CloudFront adds to every request it forwards to the API (cdn.tf), so
# the functions know the viewer address beside it was written by the edge.
resource "random_password" "edge" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "this" {
  for_each = toset(["jwt-private-key", "playback-key", "edge-secret"])
  #checkov:skip=CKV2_AWS_57:Rotating the token key would sign out every user and needs a key set the verifiers do not have yet; rotate by tainting tls_private_key.jwt and applying, at a quiet hour.

  name                    = "${var.name_prefix}/${each.key}"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "jwt_private_key" {
  secret_id     = aws_secretsmanager_secret.this["jwt-private-key"].id
  secret_string = tls_private_key.jwt.private_key_pem_pkcs8
}

resource "aws_secretsmanager_secret_version" "edge_secret" {
  secret_id     = aws_secretsmanager_secret.this["edge-secret"].id
  secret_string = random_password.edge.result
}

resource "aws_secretsmanager_secret_version" "playback_key" {
  secret_id     = aws_secretsmanager_secret.this["playback-key"].id
  secret_string = random_password.playback.result
}

locals {
  # The JWKS `x` of the public key: an Ed25519 SubjectPublicKeyInfo is a
  # 12-byte header and the 32-byte key, so in base64 the key starts at char 16.
  jwt_public_key_b64 = substr(replace(replace(replace(tls_private_key.jwt.public_key_pem, "-----BEGIN PUBLIC KEY-----", ""), "-----END PUBLIC KEY-----", ""), "\n", ""), 16, 44)
  jwt_public_key_x   = replace(replace(trimsuffix(local.jwt_public_key_b64, "="), "+", "-"), "/", "_")
}
