//! Creates every resource of `infra/resources.json`, idempotently: running it
//! against resources that already exist changes nothing.

use aws_sdk_dynamodb::{
    error::DisplayErrorContext,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    },
};
use aws_sdk_sqs::types::QueueAttributeName;
use skycast_core::{
    config::physical_name,
    resources::{KeySpec, Resources, TableSpec, dlq_name},
};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BootstrapError {
    #[error("creating {what}: {message}")]
    Aws { what: String, message: String },
}

fn aws<E: std::error::Error + 'static>(what: impl Into<String>) -> impl FnOnce(E) -> BootstrapError {
    let what = what.into();
    move |e| BootstrapError::Aws { what, message: DisplayErrorContext(e).to_string() }
}

pub async fn all(sdk: &aws_config::SdkConfig, resources: &Resources, prefix: &str) -> Result<(), BootstrapError> {
    tables(&aws_sdk_dynamodb::Client::new(sdk), resources, prefix).await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    queues(&sqs, resources, prefix).await?;
    buckets(&crate::sdk::s3(sdk), &sqs, resources, prefix).await?;
    Ok(())
}

fn scalar(k: &KeySpec) -> ScalarAttributeType {
    ScalarAttributeType::from(k.kind.as_str())
}

fn key_schema(hash: &KeySpec, range: Option<&KeySpec>) -> Result<Vec<KeySchemaElement>, BootstrapError> {
    let mut keys = vec![
        KeySchemaElement::builder()
            .attribute_name(&hash.name)
            .key_type(KeyType::Hash)
            .build()
            .map_err(aws("key schema"))?,
    ];
    if let Some(r) = range {
        keys.push(
            KeySchemaElement::builder()
                .attribute_name(&r.name)
                .key_type(KeyType::Range)
                .build()
                .map_err(aws("key schema"))?,
        );
    }
    Ok(keys)
}

fn attribute_definitions(spec: &TableSpec) -> Result<Vec<AttributeDefinition>, BootstrapError> {
    let mut keys: Vec<&KeySpec> = vec![&spec.hash_key];
    keys.extend(spec.range_key.as_ref());
    for gsi in &spec.global_secondary_indexes {
        keys.push(&gsi.hash_key);
        keys.extend(gsi.range_key.as_ref());
    }
    let mut seen = std::collections::BTreeSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.name.clone()))
        .map(|k| {
            AttributeDefinition::builder()
                .attribute_name(&k.name)
                .attribute_type(scalar(k))
                .build()
                .map_err(aws("attribute definition"))
        })
        .collect()
}

pub async fn tables(
    client: &aws_sdk_dynamodb::Client,
    resources: &Resources,
    prefix: &str,
) -> Result<(), BootstrapError> {
    for (logical, spec) in &resources.tables {
        let name = physical_name(prefix, logical);
        let mut req = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&spec.hash_key, spec.range_key.as_ref())?))
            .set_attribute_definitions(Some(attribute_definitions(spec)?));
        if let Some(view) = &spec.stream_view_type {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()
                    .map_err(aws("stream specification"))?,
            );
        }
        for gsi in &spec.global_secondary_indexes {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&gsi.name)
                    .set_key_schema(Some(key_schema(&gsi.hash_key, gsi.range_key.as_ref())?))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(aws(format!("index {}", gsi.name)))?,
            );
        }
        match req.send().await {
            Ok(_) => tracing::info!(table = %name, "created table"),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_in_use_exception()) => {}
            Err(e) => return Err(aws(format!("table {name}"))(e)),
        }
        if let Some(attr) = &spec.ttl_attribute {
            let current =
                client.describe_time_to_live().table_name(&name).send().await.map_err(aws(format!("TTL of {name}")))?;
            let enabled =
                current.time_to_live_description().and_then(|d| d.attribute_name()).is_some_and(|a| a == attr);
            if !enabled {
                client
                    .update_time_to_live()
                    .table_name(&name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .attribute_name(attr)
                            .enabled(true)
                            .build()
                            .map_err(aws("TTL"))?,
                    )
                    .send()
                    .await
                    .map_err(aws(format!("TTL of {name}")))?;
            }
        }
    }
    Ok(())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, BootstrapError> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws(format!("attributes of {url}")))?;
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| BootstrapError::Aws { what: url.to_owned(), message: "queue has no ARN".into() })
}

