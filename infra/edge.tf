# Private media at the edge. A CloudFront Function (infra/edge/media-access.js)
# runs on every media request, before the cache: public sessions pass with
# plain URLs; private ones only behind /t/{token}/, checked against the
# session's entry in a KeyValueStore; deleted ones never. It strips the token
# from the URI, so tokens never split the cache. `make test` runs the same
# file against the vectors the Rust edge (the local /cdn/) is held to.
resource "aws_cloudfront_key_value_store" "media_access" {
  name    = "${var.name_prefix}-media-access"
  comment = "Per-session media access ({state}:{epoch}) and the playback key"
}

# The key tokens are signed with, derived from the playback secret the
# streams and videos functions read from Secrets Manager, exactly as they
# derive it (core::playback::media_key): the store never holds the secret,
# which also seals listing cursors.
resource "aws_cloudfrontkeyvaluestore_key" "playback_key" {
  key_value_store_arn = aws_cloudfront_key_value_store.media_access.arn
  key                 = "playback-key"
  value               = sha256("skycast-media-key-v1\n${random_password.playback.result}")
}

resource "aws_cloudfront_function" "media_access" {
  name                         = "${var.name_prefix}-media-access"
  runtime                      = "cloudfront-js-2.0"
  comment                      = "Media tokens and per-session access"
  publish                      = true
  code                         = file("${path.module}/edge/media-access.js")
  key_value_store_associations = [aws_cloudfront_key_value_store.media_access.arn]
}

# The API writes the media-access table; its stream feeds the edge-sync
# function, which writes the KeyValueStore in order per session.
resource "aws_lambda_event_source_mapping" "edge_sync" {
  event_source_arn               = aws_dynamodb_table.this["media-access"].stream_arn
  function_name                  = aws_lambda_function.this["edge-sync"].arn
  starting_position              = "TRIM_HORIZON"
  batch_size                     = 100
  bisect_batch_on_function_error = true
  # Never skip a record: a lost private or gone entry would leave its session
  # public at the edge. A record that keeps failing holds its shard (alarm on
  # the iterator age) until it is applied.
  maximum_retry_attempts        = -1
  maximum_record_age_in_seconds = -1
  function_response_types       = ["ReportBatchItemFailures"]
}
