# One HTTP API in front of the five HTTP functions. Each function is the same
# axum router `make dev` serves, so it answers its own 404s, 405s and CORS
# preflights; the gateway only routes by path and throttles. The sessions
# function answers POST and GET /sessions, GET and DELETE /sessions/{id},
# GET /sessions/{id}/operators, PUT and DELETE /sessions/{id}/operators/{user_id};
# the webhooks function /webhooks, /webhooks/{id}, /webhooks/{id}/deliveries
# and /webhooks/{id}/test (under /api/ through CloudFront, like the others);
# the streams function also GET /stats. Every path of openapi.json has its
# route here (tests/tests/infra.rs).
locals {
  routes = {
    "ANY /auth/{proxy+}"     = "auth"
    "GET /health"            = "auth"
    "GET /ready"             = "auth"
    "ANY /streams"           = "streams"
    "ANY /streams/{proxy+}"  = "streams"
    "ANY /videos"            = "vod"
    "ANY /videos/{proxy+}"   = "vod"
    "ANY /sessions"          = "sessions"
    "ANY /sessions/{proxy+}" = "sessions"
    "ANY /webhooks"          = "webhooks"
    "ANY /webhooks/{proxy+}" = "webhooks"
    "GET /stats"             = "streams"
    "$default"               = "auth"
  }
}

resource "aws_apigatewayv2_api" "http" {
  name          = "${var.name_prefix}-api"
  protocol_type = "HTTP"
  description   = "Skycast REST API"
}

resource "aws_apigatewayv2_integration" "function" {
  for_each = toset(local.http_functions)

  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.this[each.key].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes
  #checkov:skip=CKV_AWS_309:Authorisation is the functions' own (JWT checked per route, public reads allowed by design); a gateway authorizer would have to know which reads are public.

  api_id    = aws_apigatewayv2_api.http.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.function[each.value].id}"
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/aws/apigateway/${var.name_prefix}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.api_throttle_rate
    throttling_burst_limit = var.api_throttle_burst
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId = "$context.requestId"
      ip        = "$context.identity.sourceIp"
      method    = "$context.httpMethod"
      path      = "$context.path"
      status    = "$context.status"
      latencyMs = "$context.responseLatency"
      error     = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "api" {
  for_each = toset(local.http_functions)

  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*/*"
}
