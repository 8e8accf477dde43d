resource "aws_cloudfront_origin_access_control" "s3" {
  name                              = "${var.name_prefix}-media"
  description                       = "CloudFront reads the private media buckets"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# AWS's managed policies: cache by path only, honour the objects' own
# Cache-Control (segments immutable for a year, live playlists 1 s), and pass
# CORS request headers so S3 answers with the CORS rule above.
data "aws_cloudfront_cache_policy" "optimized" {
  name = "Managed-CachingOptimized"
}

# Recordings are immutable (cached a year by their own header). Who may play
# one is decided before the cache, on every request (edge.tf), so a video gone
# private or deleted stops at once; an hour at the edge only bounds how long
# a deleted object's bytes linger in a cache nobody can reach.
resource "aws_cloudfront_cache_policy" "recordings" {
  name        = "${var.name_prefix}-recordings"
  comment     = "Recordings: at most an hour at the edge"
  min_ttl     = 0
  default_ttl = 3600
  max_ttl     = 3600

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = false
    enable_accept_encoding_gzip   = false
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

data "aws_cloudfront_origin_request_policy" "cors" {
  name = "Managed-CORS-S3Origin"
}

data "aws_cloudfront_response_headers_policy" "cors" {
  name = "Managed-CORS-with-preflight-and-SecurityHeadersPolicy"
}

# Media URLs are <cdn>/live/… and <cdn>/recordings/…: the object keys as
# stored, so one distribution serves both buckets by path.
resource "aws_cloudfront_distribution" "media" {
  #checkov:skip=CKV_AWS_86:Access logs need a log bucket and cost per request; turn on standard logging to your own bucket if you need them.
  #checkov:skip=CKV2_AWS_47:S3 origins run no Java: the Log4j rule set guards nothing here (waf.tf has the rate rule).
  #checkov:skip=CKV_AWS_310:Origin failover needs a second region's copy of every segment; one region is the design.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate is used, whose TLS policy CloudFront fixes; a custom domain with TLSv1.2_2021 is a variable away for operators who add one.
  #checkov:skip=CKV2_AWS_42:As CKV_AWS_174: no custom domain, so the default certificate.
  #checkov:skip=CKV2_AWS_32:The managed CORS-with-security-headers response policy is attached to every behaviour.
  #checkov:skip=CKV_AWS_374:Viewers are worldwide by design; add a geo_restriction if your rights require one.
  #checkov:skip=CKV_AWS_305:A media CDN has no root page: every URL names a playlist, segment, MP4 or still.
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name_prefix} live and recorded media"
  price_class     = var.cloudfront_price_class
  web_acl_id      = aws_wafv2_web_acl.cdn.arn
  http_version    = "http2and3"

  origin {
    origin_id                = "live"
    domain_name              = aws_s3_bucket.this["live"].bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.s3.id
  }

  origin {
    origin_id                = "recordings"
    domain_name              = aws_s3_bucket.this["recordings"].bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.s3.id
  }

  default_cache_behavior {
    target_origin_id           = "live"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.cors.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.cors.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.media_access.arn
    }
  }

  # A behaviour is chosen by the viewer's path, before the function strips a
  # token: tokened recordings need their own, ahead of the plain one.
  dynamic "ordered_cache_behavior" {
    for_each = ["t/*/recordings/*", "recordings/*"]
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = "recordings"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = false
      cache_policy_id            = aws_cloudfront_cache_policy.recordings.id
      origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.cors.id
      response_headers_policy_id = data.aws_cloudfront_response_headers_policy.cors.id

      function_association {
        event_type   = "viewer-request"
        function_arn = aws_cloudfront_function.media_access.arn
      }
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
