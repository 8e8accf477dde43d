resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                      = "${local.queue_names[each.key]}-dlq"
  message_retention_seconds = 1209600 # 14 days to look at what failed
  kms_master_key_id         = aws_kms_key.data.id
}

resource "aws_sqs_queue" "main" {
  for_each = local.queues

  name                       = local.queue_names[each.key]
  visibility_timeout_seconds = each.value.visibility_timeout_s
  message_retention_seconds  = 345600
  kms_master_key_id          = aws_kms_key.data.id

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main[each.key].arn]
  })
}

# S3 may send each notification rule's events to its queue.
data "aws_iam_policy_document" "queue_from_s3" {
  for_each = { for n in local.notifications : n.queue => n... }

  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.main[each.key].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for n in each.value : aws_s3_bucket.this[n.bucket].arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "from_s3" {
  for_each = data.aws_iam_policy_document.queue_from_s3

  queue_url = aws_sqs_queue.main[each.key].id
  policy    = each.value.json
}
