output "site_url" {
  description = "The web app: open it in a browser. The API and the media are on the same origin."
  value       = "https://${aws_cloudfront_distribution.site.domain_name}"
}

output "api_url" {
  description = "Base URL of the REST API, through CloudFront (the site's /api/)."
  value       = "https://${aws_cloudfront_distribution.site.domain_name}/api"
}

output "api_gateway_url" {
  description = "The API Gateway itself, for scripts that bypass the CDN (per-address limits then count API Gateway's view of the caller)."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "cdn_url" {
  description = "Base URL of live and recorded media (CloudFront, the same origin as the site)."
  value       = "https://${aws_cloudfront_distribution.site.domain_name}"
}

output "web_bucket" {
  description = "Upload the web app's build (web/dist) here: see the deploy guide."
  value       = aws_s3_bucket.web.bucket
}

output "ingest_host" {
  description = "Host encoders publish to (the NLB); the API hands out full srt:// and rtmp:// URLs on it."
  value       = aws_lb.ingest.dns_name
}

output "relay_ws_url" {
  description = "Base of the session relay's socket URLs (WS_BASE_URL): wss://<relay_domain_name>, or the NLB's name when unset (no certificate matches that). Needs relay_certificate_arn: without it there is no relay listener."
  value       = local.relay_ws_base_url
}

output "ingest_image_repository" {
  description = "Push the ingest node's image here (see the deploy guide)."
  value       = aws_ecr_repository.ingest.repository_url
}

output "dead_letter_queues" {
  description = "Where events that failed three times wait, per queue."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (and tells when it is OK again): subscribe your pager, chat or on-call tool to it (alarm_email subscribes one address)."
  value       = aws_sns_topic.alarms.arn
}
