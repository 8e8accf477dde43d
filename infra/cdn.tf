resource "aws_cloudfront_origin_access_control" "s3" {
  name                              = "${var.name_prefix}-media"
  description                       = "CloudFront reads the private buckets: the app and the media"
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

data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

# Everything but Host (API Gateway answers only to its own name): the
# Authorization header, the query, the body, and the viewer address the site
# routes function writes.
data "aws_cloudfront_origin_request_policy" "all_but_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

data "aws_cloudfront_response_headers_policy" "security" {
  name = "Managed-SecurityHeadersPolicy"
}

# The player page other sites put in an iframe (/embed?src=…): the managed
# security headers, but without X-Frame-Options, which keeps every other page
# (the studio's buttons above all) out of other sites' frames.
resource "aws_cloudfront_response_headers_policy" "embed" {
  name    = "${var.name_prefix}-embed"
  comment = "Security headers for a page other sites may frame"

  security_headers_config {
    content_type_options {
      override = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
}

locals {
  api_host = replace(aws_apigatewayv2_api.http.api_endpoint, "https://", "")

  # Media behaviours, chosen by the viewer's path before the media-access
  # function strips a token: tokened recordings need their own, ahead of the
  # catch-all tokened one.
  media_behaviours = [
    { path = "t/*/recordings/*", origin = "recordings" },
    { path = "recordings/*", origin = "recordings" },
    { path = "t/*", origin = "live" },
    { path = "live/*", origin = "live" },
  ]
}

# One origin for the whole site, as `make dev` serves it locally: the web app
# (default, web.tf's bucket), the API under /api/ (API Gateway, never cached),
# and the media under /live/, /t/ and /recordings/ (the buckets' keys as
# stored, behind the media-access guard). The browser needs no CORS and no
# third-party cookie, and the WAF (waf.tf) sees every request.
resource "aws_cloudfront_distribution" "site" {
  #checkov:skip=CKV_AWS_86:Access logs need a log bucket and cost per request; turn on standard logging to your own bucket if you need them.
  #checkov:skip=CKV2_AWS_47:No origin runs Java (S3, API Gateway to Rust functions): the Log4j rule set guards nothing here (waf.tf has the rate rule).
  #checkov:skip=CKV_AWS_310:Origin failover needs a second region's copy of every segment; one region is the design.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate is used, whose TLS policy CloudFront fixes; a custom domain with TLSv1.2_2021 is a variable away for operators who add one.
  #checkov:skip=CKV2_AWS_42:As CKV_AWS_174: no custom domain, so the default certificate.
  #checkov:skip=CKV2_AWS_32:A managed response headers policy (security headers, with CORS on the media) is attached to every behaviour.
  #checkov:skip=CKV_AWS_374:Viewers are worldwide by design; add a geo_restriction if your rights require one.
  enabled             = true
  is_ipv6_enabled     = true
  comment             = "${var.name_prefix}: web app, API and media"
  price_class         = var.cloudfront_price_class
  web_acl_id          = aws_wafv2_web_acl.cdn.arn
  http_version        = "http2and3"
  default_root_object = "index.html"

  origin {
    origin_id                = "web"
    domain_name              = aws_s3_bucket.web.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.s3.id
  }

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

  origin {
    origin_id   = "api"
    domain_name = local.api_host

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }

    # Proves to the functions that a request came through here, so they
    # believe the viewer address beside it (crates/http/src/client.rs).
    # CloudFront overwrites a viewer's header of the same name.
    custom_header {
      name  = "X-Skycast-Edge-Secret"
      value = random_password.edge.result
    }
  }

  # The app: hashed assets cached a year by their own header, index.html
  # revalidated (no-cache, see infra/README.md), pages routed to index.html.
  default_cache_behavior {
    target_origin_id           = "web"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.site_routes.arn
    }
  }

  ordered_cache_behavior {
    path_pattern               = "embed"
    target_origin_id           = "web"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.embed.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.site_routes.arn
    }
  }

  # The API, under /api/: never cached, every method, the prefix stripped.
  dynamic "ordered_cache_behavior" {
    for_each = ["api", "api/*"]
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = "api"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
      origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_but_host.id
      response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security.id

      function_association {
        event_type   = "viewer-request"
        function_arn = aws_cloudfront_function.site_routes.arn
      }
    }
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.media_behaviours
    content {
      path_pattern               = ordered_cache_behavior.value.path
      target_origin_id           = ordered_cache_behavior.value.origin
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = ordered_cache_behavior.value.origin == "live"
      cache_policy_id            = ordered_cache_behavior.value.origin == "live" ? data.aws_cloudfront_cache_policy.optimized.id : aws_cloudfront_cache_policy.recordings.id
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

# Was the media distribution before the app and the API joined it.
moved {
  from = aws_cloudfront_distribution.media
  to   = aws_cloudfront_distribution.site
}
