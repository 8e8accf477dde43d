# Tables, buckets, queues and notification rules come from resources.json, the
# same declaration `make dev` and the LocalStack hook create locally, so local
# and cloud cannot drift (tests/tests/infra.rs checks every field of it is read
# here).
locals {
  resources = jsondecode(file("${path.module}/resources.json"))

  tables        = local.resources.tables
  buckets       = local.resources.buckets
  queues        = local.resources.queues
  notifications = local.resources.notifications

  table_names  = { for k, _ in local.tables : k => "${var.name_prefix}-${k}" }
  bucket_names = { for k, _ in local.buckets : k => "${var.name_prefix}-${k}" }
  queue_names  = { for k, _ in local.queues : k => "${var.name_prefix}-${k}" }

  # The environment every function and the node read (README, Configuration).
  common_env = merge(
    { SKYCAST_NAME_PREFIX = var.name_prefix },
    { for k, v in local.table_names : "SKYCAST_TABLE_${upper(replace(k, "-", "_"))}" => v },
    { for k, v in local.bucket_names : "SKYCAST_BUCKET_${upper(replace(k, "-", "_"))}" => v },
    {
      SKYCAST_CDN_BASE_URL = "https://${aws_cloudfront_distribution.site.domain_name}"
      # Where encoders publish: the NLB, one port per protocol.
      SKYCAST_INGEST_PUBLIC_HOST = aws_lb.ingest.dns_name
      SKYCAST_RTMP_PORT          = tostring(var.ingest_rtmp_port)
      SKYCAST_SRT_PORT           = tostring(var.ingest_srt_port)
      SKYCAST_LOG_FORMAT         = "json"
      SKYCAST_CORS_ORIGINS       = join(",", var.cors_origins)
      RUST_LOG                   = "info"
    },
  )
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# One customer-managed key for the data at rest: tables, queues, logs, secrets
# and the alarm topic (monitoring.tf).
resource "aws_kms_key" "data" {
  description             = "${var.name_prefix}: tables, queues, logs and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 14
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name_prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key alone; the account root statement is AWS's default and keeps the key manageable.
  #checkov:skip=CKV_AWS_356:As CKV_AWS_111: in a key policy "*" is the key itself.
  #checkov:skip=CKV_AWS_109:As CKV_AWS_111: the account administers its own key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "ServicesUseIt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com", "s3.amazonaws.com", "sqs.amazonaws.com"]
    }
  }

  # CloudWatch publishes alarm notifications to the alarm topic, which this
  # key encrypts (monitoring.tf): without these two actions every
  # notification is dropped, silently. Only for this account's alarms of
  # this stack (their names start with the prefix).
  statement {
    sid       = "AlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arns]
    }
  }
}

# Who may take each kind of role: the functions, the node's instance, flow logs.
data "aws_iam_policy_document" "assume" {
  for_each = toset(["lambda.amazonaws.com", "ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com"])

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.key]
    }
  }
}
