# Both buckets are private: viewers reach them through CloudFront (origin
# access control), owners of private videos through presigned URLs.
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Access logs bill per request and media is read per segment; CloudFront's standard logs can be enabled where needed.
  #checkov:skip=CKV2_AWS_61:Both buckets have one: aws_s3_bucket_lifecycle_configuration.live and .recordings below.
  #checkov:skip=CKV_AWS_144:One region is the design; replicate recordings yourself if you need a second copy.
  #checkov:skip=CKV_AWS_145:SSE-S3: with SSE-KMS CloudFront's every GET would need a KMS grant and bill a KMS request per segment.
  #checkov:skip=CKV_AWS_21:The live bucket is not versioned on purpose: its playlists are rewritten every 2 s and its segments never are; recordings are versioned.
  for_each = local.buckets

  bucket        = local.bucket_names[each.key]
  force_destroy = false
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-S3, not KMS: CloudFront's origin access control would need a grant on a
# customer key for every GET, and the media is published to viewers anyway.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = each.value.versioning ? "Enabled" : "Suspended"
  }
}

# Players fetch playlists and segments from other origins (a web page, a
# phone app): GET and HEAD with Range, from the configured origins.
resource "aws_s3_bucket_cors_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_origins
    allowed_headers = ["Range", "Origin"]
    expose_headers  = ["Content-Length", "Content-Range", "ETag"]
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "live" {
  bucket = aws_s3_bucket.this["live"].id

  rule {
    id     = "abandoned-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "old-live-segments"
    status = "Enabled"
    filter {
      prefix = "live/"
    }
    transition {
      days          = var.live_segment_transition_days
      storage_class = "STANDARD_IA"
    }
    dynamic "expiration" {
      for_each = var.live_segment_expiration_days > 0 ? [var.live_segment_expiration_days] : []
      content {
        days = expiration.value
      }
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "recordings" {
  bucket = aws_s3_bucket.this["recordings"].id

  # The recorder's multipart upload of a crashed attempt.
  rule {
    id     = "abandoned-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    noncurrent_version_expiration {
      noncurrent_days = var.recording_noncurrent_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_notification" "this" {
  for_each = { for n in local.notifications : n.bucket => n... }

  bucket = aws_s3_bucket.this[each.key].id

  dynamic "queue" {
    for_each = each.value
    content {
      queue_arn     = aws_sqs_queue.main[queue.value.queue].arn
      events        = queue.value.events
      filter_prefix = try(queue.value.prefix, null)
      filter_suffix = try(queue.value.suffix, null)
    }
  }

  depends_on = [aws_sqs_queue_policy.from_s3]
}

# CloudFront reads through origin access control; who may play what is
# decided before that, on every request, by the media-access function
# (edge.tf). From the recordings bucket it reads only objects the catalog has
# tagged (a listed video's MP4 and still, public or private): an MP4 not yet
# catalogued, or one whose tagging failed, is refused even so. ListBucket makes
# a missing object a 404, like a refused one, so the answer never tells a
# stranger that private media exists.
data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "CloudFrontReads"
    actions   = ["s3:GetObject"]
    resources = ["${each.value.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.site.arn]
    }
    dynamic "condition" {
      for_each = each.key == "recordings" ? [1] : []
      content {
        test     = "StringEquals"
        variable = "s3:ExistingObjectTag/skycast-visibility"
        values   = ["public", "private"]
      }
    }
  }

  statement {
    sid       = "CloudFrontLists"
    actions   = ["s3:ListBucket"]
    resources = [each.value.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.site.arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.bucket[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
