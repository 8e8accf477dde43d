# What an operator is told, and what they look at: every alarm notifies one
# SNS topic (when it fires and when it is OK again), and one dashboard shows
# the API, the functions, the queues and the ingest nodes.
#
# An alarm is for what needs a person: an event that failed for good (any
# DLQ, the webhooks' too), a recording that failed, the API answering 5xx,
# an ingest node that stopped heartbeating or cannot store its segments,
# the edge falling behind on private media. A user's webhook receiver that
# fails is the user's to see (the API lists its deliveries), not a page.
#
# The functions' own metrics (namespace Skycast, dimension Function:
# Requests, Errors5xx, LatencyMs, RecordingsReady, RecordingsFailed,
# WebhookDeliveries, WebhookFailures, WebhookLatencyMs) are embedded-metric-
# format records in their JSON logs: CloudWatch Logs turns them into metrics,
# so they need no grant beyond the log group each function already writes
# (no cloudwatch:PutMetricData).
locals {
  # Every alarm's name starts with the prefix: the topic's policy and the
  # KMS key (main.tf) let only these alarms publish.
  alarm_arns = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:alarm:${var.name_prefix}-*"

  # What the ingest node serves at /metrics (Prometheus text) and the agent
  # sends on, under these exact names.
  node_metrics = {
    skycast_node_sessions                 = "Count"   # gauge: sessions held
    skycast_node_publishers               = "Count"   # gauge: encoders connected
    skycast_node_bytes_in_total           = "Bytes"   # counter: media received
    skycast_node_segments_stored_total    = "Count"   # counter: segments in S3
    skycast_node_upload_seconds_sum       = "Seconds" # upload time, with
    skycast_node_upload_seconds_count     = "Count"   # uploads (see below)
    skycast_node_spool_bytes              = "Bytes"   # gauge: waiting for S3
    skycast_node_spool_oldest_age_seconds = "Seconds" # gauge: oldest spooled segment
    skycast_node_ffmpeg_restarts_total    = "Count"   # counter
    skycast_node_s3_errors_total          = "Count"   # counter
    skycast_node_heartbeat_age_seconds    = "Seconds" # gauge: since the last registry heartbeat
  }

  # The node's HTTP port (health, relay, /metrics), seen from its own host.
  node_metrics_target         = replace(local.ingest_env.SKYCAST_INGEST_HEALTH_ADDR, "0.0.0.0", "127.0.0.1")
  node_prometheus_config_path = "/opt/aws/amazon-cloudwatch-agent/etc/skycast-prometheus.yaml"

  # The CloudWatch agent's configuration, written by the node's user data
  # (ingest-node.sh.tftpl) beside its Prometheus scrape configuration
  # (every 30 s, labelled with the deployment and the instance).
  #
  # This is the agent's documented route for Prometheus on EC2: it scrapes,
  # turns the selected series into embedded-metric-format records and
  # writes them to a log group, where CloudWatch extracts the metrics. Each
  # metric comes with two dimension sets: {Deployment} (the whole fleet,
  # what the alarms watch, so they survive instance replacement) and
  # {Deployment, InstanceId} (one line per node on the dashboard). Gauges
  # go as read; counters as the increase since the previous scrape (so a
  # Sum over a period is what happened in it).
  #
  # The agent takes gauges, counters and summaries, not histograms: it
  # drops them (aws/amazon-cloudwatch-agent, plugins/inputs/prometheus/
  # metrics_filter.go). So upload time reaches CloudWatch only if the node
  # serves skycast_node_upload_seconds as a summary (its `_sum` and
  # `_count`; quantiles optional), and the dashboard charts `_sum / _count`,
  # the mean upload time. The route that does take histograms (an OTel
  # collector's awsemf exporter) sends a Prometheus histogram's count and
  # sum as running totals since the node started, no better for a chart,
  # and with a second agent to install.
  cloudwatch_agent_config = jsonencode({
    agent = {
      region      = data.aws_region.current.name
      run_as_user = "cwagent"
    }
    logs = {
      metrics_collected = {
        prometheus = {
          log_group_name         = aws_cloudwatch_log_group.node_metrics.name
          prometheus_config_path = local.node_prometheus_config_path
          emf_processor = {
            metric_declaration_dedup = true
            metric_namespace         = "Skycast/Node"
            metric_unit              = local.node_metrics
            metric_declaration = [{
              source_labels    = ["job"]
              label_matcher    = "^skycast-node$"
              dimensions       = [["Deployment"], ["Deployment", "InstanceId"]]
              metric_selectors = [for name, _ in local.node_metrics : "^${name}$"]
            }]
          }
        }
      }
    }
  })
}

