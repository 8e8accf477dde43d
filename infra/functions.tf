# One Lambda per folder of functions/, each with its own role that may touch
# only what its code touches: its grants come from permissions.json, the
# declaration tests/tests/iam.rs runs each function's code against with IAM
# enforced (a grant missing or unused there fails the test).
locals {
  permissions = jsondecode(file("${path.module}/permissions.json")).roles

  # S3 actions IAM applies to a bucket, not to its objects.
  s3_bucket_actions = ["ListBucket", "ListBucketVersions", "ListBucketMultipartUploads"]

  http_functions = ["auth", "streams", "vod", "sessions", "webhooks"]

  # The functions that see what webhooks tell (a stream waiting, live or
  # ended, a recording ready or failed, a video created, updated or
  # deleted) put their events on the webhook-events queue, which the
  # webhook-sender fans out to each owner's endpoints. The webhooks
  # function queues its test events there too.
  # (Merged in at the function rather than into the map below: checkov
  # cannot expand a map built with merge(), and would check less.)
  webhook_event_producers = ["lifecycle", "recorder", "catalog", "vod", "webhooks"]
  webhook_events_env      = { SKYCAST_WEBHOOK_EVENTS_QUEUE_URL = aws_sqs_queue.main["webhook-events"].url }

  functions = {
    auth = {
      memory  = 512 # argon2id hashing wants CPU, which Lambda gives with memory
      timeout = 10
      env = {
        SKYCAST_JWT_PRIVATE_KEY_SECRET_ID = aws_secretsmanager_secret.this["jwt-private-key"].arn
        SKYCAST_EDGE_SECRET_SECRET_ID     = aws_secretsmanager_secret.this["edge-secret"].arn
      }
    }
    streams = {
      memory  = 256
      timeout = 10
      env = {
        SKYCAST_JWT_PUBLIC_KEY         = local.jwt_public_key_x
        SKYCAST_PLAYBACK_KEY_SECRET_ID = aws_secretsmanager_secret.this["playback-key"].arn
        SKYCAST_EDGE_SECRET_SECRET_ID  = aws_secretsmanager_secret.this["edge-secret"].arn
        # Who sees the nodes' detail in GET /stats.
        SKYCAST_ADMIN_USERNAMES = join(",", var.admin_usernames)
      }
    }
    vod = {
      memory  = 256
      timeout = 15
      env = {
        SKYCAST_JWT_PUBLIC_KEY         = local.jwt_public_key_x
        SKYCAST_PLAYBACK_KEY_SECRET_ID = aws_secretsmanager_secret.this["playback-key"].arn
        SKYCAST_EDGE_SECRET_SECRET_ID  = aws_secretsmanager_secret.this["edge-secret"].arn
      }
    }
    # Relay sessions' REST side; the sockets are the ingest nodes' (ingest.tf).
    sessions = {
      memory  = 256
      timeout = 10
      env = {
        SKYCAST_JWT_PUBLIC_KEY        = local.jwt_public_key_x
        SKYCAST_EDGE_SECRET_SECRET_ID = aws_secretsmanager_secret.this["edge-secret"].arn
        WS_BASE_URL                   = local.relay_ws_base_url
      }
    }
    # Webhooks' REST side: registrations, their delivery logs, and test
    # events (queued on webhook-events, for the sender, like any other).
    webhooks = {
      memory  = 256
      timeout = 10
      env = {
        SKYCAST_JWT_PUBLIC_KEY        = local.jwt_public_key_x
        SKYCAST_EDGE_SECRET_SECRET_ID = aws_secretsmanager_secret.this["edge-secret"].arn
      }
    }
    lifecycle = {
      memory  = 256
      timeout = 30
      env     = { SKYCAST_RECORDING_JOBS_QUEUE_URL = aws_sqs_queue.main["recording-jobs"].url }
    }
    recorder = {
      # Memory is bounded by design (two 6 MiB parts, 3 segments read ahead);
      # more memory buys network throughput and CPU for a faster copy.
      memory  = 1024
      timeout = 900
      env     = { SKYCAST_RECORDING_JOBS_QUEUE_URL = aws_sqs_queue.main["recording-jobs"].url }
    }
    catalog = {
      memory  = 256
      timeout = 30
      env     = {}
    }
    # Webhook events → one delivery per endpoint → a signed POST to the
    # user's URL, retried with backoff through the deliveries queue.
    #
    # It requests URLs that users choose, so where it runs is its SSRF
    # boundary. Like every function here it is outside any VPC (no
    # vpc_config; the CKV_AWS_117 skip below): it reaches only the public
    # internet, never the ingest VPC, where the nodes' HTTP port (8081,
    # relay and health) is open to the VPC's addresses. Keep it out of
    # every VPC with private resources. What remains inside the sandbox
    # is the code's to refuse: loopback (the Lambda Runtime API listens on
    # 127.0.0.1:9001), link-local and private addresses, after DNS
    # resolution and on every redirect. Its role (permissions.json) holds
    # only its tables and queues, and Lambda has no metadata endpoint to
    # take credentials from.
    webhook-sender = {
      memory  = 256
      timeout = 60
      env     = { SKYCAST_WEBHOOK_DELIVERIES_QUEUE_URL = aws_sqs_queue.main["webhook-deliveries"].url }
    }
    # Media access entries (the table's stream) → the edge's KeyValueStore.
    edge-sync = {
      memory  = 128
      timeout = 60
      env     = { SKYCAST_EDGE_KVS_ARN = aws_cloudfront_key_value_store.media_access.arn }
    }
  }

  # The SQS queues that trigger the event functions, one mapping each,
  # keyed by the function where it has one queue (the keys the deployed
  # mappings already have) and by function/queue where it has more.
  # batch: messages per invocation; concurrency: invocations at once for
  # that queue. The recorder takes one recording per invocation (each may
  # take minutes). A webhook delivery waits on a user's server, up to its
  # timeout: more invocations at once on that queue, so a few slow or
  # hanging receivers never hold back everyone else's deliveries.
  function_queues = {
    lifecycle                           = { function = "lifecycle", queue = "stream-events", batch = 10, concurrency = 10 }
    recorder                            = { function = "recorder", queue = "recording-jobs", batch = 1, concurrency = 20 }
    catalog                             = { function = "catalog", queue = "catalog-events", batch = 10, concurrency = 10 }
    "webhook-sender/webhook-events"     = { function = "webhook-sender", queue = "webhook-events", batch = 10, concurrency = 10 }
    "webhook-sender/webhook-deliveries" = { function = "webhook-sender", queue = "webhook-deliveries", batch = 10, concurrency = 20 }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda.amazonaws.com"].json
}

# Each role's grants from permissions.json (every function's and the ingest
# node's): tables with their indexes, queues, bucket keys, secrets. The roles'
# policies below start from these.
data "aws_iam_policy_document" "grants" {
  for_each = local.permissions

  dynamic "statement" {
    for_each = lookup(local.permissions[each.key], "dynamodb", {})
    content {
      sid       = "Table${replace(title(replace(statement.key, "-", " ")), " ", "")}"
      actions   = [for a in statement.value : "dynamodb:${a}"]
      resources = [aws_dynamodb_table.this[statement.key].arn, "${aws_dynamodb_table.this[statement.key].arn}/index/*"]
    }
  }

  dynamic "statement" {
    for_each = lookup(local.permissions[each.key], "sqs", {})
    content {
      sid       = "Queue${replace(title(replace(statement.key, "-", " ")), " ", "")}"
      actions   = [for a in statement.value : "sqs:${a}"]
      resources = [aws_sqs_queue.main[statement.key].arn]
    }
  }

  dynamic "statement" {
    for_each = { for b, g in lookup(local.permissions[each.key], "s3", {}) : b => g if length([for a in g.actions : a if !contains(local.s3_bucket_actions, a)]) > 0 }
    content {
      sid       = "Objects${title(statement.key)}"
      actions   = [for a in statement.value.actions : "s3:${a}" if !contains(local.s3_bucket_actions, a)]
      resources = ["${aws_s3_bucket.this[statement.key].arn}/${statement.value.keys}"]
    }
  }

  dynamic "statement" {
    for_each = { for b, g in lookup(local.permissions[each.key], "s3", {}) : b => g if length([for a in g.actions : a if contains(local.s3_bucket_actions, a)]) > 0 }
    content {
      sid     = "Bucket${title(statement.key)}"
      actions = [for a in statement.value.actions : "s3:${a}" if contains(local.s3_bucket_actions, a)]
      # Not narrowed by s3:prefix: a HEAD of a missing object is checked as
      # ListBucket with no prefix, and must answer 404 (not 403) to the code.
      resources = [aws_s3_bucket.this[statement.key].arn]
    }
  }

  dynamic "statement" {
    for_each = length(lookup(local.permissions[each.key], "secrets", [])) > 0 ? [1] : []
    content {
      sid       = "OwnSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [for name in local.permissions[each.key].secrets : aws_secretsmanager_secret.this[name].arn]
    }
  }
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  source_policy_documents = [data.aws_iam_policy_document.grants[each.key].json]

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.data.arn]
  }

  # The edge-sync function reads the media-access stream and writes the edge's store.
  dynamic "statement" {
    for_each = each.key == "edge-sync" ? [1] : []
    content {
      sid       = "ReadAccessStream"
      actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
      resources = ["${aws_dynamodb_table.this["media-access"].arn}/stream/*"]
    }
  }
  dynamic "statement" {
    for_each = each.key == "edge-sync" ? [1] : []
    content {
      sid       = "WriteEdgeStore"
      actions   = ["cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:PutKey", "cloudfront-keyvaluestore:DeleteKey"]
      resources = [aws_cloudfront_key_value_store.media_access.arn]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = "least-privilege"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_117:The functions call AWS APIs over TLS (and the webhook-sender users' URLs, which must never reach a VPC with private resources: see its entry); a VPC would add NAT or endpoint costs and cold-start time for no isolation gain.
  #checkov:skip=CKV_AWS_116:HTTP functions answer their caller; SQS-triggered ones have a DLQ on their queue (redrive), which is where failed events go.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile of the operator's; the zips come from this repository's own `make package`.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is var.reserved_concurrency (auth by default): reserving for every function would take the account's capacity (new accounts have 10 in all); SQS triggers cap their own concurrency (maximum_concurrency).
  #checkov:skip=CKV_AWS_173:The environment holds names and URLs only; the secrets are read from Secrets Manager at start, so there is nothing to encrypt with a CMK.

  function_name    = "${var.name_prefix}-${each.key}"
  role             = aws_iam_role.function[each.key].arn
  filename         = "${var.lambda_dist_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_dist_dir}/${each.key}/bootstrap.zip")
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.lambda_architecture]
  memory_size      = each.value.memory
  timeout          = each.value.timeout

  reserved_concurrent_executions = lookup(var.reserved_concurrency, each.key, -1)

  environment {
    variables = merge(local.common_env, contains(local.webhook_event_producers, each.key) ? local.webhook_events_env : {}, each.value.env)
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  depends_on = [aws_iam_role_policy.function]
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each = local.functions

  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# Batches with per-message failures: one bad message never fails its batch-mates.
resource "aws_lambda_event_source_mapping" "queue" {
  for_each = local.function_queues

  event_source_arn        = aws_sqs_queue.main[each.value.queue].arn
  function_name           = aws_lambda_function.this[each.value.function].arn
  batch_size              = each.value.batch
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = each.value.concurrency
  }
}