pub async fn queues(sqs: &aws_sdk_sqs::Client, resources: &Resources, prefix: &str) -> Result<(), BootstrapError> {
    for (logical, spec) in &resources.queues {
        let dlq = physical_name(prefix, &dlq_name(logical));
        let dlq_url = sqs.create_queue().queue_name(&dlq).send().await.map_err(aws(format!("queue {dlq}")))?;
        let dlq_arn = queue_arn(sqs, dlq_url.queue_url().unwrap_or_default()).await?;
        let name = physical_name(prefix, logical);
        let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count.to_string() });
        let created = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::VisibilityTimeout, spec.visibility_timeout_s.to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await;
        match created {
            Ok(_) => tracing::debug!(queue = %name, "queue ready"),
            // Exists with other attributes (an older declaration): bring it in line.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_queue_name_exists()) => {
                let url = sqs.get_queue_url().queue_name(&name).send().await.map_err(aws(format!("queue {name}")))?;
                sqs.set_queue_attributes()
                    .queue_url(url.queue_url().unwrap_or_default())
                    .attributes(QueueAttributeName::VisibilityTimeout, spec.visibility_timeout_s.to_string())
                    .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
                    .send()
                    .await
                    .map_err(aws(format!("queue {name}")))?;
            }
            Err(e) => return Err(aws(format!("queue {name}"))(e)),
        }
    }
    Ok(())
}

pub async fn buckets(
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
    resources: &Resources,
    prefix: &str,
) -> Result<(), BootstrapError> {
    for (logical, spec) in &resources.buckets {
        let name = physical_name(prefix, logical);
        match s3.create_bucket().bucket(&name).send().await {
            Ok(_) => tracing::info!(bucket = %name, "created bucket"),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()) => {}
            Err(e) => return Err(aws(format!("bucket {name}"))(e)),
        }
        if spec.versioning {
            s3.put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(aws(format!("versioning of {name}")))?;
        }
    }
    // Notification rules replace a bucket's whole configuration, so group by bucket.
    let mut by_bucket: std::collections::BTreeMap<&str, Vec<aws_sdk_s3::types::QueueConfiguration>> =
        Default::default();
    for n in &resources.notifications {
        let queue = physical_name(prefix, &n.queue);
        let url = sqs.get_queue_url().queue_name(&queue).send().await.map_err(aws(format!("queue {queue}")))?;
        let arn = queue_arn(sqs, url.queue_url().unwrap_or_default()).await?;
        let mut rules = Vec::new();
        if let Some(p) = &n.prefix {
            rules.push(
                aws_sdk_s3::types::FilterRule::builder()
                    .name(aws_sdk_s3::types::FilterRuleName::Prefix)
                    .value(p)
                    .build(),
            );
        }
        if let Some(s) = &n.suffix {
            rules.push(
                aws_sdk_s3::types::FilterRule::builder()
                    .name(aws_sdk_s3::types::FilterRuleName::Suffix)
                    .value(s)
                    .build(),
            );
        }
        let config = aws_sdk_s3::types::QueueConfiguration::builder()
            .queue_arn(arn)
            .set_events(Some(n.events.iter().map(|e| aws_sdk_s3::types::Event::from(e.as_str())).collect()))
            .filter(
                aws_sdk_s3::types::NotificationConfigurationFilter::builder()
                    .key(aws_sdk_s3::types::S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                    .build(),
            )
            .build()
            .map_err(aws("notification"))?;
        by_bucket.entry(n.bucket.as_str()).or_default().push(config);
    }
    for (bucket, configs) in by_bucket {
        let name = physical_name(prefix, bucket);
        s3.put_bucket_notification_configuration()
            .bucket(&name)
            .notification_configuration(
                aws_sdk_s3::types::NotificationConfiguration::builder().set_queue_configurations(Some(configs)).build(),
            )
            .send()
            .await
            .map_err(aws(format!("notifications of {name}")))?;
    }
    Ok(())
}
