variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every table, bucket, queue and function: <prefix>-<logical name>. Bucket names are global, so pick something unique to you."
  type        = string
  default     = "skycast"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3 to 32 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "lambda_dist_dir" {
  description = "Folder holding <function>/bootstrap.zip, as `make package` writes it."
  type        = string
  default     = "../target/lambda"
}

variable "lambda_architecture" {
  description = "arm64 (Graviton, what `make package` builds by default) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for every function, the API and the ingest node (a year: what audits ask for)."
  type        = number
  default     = 365
}

variable "cors_origins" {
  description = "Browser origins allowed to call the API and to fetch media (players), or [\"*\"]."
  type        = list(string)
  default     = ["*"]
}

variable "live_segment_transition_days" {
  description = "Live and VOD HLS objects move to S3 Standard-IA after this many days (still served)."
  type        = number
  default     = 30
}

variable "live_segment_expiration_days" {
  description = "Delete live HLS objects after this many days; 0 keeps them. The VOD HLS of older videos goes with them (their MP4 stays)."
  type        = number
  default     = 0
}

variable "recording_noncurrent_days" {
  description = "Days an overwritten or deleted recording's old version is kept (versioning is on)."
  type        = number
  default     = 30
}

variable "api_throttle_rate" {
  description = "API Gateway steady-state requests per second, across all routes."
  type        = number
  default     = 200
}

variable "api_throttle_burst" {
  description = "API Gateway burst size."
  type        = number
  default     = 400
}

variable "ingest_image" {
  description = "Container image of the ingest node, if not the one this stack's ECR repository holds under ingest_image_tag."
  type        = string
  default     = ""
}

variable "ingest_image_tag" {
  description = "Tag of the ingest node's image in this stack's ECR repository (tags are immutable: push a new tag per release, then apply)."
  type        = string
  default     = "0.1.0"
}

variable "ingest_instance_type" {
  description = "EC2 instance type of the ingest nodes (arm64/Graviton). The source profile costs ~0.02 vCPU a stream, the ladder ~0.2: c7g.large (2 vCPU) takes ~8 ladder streams."
  type        = string
  default     = "c7g.large"
}

variable "ingest_nodes" {
  description = "How many ingest nodes run behind the NLB; any node takes any stream. The source profile costs ~0.02 vCPU a stream, the ladder ~0.2."
  type        = number
  default     = 2
  validation {
    condition     = var.ingest_nodes >= 1
    error_message = "At least one ingest node."
  }
}

variable "ingest_srt_port" {
  description = "The one UDP port every SRT publisher uses (srt://host:PORT?streamid=KEY&passphrase=KEY)."
  type        = number
  default     = 9000
}

variable "ingest_rtmp_port" {
  description = "The one TCP port every RTMP publisher uses (rtmp://host:PORT/live + stream key)."
  type        = number
  default     = 1935
}

variable "ingest_allowed_cidrs" {
  description = "Who may publish to the ingest ports."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "vpc_cidr" {
  description = "CIDR of the VPC this stack creates for the ingest node."
  type        = string
  default     = "10.42.0.0/16"
}

variable "cloudfront_price_class" {
  description = "CloudFront price class: PriceClass_100 (NA+EU), PriceClass_200, PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "media_requests_per_5min_per_ip" {
  description = "WAF on the site (app, API and media on one CloudFront distribution): requests one address may make in 5 minutes before it is blocked for a while. A viewer of one rendition makes about 320 (a playlist and a segment every 2 s, a presence heartbeat every 15 s); households and offices share an address."
  type        = number
  default     = 20000
}

variable "reserved_concurrency" {
  description = "Lambda reserved concurrency per function: a cap that also guarantees capacity. The default caps auth (argon2 is costly), so a login flood cannot take the account's concurrency from the event functions. New accounts (10 in all) cannot reserve anything: set {} there."
  type        = map(number)
  default     = { auth = 50 }
}

variable "relay_certificate_arn" {
  description = "ACM certificate (in this region) for the session relay's wss:// listener on the NLB, issued for relay_domain_name: a name you own, since no certificate can be issued for the NLB's own amazonaws.com name. Empty: no relay listener, so the relay is unreachable (the API still hands out socket URLs)."
  type        = string
  default     = ""
}

variable "relay_domain_name" {
  description = "Public host name of the session relay (e.g. relay.example.com), pointed at the NLB (CNAME or alias to output ingest_host) and named by relay_certificate_arn. Socket URLs are wss://<this>; empty: wss://<the NLB's DNS name>, which no certificate matches, so TLS fails until this is set."
  type        = string
  default     = ""
  validation {
    condition     = var.relay_domain_name == "" || can(regex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", var.relay_domain_name))
    error_message = "relay_domain_name: a host name such as relay.example.com (lowercase, no scheme, port or path)."
  }
}

variable "relay_port" {
  description = "The NLB's TLS port for the session relay's WebSockets (wss://)."
  type        = number
  default     = 443
}

variable "relay_max_message_bytes" {
  description = "WS_MAX_MESSAGE_SIZE: the largest relay message in bytes (a larger one closes its socket with 1009); 1024 to 64 MiB."
  type        = number
  default     = 10485760
  validation {
    condition     = var.relay_max_message_bytes >= 1024 && var.relay_max_message_bytes <= 67108864
    error_message = "relay_max_message_bytes: 1024 to 67108864 (64 MiB)."
  }
}

variable "relay_max_operators" {
  description = "SESSION_MAX_OPERATORS: operators connected to one relay session at once (one more is refused with 4001); 1 to 1000."
  type        = number
  default     = 10
  validation {
    condition     = var.relay_max_operators >= 1 && var.relay_max_operators <= 1000
    error_message = "relay_max_operators: 1 to 1000."
  }
}

variable "alarm_email" {
  description = "Address the alarm topic mails (monitoring.tf); AWS sends it a confirmation link first. Empty: no subscription (subscribe a pager, chat or on-call tool to output alarm_topic_arn yourself)."
  type        = string
  default     = ""
  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email: an email address, or empty for none."
  }
}

variable "admin_usernames" {
  description = "Usernames of the platform's admins: they see each ingest node's detail in GET /stats. Usernames never change, so this names the same people for as long as it is set."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for u in var.admin_usernames : can(regex("^[a-z0-9_-]{3,32}$", u))])
    error_message = "admin_usernames: lowercase usernames (letters, digits, _ and -, 3 to 32)."
  }
}
