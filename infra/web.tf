# The web app (web/dist, built by `npm run build`) in a private bucket of its
# own, read only by the one distribution (cdn.tf). Uploading a build is a step
# of the deploy guide (infra/README.md): index.html with `no-cache`, assets/
# (named by their content) with a year and `immutable`.
resource "aws_s3_bucket" "web" {
  #checkov:skip=CKV_AWS_18:Access logs bill per request; CloudFront's standard logs can be enabled where needed.
  #checkov:skip=CKV_AWS_144:One region is the design; the app is rebuilt from the repository in any region.
  #checkov:skip=CKV_AWS_145:SSE-S3: with SSE-KMS CloudFront's every GET would need a KMS grant; the app is public anyway.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a new build: no event notifications.
  bucket        = "${var.name_prefix}-web"
  force_destroy = false
}

resource "aws_s3_bucket_public_access_block" "web" {
  bucket                  = aws_s3_bucket.web.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Versioned, so a bad build is rolled back by restoring the previous objects.
resource "aws_s3_bucket_versioning" "web" {
  bucket = aws_s3_bucket.web.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    id     = "old-builds"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "web" {
  statement {
    sid       = "CloudFrontReads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.web.arn}/*"]
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
    resources = [aws_s3_bucket.web.arn, "${aws_s3_bucket.web.arn}/*"]
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

resource "aws_s3_bucket_policy" "web" {
  bucket     = aws_s3_bucket.web.id
  policy     = data.aws_iam_policy_document.web.json
  depends_on = [aws_s3_bucket_public_access_block.web]
}

# Routes the app's pages to index.html and the API's paths (without /api) to
# API Gateway; `node --test infra/edge/` runs it in `make test`.
resource "aws_cloudfront_function" "site_routes" {
  name    = "${var.name_prefix}-site-routes"
  runtime = "cloudfront-js-2.0"
  comment = "One origin: the app's pages, and the API under /api/"
  publish = true
  code    = file("${path.module}/edge/site-routes.js")
}
