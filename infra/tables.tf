resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name         = local.table_names[each.key]
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = each.value.hash_key.name
  range_key    = try(each.value.range_key.name, null)

  # Every key attribute of the table and its indexes, once each.
  dynamic "attribute" {
    for_each = {
      for k in concat(
        [each.value.hash_key],
        try([each.value.range_key], []),
        flatten([for i in each.value.global_secondary_indexes : concat([i.hash_key], try([i.range_key], []))]),
      ) : k.name => k.type...
    }
    content {
      name = attribute.key
      type = attribute.value[0]
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.global_secondary_indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key.name
      range_key       = try(global_secondary_index.value.range_key.name, null)
      projection_type = "ALL"
    }
  }

  dynamic "ttl" {
    for_each = try(each.value.ttl_attribute, null) == null ? [] : [each.value.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  # A stream where a function follows the table's changes (media-access → edge).
  stream_enabled   = try(each.value.stream_view_type, null) != null
  stream_view_type = try(each.value.stream_view_type, null)

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }

  deletion_protection_enabled = false
}