# The metric records the nodes' agents write (the metrics themselves are
# kept by CloudWatch for 15 months, whatever this keeps).
resource "aws_cloudwatch_log_group" "node_metrics" {
  name              = "/${var.name_prefix}/ingest-node-metrics"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.data.arn
}

# Only this stack's alarms may publish (the account administers the topic
# through IAM as before).
data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "AlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
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

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

# Email needs the recipient to confirm (AWS mails a link); until then
# nothing is delivered to it.
resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Every DLQ, so a queue added to resources.json is watched without a line
# here (tests/tests/infra.rs holds it to that): a message in one failed
# max_receive_count times and waits there 14 days.
resource "aws_cloudwatch_metric_alarm" "dlq" {
  for_each = aws_sqs_queue.dlq

  alarm_name          = "${var.name_prefix}-dlq-${each.key}"
  alarm_description   = "A message reached ${each.value.name}: it failed ${local.queues[each.key].max_receive_count} times (the consuming function's log says why). Once fixed, move it back with the SQS console's DLQ redrive, or read and delete it."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# A recorder invocation that crashed, timed out or ran out of memory: its
# job is retried, then goes to the recording-jobs DLQ.
resource "aws_cloudwatch_metric_alarm" "recorder_errors" {
  alarm_name          = "${var.name_prefix}-recorder-errors"
  alarm_description   = "The recorder function failed (crash, timeout or memory); its job is retried and, after ${local.queues["recording-jobs"].max_receive_count} tries, waits in the recording-jobs DLQ. Its log says why."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this["recorder"].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# A recording the recorder gave up on (its own EMF metric): the session has
# no video.
resource "aws_cloudwatch_metric_alarm" "recordings_failed" {
  alarm_name          = "${var.name_prefix}-recordings-failed"
  alarm_description   = "A recording failed (the recorder's RecordingsFailed metric): its session has no video. The recorder's log names the session and the reason."
  namespace           = "Skycast"
  metric_name         = "RecordingsFailed"
  dimensions          = { Function = "recorder" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The HTTP API's share of 5xx answers (API Gateway's 5xx counts the
# functions' own 5xx and the gateway's: crashes, timeouts, throttles). Only
# from 20 requests in 5 minutes up, so one error in a quiet hour pages
# nobody; no traffic at all is no data, not an alarm.
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name_prefix}-api-5xx"
  alarm_description   = "Over 5 % of API requests answered 5xx in 5 minutes (with at least 20 requests). The API's access log (/aws/apigateway/${var.name_prefix}-api) says which routes, the functions' logs why."
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)"
    label       = "5xx, % of requests"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = aws_apigatewayv2_api.http.id }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = aws_apigatewayv2_api.http.id }
      stat        = "Sum"
      period      = 300
    }
  }
}

