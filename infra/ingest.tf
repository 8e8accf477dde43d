# The ingest nodes: the container of ingest-node/Dockerfile on the EC2
# instances of an auto-scaling group, behind a network load balancer with
# one listener per protocol: SRT on one UDP port, RTMP on one TCP port.
# Every node listens on both and takes any stream: a publisher's key says
# which stream it is, and the node it reaches claims the session in the
# streams table (one node wins a race). Encoders connect to the NLB's DNS name.
#
# Why EC2 and not Fargate, now that two target groups would fit an ECS
# service: the spool. A node that crashes restarts in place (Docker's restart
# policy) with its host volume, finds what it had not yet stored, uploads it
# and ends its sessions cleanly; a replaced Fargate task loses its ephemeral
# storage. A node that does not come back has its sessions ended by another
# from what is in S3.
#
# The session relay (issue 14) rides the same nodes: a client's WebSocket and
# its operators' reach the node's HTTP port (8081) through a TLS listener of
# the same NLB, with the operator's certificate (variables.tf, relay_*).

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones (sorted by name) are used; a zone AWS adds later sorts after them and changes nothing.
  state = "available"
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)
  ingest_listeners = {
    srt  = { port = var.ingest_srt_port, protocol = "UDP" }
    rtmp = { port = var.ingest_rtmp_port, protocol = "TCP" }
  }
  ingest_image = var.ingest_image != "" ? var.ingest_image : "${aws_ecr_repository.ingest.repository_url}:${var.ingest_image_tag}"

  # The relay's wss:// listener needs a certificate for a name the operator
  # owns: without one there is no listener (and no port open for it).
  relay_tls  = var.relay_certificate_arn != ""
  relay_host = coalesce(var.relay_domain_name, aws_lb.ingest.dns_name)
  # WS_BASE_URL: what the API puts before /ws/stream/{session_id}/{user_id}.
  relay_ws_base_url = "wss://${local.relay_host}${var.relay_port == 443 ? "" : ":${var.relay_port}"}"
}

resource "aws_vpc" "ingest" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  enable_dns_support   = true
  tags                 = { Name = "${var.name_prefix}-ingest" }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "ingest" {
  vpc_id = aws_vpc.ingest.id
}

resource "aws_flow_log" "ingest" {
  vpc_id               = aws_vpc.ingest.id
  traffic_type         = "REJECT"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow.arn
  iam_role_arn         = aws_iam_role.flow.arn
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/${var.name_prefix}/vpc-flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_iam_role" "flow" {
  name               = "${var.name_prefix}-vpc-flow"
  assume_role_policy = data.aws_iam_policy_document.assume["vpc-flow-logs.amazonaws.com"].json
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  name   = "flow-logs"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

resource "aws_internet_gateway" "ingest" {
  vpc_id = aws_vpc.ingest.id
}

# Public subnets without NAT: the task has a public address for its AWS API
# calls (S3, SQS, DynamoDB) and accepts only the NLB's traffic.
resource "aws_subnet" "public" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.ingest.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name_prefix}-public-${local.azs[count.index]}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.ingest.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.ingest.id
  }
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "ingest" {
  name        = "${var.name_prefix}-ingest"
  description = "Ingest node: publishers on the SRT and RTMP ports, anything out"
  vpc_id      = aws_vpc.ingest.id

  ingress {
    description = "SRT publishers"
    protocol    = "udp"
    from_port   = var.ingest_srt_port
    to_port     = var.ingest_srt_port
    cidr_blocks = var.ingest_allowed_cidrs
  }

  ingress {
    description = "RTMP publishers"
    protocol    = "tcp"
    from_port   = var.ingest_rtmp_port
    to_port     = var.ingest_rtmp_port
    cidr_blocks = var.ingest_allowed_cidrs
  }

  ingress {
    description = "The node's HTTP port from the NLB: health checks and relay sockets"
    protocol    = "tcp"
    from_port   = 8081
    to_port     = 8081
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "AWS APIs over HTTPS"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "Relay sockets forwarded to the node that holds their session (its HTTP port)"
    protocol    = "tcp"
    from_port   = 8081
    to_port     = 8081
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "SRT answers to publishers"
    protocol    = "udp"
    from_port   = 0
    to_port     = 65535
    cidr_blocks = var.ingest_allowed_cidrs
  }
}

