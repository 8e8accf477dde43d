output "api_url" {
  description = "Base URL of the REST API (API Gateway)."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "cdn_url" {
  description = "Base URL of live and recorded media (CloudFront)."
  value       = "https://${aws_cloudfront_distribution.media.domain_name}"
}

output "ingest_host" {
  description = "Host encoders publish to (the NLB); the API hands out full srt:// and rtmp:// URLs on it."
  value       = aws_lb.ingest.dns_name
}

output "ingest_image_repository" {
  description = "Push the ingest node's image here (see the deploy guide)."
  value       = aws_ecr_repository.ingest.repository_url
}

output "dead_letter_queues" {
  description = "Where events that failed three times wait, per queue."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}