# A node whose registry heartbeat is over a minute old is about to be
# declared dead (its sessions ended by another node). No data at all means
# no node reports (none running, or none able to send metrics): that
# alarms too.
resource "aws_cloudwatch_metric_alarm" "node_heartbeat" {
  alarm_name          = "${var.name_prefix}-node-heartbeat"
  alarm_description   = "An ingest node has not heartbeated to its registry for over a minute, or no node reports metrics at all. Look at the nodes' log (/${var.name_prefix}/ingest-node) and the ${aws_autoscaling_group.ingest.name} auto-scaling group."
  namespace           = "Skycast/Node"
  metric_name         = "skycast_node_heartbeat_age_seconds"
  dimensions          = { Deployment = var.name_prefix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 60
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The same from the load balancer's side: no node passes its health check,
# so no encoder can publish. Both target groups check the same /health of
# the same instances; one is enough.
resource "aws_cloudwatch_metric_alarm" "ingest_healthy_nodes" {
  alarm_name          = "${var.name_prefix}-ingest-no-healthy-node"
  alarm_description   = "No ingest node is healthy behind the NLB ${aws_lb.ingest.name}: encoders cannot publish. Look at the ${aws_autoscaling_group.ingest.name} auto-scaling group's activity and the nodes' log."
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.ingest.arn_suffix, TargetGroup = aws_lb_target_group.ingest["rtmp"].arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# Segments waiting in a node's spool for over 5 minutes, 3 minutes running:
# S3 is refusing them or unreachable, live viewers are stalled and the disk
# fills.
resource "aws_cloudwatch_metric_alarm" "node_spool" {
  alarm_name          = "${var.name_prefix}-node-spool-growing"
  alarm_description   = "A segment has waited over 5 minutes in an ingest node's spool: segments are not reaching S3 (skycast_node_s3_errors_total and the nodes' log say why). Nothing is lost while the disk holds."
  namespace           = "Skycast/Node"
  metric_name         = "skycast_node_spool_oldest_age_seconds"
  dimensions          = { Deployment = var.name_prefix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 300
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The edge-sync function never skips a record (edge.tf): one that keeps
# failing holds its shard, and access changes (a session made private, a
# video deleted) stop reaching the edge. Its iterator age says so.
resource "aws_cloudwatch_metric_alarm" "edge_sync_behind" {
  alarm_name          = "${var.name_prefix}-edge-sync-behind"
  alarm_description   = "The edge-sync function is over 5 minutes behind the media-access table's stream: private or deleted media may still play at the edge. Its log names the failing record."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.this["edge-sync"].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 300000 # milliseconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

locals {
  region = data.aws_region.current.name

  http_function_names  = { for f in local.http_functions : f => aws_lambda_function.this[f].function_name }
  event_function_names = { for f, _ in local.functions : f => aws_lambda_function.this[f].function_name if !contains(local.http_functions, f) }

  # One line per node of a Skycast/Node metric, and their total.
  node_search = {
    for name, _ in local.node_metrics : name => "SEARCH('{Skycast/Node,Deployment,InstanceId} Deployment=\"${var.name_prefix}\" MetricName=\"${name}\"', '%s', 60)"
  }

  api_dims = ["ApiId", aws_apigatewayv2_api.http.id]

  # Widgets flow left to right, 24 units a row, in this order.
  dashboard_widgets = [
    {
      type   = "alarm"
      width  = 24
      height = 3
      properties = {
        title = "Alarms"
        alarms = concat([for a in aws_cloudwatch_metric_alarm.dlq : a.arn], [
          aws_cloudwatch_metric_alarm.recorder_errors.arn,
          aws_cloudwatch_metric_alarm.recordings_failed.arn,
          aws_cloudwatch_metric_alarm.api_5xx.arn,
          aws_cloudwatch_metric_alarm.node_heartbeat.arn,
          aws_cloudwatch_metric_alarm.ingest_healthy_nodes.arn,
          aws_cloudwatch_metric_alarm.node_spool.arn,
          aws_cloudwatch_metric_alarm.edge_sync_behind.arn,
        ])
      }
    },

    # The API, as API Gateway sees it.
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "API requests and errors (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = [
          concat(["AWS/ApiGateway", "Count"], local.api_dims, [{ label = "requests" }]),
          concat(["AWS/ApiGateway", "4xx"], local.api_dims, [{ label = "4xx" }]),
          concat(["AWS/ApiGateway", "5xx"], local.api_dims, [{ label = "5xx" }]),
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "API latency (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          concat(["AWS/ApiGateway", "Latency"], local.api_dims, [{ stat = "p50", label = "p50" }]),
          concat(["AWS/ApiGateway", "Latency"], local.api_dims, [{ stat = "p99", label = "p99" }]),
          concat(["AWS/ApiGateway", "IntegrationLatency"], local.api_dims, [{ stat = "p99", label = "p99 in the functions" }]),
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "API functions: requests and 5xx (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = concat(
          [for f in local.http_functions : ["Skycast", "Requests", "Function", f, { label = "${f} requests" }]],
          [for f in local.http_functions : ["Skycast", "Errors5xx", "Function", f, { label = "${f} 5xx" }]],
        )
      }
    },

    # Every function.
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title   = "Lambda errors (per minute)"
        region  = local.region
        view    = "timeSeries"
        period  = 60
        stat    = "Sum"
        metrics = [for f, name in merge(local.http_function_names, local.event_function_names) : ["AWS/Lambda", "Errors", "FunctionName", name, { label = f }]]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title   = "API functions: handler latency p99 (ms)"
        region  = local.region
        view    = "timeSeries"
        period  = 60
        stat    = "p99"
        metrics = [for f in local.http_functions : ["Skycast", "LatencyMs", "Function", f, { label = f }]]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title   = "Lambda duration p99, API functions (ms)"
        region  = local.region
        view    = "timeSeries"
        period  = 60
        stat    = "p99"
        metrics = [for f, name in local.http_function_names : ["AWS/Lambda", "Duration", "FunctionName", name, { label = f }]]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title   = "Lambda duration, event functions (max, ms)"
        region  = local.region
        view    = "timeSeries"
        period  = 60
        stat    = "Maximum"
        metrics = [for f, name in local.event_function_names : ["AWS/Lambda", "Duration", "FunctionName", name, { label = f }]]
      }
    },

    # Queues and their DLQs.
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "Queue depth (messages waiting)"
        region  = local.region
        view    = "timeSeries"
        period  = 60
        stat    = "Maximum"
        metrics = [for k, q in aws_sqs_queue.main : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name, { label = k }]]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "Oldest message per queue (s)"
        region  = local.region
        view    = "timeSeries"
        period  = 60
        stat    = "Maximum"
        metrics = [for k, q in aws_sqs_queue.main : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q.name, { label = k }]]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "DLQ depth (failed for good)"
        region  = local.region
        view    = "timeSeries"
        period  = 300
        stat    = "Maximum"
        metrics = [for k, q in aws_sqs_queue.dlq : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name, { label = k }]]
      }
    },

    # The ingest nodes: one line per node, and the fleet.
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node sessions"
        region = local.region
        view   = "timeSeries"
        metrics = [
          [{ id = "nodes", expression = format(local.node_search.skycast_node_sessions, "Average") }],
          [{ id = "total", expression = "SUM(nodes)", label = "all nodes" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node publishers (encoders connected)"
        region = local.region
        view   = "timeSeries"
        metrics = [
          [{ id = "nodes", expression = format(local.node_search.skycast_node_publishers, "Average") }],
          [{ id = "total", expression = "SUM(nodes)", label = "all nodes" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node bytes in (per minute)"
        region = local.region
        view   = "timeSeries"
        metrics = [
          [{ id = "nodes", expression = format(local.node_search.skycast_node_bytes_in_total, "Sum") }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node healthy behind the NLB, and heartbeat age (s)"
        region = local.region
        view   = "timeSeries"
        metrics = [
          ["AWS/NetworkELB", "HealthyHostCount", "LoadBalancer", aws_lb.ingest.arn_suffix, "TargetGroup", aws_lb_target_group.ingest["rtmp"].arn_suffix, { stat = "Minimum", period = 60, label = "healthy nodes" }],
          [{ id = "heartbeat", expression = format(local.node_search.skycast_node_heartbeat_age_seconds, "Maximum"), yAxis = "right" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node spool: bytes waiting for S3"
        region = local.region
        view   = "timeSeries"
        metrics = [
          [{ id = "nodes", expression = format(local.node_search.skycast_node_spool_bytes, "Maximum") }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node spool: oldest segment (s)"
        region = local.region
        view   = "timeSeries"
        metrics = [
          [{ id = "nodes", expression = format(local.node_search.skycast_node_spool_oldest_age_seconds, "Maximum") }],
        ]
        annotations = { horizontal = [{ label = "alarm", value = 300 }] }
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node uploads: mean time (s)"
        region = local.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = [
          ["Skycast/Node", "skycast_node_upload_seconds_sum", "Deployment", var.name_prefix, { id = "seconds", visible = false }],
          ["Skycast/Node", "skycast_node_upload_seconds_count", "Deployment", var.name_prefix, { id = "uploads", visible = false }],
          [{ id = "mean", expression = "seconds / uploads", label = "mean upload" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 6
      height = 6
      properties = {
        title  = "Node segments stored, S3 errors, FFmpeg restarts (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = [
          ["Skycast/Node", "skycast_node_segments_stored_total", "Deployment", var.name_prefix, { label = "segments stored" }],
          ["Skycast/Node", "skycast_node_s3_errors_total", "Deployment", var.name_prefix, { label = "S3 errors", yAxis = "right" }],
          ["Skycast/Node", "skycast_node_ffmpeg_restarts_total", "Deployment", var.name_prefix, { label = "FFmpeg restarts", yAxis = "right" }],
        ]
      }
    },

    # Recordings and webhooks (the functions' own metrics).
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "Recordings (per 5 minutes)"
        region = local.region
        view   = "timeSeries"
        period = 300
        stat   = "Sum"
        metrics = [
          ["Skycast", "RecordingsReady", "Function", "recorder", { label = "ready" }],
          ["Skycast", "RecordingsFailed", "Function", "recorder", { label = "failed" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "Webhook deliveries (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = [
          ["Skycast", "WebhookDeliveries", "Function", "webhook-sender", { label = "delivered" }],
          ["Skycast", "WebhookFailures", "Function", "webhook-sender", { label = "failed attempts" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "Webhook receivers' latency (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["Skycast", "WebhookLatencyMs", "Function", "webhook-sender", { stat = "p50", label = "p50" }],
          ["Skycast", "WebhookLatencyMs", "Function", "webhook-sender", { stat = "p99", label = "p99" }],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "skycast" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