resource "aws_lb" "ingest" {
  #checkov:skip=CKV_AWS_91:NLB access logs cover only TLS listeners: the publisher ones are UDP and TCP, and the relay's (TLS) would need a log bucket of its own with a policy for the log delivery service; the node logs each relay session as it finishes.
  #checkov:skip=CKV_AWS_150:Deletion protection would make `terraform destroy` fail; operators who want it set it by hand.
  #checkov:skip=CKV2_AWS_20:SRT and RTMP are not HTTP; SRT carries its own AES encryption (the stream key is the passphrase). The relay's listener is TLS only, with no plain one to redirect.
  #checkov:skip=CKV2_AWS_28:A WAF does not apply to a network load balancer.
  name                             = "${var.name_prefix}-ingest"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "ingest" {
  for_each = local.ingest_listeners

  name                 = substr("${var.name_prefix}-ingest-${each.key}", 0, 32)
  port                 = each.value.port
  protocol             = each.value.protocol
  target_type          = "instance"
  vpc_id               = aws_vpc.ingest.id
  deregistration_delay = 30

  # UDP cannot be probed: both check the node's HTTP health endpoint, which
  # answers 503 the moment the node starts draining (the port stays open
  # while relay sockets get their close frames).
  health_check {
    protocol = "HTTP"
    port     = "8081"
    path     = "/health"
    matcher  = "200"
  }
}

resource "aws_lb_listener" "ingest" {
  for_each = local.ingest_listeners
  #checkov:skip=CKV2_AWS_74:SRT and RTMP listeners cannot be TLS; SRT encrypts with the stream key.
  #checkov:skip=CKV_AWS_2:As above: not HTTP.
  #checkov:skip=CKV_AWS_103:As above: not TLS.

  load_balancer_arn = aws_lb.ingest.arn
  port              = each.value.port
  protocol          = each.value.protocol

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingest[each.key].arn
  }
}

# The session relay: wss:// ends at this listener, and the WebSocket goes on
# in plain TCP to the node's HTTP port (8081, beside /health and /ready).
# NLB TCP flows idle out after 350 s; the relay pings every socket every 15 s,
# so an idle session's sockets stay up.
resource "aws_lb_target_group" "relay" {
  count = local.relay_tls ? 1 : 0

  name                 = substr("${var.name_prefix}-ingest-relay", 0, 32)
  port                 = 8081
  protocol             = "TCP"
  target_type          = "instance"
  vpc_id               = aws_vpc.ingest.id
  deregistration_delay = 30
  # Sockets arrive from the NLB's own addresses (inside the VPC), so the
  # node's plain HTTP port stays closed to the internet: wss:// is the only
  # way in. The relay does not use clients' addresses.
  preserve_client_ip = "false"

  health_check {
    protocol = "HTTP"
    port     = "8081"
    path     = "/health"
    matcher  = "200"
  }
}

resource "aws_lb_listener" "relay" {
  count = local.relay_tls ? 1 : 0

  load_balancer_arn = aws_lb.ingest.arn
  port              = var.relay_port
  protocol          = "TLS"
  certificate_arn   = var.relay_certificate_arn
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  # A WebSocket upgrade is HTTP/1.1.
  alpn_policy = "HTTP1Only"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.relay[0].arn
  }
}

resource "aws_ecr_repository" "ingest" {
  name                 = "${var.name_prefix}-ingest-node"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
}

data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

resource "aws_cloudwatch_log_group" "ingest" {
  name              = "/${var.name_prefix}/ingest-node"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

# What the node does: write live HLS, look up keys and claim sessions,
# report events, register itself; and, as a host, pull its image and ship logs.
resource "aws_iam_role" "ingest" {
  name               = "${var.name_prefix}-ingest-node"
  assume_role_policy = data.aws_iam_policy_document.assume["ec2.amazonaws.com"].json
}

# The node's grants on tables, queues and the live bucket come from
# permissions.json, as the functions' do (and are tested the same way).
data "aws_iam_policy_document" "ingest" {
  source_policy_documents = [data.aws_iam_policy_document.grants["ingest-node"].json]

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }

  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.ingest.arn]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # Its container's log (Docker's awslogs driver) and its metrics: the
  # CloudWatch agent sends them as embedded-metric-format records to their
  # own log group, from which CloudWatch makes the Skycast/Node metrics
  # (monitoring.tf), so the node needs no cloudwatch:PutMetricData.
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ingest.arn}:*", "${aws_cloudwatch_log_group.node_metrics.arn}:*"]
  }
}

