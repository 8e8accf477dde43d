# A rate-based WAF rule on the one distribution (cdn.tf): one address cannot
# flood the edge, the API behind /api/ or the media-access function's
# KeyValueStore reads, however it spreads its requests. WAF for CloudFront
# lives in us-east-1. API Gateway's own URL stays reachable for scripts; it
# is throttled at its stage, and the functions keep their own limits per
# address and account (README, Security).
resource "aws_wafv2_web_acl" "cdn" {
  #checkov:skip=CKV2_AWS_31:WAF logging needs a Firehose or log group of the operator's choosing; the rule's CloudWatch metrics and sampled requests are on.
  #checkov:skip=CKV_AWS_192:The Log4j rule set protects Java origins; S3 behind CloudFront runs none.
  provider = aws.us_east_1

  name        = "${var.name_prefix}-cdn"
  description = "Per-address request rate on the site (app, API, media)"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "requests-per-address"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.media_requests_per_5min_per_ip
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-cdn-requests-per-address"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name_prefix}-cdn"
    sampled_requests_enabled   = true
  }
}
