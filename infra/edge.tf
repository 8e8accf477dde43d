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

# The key tokens are signed with: the same secret the streams and videos
# functions read from Secrets Manager.
resource "aws_cloudfrontkeyvaluestore_key" "playback_key" {
  key_value_store_arn = aws_cloudfront_key_value_store.media_access.arn
  key                 = "playback-key"
  value               = random_password.playback.result
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
# function, which writes the KeyValueStore (in order per session; a record
# that keeps failing goes to this queue after its retries).
resource "aws_sqs_queue" "edge_sync_failures" {
  name                      = "${var.name_prefix}-edge-sync-failures"
  kms_master_key_id         = aws_kms_key.data.arn
  message_retention_seconds = 1209600
}

resource "aws_lambda_event_source_mapping" "edge_sync" {
  event_source_arn               = aws_dynamodb_table.this["media-access"].stream_arn
  function_name                  = aws_lambda_function.this["edge-sync"].arn
  starting_position              = "TRIM_HORIZON"
  batch_size                     = 100
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = 10
  function_response_types        = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.edge_sync_failures.arn
    }
  }
}