resource "aws_iam_role_policy" "ingest" {
  name   = "ingest-node"
  role   = aws_iam_role.ingest.id
  policy = data.aws_iam_policy_document.ingest.json
}

# Shell access through Session Manager, not SSH: no key pair, no open port 22.
resource "aws_iam_role_policy_attachment" "ingest_ssm" {
  role       = aws_iam_role.ingest.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "ingest" {
  name = "${var.name_prefix}-ingest-node"
  role = aws_iam_role.ingest.name
}

locals {
  ingest_env = merge(local.common_env, {
    # SKYCAST_NODE_ID is the instance's id, added at boot (ingest-node.sh.tftpl).
    SKYCAST_INGEST_LISTEN_HOST = "0.0.0.0"
    SKYCAST_SPOOL_DIR          = "/var/spool/skycast"
    SKYCAST_EVENTS_QUEUE_URL   = aws_sqs_queue.main["stream-events"].url
    SKYCAST_INGEST_HEALTH_ADDR = "0.0.0.0:8081"
    AWS_REGION                 = data.aws_region.current.name
    # The session relay, on the health port: its limits, its sockets' URLs,
    # and the public key that checks operators' access tokens (as the
    # functions that only verify tokens get it).
    WS_MAX_MESSAGE_SIZE    = tostring(var.relay_max_message_bytes)
    SESSION_MAX_OPERATORS  = tostring(var.relay_max_operators)
    WS_BASE_URL            = local.relay_ws_base_url
    SKYCAST_JWT_PUBLIC_KEY = local.jwt_public_key_x
  })
}

resource "aws_launch_template" "ingest" {
  #checkov:skip=CKV_AWS_88:The node pushes every segment to S3 and talks to SQS and DynamoDB; a NAT gateway would bill each streamed byte again. Its security group admits only the publisher ports and, from inside the VPC, the HTTP port (health checks and the relay's sockets through the NLB).
  name_prefix   = "${var.name_prefix}-ingest-"
  image_id      = data.aws_ssm_parameter.al2023_arm64.value
  instance_type = var.ingest_instance_type
  ebs_optimized = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.ingest.arn
  }

  network_interfaces {
    associate_public_ip_address = true
    security_groups             = [aws_security_group.ingest.id]
  }

  # The spool: segments wait here until they are in S3.
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 40
      volume_type = "gp3"
      encrypted   = true
    }
  }

  # The container runs on the host's network, so one hop reaches IMDS.
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  user_data = base64encode(templatefile("${path.module}/ingest-node.sh.tftpl", {
    region    = data.aws_region.current.name
    registry  = split("/", aws_ecr_repository.ingest.repository_url)[0]
    image     = local.ingest_image
    log_group = aws_cloudwatch_log_group.ingest.name
    env       = join("\n", [for k, v in local.ingest_env : "${k}=${v}"])
    # The CloudWatch agent, scraping the node's /metrics (monitoring.tf).
    cloudwatch_agent_config = local.cloudwatch_agent_config
    metrics_target          = local.node_metrics_target
    prometheus_config_path  = local.node_prometheus_config_path
    deployment              = var.name_prefix
  }))
}

resource "aws_autoscaling_group" "ingest" {
  name                      = "${var.name_prefix}-ingest"
  min_size                  = var.ingest_nodes
  max_size                  = var.ingest_nodes + 1
  desired_capacity          = var.ingest_nodes
  vpc_zone_identifier       = aws_subnet.public[*].id
  health_check_type         = "ELB"
  health_check_grace_period = 300
  target_group_arns         = concat([for tg in aws_lb_target_group.ingest : tg.arn], aws_lb_target_group.relay[*].arn)

  launch_template {
    id      = aws_launch_template.ingest.id
    version = aws_launch_template.ingest.latest_version
  }

  # A new template replaces the instances one at a time, launching the new
  # one before the old goes (never 0 % healthy, even with one node); the old
  # one drains on SIGTERM (publishers refused, sessions closed in parallel
  # within 10 s) and its publishers reconnect through the NLB to another.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name_prefix}-ingest-node"
    propagate_at_launch = true
  }
}
